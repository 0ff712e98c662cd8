"""Search order for dataset files: data_dir, then $DROPKIT_DATA, then the cache, then /usr/share/datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dropkit.data import ChecksumError, DatasetNotFoundError, dataset_status, load_dataset, locate, mnist


@pytest.fixture
def four_copies(roots, fake_idx_files, fake_spec, monkeypatch):
    """The same fake 'mnist' (identical bytes) in all four roots; returns the roots."""
    folders = [roots.data_dir / "mnist", roots.env / "mnist", roots.cache / "mnist", roots.system / "mnist"]
    for folder in folders:
        fake_idx_files(folder, seed=0)
    monkeypatch.setitem(mnist.SPECS, "mnist", fake_spec(folders[0]))
    monkeypatch.setenv(locate.ENV_VAR, str(roots.env))
    return roots


def _source(**kwargs: object) -> str:
    return load_dataset("mnist", download=False, **kwargs).source  # type: ignore[arg-type]


def test_search_order(four_copies, monkeypatch) -> None:
    r = four_copies
    assert _source(data_dir=r.data_dir) == str(r.data_dir / "mnist")
    assert _source() == str(r.env / "mnist")
    monkeypatch.delenv(locate.ENV_VAR)
    assert _source() == str(r.cache / "mnist")
    for f in (r.cache / "mnist").iterdir():
        f.unlink()
    assert _source() == str(r.system / "mnist")


def test_status_follows_search_order(four_copies) -> None:
    r = four_copies
    status = dataset_status("mnist", data_dir=r.data_dir)
    assert status.found and status.location == str(r.data_dir / "mnist")
    assert status.searched == (f"{r.data_dir / 'mnist'} (data_dir): all 4 files",)
    assert dataset_status("mnist").location == str(r.env / "mnist")


def test_data_dir_may_hold_the_files_directly(roots, fake_idx_files, fake_spec, monkeypatch) -> None:
    flat = roots.data_dir
    arrays = fake_idx_files(flat)
    monkeypatch.setitem(mnist.SPECS, "mnist", fake_spec(flat))
    ds = load_dataset("mnist", data_dir=str(flat), download=False)
    assert ds.source == str(flat)
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte.gz"]).float().div(255).unsqueeze(1)
    assert torch.equal(ds.train_x, expected)
    assert ds.train_y.tolist() == arrays["train-labels-idx1-ubyte.gz"].tolist()


def test_shared_roots_need_the_subfolder(roots, fake_idx_files, fake_spec, monkeypatch) -> None:
    # MNIST and Fashion-MNIST share file names, so a flat $DROPKIT_DATA or cache is not used.
    fake_idx_files(roots.env)
    fake_idx_files(roots.cache)
    monkeypatch.setitem(mnist.SPECS, "mnist", fake_spec(roots.env))
    monkeypatch.setenv(locate.ENV_VAR, str(roots.env))
    with pytest.raises(DatasetNotFoundError):
        load_dataset("mnist", download=False)


def test_incomplete_folder_is_skipped_and_reported(roots, fake_idx_files, fake_spec, monkeypatch) -> None:
    fake_idx_files(roots.cache / "mnist")
    fake_idx_files(roots.system / "mnist")
    (roots.cache / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setitem(mnist.SPECS, "mnist", fake_spec(roots.system / "mnist"))
    assert _source() == str(roots.system / "mnist")
    searched = dataset_status("mnist").searched
    assert searched[0] == f"{roots.cache / 'mnist'} (cache): missing t10k-labels-idx1-ubyte.gz"


def test_missing_data_dir_is_an_error(roots) -> None:
    missing = roots.data_dir / "typo"
    expected = rf"load_dataset: data_dir must be an existing folder, got '{missing}' \(missing\)"
    for name in ("mnist", "mnist1d", "digits"):
        with pytest.raises(FileNotFoundError, match=expected):
            load_dataset(name, data_dir=missing)
    with pytest.raises(FileNotFoundError, match="dataset_status: data_dir"):
        dataset_status("mnist", data_dir=missing)
    with pytest.raises(TypeError, match="data_dir must be a path or None, got int"):
        load_dataset("mnist", data_dir=3)  # type: ignore[arg-type]


def test_found_file_with_wrong_checksum_is_refused(roots, fake_idx_files, fake_spec, monkeypatch) -> None:
    folder = roots.cache / "mnist"
    fake_idx_files(folder, seed=0)
    monkeypatch.setitem(mnist.SPECS, "mnist", fake_spec(folder))
    fake_idx_files(folder, seed=1)  # same shapes, other pixels: only the hash can tell
    bad = folder / "train-images-idx3-ubyte.gz"
    with pytest.raises(ChecksumError, match=rf"SHA-256 of '{bad}' must be [0-9a-f]{{64}}, got [0-9a-f]{{64}}"):
        load_dataset("mnist", download=False)
    status = dataset_status("mnist")
    assert status.found and status.checksum == "mismatch"
    assert str(bad) in status.detail


def test_wrong_sample_count_is_refused(roots, fake_idx_files, fake_spec, monkeypatch) -> None:
    folder = roots.cache / "mnist"
    fake_idx_files(folder, n_train=20)
    monkeypatch.setitem(mnist.SPECS, "mnist", fake_spec(folder, n_train=30))
    with pytest.raises(ValueError, match=r"train images in .* must have shape \(30, 28, 28\), got \(20, 28, 28\)"):
        load_dataset("mnist", download=False)


def test_search_places_layout(roots, monkeypatch) -> None:
    monkeypatch.setenv(locate.ENV_VAR, str(roots.env))
    places = locate.search_places("mnist", Path("/d"))
    assert [(str(p.path), p.origin) for p in places] == [
        ("/d/mnist", "data_dir"),
        ("/d", "data_dir"),
        (str(roots.env / "mnist"), "$DROPKIT_DATA"),
        (str(roots.cache / "mnist"), "cache"),
        (str(roots.system / "mnist"), "system"),
    ]
    monkeypatch.delenv(locate.ENV_VAR)
    assert [p.origin for p in locate.search_places("mnist")] == ["cache", "system"]
    assert locate.unused_places(None) == ["data_dir: not given", "$DROPKIT_DATA: not set"]
