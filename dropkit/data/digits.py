"""scikit-learn's 8x8 handwritten digits (UCI "Optical Recognition of Handwritten Digits", test part).

1797 images bundled with scikit-learn (no download). Pixels are integers 0-16, scaled here to
``[0, 1]``. There is no official split, so a fixed stratified one is used: 20 % test, seed 0
(1437 train / 360 test), the same on every machine with the same scikit-learn data file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch

from dropkit.data.dataset import ArrayDataset
from dropkit.data.status import DatasetStatus

__all__ = ["NAME", "TEST_FRACTION", "SPLIT_SEED", "load_digits_dataset", "digits_status"]

NAME = "digits"
#: Fraction of each class held out for the test split.
TEST_FRACTION = 0.2
#: ``random_state`` of the stratified split.
SPLIT_SEED = 0


def _bundled_file() -> Path:
    """The CSV that ``sklearn.datasets.load_digits`` reads."""
    return Path(str(resources.files("sklearn.datasets.data") / "digits.csv.gz"))


def load_digits_dataset() -> ArrayDataset:
    """Load the 8x8 digits with the fixed stratified split.

    Returns:
        An :class:`ArrayDataset`: ``train_x`` ``(1437, 1, 8, 8)``, ``test_x`` ``(360, 1, 8, 8)`` float32
        in ``[0, 1]``, int64 labels 0-9.

    Example:
        >>> ds = load_digits_dataset()
        >>> ds.train_x.shape, ds.test_x.shape
        (torch.Size([1437, 1, 8, 8]), torch.Size([360, 1, 8, 8]))
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0))[:, None]  # (N, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED
    )
    return ArrayDataset(
        name=NAME,
        train_x=torch.from_numpy(np.ascontiguousarray(train_x)),
        train_y=torch.from_numpy(np.ascontiguousarray(train_y)),
        test_x=torch.from_numpy(np.ascontiguousarray(test_x)),
        test_y=torch.from_numpy(np.ascontiguousarray(test_y)),
        num_classes=10,
        input_shape=(1, 8, 8),
        class_names=tuple(str(d) for d in range(10)),
        source=f"scikit-learn load_digits ({_bundled_file()}), stratified split, seed {SPLIT_SEED}",
    )


def digits_status() -> DatasetStatus:
    """Where scikit-learn keeps the digits file and the split sizes.

    Example:
        >>> s = digits_status()
        >>> s.found, s.num_train, s.num_test, s.checksum
        (True, 1437, 360, 'not checked')
    """
    path = _bundled_file()
    if not path.is_file():
        return DatasetStatus(
            name=NAME, found=False, location=None, searched=(f"{path} (scikit-learn): no such file",),
            size_bytes=None, num_train=None, num_test=None, checksum="not checked",
            detail="reinstall scikit-learn",
        )  # fmt: skip
    ds = load_digits_dataset()
    return DatasetStatus(
        name=NAME,
        found=True,
        location=str(path),
        searched=(f"{path} (scikit-learn)",),
        size_bytes=path.stat().st_size,
        num_train=ds.num_train,
        num_test=ds.num_test,
        checksum="not checked",
        detail="bundled with scikit-learn",
    )
