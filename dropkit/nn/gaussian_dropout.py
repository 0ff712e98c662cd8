"""``GaussianDropout``: the Module twin of :func:`dropkit.functional.gaussian_dropout`.

Srivastava et al. 2014, Section 10, https://jmlr.org/papers/v15/srivastava14a.html.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from dropkit.functional.gaussian_dropout import gaussian_dropout
from dropkit.nn._base import DropoutModule, _keyword_only

__all__ = ["GaussianDropout"]


class GaussianDropout(DropoutModule):
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

    rates_below_one = ("p",)  # the noise variance p / (1 - p) must be finite

    @_keyword_only("broadcast_dims", "generator")
    def __init__(
        self,
        p: float = 0.5,
        *,
        broadcast_dims: int | Sequence[int] = (),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.p = self._check_rate("p", p)
        self.broadcast_dims = (broadcast_dims,) if isinstance(broadcast_dims, int) else tuple(broadcast_dims)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return gaussian_dropout(x, self.p, training=self.training, broadcast_dims=self.broadcast_dims, generator=self.generator)

    def _repr_options(self) -> list[str]:
        return [f"broadcast_dims={self.broadcast_dims}" if self.broadcast_dims else ""]
