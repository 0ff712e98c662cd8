"""The validation split and the choice of the best step.

Choosing the "best" step on the test set reports a number that was tuned on the test set. A run instead
holds out ``val_fraction`` of its training data (a permutation seeded by the run's seed, the same on every
DDP rank and after a resume), evaluates it at every evaluation, chooses the best step on validation
accuracy and reports the test accuracy *at that step* (``best_test_acc``, ``best_step``,
``best_val_acc`` in ``summary.json``). With ``val_fraction: 0`` there is no validation set and the best
step is chosen on test accuracy, as before; ``summary.json`` says which (``selected_on``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["split_train_val", "select_on", "Best"]

_SPLIT_SEED_OFFSET = 104_729  # keeps the split independent of the other seeded draws of a run


def split_train_val(n: int, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Indices ``(train, val)`` of a seeded split of ``n`` training samples; ``val`` is empty for fraction 0.

    Args:
        n: training samples.
        fraction: the share held out for validation, in [0, 1); at least one sample when > 0.
        seed: the run's seed.

    Example:
        >>> train, val = split_train_val(10, 0.2, seed=0)
        >>> len(train), len(val), sorted(train.tolist() + val.tolist()) == list(range(10))
        (8, 2, True)
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"split_train_val: fraction must be in [0, 1), got {fraction!r}")
    n_val = 0 if fraction == 0 else min(n - 1, max(1, round(n * fraction)))
    if n_val <= 0:
        return torch.arange(n), torch.arange(0)
    gen = torch.Generator().manual_seed(seed + _SPLIT_SEED_OFFSET)
    perm = torch.randperm(n, generator=gen)
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def select_on(rows: Iterable[dict[str, Any]]) -> str:
    """The metric the best step is chosen on: ``"val_acc"`` when the rows have it, else ``"test_acc"``."""
    return "val_acc" if any(r.get("val_acc") is not None for r in rows) else "test_acc"


class Best:
    """The best evaluation so far, by ``key`` (highest wins; the first of equal values is kept).

    Example:
        >>> best = Best("val_acc")
        >>> for row in [{"step": 0, "val_acc": 0.5, "test_acc": 0.4}, {"step": 10, "val_acc": 0.7, "test_acc": 0.6},
        ...             {"step": 20, "val_acc": 0.6, "test_acc": 0.9}]:
        ...     best.update(row)
        >>> best.summary()
        {'best_step': 10, 'best_test_acc': 0.6, 'best_val_acc': 0.7, 'selected_on': 'val_acc'}
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.row: dict[str, Any] | None = None

    def update(self, row: dict[str, Any]) -> None:
        value = row.get(self.key)
        if value is not None and (self.row is None or value > self.row[self.key]):
            self.row = row

    def summary(self) -> dict[str, Any]:
        """``best_step``, ``best_test_acc`` (test accuracy at that step), ``best_val_acc``, ``selected_on``."""
        row = self.row or {}
        return {
            "best_step": row.get("step", -1),
            "best_test_acc": row.get("test_acc", -1.0),
            "best_val_acc": row.get("val_acc"),
            "selected_on": self.key,
        }
