"""Gaussian dropout: multiplicative noise ``N(1, p / (1 - p))`` instead of a Bernoulli mask.

Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov, "Dropout: A Simple Way to Prevent Neural
Networks from Overfitting", JMLR 15 (2014), Section 10 ("Multiplicative Gaussian Noise"),
https://jmlr.org/papers/v15/srivastava14a.html (no arXiv version).

The paper multiplies each unit by ``r ~ N(1, sigma^2)`` with ``sigma^2 = (1 - q) / q`` where ``q`` is
the retain probability; with ``p = 1 - q`` the probability of **dropping** that Bernoulli dropout
would use, ``sigma^2 = p / (1 - p)``. The noise has mean 1, so no rescaling is needed and evaluation
is the identity. Keras' ``GaussianDropout(rate)`` is the same layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from dropkit._random import generator_kwargs
from dropkit._validation import check_floating, check_probability, normalize_dims
from dropkit.functional.dropout import mask_shape

__all__ = ["gaussian_dropout"]


def gaussian_dropout(
    x: Tensor,
    p: float = 0.5,
    *,
    training: bool = True,
    broadcast_dims: int | Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Multiply ``x`` by Gaussian noise of mean 1 and variance ``p / (1 - p)``.

    Args:
        x: input tensor of any shape, floating point.
        p: the Bernoulli probability of **dropping** whose variance the noise matches, in ``[0, 1)``
            (default: 0.5). ``p = 1`` is refused: its noise variance is infinite.
        training: add the noise when True; return ``x`` unchanged when False (default: True).
        broadcast_dims: dims along which one noise value is shared, as in
            :func:`~dropkit.functional.dropout` (default: ``()``, independent noise per element).
        generator: random generator for the noise; the global one when None (default: None).

    Shape:
        - Input: any shape ``(*)``.
        - Output: the same shape as the input.

    Example:
        >>> import torch
        >>> from dropkit.functional import gaussian_dropout
        >>> x = torch.ones(10000)
        >>> y = gaussian_dropout(x, 0.5, generator=torch.Generator().manual_seed(0))
        >>> round(y.mean().item(), 1), round(y.var().item(), 1)   # N(1, 0.5 / 0.5)
        (1.0, 1.0)
        >>> torch.equal(gaussian_dropout(x, 0.5, training=False), x)
        True
    """
    where = "gaussian_dropout"
    check_floating(where, x)
    p = check_probability(where, "p", p, allow_one=False)
    dims = normalize_dims(where, "broadcast_dims", broadcast_dims, x.dim()) if broadcast_dims != () else ()
    if not training or p == 0.0:
        return x
    noise = torch.randn(mask_shape(x.shape, dims), dtype=x.dtype, device=x.device, **generator_kwargs(generator))
    return x * noise.mul_(math.sqrt(p / (1.0 - p))).add_(1.0)
