"""Residual dropout: dropout on a residual branch's output before it is added back.

Vaswani et al., "Attention Is All You Need", NeurIPS 2017, https://arxiv.org/abs/1706.03762,
Section 5.4 ("Residual Dropout"): "We apply dropout to the output of each sub-layer, before it is
added to the sub-layer input and normalized."

``residual_dropout(x, branch_out, p)`` is ``x + dropout(branch_out, p)``: the skip path is never
dropped. ``p`` is the probability of **dropping** an element of the branch output (kept elements are
scaled by ``1 / (1 - p)``), so evaluation returns ``x + branch_out`` exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from dropkit._validation import check_floating, check_probability
from dropkit.functional.dropout import dropout

__all__ = ["residual_dropout"]


def residual_dropout(
    x: Tensor,
    branch_out: Tensor,
    p: float = 0.1,
    *,
    training: bool = True,
    broadcast_dims: int | Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Return ``x + dropout(branch_out, p)``: drop elements of the branch, never of the skip path.

    Args:
        x: the residual stream (the sub-layer input), floating point.
        branch_out: the sub-layer output, the same shape as ``x``.
        p: probability of **dropping** an element of ``branch_out``, in ``[0, 1]`` (default: 0.1).
        training: drop when True; return ``x + branch_out`` when False (default: True).
        broadcast_dims: dims of ``branch_out`` that share one mask value, as in
            :func:`dropkit.functional.dropout` (default: ``()``).
        generator: random generator for the mask; the global one when None (default: None).

    Shape:
        - x: ``(*)``; branch_out: ``(*)``, the same shape.
        - Output: ``(*)``.

    Example:
        >>> import torch
        >>> from dropkit.functional.residual_dropout import residual_dropout
        >>> x, b = torch.ones(2, 3), torch.full((2, 3), 2.0)
        >>> residual_dropout(x, b, 0.5, training=False).tolist()
        [[3.0, 3.0, 3.0], [3.0, 3.0, 3.0]]
        >>> y = residual_dropout(x, b, 0.5, generator=torch.Generator().manual_seed(0))
        >>> sorted(set(y.flatten().tolist())) in ([1.0, 5.0], [1.0], [5.0])   # skip path kept
        True
    """
    where = "residual_dropout"
    check_floating(where, x, "x")
    check_floating(where, branch_out, "branch_out")
    p = check_probability(where, "p", p)
    if x.shape != branch_out.shape:
        raise ValueError(
            f"{where}: branch_out must have the shape of x {tuple(x.shape)}, got shape {tuple(branch_out.shape)}"
        )
    return x + dropout(branch_out, p, training=training, broadcast_dims=broadcast_dims, generator=generator)
