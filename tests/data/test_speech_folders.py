"""Speech Commands and FSDD layouts (dropkit.data.speech_folders), on WAV files the tests write."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from dropkit.data import ChecksumError, DatasetNotFoundError, dataset_status, load_dataset
from dropkit.data import speech_folders as sf
from dropkit.data.speech_audio import LogMelSpec, WavError
from tests.data.speech_wavs import write_wav

SMALL16 = LogMelSpec(16000, n_mels=16, duration_s=0.25)  # small features: fast tests
SMALL8 = LogMelSpec(8000, n_mels=16, duration_s=0.25)


def tone(freq: float, rate: int, n: int = 2000) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate)


def speech_commands(root: Path, words: dict[str, int] | None = None) -> Path:
    """``<word>/<speaker>_nohash_<i>.wav`` for each word; speaker "c" is the test split, "b" validation."""
    words = words or {"yes": 3, "no": 3, "up": 3}
    for k, (word, n) in enumerate(words.items()):
        for i in range(n):
            write_wav(root / word / f"{'abc'[i % 3]}_nohash_{i}.wav", tone(300 + 200 * k, 16000))
    write_wav(root / "_background_noise_" / "white.wav", np.zeros(4000))
    (root / "validation_list.txt").write_text("".join(f"{w}/b_nohash_1.wav\n" for w in words if words[w] > 1))
    (root / "testing_list.txt").write_text("".join(f"{w}/c_nohash_2.wav\n" for w in words if words[w] > 2))
    return root


def fsdd(folder: Path, speakers: tuple[str, ...] = ("george", "jackson"), per_digit: int = 7) -> Path:
    for s in speakers:
        for d in range(10):
            for i in range(per_digit):
                write_wav(folder / f"{d}_{s}_{i}.wav", tone(200 + 150 * d, 8000), rate=8000)
    return folder


def cache_files(roots) -> list[Path]:
    return [p for p in roots.cache.rglob("*") if p.is_file()] if roots.cache.exists() else []


def test_speech_commands_splits_by_the_list_files_and_skips_background_noise(tmp_path: Path, roots) -> None:
    ds = sf.read_speech_commands(speech_commands(tmp_path / "sc"), features=SMALL16)
    assert ds.class_names == ("no", "up", "yes")  # word folders, sorted; _background_noise_ is not a class
    assert ds.num_train == 3 and ds.num_test == 3  # per word: a (train), b (validation: left out), c (test)
    assert ds.input_shape == (SMALL16.num_frames, 16) and ds.train_x.dtype.is_floating_point
    assert sorted(ds.test_y.tolist()) == [0, 1, 2]
    # different words (tones) give different features
    assert not np.allclose(ds.train_x[0].numpy(), ds.train_x[1].numpy())


def test_features_are_cached_once_and_recomputed_when_a_file_changes(tmp_path: Path, roots) -> None:
    root = speech_commands(tmp_path / "sc")
    first = sf.read_speech_commands(root, features=SMALL16)
    assert first.details["cache"] == "written" and Path(first.details["cache_file"]).is_file()
    assert sf.read_speech_commands(root, features=SMALL16).details["cache"] == "hit"
    write_wav(root / "yes" / "a_nohash_0.wav", tone(3000, 16000, 3000))
    again = sf.read_speech_commands(root, features=SMALL16)
    assert again.details["cache"] == "written" and again.details["cache_file"] != first.details["cache_file"]


def test_an_empty_word_folder_is_an_error_and_nothing_is_cached(tmp_path: Path, roots) -> None:
    root = speech_commands(tmp_path / "sc")
    (root / "down").mkdir()
    with pytest.raises(ValueError, match=r"word folder .*down must hold \.wav files, got none \(an empty class\)"):
        sf.read_speech_commands(root, features=SMALL16)
    assert cache_files(roots) == []


def test_a_missing_list_file_is_named(tmp_path: Path, roots) -> None:
    root = speech_commands(tmp_path / "sc")
    (root / "testing_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match="must hold testing_list.txt"):
        sf.read_speech_commands(root, features=SMALL16)


@pytest.mark.parametrize("damage", ["truncated", "rate", "corrupt"])
def test_a_bad_wav_names_the_file_and_leaves_no_cache(tmp_path: Path, roots, damage: str) -> None:
    root = speech_commands(tmp_path / "sc")
    bad = root / "up" / "a_nohash_0.wav"
    if damage == "truncated":
        bad.write_bytes(bad.read_bytes()[:-1000])
        match = "a_nohash_0.wav is truncated"
    elif damage == "rate":
        write_wav(bad, tone(440, 8000), rate=8000)
        match = "a_nohash_0.wav must have sample rate 16000 Hz, got 8000 Hz"
    else:
        bad.write_bytes(b"\x00" * 64)
        match = "a_nohash_0.wav is not a readable PCM WAV file"
    with pytest.raises(WavError, match=match):
        sf.read_speech_commands(root, features=SMALL16)
    assert cache_files(roots) == []


def test_fsdd_uses_its_official_split_or_held_out_speakers(tmp_path: Path, roots) -> None:
    folder = fsdd(tmp_path / "fsdd" / "recordings")
    ds = sf.read_fsdd(tmp_path / "fsdd", features=SMALL8)
    assert ds.class_names[:3] == ("zero", "one", "two")
    assert ds.num_test == 2 * 10 * 5 and ds.num_train == 2 * 10 * 2  # index 0-4 test, 5 and 6 train
    held = sf.read_fsdd(folder, test_speakers=("jackson",), features=SMALL8)
    assert held.num_test == held.num_train == 70
    with pytest.raises(ValueError, match=r"test_speakers must be speakers of .* \(\['george', 'jackson'\]\), got \['theo'\]"):
        sf.read_fsdd(folder, test_speakers=("theo",), features=SMALL8)


def test_fsdd_refuses_a_file_not_named_digit_speaker_index(tmp_path: Path, roots) -> None:
    folder = fsdd(tmp_path / "rec", speakers=("theo",), per_digit=1)
    write_wav(folder / "hello.wav", tone(440, 8000), rate=8000)
    with pytest.raises(ValueError, match="must be <digit>_<speaker>_<index>.wav, got 'hello.wav'"):
        sf.read_fsdd(folder, features=SMALL8)


def _fsdd_archive(tmp_path: Path) -> bytes:
    src = fsdd(tmp_path / "src", speakers=("theo",), per_digit=6)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in sorted(src.iterdir()):
            tar.add(f, arcname=f"free-spoken-digit-dataset-1.0.9/recordings/{f.name}")
        info = tarfile.TarInfo("free-spoken-digit-dataset-1.0.9/README.md")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"fsdd\n"))
    return buf.getvalue()


def test_fsdd_downloads_checks_its_sha256_and_extracts_the_recordings(tmp_path: Path, roots, http_root, monkeypatch) -> None:
    served, url = http_root
    data = _fsdd_archive(tmp_path)
    (served / "v1.0.9.tar.gz").write_bytes(data)
    monkeypatch.setattr(sf, "FSDD_URL", url + "v1.0.9.tar.gz")
    monkeypatch.setattr(sf, "FSDD_SHA256", hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(sf, "FSDD_FEATURES", SMALL8)
    ds = load_dataset("fsdd")
    assert ds.num_train == 10 and ds.num_test == 50
    recordings = roots.cache / "fsdd" / "recordings"
    assert len(list(recordings.glob("*.wav"))) == 60 and not (roots.cache / "fsdd" / "fsdd-v1.0.9.tar.gz").exists()
    assert dataset_status("fsdd").found


def test_a_wrong_checksum_leaves_nothing_in_the_cache(tmp_path: Path, roots, http_root, monkeypatch) -> None:
    served, url = http_root
    (served / "v1.0.9.tar.gz").write_bytes(_fsdd_archive(tmp_path))
    monkeypatch.setattr(sf, "FSDD_URL", url + "v1.0.9.tar.gz")  # the registered SHA-256 does not match these bytes
    with pytest.raises(ChecksumError, match="the download was discarded"):
        load_dataset("fsdd")
    assert cache_files(roots) == []


def test_nowhere_and_no_download_lists_the_places_searched(roots) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"speech-commands was not found(.|\n)*downloads: off"):
        load_dataset("speech-commands", download=False)
    status = dataset_status("speech-commands")
    assert not status.found and sf.SPEECH_COMMANDS_URL in status.detail


def test_the_registered_archives_are_the_real_ones() -> None:
    assert sf.SPEECH_COMMANDS_URL == "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
    assert sf.SPEECH_COMMANDS_SHA256.startswith("af14739ee7dc") and len(sf.SPEECH_COMMANDS_SHA256) == 64
    assert sf.FSDD_URL.endswith("free-spoken-digit-dataset/archive/v1.0.9.tar.gz")
    assert sf.FSDD_SHA256.startswith("8bc44cde129d") and len(sf.FSDD_SHA256) == 64
