"""The real download code against a local ``http.server``: checked files land in the cache, bad ones leave
nothing behind, and offline the error lists every place searched and how to supply the files."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import urllib.error
from pathlib import Path

import pytest

from dropkit.data import (
    ChecksumError,
    DatasetNotFoundError,
    dataset_status,
    load_dataset,
    locate,
    mnist,
)
from dropkit.data.download import download_file, sha256_file

FILES = [f.filename for f in mnist.MNIST.files]


def test_download_file_good_checksum(http_root, tmp_path: Path) -> None:
    served, url = http_root
    body = bytes(range(256)) * 1000  # several chunks
    (served / "blob.bin").write_bytes(body)
    dest = tmp_path / "out" / "blob.bin"
    got = download_file(url + "blob.bin", dest, hashlib.sha256(body).hexdigest().upper())
    assert got == dest and dest.read_bytes() == body
    assert sorted(p.name for p in dest.parent.iterdir()) == ["blob.bin"]


def test_download_file_bad_checksum_leaves_nothing(http_root, tmp_path: Path) -> None:
    served, url = http_root
    (served / "blob.bin").write_bytes(b"tampered")
    dest = tmp_path / "out" / "blob.bin"
    wanted = "0" * 64
    with pytest.raises(ChecksumError, match=rf"SHA-256 of {url}blob.bin must be {wanted}, got "
                       rf"{hashlib.sha256(b'tampered').hexdigest()} \(8 bytes\); the download was discarded"):
        download_file(url + "blob.bin", dest, wanted)
    assert list(dest.parent.iterdir()) == []  # neither the file nor its temp file


def test_download_file_http_error_leaves_nothing(http_root, tmp_path: Path) -> None:
    _, url = http_root
    dest = tmp_path / "out" / "missing.bin"
    with pytest.raises(urllib.error.HTTPError):
        download_file(url + "missing.bin", dest, "0" * 64)
    assert list(dest.parent.iterdir()) == []


def test_download_file_refuses_other_schemes(tmp_path: Path) -> None:
    msg = r"download_file: url must start with http:// or https://, got 'file:///etc/passwd'"
    with pytest.raises(ValueError, match=msg):
        download_file("file:///etc/passwd", tmp_path / "x", "0" * 64)


def test_load_downloads_into_cache(roots, http_root, dead_url, fake_idx_files, fake_spec, monkeypatch) -> None:
    served, url = http_root
    fake_idx_files(served)
    # First mirror refuses connections, the second serves the files: the fallback is exercised too.
    monkeypatch.setitem(mnist.SPECS, "mnist", fake_spec(served, mirrors=(dead_url, url)))
    assert not dataset_status("mnist").found

    ds = load_dataset("mnist")
    cached = roots.cache / "mnist"
    assert ds.source == str(cached)
    assert sorted(p.name for p in cached.iterdir()) == sorted(FILES)  # no temp files left
    for name in FILES:
        assert sha256_file(cached / name) == sha256_file(served / name)
    assert (ds.num_train, ds.num_test, ds.input_shape) == (20, 10, (1, 28, 28))
    status = dataset_status("mnist")
    assert (status.found, status.location, status.checksum) == (True, str(cached), "ok")
    assert (status.num_train, status.num_test) == (20, 10)
    assert status.size_bytes == sum((served / n).stat().st_size for n in FILES)

    # Now present: a second load needs no server.
    shutil.rmtree(served)
    assert load_dataset("mnist", download=False) is ds


def test_partial_cache_only_fetches_what_is_missing(
    roots, http_root, fake_idx_files, fake_spec, monkeypatch
) -> None:
    served, url = http_root
    fake_idx_files(served)
    monkeypatch.setitem(mnist.SPECS, "mnist", fake_spec(served, mirrors=(url,)))
    cached = roots.cache / "mnist"
    cached.mkdir(parents=True)
    shutil.copy(served / FILES[0], cached / FILES[0])
    (served / FILES[0]).unlink()  # the server no longer has it: it must not be asked for
    ds = load_dataset("mnist")
    assert ds.source == str(cached) and sorted(p.name for p in cached.iterdir()) == sorted(FILES)


def test_load_bad_checksum_keeps_nothing(roots, http_root, fake_idx_files, fake_spec, monkeypatch) -> None:
    served, url = http_root
    fake_idx_files(served, seed=0)
    spec = fake_spec(served, mirrors=(url,))
    fake_idx_files(served, seed=1)  # the server now has other bytes for the image files
    monkeypatch.setitem(mnist.SPECS, "mnist", spec)
    with pytest.raises(ChecksumError, match=r"wrong SHA-256 \(nothing was kept\)[\s\S]*train-images-idx3"):
        load_dataset("mnist")
    cached = roots.cache / "mnist"
    leftovers = sorted(p.name for p in cached.iterdir()) if cached.exists() else []
    assert FILES[0] not in leftovers  # the bad images file was not kept ...
    assert not [n for n in leftovers if n.endswith(".tmp")]  # ... nor any temp file


def test_offline_error_lists_every_place(roots, dead_url, monkeypatch) -> None:
    offline = dataclasses.replace(mnist.FASHION_MNIST, mirrors=(dead_url,))
    monkeypatch.setitem(mnist.SPECS, "fashion-mnist", offline)
    monkeypatch.setenv(locate.ENV_VAR, str(roots.env))
    roots.data_dir.mkdir()
    (roots.cache / "fashion-mnist").mkdir(parents=True)
    (roots.cache / "fashion-mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion-mnist", data_dir=roots.data_dir)
    msg = str(info.value)
    expected_lines = [
        f"{roots.data_dir / 'fashion-mnist'} (data_dir): no such folder",
        f"{roots.data_dir} (data_dir): none of the files",
        f"{roots.env / 'fashion-mnist'} ($DROPKIT_DATA): no such folder",
        f"{roots.cache / 'fashion-mnist'} (cache): missing train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz",
        f"{roots.system / 'fashion-mnist'} (system): no such folder",
    ]
    positions = [msg.index(line) for line in expected_lines]
    assert positions == sorted(positions)  # listed in search order
    assert f"{dead_url}train-images-idx3-ubyte.gz: URLError" in msg
    assert "DROPKIT_DATA=<folder>" in msg and "apt install dataset-fashion-mnist" in msg
    assert f"copy them into {roots.cache / 'fashion-mnist'}/" in msg
    assert isinstance(info.value, FileNotFoundError)  # the CLI reports FileNotFoundError cleanly


def test_download_false_never_connects(roots, monkeypatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("download=False must not open a connection")

    monkeypatch.setattr(mnist, "download_file", no_network)
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", download=False)
    msg = str(info.value)
    assert "Not downloaded (download=False)" in msg
    assert "Not searched: data_dir: not given; $DROPKIT_DATA: not set." in msg
    assert "apt install" not in msg  # Debian has no MNIST package
    assert f"{roots.system / 'mnist'} (system): no such folder" in msg
