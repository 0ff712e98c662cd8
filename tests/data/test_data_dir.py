"""Issue 20 item 7: ``--data-dir`` is never silently ignored, a flat folder of Fashion-MNIST is not read
as MNIST, a changed known dataset points at ``--dataset idx:PATH``, and the run records the folder it
really read."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from pathlib import Path

import pytest

from dropkit.data import ChecksumError, DatasetNotFoundError, dataset_status, load_dataset, load_file_dataset, mnist

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not all((DEBIAN / f.filename).is_file() for f in mnist.FASHION_MNIST.files),
    reason=f"Fashion-MNIST not installed in {DEBIAN} (apt install dataset-fashion-mnist)",
)


@needs_fashion
def test_raw_fashion_mnist_files_in_data_dir_are_read_and_checked(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in mnist.FASHION_MNIST.files:
        (raw / f.raw_filename).write_bytes(gzip.decompress((DEBIAN / f.filename).read_bytes()))
    ds = load_dataset("fashion-mnist", data_dir=raw, download=False)
    assert ds.source == str(raw) and ds.num_train == 60000
    assert dataset_status("fashion-mnist", data_dir=raw).checksum == "ok"
    (raw / "t10k-labels-idx1-ubyte").write_bytes((raw / "t10k-labels-idx1-ubyte").read_bytes()[:-1] + b"\x00")
    with pytest.raises(ChecksumError, match=rf"pass --dataset idx:{raw}"):
        load_dataset("fashion-mnist", data_dir=raw, download=False)


def test_data_dir_with_some_files_is_an_error_not_a_fall_through(roots, fake_idx_files, fake_spec, monkeypatch) -> None:
    fake_idx_files(roots.cache / "mnist")  # a complete copy elsewhere must not be used silently
    monkeypatch.setitem(mnist.SPECS, "mnist", fake_spec(roots.cache / "mnist"))
    roots.data_dir.mkdir()
    fake_idx_files(roots.data_dir)
    (roots.data_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match=rf"data_dir '{roots.data_dir}' holds some files of 'mnist' but not "
                                                    r"t10k-labels-idx1-ubyte.gz.*--dataset idx:"):
        load_dataset("mnist", data_dir=roots.data_dir, download=False)


def test_flat_folder_of_fashion_mnist_is_not_read_as_mnist(roots, fake_idx_files, fake_spec, monkeypatch) -> None:
    flat, real_mnist = roots.data_dir, roots.cache / "mnist"
    flat.mkdir()
    fake_idx_files(flat, seed=1)
    fake_idx_files(real_mnist, seed=2)
    monkeypatch.setitem(mnist.SPECS, "fashion-mnist", fake_spec(flat, name="fashion-mnist"))
    monkeypatch.setitem(mnist.SPECS, "mnist", fake_spec(real_mnist))
    assert load_dataset("fashion-mnist", data_dir=flat, download=False).source == str(flat)
    ds = load_dataset("mnist", data_dir=flat, download=False)  # skips the flat Fashion-MNIST copy
    assert ds.source == str(real_mnist)
    status = dataset_status("mnist", data_dir=flat)
    assert status.checksum == "ok" and f"{flat} (data_dir): holds the 'fashion-mnist' files (same names), skipped" in status.searched
    shutil.rmtree(real_mnist)
    (flat / "mnist").mkdir()  # the Fashion-MNIST files put into <data_dir>/mnist/: named for what they are
    for p in flat.glob("*.gz"):
        shutil.copy(p, flat / "mnist" / p.name)
    with pytest.raises(ChecksumError, match=r"holds the 'fashion-mnist' files, not 'mnist'.*pass --dataset fashion-mnist"):
        load_dataset("mnist", data_dir=flat, download=False)


def test_a_changed_known_dataset_names_idx_and_idx_reads_it(roots, fake_idx_files, fake_spec, monkeypatch) -> None:
    folder = roots.cache / "mnist"
    fake_idx_files(folder, seed=0)
    monkeypatch.setitem(mnist.SPECS, "mnist", fake_spec(folder))
    fake_idx_files(folder, seed=5)  # e.g. relabelled: the digests no longer match
    with pytest.raises(ChecksumError, match=rf"To train on these files as they are .* pass --dataset idx:{folder}"):
        load_dataset("mnist", download=False)
    ds = load_file_dataset(f"idx:{folder}")
    assert (ds.num_train, ds.num_test, ds.input_shape) == (20, 10, (1, 28, 28))


def test_the_run_records_the_folder_it_really_read(roots, fake_idx_files, fake_spec, monkeypatch, tmp_path, caplog) -> None:
    from dropkit.cli.main import main

    fake_idx_files(roots.cache / "mnist")
    monkeypatch.setitem(mnist.SPECS, "mnist", fake_spec(roots.cache / "mnist"))
    roots.data_dir.mkdir()  # exists, but holds nothing
    out = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        assert main(["train", "--dataset", "mnist", "--data-dir", str(roots.data_dir), "--hidden", "8", "--steps", "2",
                     "--eval-every", "1", "--threads", "1", "--no-progress", "--out", str(out)]) == 0
    data = json.loads((out / "env.json").read_text())["data"]
    assert data["source"] == str(roots.cache / "mnist") and data["dataset"] == "mnist"
    assert f"data_dir '{roots.data_dir}' holds no mnist files: reading them from '{roots.cache / 'mnist'}'" in caplog.text
