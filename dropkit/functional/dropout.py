"""Element-wise (Bernoulli) dropout with Keras-style mask sharing.

Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov, "Dropout: A Simple Way to Prevent Neural
Networks from Overfitting", JMLR 15 (2014), https://jmlr.org/papers/v15/srivastava14a.html.

This is *inverted* dropout: in training every unit is zeroed with probability ``p`` (the probability
of **dropping**, as in PyTorch, not the retain probability of the paper) and the kept units are scaled
by ``1 / (1 - p)``, so evaluation is the identity and needs no weight rescaling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from dropkit._validation import check_floating, check_probability, normalize_dims

__all__ = ["dropout", "bernoulli_keep_mask", "mask_shape"]


def mask_shape(shape: Sequence[int], broadcast_dims: Sequence[int]) -> tuple[int, ...]:
    """Shape of a mask shared along ``broadcast_dims`` (those dims become 1)."""
    return tuple(1 if d in broadcast_dims else s for d, s in enumerate(shape))


def bernoulli_keep_mask(
    shape: Sequence[int],
    keep_prob: float,
    *,
    like: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Return a {0, 1} mask of ``shape`` with ``P(1) = keep_prob``, in ``like``'s dtype and device."""
    mask = torch.empty(tuple(shape), dtype=like.dtype, device=like.device)
    return mask.bernoulli_(keep_prob, generator=generator)


def dropout(
    x: Tensor,
    p: float = 0.5,
    *,
    training: bool = True,
    broadcast_dims: int | Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by ``1/(1-p)``.

    Args:
        x: input tensor of any shape, floating point.
        p: probability of **dropping** an element, in ``[0, 1]`` (default: 0.5). ``p = 1`` returns
            zeros whose gradient is zero (finite).
        training: apply dropout when True; return ``x`` unchanged when False (default: True).
        broadcast_dims: dims along which one mask value is shared, like Keras' ``noise_shape``
            with 1 in those dims; e.g. ``(2, 3)`` on ``(N, C, H, W)`` drops whole channels
            (default: ``()``, an independent mask per element).
        generator: random generator for the mask; the global one when None (default: None).

    Shape:
        - Input: any shape ``(*)``.
        - Output: the same shape as the input.

    Example:
        >>> import torch
        >>> from dropkit.functional import dropout
        >>> x = torch.ones(4, 6)
        >>> y = dropout(x, 0.5, generator=torch.Generator().manual_seed(0))
        >>> sorted(set(y.flatten().tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True
        >>> torch.equal(dropout(x, 0.5, training=False), x)
        True
    """
    where = "dropout"
    check_floating(where, x)
    p = check_probability(where, "p", p)
    dims = normalize_dims(where, "broadcast_dims", broadcast_dims, x.dim()) if broadcast_dims != () else ()
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = bernoulli_keep_mask(mask_shape(x.shape, dims), 1.0 - p, like=x, generator=generator)
    return x * keep.mul_(1.0 / (1.0 - p))
