"""Models as a user would write them, imported by ``--model tests.models.user_nets:NAME`` in the tests
(in process and in CLI subprocesses started with the repository root on ``PYTHONPATH``)."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """An MLP with a torch dropout of its own; ``in_features`` from the flattened input."""

    def __init__(self, in_features: int = 64, hidden: int = 32, num_classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(0.2),
                                  nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class RowLSTM(nn.Module):
    """Reads a ``(1, H, W)`` image as ``H`` steps of ``W`` features with an ``nn.LSTM``."""

    def __init__(self, width: int = 8, hidden: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        self.rnn = nn.LSTM(width, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x.flatten(1, 2) if x.dim() == 4 else x)
        return self.head(out[:, -1])


def Broken() -> nn.Module:  # noqa: N802 - a factory named like a class, as users write them
    """Fails the way a package with a broken C extension fails when it is first used."""
    raise RuntimeError("no kernel image is available")
