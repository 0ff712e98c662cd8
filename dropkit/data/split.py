"""A seeded, stratified train/test split for data without a test split, and standardisation with
statistics of the training split only."""

from __future__ import annotations

import numpy as np

__all__ = ["stratified_split", "standardise"]


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)``: ``round(test_fraction * n_c)`` samples of each class ``c`` go to test.

    The same ``(labels, test_fraction, seed)`` always give the same split (numpy's PCG64 generator).

    Args:
        y: int labels, ``(N,)``.
        test_fraction: fraction of each class held out, in ``(0, 1)``.
        seed: seed of the split.

    Raises:
        ValueError: ``test_fraction`` is outside ``(0, 1)``, or the split leaves train or test empty.

    Example:
        >>> import numpy as np
        >>> train, test = stratified_split(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.25, seed=0)
        >>> len(train), len(test)
        (6, 2)
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ValueError(f"dataset: test_split must be in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test.append(idx[: int(round(test_fraction * len(idx)))])
    test_idx = np.sort(np.concatenate(test)) if test else np.zeros(0, dtype=np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[test_idx] = False
    train_idx = np.flatnonzero(mask)
    if len(test_idx) == 0 or len(train_idx) == 0:
        raise ValueError(
            f"dataset: test_split={test_fraction} of {len(y)} samples leaves "
            f"{len(train_idx)} for training and {len(test_idx)} for test; both must be non-empty"
        )
    return train_idx, test_idx


def standardise(train_x: np.ndarray, test_x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Subtract the training mean and divide by the training std per feature (std 0 -> 1).

    Returns ``(train_x, test_x, mean, std)`` as float32.

    Example:
        >>> import numpy as np
        >>> a, b, mean, std = standardise(np.array([[0.0], [2.0]]), np.array([[4.0]]))
        >>> a.ravel().tolist(), b.ravel().tolist(), mean.tolist()
        ([-1.0, 1.0], [3.0], [1.0])
    """
    train = train_x.astype(np.float64)
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    out = ((train - mean) / std).astype(np.float32), ((test_x.astype(np.float64) - mean) / std).astype(np.float32)
    return out[0], out[1], mean.astype(np.float32), std.astype(np.float32)
