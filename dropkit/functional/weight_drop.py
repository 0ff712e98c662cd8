"""Weight drop (DropConnect on a weight matrix), as used on LSTM hidden-to-hidden weights.

Wan, Zeiler, Zhang, LeCun, Fergus, "Regularization of Neural Networks using DropConnect", ICML 2013
(https://proceedings.mlr.press/v28/wan13.html); applied to recurrent weights by Merity, Keskar &
Socher, "Regularizing and Optimizing LSTM Language Models", https://arxiv.org/abs/1708.02182.

The function drops entries of a *weight* (not of an activation): every entry is zeroed with
probability ``p`` (the probability of **dropping**) and the kept entries are scaled by
``1 / (1 - p)``. Used once per forward call on ``weight_hh``, the same dropped matrix serves every
time step, the DropConnect-on-recurrent-weights semantics of AWD-LSTM. See
:func:`dropkit.nn.apply_weight_drop` for the parametrization that keeps PyTorch's fused RNN kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from dropkit._validation import check_floating, check_probability, normalize_dims
from dropkit.functional.dropout import dropout

__all__ = ["weight_drop"]


def weight_drop(
    weight: Tensor,
    p: float = 0.5,
    *,
    training: bool = True,
    broadcast_dims: int | Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """DropConnect: zero each weight entry with probability ``p`` and scale the rest by ``1/(1-p)``.

    Args:
        weight: a weight tensor of any shape, floating point (e.g. ``weight_hh_l0``, ``(4H, H)``).
        p: probability of **dropping** a weight entry, in ``[0, 1]`` (default: 0.5).
        training: drop when True; return ``weight`` itself when False (default: True).
        broadcast_dims: weight dims along which one mask value is shared; ``(1,)`` on a
            ``(out, in)`` weight drops whole rows, awd-lstm's ``variational=True`` (default: ``()``).
        generator: random generator for the mask; the global one when None (default: None).

    Shape:
        - Input: any shape ``(*)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.functional import weight_drop
        >>> w = torch.ones(8, 2)
        >>> y = weight_drop(w, 0.5, generator=torch.Generator().manual_seed(0))
        >>> sorted(set(y.flatten().tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True
        >>> weight_drop(w, 0.5, training=False) is w
        True
    """
    where = "weight_drop"
    check_floating(where, weight, "weight")
    p = check_probability(where, "p", p)
    dims = normalize_dims(where, "broadcast_dims", broadcast_dims, weight.dim()) if broadcast_dims != () else ()
    if not training or p == 0.0:
        return weight
    return dropout(weight, p, training=True, broadcast_dims=dims, generator=generator)
