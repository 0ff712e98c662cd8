"""Zoneout: each hidden unit keeps its previous value with probability ``p`` at every time step.

Krueger et al., "Zoneout: Regularizing RNNs by Randomly Preserving Hidden Activations", ICLR 2017,
https://arxiv.org/abs/1606.01305.

Training: ``h_t = m * h_{t-1} + (1 - m) * h_new`` with ``m ~ Bernoulli(p)`` drawn per unit and per
step, so ``p`` is the probability of **dropping the update** of a unit (it keeps its previous value).
Evaluation: the expectation ``p * h_{t-1} + (1 - p) * h_new``, as in the paper and ESPnet's
``ZoneOutCell``. Unlike dropout there is no ``1/(1-p)`` scaling: the kept value is a real state.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dropkit._validation import check_floating, check_probability
from dropkit.functional.dropout import bernoulli_keep_mask

__all__ = ["zoneout", "zoneout_mask"]


def zoneout_mask(shape: tuple[int, ...], p: float, *, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A boolean mask of ``shape``, True (keep the previous value) with probability ``p``."""
    return bernoulli_keep_mask(shape, p, like=like, generator=generator).bool()


def zoneout(
    h_prev: Tensor,
    h_new: Tensor,
    p: float = 0.1,
    *,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Mix the previous and the new state: each unit keeps ``h_prev`` with probability ``p``.

    Args:
        h_prev: the state before the step, floating point.
        h_new: the state the cell computed for this step, the same shape and dtype as ``h_prev``.
        p: probability of **dropping the update** of a unit (it keeps its previous value), in
            ``[0, 1]`` (default: 0.1). ``p = 0`` returns ``h_new``; ``p = 1`` returns ``h_prev``.
        training: draw a random mask when True; return ``p * h_prev + (1 - p) * h_new`` when False
            (default: True).
        generator: random generator for the mask; the global one when None (default: None).

    Shape:
        - h_prev, h_new: any shape ``(*)``, the same for both (usually ``(B, H)``).
        - Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.functional import zoneout
        >>> prev, new = torch.zeros(2, 4), torch.ones(2, 4)
        >>> out = zoneout(prev, new, 0.5, generator=torch.Generator().manual_seed(0))
        >>> sorted(set(out.flatten().tolist())) in ([0.0, 1.0], [0.0], [1.0])
        True
        >>> zoneout(prev, new, 0.25, training=False)[0, 0].item()
        0.75
    """
    where = "zoneout"
    check_floating(where, h_prev, "h_prev")
    check_floating(where, h_new, "h_new")
    if h_prev.shape != h_new.shape:
        raise ValueError(f"{where}: h_new must have the shape of h_prev {tuple(h_prev.shape)}, got {tuple(h_new.shape)}")
    p = check_probability(where, "p", p)
    if p == 0.0:
        return h_new
    if p == 1.0:
        return h_prev
    if not training:
        return torch.lerp(h_new, h_prev, p)
    return torch.where(zoneout_mask(tuple(h_new.shape), p, like=h_new, generator=generator), h_prev, h_new)
