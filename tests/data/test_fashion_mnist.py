"""The real Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dropkit.data import ArrayDataset, dataset_status, load_dataset, locate, mnist

DEBIAN_ROOT = Path("/usr/share/datasets")
FOLDER = DEBIAN_ROOT / "fashion-mnist"

pytestmark = pytest.mark.skipif(
    not all((FOLDER / f.filename).is_file() for f in mnist.FASHION_MNIST.files),
    reason=f"Fashion-MNIST not installed in {FOLDER} (apt install dataset-fashion-mnist)",
)


@pytest.fixture(scope="module")
def fashion() -> ArrayDataset:
    # data_dir points at the Debian root, so the search (<data_dir>/fashion-mnist) finds exactly those files.
    return load_dataset("fashion-mnist", data_dir=DEBIAN_ROOT, download=False)


def test_shapes_and_scaling(fashion: ArrayDataset) -> None:
    assert fashion.source == str(FOLDER)
    assert fashion.train_x.shape == (60000, 1, 28, 28) and fashion.test_x.shape == (10000, 1, 28, 28)
    assert fashion.input_shape == (1, 28, 28) and fashion.num_classes == 10
    assert fashion.train_x.dtype == torch.float32 and fashion.train_y.dtype == torch.int64
    assert fashion.train_x.min() == 0 and fashion.train_x.max() == 1
    assert torch.equal(fashion.test_x * 255, (fashion.test_x * 255).round())  # exactly k/255
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"


def test_labels_balanced(fashion: ArrayDataset) -> None:
    assert torch.bincount(fashion.train_y, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(fashion.test_y, minlength=10).tolist() == [1000] * 10


def test_status_checksums_ok(roots, monkeypatch) -> None:
    monkeypatch.setattr(locate, "SYSTEM_DATASETS_DIR", DEBIAN_ROOT)  # the real system root, last in order
    status = dataset_status("fashion-mnist")
    assert (status.found, status.location, status.checksum) == (True, str(FOLDER), "ok"), status.detail
    assert (status.num_train, status.num_test) == (60000, 10000)
    assert status.size_bytes == sum((FOLDER / f.filename).stat().st_size for f in mnist.FASHION_MNIST.files)
    assert status.searched[-1] == f"{FOLDER} (system): all 4 files"
