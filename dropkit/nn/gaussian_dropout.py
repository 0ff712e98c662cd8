"""``GaussianDropout``: the Module twin of :func:`dropkit.functional.gaussian_dropout`.

Srivastava et al. 2014, Section 10, https://jmlr.org/papers/v15/srivastava14a.html.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dropkit._validation import check_probability
from dropkit.functional.gaussian_dropout import gaussian_dropout

__all__ = ["GaussianDropout"]


class GaussianDropout(nn.Module):
    """Multiplicative noise ``N(1, p / (1 - p))`` in training, identity in evaluation.

    Args:
        p: the Bernoulli probability of **dropping** whose variance the noise matches, in ``[0, 1)``
            (default: 0.5).
        broadcast_dims: dims that share one noise value (default: ``()``).
        generator: optional random generator for every draw (default: None, the global one).

    Shape:
        - Input: ``(*)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import GaussianDropout
        >>> layer = GaussianDropout(0.2)
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
        self.p = check_probability(type(self).__name__, "p", p, allow_one=False)
        self.broadcast_dims = (broadcast_dims,) if isinstance(broadcast_dims, int) else tuple(broadcast_dims)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return gaussian_dropout(x, self.p, training=self.training, broadcast_dims=self.broadcast_dims, generator=self.generator)

    def extra_repr(self) -> str:
        dims = f", broadcast_dims={self.broadcast_dims}" if self.broadcast_dims else ""
        return f"p={self.p:g}{dims}"
