"""``Dropout``: the Module twin of :func:`dropkit.functional.dropout`.

Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
https://jmlr.org/papers/v15/srivastava14a.html.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dropkit._validation import check_probability
from dropkit.functional.dropout import dropout

__all__ = ["Dropout"]


class Dropout(nn.Module):
    """Inverted dropout; ``p`` is the probability of **dropping** a unit.

    Args:
        p: drop probability in ``[0, 1]`` (default: 0.5).
        broadcast_dims: dims that share one mask value (Keras' ``noise_shape``), e.g. ``(1,)`` on
            ``(N, T, D)`` shares the mask over time (default: ``()``).
        generator: optional random generator used for every mask (default: None, the global one).

    Shape:
        - Input: ``(*)``; Output: the same shape.

    Attributes:
        last_drop_fraction: after a training forward with ``record_rate = True``, the fraction of
            mask entries that were dropped (a 0-dim tensor), else None. The trainer uses it to log
            the rate actually applied.

    Example:
        >>> import torch
        >>> from dropkit.nn import Dropout
        >>> layer = Dropout(0.2)
        >>> layer(torch.ones(3, 5)).shape
        torch.Size([3, 5])
        >>> layer.eval()(torch.ones(2)).tolist()
        [1.0, 1.0]
    """

    def __init__(
        self,
        p: float = 0.5,
        broadcast_dims: int | Sequence[int] = (),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.p = check_probability(type(self).__name__, "p", p)
        self.broadcast_dims = (broadcast_dims,) if isinstance(broadcast_dims, int) else tuple(broadcast_dims)
        self.generator = generator
        self.record_rate = False
        self.last_drop_fraction: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        y = dropout(x, self.p, training=self.training, broadcast_dims=self.broadcast_dims, generator=self.generator)
        if self.record_rate and self.training:
            with torch.no_grad():
                self.last_drop_fraction = (y == 0).logical_and(x != 0).sum() / (x != 0).sum().clamp_min(1)
        return y

    def extra_repr(self) -> str:
        dims = f", broadcast_dims={self.broadcast_dims}" if self.broadcast_dims else ""
        return f"p={self.p:g}{dims}"
