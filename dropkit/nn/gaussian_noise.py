"""``GaussianNoise``: the Module twin of :func:`dropkit.functional.gaussian_noise`.

Additive noise injection; see Srivastava et al. 2014, https://jmlr.org/papers/v15/srivastava14a.html.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dropkit._validation import check_non_negative
from dropkit.functional.gaussian_noise import gaussian_noise
from dropkit.nn._base import DropoutModule, _keyword_only

__all__ = ["GaussianNoise"]


class GaussianNoise(DropoutModule):
    """Add ``N(0, sigma^2)`` noise in training, identity in evaluation.

    It drops nothing, so it has no ``p`` (elsewhere ``p`` is the probability of **dropping**) and its
    :attr:`rate_names` is empty: schedules and ``set_dropout_rate`` leave ``sigma`` alone.

    Args:
        sigma: noise standard deviation, >= 0 (default: 0.1).
        generator: optional random generator for every draw (default: None, the global one).

    Shape:
        - Input: ``(*)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import GaussianNoise
        >>> GaussianNoise(0.5)
        GaussianNoise(sigma=0.5)
        >>> GaussianNoise(0.5).eval()(torch.zeros(2)).tolist()
        [0.0, 0.0]
    """

    rate_names = ()

    @_keyword_only("generator")
    def __init__(self, sigma: float = 0.1, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.sigma = check_non_negative(type(self).__name__, "sigma", sigma)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return gaussian_noise(x, self.sigma, training=self.training, generator=self.generator)

    def _repr_options(self) -> list[str]:
        return [f"sigma={self.sigma:g}"]
