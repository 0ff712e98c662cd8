"""``Decoded``: what a file loader hands back before splitting, standardising and caching, and the
checks every loader shares (NaNs, label ranges, matching counts), each naming the file and the entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Decoded", "check_finite", "check_labels", "check_counts"]


@dataclass
class Decoded:
    """Arrays read from the user's files, checked but not yet split or standardised.

    Args:
        train_x: inputs, ``(N, *input_shape)``; ``uint8`` images or floating features.
        train_y: integer labels in ``[0, len(class_names))``, ``(N,)``.
        test_x: the test inputs, or ``None`` when the files hold no test split (split by ratio).
        test_y: the test labels, or ``None``.
        class_names: one name per class, in label order.
        files: every file read (their sizes and mtimes key the cache).
        x_scale: factor turning stored ``train_x`` into float32 inputs (``1/255`` for uint8 images).
        standardise: standardise features with the training split's mean and std (tables).
    """

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray | None
    test_y: np.ndarray | None
    class_names: tuple[str, ...]
    files: list[Path] = field(default_factory=list)
    x_scale: float = 1.0
    standardise: bool = False


def check_finite(x: np.ndarray, path: Path, what: str, *, row_offset: int = 0, row_word: str = "entry") -> None:
    """Raise ``ValueError`` naming the file and the first entry of ``x`` that holds NaN or inf."""
    if not np.issubdtype(x.dtype, np.floating):
        return
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = x.reshape(len(x), -1)[i][~np.isfinite(x.reshape(len(x), -1)[i])][0]
        raise ValueError(
            f"dataset: '{path}': {what} {row_word} {i + row_offset} holds {value} "
            f"({int(bad.sum())} {row_word}s with NaN or inf); inputs must be finite"
        )


def check_labels(y: np.ndarray, path: Path, what: str, num_classes: int | None = None) -> np.ndarray:
    """Return ``y`` as int64 after checking it is 1-D, integral and in ``[0, num_classes)``.

    Raises:
        ValueError: naming the file and the first bad entry.
    """
    if y.ndim != 1:
        raise ValueError(f"dataset: '{path}': {what} must be 1-D (one label per sample), got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating):
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"dataset: '{path}': {what} entry {i} is {y[i]}, labels must be integers")
    elif not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
        raise ValueError(f"dataset: '{path}': {what} must hold integer labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        i = int(np.argmin(y))
        raise ValueError(f"dataset: '{path}': {what} entry {i} is {y[i]}, labels must be >= 0")
    if num_classes is not None and len(y) and y.max() >= num_classes:
        i = int(np.argmax(y))
        raise ValueError(
            f"dataset: '{path}': {what} entry {i} is {y[i]}, labels must be in [0, {num_classes - 1}] "
            f"for {num_classes} classes"
        )
    return y


def check_counts(x: np.ndarray, y: np.ndarray, x_where: str, y_where: str) -> None:
    """Raise ``ValueError`` when inputs and labels do not have the same number of samples."""
    if len(x) != len(y):
        raise ValueError(
            f"dataset: mismatched counts: {x_where} holds {len(x)} samples but {y_where} holds {len(y)} labels"
        )
