"""Spoken-word datasets in their standard on-disk layouts, read into log-mel features.

- **Google Speech Commands** (Warden 2018, https://arxiv.org/abs/1804.03209): ``<root>/<word>/*.wav``
  (16 kHz, 1 s), with ``validation_list.txt`` and ``testing_list.txt`` naming the validation and test
  files (``word/file.wav``, one per line; speakers are split between them by a hash of the speaker id).
  Classes are the word folders, sorted (``_background_noise_`` is not a class). The training split is
  every file in neither list; the validation files are left out (dropkit holds out ``val_fraction`` of
  the training files itself), the test split is ``testing_list.txt``. Download: TensorFlow's
  ``speech_commands_v0.02.tar.gz`` (2,428,923,189 bytes, SHA-256 checked), extracted atomically.
- **Free Spoken Digit Dataset** (FSDD, https://github.com/Jakobovski/free-spoken-digit-dataset):
  ``<root>/recordings/<digit>_<speaker>_<index>.wav`` (or the files in ``<root>`` itself), 8 kHz.
  Classes ``zero`` … ``nine``; its official split: recordings with index 0-4 are the test set, 5 and
  above train. ``test_speakers=(...)`` holds out whole speakers instead. Download: the v1.0.9 release
  archive from GitHub (11,975,353 bytes, SHA-256 as TensorFlow Datasets records it).

Features (:class:`~dropkit.data.speech_audio.LogMelSpec`) are computed once and cached in
``<cache>/speech-features/`` (one ``.npz`` per folder and settings, written atomically; the key hashes
every file's path, size and mtime, so a changed folder is read again). A bad file (corrupt or truncated
WAV, another sample rate), an empty word folder or a missing list file is a clear error, and nothing is
cached then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dropkit._io import atomic_path
from dropkit.data import locate
from dropkit.data.dataset import ArrayDataset
from dropkit.data.download import download_file
from dropkit.data.speech_audio import LogMelSpec, fix_length, log_mel, read_wav
from dropkit.data.speech_synth import DIGIT_WORDS
from dropkit.data.status import DatasetNotFoundError, DatasetStatus

__all__ = [
    "SPEECH_COMMANDS_URL",
    "SPEECH_COMMANDS_SHA256",
    "FSDD_URL",
    "FSDD_SHA256",
    "SPEECH_COMMANDS_FEATURES",
    "FSDD_FEATURES",
    "read_speech_commands",
    "read_fsdd",
    "find_speech_commands",
    "find_fsdd",
    "download_speech_commands",
    "download_fsdd",
    "speech_folder_status",
    "speech_folder_files",
    "load_speech_folder",
]

logger = logging.getLogger(__name__)

#: The Speech Commands v0.02 archive and its SHA-256 (torchaudio's and TensorFlow Datasets' checksum).
SPEECH_COMMANDS_URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
SPEECH_COMMANDS_SHA256 = "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"
SPEECH_COMMANDS_FOLDER = "speech_commands_v0.02"
#: The FSDD v1.0.9 release archive and its SHA-256 (TensorFlow Datasets' ``spoken_digit/checksums.tsv``).
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/v1.0.9.tar.gz"
FSDD_SHA256 = "8bc44cde129d505cbbb6b365c09f80c663f2aa77578afc634e6141a2f87100c0"

#: Feature settings: 40 mel bands at 16 kHz for Speech Commands' 1 s clips; 32 at FSDD's 8 kHz.
SPEECH_COMMANDS_FEATURES = LogMelSpec(16000, n_mels=40, duration_s=1.0)
FSDD_FEATURES = LogMelSpec(8000, n_mels=32, duration_s=1.0)
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")
_FEATURE_FORMAT = 1


# --- the feature cache -----------------------------------------------------------------------------

def _sources_digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        st = f.stat()
        h.update(f"{f.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _cache_path(kind: str, root: Path, options: dict[str, Any], sources: str) -> Path:
    key = json.dumps({"format": _FEATURE_FORMAT, "kind": kind, "root": str(root.resolve()), "options": options,
                      "sources": sources}, sort_keys=True)
    return locate.cache_dir() / "speech-features" / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def _read_cached(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            arrays = {k: f[k] for k in ("train_x", "train_y", "test_x", "test_y")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable speech feature cache %s: %s", path, exc)
        return None
    return {**arrays, "meta": meta}


def _features(files: list[Path], spec: LogMelSpec) -> np.ndarray:
    """Read every file (all must be at ``spec.sample_rate``) and return ``(N, frames, n_mels)`` float32."""
    clips = np.zeros((len(files), spec.num_samples), dtype=np.float32)
    for i, f in enumerate(files):
        samples, _ = read_wav(f, sample_rate=spec.sample_rate)
        clips[i] = fix_length(samples, spec.num_samples)
    return log_mel(clips, spec).numpy()


def _dataset(kind: str, root: Path, options: dict[str, Any], spec: LogMelSpec, class_names: tuple[str, ...],
             train: list[tuple[Path, int]], test: list[tuple[Path, int]]) -> ArrayDataset:
    """Features of ``train`` / ``test`` (file, label) pairs, from the cache or computed and cached."""
    sources = _sources_digest([f for f, _ in train + test])
    options = {**options, "features": spec.as_dict()}
    path = _cache_path(kind, root, options, sources)
    cached = _read_cached(path)
    if cached is None:
        arrays = {
            "train_x": _features([f for f, _ in train], spec), "train_y": np.array([y for _, y in train], np.int64),
            "test_x": _features([f for f, _ in test], spec), "test_y": np.array([y for _, y in test], np.int64),
        }  # fmt: skip
        meta = {"format": _FEATURE_FORMAT, "kind": kind, "root": str(root), "options": options, "sources": sources,
                "class_names": list(class_names)}
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a bare path
                np.savez(f, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
        status = "written"
    else:
        arrays, status = cached, "hit"
    return ArrayDataset(
        name=kind,
        train_x=torch.from_numpy(np.ascontiguousarray(arrays["train_x"], dtype=np.float32)).reshape(-1, spec.num_frames, spec.n_mels),
        train_y=torch.from_numpy(arrays["train_y"].astype(np.int64)),
        test_x=torch.from_numpy(np.ascontiguousarray(arrays["test_x"], dtype=np.float32)).reshape(-1, spec.num_frames, spec.n_mels),
        test_y=torch.from_numpy(arrays["test_y"].astype(np.int64)),
        num_classes=len(class_names),
        input_shape=(spec.num_frames, spec.n_mels),
        class_names=class_names,
        source=str(root),
        details={"cache": status, "cache_file": str(path), "features": spec.as_dict()},
    )


# --- Speech Commands -------------------------------------------------------------------------------

def _read_list(root: Path, name: str) -> set[str]:
    path = root / name
    if not path.is_file():
        raise FileNotFoundError(f"read_speech_commands: {root} must hold {name} (the Speech Commands layout), got no such file")
    return {line.strip().replace("\\", "/") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def read_speech_commands(root: str | os.PathLike[str], *, words: tuple[str, ...] | None = None,
                         features: LogMelSpec = SPEECH_COMMANDS_FEATURES) -> ArrayDataset:
    """Read a Speech Commands folder into log-mel features (cached).

    Args:
        root: the folder holding ``<word>/*.wav``, ``validation_list.txt`` and ``testing_list.txt``.
        words: the classes to keep, in label order; ``None``: every word folder, sorted (default: None).
        features: the log-mel settings; its ``sample_rate`` is the rate every file must have
            (default: :data:`SPEECH_COMMANDS_FEATURES`, 16 kHz, 40 bands, 1 s).

    Returns:
        An :class:`ArrayDataset` ``(N, frames, n_mels)``: train = files in neither list, test =
        ``testing_list.txt``.

    Raises:
        FileNotFoundError: ``root`` or a list file is missing.
        ValueError: an empty word folder, a word in ``words`` that has no folder, a bad WAV file
            (:class:`~dropkit.data.speech_audio.WavError`).
    """
    where = "read_speech_commands"
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{where}: root must be an existing folder, got '{root}'")
    validation, testing = _read_list(root, "validation_list.txt"), _read_list(root, "testing_list.txt")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    if words is None:
        words = tuple(folders)
    missing = [w for w in words if w not in folders]
    if missing:
        raise ValueError(f"{where}: words must be folders of {root}, got {missing} (folders: {folders})")
    if not words:
        raise ValueError(f"{where}: {root} must hold at least one <word>/ folder of .wav files, got none")
    train, test = [], []
    for label, word in enumerate(words):
        files = sorted((root / word).glob("*.wav"))
        if not files:
            raise ValueError(f"{where}: word folder {root / word} must hold .wav files, got none (an empty class)")
        for f in files:
            rel = f"{word}/{f.name}"
            if rel in testing:
                test.append((f, label))
            elif rel not in validation:
                train.append((f, label))
    options = {"words": list(words)}
    return _dataset("speech-commands", root, options, features, tuple(words), train, test)


# --- FSDD ------------------------------------------------------------------------------------------

def read_fsdd(root: str | os.PathLike[str], *, test_speakers: tuple[str, ...] | None = None,
              features: LogMelSpec = FSDD_FEATURES) -> ArrayDataset:
    """Read Free Spoken Digit Dataset recordings into log-mel features (cached).

    Args:
        root: ``<root>/recordings/`` or ``<root>`` holding ``<digit>_<speaker>_<index>.wav`` files.
        test_speakers: speakers held out as the test set; ``None``: FSDD's official split (index 0-4
            test, the rest train) (default: None).
        features: the log-mel settings; its ``sample_rate`` is the rate every file must have
            (default: :data:`FSDD_FEATURES`, 8 kHz, 32 bands, 1 s).

    Returns:
        An :class:`ArrayDataset` ``(N, frames, n_mels)`` with classes ``zero`` … ``nine``.

    Raises:
        FileNotFoundError: ``root`` is missing.
        ValueError: no recordings, a ``.wav`` whose name is not ``<digit>_<speaker>_<index>.wav``, an
            unknown test speaker, a bad WAV file.
    """
    where = "read_fsdd"
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{where}: root must be an existing folder, got '{root}'")
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    files = sorted(folder.glob("*.wav"))
    if not files:
        raise ValueError(f"{where}: {folder} must hold <digit>_<speaker>_<index>.wav recordings, got none")
    parsed = []
    for f in files:
        m = _FSDD_NAME.match(f.name)
        if m is None:
            raise ValueError(f"{where}: recording names must be <digit>_<speaker>_<index>.wav, got {f.name!r} in {folder}")
        parsed.append((f, int(m.group(1)), m.group(2), int(m.group(3))))
    speakers = sorted({s for _, _, s, _ in parsed})
    if test_speakers is not None:
        unknown = sorted(set(test_speakers) - set(speakers))
        if unknown or not test_speakers:
            raise ValueError(f"{where}: test_speakers must be speakers of {folder} ({speakers}), got {list(test_speakers)}")
    is_test = (lambda s, i: s in test_speakers) if test_speakers is not None else (lambda s, i: i < 5)
    train = [(f, d) for f, d, s, i in parsed if not is_test(s, i)]
    test = [(f, d) for f, d, s, i in parsed if is_test(s, i)]
    options = {"test_speakers": None if test_speakers is None else sorted(test_speakers)}
    return _dataset("fsdd", folder, options, features, DIGIT_WORDS, train, test)


# --- finding and downloading -----------------------------------------------------------------------

def _is_speech_commands(folder: Path) -> bool:
    return (folder / "testing_list.txt").is_file()


def _is_fsdd(folder: Path) -> bool:
    return any((folder / "recordings").glob("*.wav")) or any(folder.glob("[0-9]_*_*.wav"))


def _find(name: str, data_dir: Path | None, test: Any, sub: str) -> tuple[Path | None, list[str]]:
    searched = []
    for place in locate.search_places(name, data_dir):
        for candidate in (place.path, place.path / sub):
            if candidate.is_dir() and test(candidate):
                searched.append(f"{place}: {candidate}")
                return candidate, searched
        searched.append(f"{place}: {'no dataset files' if place.path.is_dir() else 'no such folder'}")
    return None, searched


def find_speech_commands(data_dir: Path | None = None) -> tuple[Path | None, list[str]]:
    """The first Speech Commands root in the search places (``<place>`` or ``<place>/speech_commands_v0.02``), and what was searched."""
    return _find("speech-commands", data_dir, _is_speech_commands, SPEECH_COMMANDS_FOLDER)


def find_fsdd(data_dir: Path | None = None) -> tuple[Path | None, list[str]]:
    """The first FSDD root in the search places (``<place>`` or ``<place>/recordings``), and what was searched."""
    return _find("fsdd", data_dir, _is_fsdd, "recordings")


def _safe_members(tar: tarfile.TarFile, keep: Any) -> list[tarfile.TarInfo]:
    members = []
    for m in tar.getmembers():
        parts = Path(m.name).parts
        if m.isfile() and not Path(m.name).is_absolute() and ".." not in parts and keep(m.name):
            members.append(m)
    return members


def _extract(archive: Path, dest: Path, keep: Any, strip: int) -> Path:
    """Extract the regular files ``keep`` accepts into a temp folder, then rename it to ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            for m in _safe_members(tar, keep):
                rel = Path(*Path(m.name).parts[strip:])
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(m) as src, open(target, "wb") as out:  # type: ignore[union-attr]
                    shutil.copyfileobj(src, out)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def download_fsdd(dest: Path | None = None) -> Path:
    """Download FSDD v1.0.9 (SHA-256 checked) and extract its recordings to ``<cache>/fsdd/recordings``.

    The archive is deleted after extraction. Returns the recordings folder.
    """
    folder = Path(dest) if dest is not None else locate.cache_dir() / "fsdd"
    archive = download_file(FSDD_URL, folder / "fsdd-v1.0.9.tar.gz", FSDD_SHA256)
    out = _extract(archive, folder / "recordings", lambda n: "/recordings/" in n and n.endswith(".wav"), strip=2)
    archive.unlink(missing_ok=True)
    return out


def download_speech_commands(dest: Path | None = None) -> Path:
    """Download Speech Commands v0.02 (2.4 GB, SHA-256 checked) and extract it to ``<cache>/speech-commands/speech_commands_v0.02``.

    The archive is deleted after extraction. Returns the extracted root.
    """
    folder = Path(dest) if dest is not None else locate.cache_dir() / "speech-commands"
    archive = download_file(SPEECH_COMMANDS_URL, folder / "speech_commands_v0.02.tar.gz", SPEECH_COMMANDS_SHA256,
                            timeout=120)
    # Its members are ./<word>/<file>.wav, ./testing_list.txt, ...: pathlib drops the leading "./".
    out = _extract(archive, folder / SPEECH_COMMANDS_FOLDER, lambda n: n.endswith((".wav", ".txt", "LICENSE", "README.md")),
                   strip=0)
    archive.unlink(missing_ok=True)
    return out


def load_speech_folder(name: str, data_dir: Path | None = None, download: bool = True) -> ArrayDataset:
    """``"fsdd"`` or ``"speech-commands"``: found in the search places, or downloaded into the cache.

    Raises:
        DatasetNotFoundError: nowhere and not downloadable (``download=False`` or a network error),
            listing every place searched.
    """
    finder, fetch, url = ((find_fsdd, download_fsdd, FSDD_URL) if name == "fsdd"
                          else (find_speech_commands, download_speech_commands, SPEECH_COMMANDS_URL))
    root, searched = finder(data_dir)
    if root is None:
        if not download:
            tried = "downloads: off (download=False)"
        else:
            try:
                root = fetch()
                tried = ""
            except OSError as exc:
                tried = f"download {url}: {exc}"
        if root is None:
            raise DatasetNotFoundError(
                f"load_dataset: {name} was not found. Searched:\n  " + "\n  ".join([*searched, *locate.unused_places(data_dir), tried])
                + f"\nPut the files (the {name} layout) in one of those folders, or allow downloading from {url}."
            )
    if name == "fsdd":
        return read_fsdd(root, features=FSDD_FEATURES)
    return read_speech_commands(root, features=SPEECH_COMMANDS_FEATURES)


def speech_folder_status(name: str, data_dir: Path | None = None) -> DatasetStatus:
    """Where ``"fsdd"`` / ``"speech-commands"`` files are and how many ``.wav`` files; nothing is read or downloaded."""
    root, searched = (find_fsdd if name == "fsdd" else find_speech_commands)(data_dir)
    if root is None:
        url = FSDD_URL if name == "fsdd" else SPEECH_COMMANDS_URL
        return DatasetStatus(name=name, found=False, location=None, searched=tuple(searched), size_bytes=None,
                             num_train=None, num_test=None, checksum="not checked",
                             detail=f"downloaded on first load from {url} (SHA-256 checked)")
    wavs = list(root.rglob("*.wav"))
    return DatasetStatus(name=name, found=True, location=str(root), searched=tuple(searched),
                         size_bytes=sum(f.stat().st_size for f in wavs), num_train=None, num_test=None,
                         checksum="not checked", detail=f"{len(wavs)} .wav files; features computed on first load")


def speech_folder_files(name: str, data_dir: Path | None = None) -> list[Path]:
    """The list files / folder the memo fingerprint watches (empty when not found)."""
    root = (find_fsdd if name == "fsdd" else find_speech_commands)(data_dir)[0]
    if root is None:
        return []
    return [p for p in (root / "testing_list.txt", root / "validation_list.txt", root) if p.exists()]
