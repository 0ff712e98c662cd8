"""``ArrayDataset``: a whole classification dataset held in memory as tensors (train and test split)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import TensorDataset

__all__ = ["ArrayDataset"]


@dataclass(frozen=True, eq=False)
class ArrayDataset:
    """A classification dataset that fits in memory, split into train and test.

    The tensors may be shared with the in-process memo of :func:`dropkit.data.load_dataset`: treat
    them as read-only (clone before modifying in place).

    Args:
        name: registry name, e.g. ``"fashion-mnist"``.
        train_x: float32 inputs, shape ``(N_train, *input_shape)``; images are scaled to ``[0, 1]``.
        train_y: int64 labels in ``[0, num_classes)``, shape ``(N_train,)``.
        test_x: float32 inputs, shape ``(N_test, *input_shape)``.
        test_y: int64 labels, shape ``(N_test,)``.
        num_classes: number of classes.
        input_shape: shape of one sample without the batch dim: ``(1, 28, 28)``, ``(1, 8, 8)``, ``(40,)``.
        class_names: one name per class, in label order.
        source: where the data came from (a folder, a cache file or the generator), for logs and reports.
        details: more about where it came from, recorded in a run's ``env.json`` (file datasets: kind,
            path, split, ``"cache": "hit"`` or ``"written"``) (default: empty).

    Shape:
        - train_x: :math:`(N_{train}, *input\\_shape)`, train_y: :math:`(N_{train})`
        - test_x: :math:`(N_{test}, *input\\_shape)`, test_y: :math:`(N_{test})`

    Example:
        >>> import torch
        >>> ds = ArrayDataset("toy", torch.zeros(4, 3), torch.tensor([0, 1, 0, 1]), torch.zeros(2, 3),
        ...                   torch.tensor([1, 0]), num_classes=2, input_shape=(3,),
        ...                   class_names=("a", "b"), source="example")
        >>> ds.num_train, ds.num_test, len(ds.train)
        (4, 2, 4)
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    source: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"ArrayDataset({self.name!r})"
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"{where}: class_names must have num_classes={self.num_classes} entries, "
                f"got {len(self.class_names)}"
            )
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.dtype != torch.float32:
                raise TypeError(f"{where}: {split}_x must be float32, got {x.dtype}")
            if y.dtype != torch.int64:
                raise TypeError(f"{where}: {split}_y must be int64, got {y.dtype}")
            if tuple(x.shape[1:]) != self.input_shape:
                raise ValueError(
                    f"{where}: {split}_x must have shape (N, *{self.input_shape}), got {tuple(x.shape)}"
                )
            if y.dim() != 1 or y.shape[0] != x.shape[0]:
                raise ValueError(
                    f"{where}: {split}_y must have shape ({x.shape[0]},) to match {split}_x, got {tuple(y.shape)}"
                )
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(
                    f"{where}: {split}_y must lie in [0, {self.num_classes - 1}], "
                    f"got [{int(y.min())}, {int(y.max())}]"
                )

    @property
    def num_train(self) -> int:
        """Number of training samples."""
        return int(self.train_x.shape[0])

    @property
    def num_test(self) -> int:
        """Number of test samples."""
        return int(self.test_x.shape[0])

    @property
    def train(self) -> TensorDataset:
        """The training split as a ``TensorDataset`` of ``(x, y)`` pairs, ready for a ``DataLoader``."""
        return TensorDataset(self.train_x, self.train_y)

    @property
    def test(self) -> TensorDataset:
        """The test split as a ``TensorDataset`` of ``(x, y)`` pairs."""
        return TensorDataset(self.test_x, self.test_y)

    def __repr__(self) -> str:
        return (
            f"ArrayDataset(name={self.name!r}, train={self.num_train}, test={self.num_test}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes}, source={self.source!r})"
        )
