"""Additive Gaussian noise ``x + N(0, sigma^2)`` in training, the identity in evaluation.

A classic regulariser (noise injection; Bishop, "Training with Noise is Equivalent to Tikhonov
Regularization", Neural Computation 7(1), 1995) and the additive counterpart of Gaussian dropout in
Srivastava et al. 2014, https://jmlr.org/papers/v15/srivastava14a.html. It has no drop probability:
``sigma`` is the noise standard deviation. Unlike Keras' ``GaussianNoise``, ``sigma`` is not capped
at 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dropkit._random import generator_kwargs
from dropkit._validation import check_floating, check_non_negative

__all__ = ["gaussian_noise"]


def gaussian_noise(
    x: Tensor,
    sigma: float = 0.1,
    *,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Add independent ``N(0, sigma^2)`` noise to every element of ``x``.

    This method drops nothing, so it has no ``p`` (elsewhere in dropkit ``p`` is the probability of
    **dropping**); ``sigma`` sets the strength instead.

    Args:
        x: input tensor of any shape, floating point.
        sigma: standard deviation of the additive noise, a finite number >= 0 (default: 0.1).
        training: add the noise when True; return ``x`` unchanged when False (default: True).
        generator: random generator for the noise; the global one when None (default: None).

    Shape:
        - Input: any shape ``(*)``.
        - Output: the same shape as the input.

    Example:
        >>> import torch
        >>> from dropkit.functional import gaussian_noise
        >>> x = torch.zeros(10000)
        >>> y = gaussian_noise(x, 2.0, generator=torch.Generator().manual_seed(0))
        >>> round(y.std().item(), 1)
        2.0
        >>> torch.equal(gaussian_noise(x, 2.0, training=False), x)
        True
    """
    where = "gaussian_noise"
    check_floating(where, x)
    sigma = check_non_negative(where, "sigma", sigma)
    if not training or sigma == 0.0:
        return x
    noise = torch.randn(x.shape, dtype=x.dtype, device=x.device, **generator_kwargs(generator))
    return x + noise.mul_(sigma)
