"""Alpha dropout for self-normalising networks (SELU), element-wise and per feature map.

Klambauer, Unterthiner, Mayr, Hochreiter, "Self-Normalizing Neural Networks", NeurIPS 2017,
https://arxiv.org/abs/1706.02515 (Section "New Dropout Technique").

Dropped units are set to SELU's negative saturation value ``alpha' = -lambda * alpha`` instead of 0,
then an affine map ``a * y + b`` restores mean 0 and variance 1 for inputs with mean 0 and
variance 1. With ``q = 1 - p`` the keep probability (``p`` is the probability of **dropping**):
``a = (q + alpha'^2 q (1 - q))^(-1/2)`` and ``b = -a (1 - q) alpha'``. The values match PyTorch's
``F.alpha_dropout``; the difference is that ``training`` defaults to True here (PyTorch's
``F.alpha_dropout`` defaults to ``training=False``), and a ``generator`` may be passed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from dropkit._validation import check_bool, check_floating, check_probability, normalize_dims
from dropkit.functional._torch_ranks import feature_broadcast_dims
from dropkit.functional.dropout import bernoulli_keep_mask, mask_shape

__all__ = ["alpha_dropout", "feature_alpha_dropout", "SELU_ALPHA_PRIME"]

#: ``-lambda * alpha`` of SELU (Klambauer et al. 2017, eq. 2): the value SELU saturates to.
SELU_ALPHA_PRIME = -1.0507009873554805 * 1.6732632423543772


def _alpha_dropout(x: Tensor, p: float, dims: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    q = 1.0 - p
    a = 1.0 / math.sqrt(q * (1.0 + SELU_ALPHA_PRIME**2 * p))
    b = -a * p * SELU_ALPHA_PRIME
    keep = bernoulli_keep_mask(mask_shape(x.shape, dims), q, like=x, generator=generator)
    # kept: a * x + b; dropped: a * alpha' + b.  Written as x * (a * keep) + (a * alpha' * (1 - keep) + b).
    shift = (1.0 - keep).mul_(a * SELU_ALPHA_PRIME).add_(b)
    return x * keep.mul_(a) + shift


def alpha_dropout(
    x: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    broadcast_dims: int | Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Alpha dropout: set units to SELU's saturation value with probability ``p``, then re-normalise.

    Args:
        x: input tensor of any shape, floating point (meant for SELU activations).
        p: probability of **dropping** a unit, in ``[0, 1]`` (default: 0.5). ``p = 1`` returns zeros
            with a zero gradient.
        training: apply dropout when True (the default here, unlike ``torch.nn.functional``);
            return ``x`` unchanged when False.
        inplace: write the result into ``x`` and return ``x``, as torch does (default: False).
        broadcast_dims: dims along which one mask value is shared (default: ``()``).
        generator: random generator for the mask; the global one when None (default: None).

    Shape:
        - Input: any shape ``(*)``.
        - Output: the same shape as the input.

    Example:
        >>> import torch
        >>> from dropkit.functional import alpha_dropout
        >>> x = torch.randn(100000, generator=torch.Generator().manual_seed(0))
        >>> y = alpha_dropout(x, 0.2, generator=torch.Generator().manual_seed(1))
        >>> round(y.mean().item(), 1) == 0.0, round(y.var().item(), 1)
        (True, 1.0)
        >>> torch.equal(alpha_dropout(x, 0.2, training=False), x)
        True
    """
    return _checked_alpha_dropout("alpha_dropout", x, p, training, inplace, broadcast_dims, generator)


def _checked_alpha_dropout(
    where: str,
    x: Tensor,
    p: float,
    training: bool,
    inplace: bool,
    broadcast_dims: int | Sequence[int] | None,
    generator: torch.Generator | None,
) -> Tensor:
    """:func:`alpha_dropout` (``broadcast_dims``) or :func:`feature_alpha_dropout` (``broadcast_dims=None``:
    torch's feature rule) with every check; ``where`` names what the user called in the messages. As in
    torch, eval and ``p = 0`` return ``x`` whatever its dtype."""
    if not isinstance(x, Tensor):
        check_floating(where, x)
    p = check_probability(where, "p", p)
    check_bool(where, "training", training)
    check_bool(where, "inplace", inplace)
    if broadcast_dims is None:
        dims = feature_broadcast_dims(where, x, p, training)
    else:
        dims = normalize_dims(where, "broadcast_dims", broadcast_dims, x.dim()) if broadcast_dims != () else ()
    if not training or p == 0.0:
        return x
    check_floating(where, x)
    if p == 1.0:
        return x.mul_(0.0) if inplace else x * 0.0
    y = _alpha_dropout(x, p, dims, generator)
    return x.copy_(y) if inplace else y


def feature_alpha_dropout(
    x: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Alpha dropout of whole feature maps: one mask value per (sample, channel).

    Equivalent to :func:`alpha_dropout` with ``broadcast_dims`` = every dim after the channel dim,
    like PyTorch's ``F.feature_alpha_dropout``.

    Args:
        x: input ``(N, C, *)`` with at least 2 dims, floating point (as in torch, fewer dims are an
            error only when dropout applies: training with ``0 < p < 1``).
        p: probability of **dropping** a channel, in ``[0, 1]`` (default: 0.5).
        training: apply dropout when True (default: True); return ``x`` unchanged when False.
        inplace: write the result into ``x`` and return ``x``, as torch does (default: False).
        generator: random generator for the mask; the global one when None (default: None).

    Shape:
        - Input: ``(N, C, *)``.
        - Output: the same shape as the input.

    Example:
        >>> import torch
        >>> from dropkit.functional import feature_alpha_dropout
        >>> y = feature_alpha_dropout(torch.zeros(4, 3, 5), 0.5, generator=torch.Generator().manual_seed(0))
        >>> bool((y == y[..., :1]).all())   # constant over each (sample, channel) map for a constant input
        True
    """
    return _checked_alpha_dropout("feature_alpha_dropout", x, p, training, inplace, None, generator)
