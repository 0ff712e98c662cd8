"""``LockedDropout``: the Module twin of :func:`dropkit.functional.locked_dropout`.

Gal & Ghahramani 2016, "A Theoretically Grounded Application of Dropout in Recurrent Neural
Networks", https://arxiv.org/abs/1512.05287.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from dropkit.functional.locked_dropout import locked_dropout
from dropkit.nn._base import DropoutModule, _keyword_only

__all__ = ["LockedDropout"]


class LockedDropout(DropoutModule):
    """Variational dropout for sequences: one mask per sequence, shared over all time steps.

    ``p`` is the probability of **dropping** a feature (for every time step of that sequence).

    Args:
        p: drop probability in ``[0, 1]`` (default: 0.5).
        batch_first: tensor inputs are ``(B, T, *)`` instead of ``(T, B, *)`` (default: False).
        generator: optional random generator used for every mask (default: None, the global one).

    Shape:
        - Input: ``(T, B, *)``, ``(B, T, *)`` or a PackedSequence; Output: the same.

    Example:
        >>> import torch
        >>> from dropkit.nn import LockedDropout
        >>> layer = LockedDropout(0.3, batch_first=True)
        >>> y = layer(torch.ones(2, 7, 4))
        >>> bool((y == y[:, :1]).all())
        True
        >>> layer.eval()(torch.ones(2, 7, 4)).sum().item()
        56.0
    """

    @_keyword_only("generator")
    def __init__(self, p: float = 0.5, batch_first: bool = False, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = self._check_rate("p", p)
        self.batch_first = bool(batch_first)
        self.generator = generator

    def forward(self, x: Tensor | PackedSequence) -> Tensor | PackedSequence:
        return locked_dropout(x, self.p, training=self.training, batch_first=self.batch_first, generator=self.generator)

    def _repr_options(self) -> list[str]:
        return [f"batch_first={self.batch_first}"]
