"""The max-norm constraint of Srivastava et al. (2014), §5.1: after each update, every unit's incoming
weight vector is projected back onto the ball of radius ``c``.

https://jmlr.org/papers/v15/srivastava14a.html (typical c: 2 for MNIST, 3-4 in general, App. A.3).
"""

from __future__ import annotations

import torch
from torch import nn

from dropkit._validation import check_positive
from dropkit.regularizers.weights import iter_weights

__all__ = ["apply_max_norm"]


@torch.no_grad()
def apply_max_norm(model: nn.Module, max_norm: float) -> int:
    """Rescale each unit's incoming weights to norm ``<= max_norm``; return how many units were clipped.

    For a Linear weight ``(out, in)`` a unit is a row; for a convolution ``(out, in, *k)`` a filter;
    in general dim 0 indexes units. Biases and normalisation parameters are left alone.

    Example:
        >>> from torch import nn
        >>> layer = nn.Linear(4, 2)
        >>> with torch.no_grad():
        ...     _ = layer.weight.fill_(10.0)
        >>> apply_max_norm(layer, 2.0)
        2
        >>> [round(float(n), 4) for n in layer.weight.detach().norm(dim=1)]
        [2.0, 2.0]
    """
    c = check_positive("apply_max_norm", "max_norm", max_norm)
    clipped = 0
    for _, w in iter_weights(model):
        norms = w.flatten(1).norm(dim=1)
        over = norms > c
        if bool(over.any()):
            clipped += int(over.sum())
            w.mul_(torch.where(over, c / norms.clamp_min(1e-12), torch.ones_like(norms)).view(-1, *([1] * (w.ndim - 1))))
    return clipped
