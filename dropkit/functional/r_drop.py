"""R-Drop: regularise dropout by making two dropout passes agree.

Liang, Wu, Li, Wang, Meng, Qin, Chen, Zhang, Liu, "R-Drop: Regularized Dropout for Neural
Networks", NeurIPS 2021, https://arxiv.org/abs/2106.14448.

The same input goes through the model twice with independent dropout masks, giving logits
``z1, z2``; the loss is the mean cross-entropy of both passes plus ``alpha`` times the symmetric
KL divergence between their predictive distributions:

    loss = (CE(z1, y) + CE(z2, y)) / 2 + alpha * (KL(P1 || P2) + KL(P2 || P1)) / 2

Both KL directions back-propagate into both passes, as in the reference code (dropreg/R-Drop).
The KL is summed over classes and averaged over (non-ignored) positions, the same reduction as the
cross-entropy; the reference README sums over the whole batch, which equals this times the
number of positions (so its ``alpha`` is this one's divided by the batch size). The model's own
dropout layers (whatever their ``p``, the probability of **dropping**) provide the randomness.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dropkit._validation import check_floating, check_non_negative

__all__ = ["r_drop_loss", "r_drop_forward", "symmetric_kl"]


def symmetric_kl(logits1: Tensor, logits2: Tensor, *, dim: int = 1) -> Tensor:
    """Per-position ``(KL(P1 || P2) + KL(P2 || P1)) / 2`` between ``softmax`` of two logit tensors.

    Args:
        logits1: logits, the class dim at ``dim``.
        logits2: logits of the same shape.
        dim: the class dim (default: 1, as in ``F.cross_entropy``).

    Shape:
        - Input: ``(N, C, *)`` (with ``dim=1``); Output: ``(N, *)``, one divergence per position.

    Example:
        >>> import torch
        >>> from dropkit.functional import symmetric_kl
        >>> z = torch.randn(3, 5)
        >>> symmetric_kl(z, z).abs().max().item()
        0.0
    """
    where = "symmetric_kl"
    check_floating(where, logits1, "logits1")
    check_floating(where, logits2, "logits2")
    if logits1.shape != logits2.shape:
        raise ValueError(
            f"{where}: logits2 must have the shape of logits1 {tuple(logits1.shape)}, got shape {tuple(logits2.shape)}"
        )
    log_p1 = F.log_softmax(logits1, dim=dim)
    log_p2 = F.log_softmax(logits2, dim=dim)
    # KL(P1||P2) + KL(P2||P1) = sum (P1 - P2) (log P1 - log P2)
    return 0.5 * ((log_p1.exp() - log_p2.exp()) * (log_p1 - log_p2)).sum(dim=dim)


def r_drop_loss(
    logits1: Tensor,
    logits2: Tensor,
    target: Tensor,
    alpha: float = 1.0,
    *,
    ignore_index: int = -100,
) -> Tensor:
    """R-Drop loss: mean of the two cross-entropies plus ``alpha`` times the symmetric KL.

    Args:
        logits1: logits of the first dropout pass, ``(N, C)`` or ``(N, C, *)``.
        logits2: logits of the second pass (independent masks), the same shape.
        target: class indices ``(N)`` or ``(N, *)``.
        alpha: weight of the symmetric KL term, ``>= 0`` (default: 1.0); 0 gives plain CE on both.
        ignore_index: target value whose positions count neither in the CE nor in the KL, e.g.
            padding (default: -100, as in ``F.cross_entropy``).

    Shape:
        - logits: ``(N, C, *)``; target: ``(N, *)``.
        - Output: a 0-dim tensor.

    Example:
        >>> import torch
        >>> import torch.nn.functional as F
        >>> from dropkit.functional import r_drop_loss
        >>> z, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
        >>> torch.allclose(r_drop_loss(z, z, y, alpha=4.0), F.cross_entropy(z, y))   # no disagreement
        True
    """
    where = "r_drop_loss"
    kl = symmetric_kl(logits1, logits2, dim=1)
    alpha = check_non_negative(where, "alpha", alpha)
    if target.shape != kl.shape:
        raise ValueError(
            f"{where}: target must have shape {tuple(kl.shape)} (logits without the class dim), got shape {tuple(target.shape)}"
        )
    ce = 0.5 * (
        F.cross_entropy(logits1, target, ignore_index=ignore_index)
        + F.cross_entropy(logits2, target, ignore_index=ignore_index)
    )
    valid = target != ignore_index
    kl_mean = (kl * valid).sum() / valid.sum().clamp_min(1)
    return ce + alpha * kl_mean


def r_drop_forward(
    model: nn.Module | Callable[[Tensor], Tensor],
    x: Tensor,
    target: Tensor,
    alpha: float = 1.0,
    *,
    concat: bool = True,
    ignore_index: int = -100,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run ``model`` twice on ``x`` (independent dropout masks) and return ``(loss, logits1, logits2)``.

    Args:
        model: the network; must be in training mode (otherwise both passes agree and the KL is 0).
        x: the input batch ``(N, *)``.
        target: class indices ``(N)`` or ``(N, *)``.
        alpha: weight of the symmetric KL term, ``>= 0`` (default: 1.0).
        concat: run one forward on ``cat([x, x])`` and split it (one larger batch, as the reference
            code does) instead of two forwards; batch statistics (BatchNorm) then see both copies
            (default: True).
        ignore_index: target value ignored by both terms (default: -100).

    Shape:
        - x: ``(N, *)``; logits: ``(N, C, *)``; loss: a 0-dim tensor.

    Example:
        >>> import torch
        >>> from dropkit.functional import r_drop_forward
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 3))
        >>> loss, z1, z2 = r_drop_forward(model, torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]), alpha=1.0)
        >>> loss.shape, bool((z1 != z2).any())                    # the two passes differ
        (torch.Size([]), True)
    """
    where = "r_drop_forward"
    if isinstance(model, nn.Module) and not model.training:
        raise ValueError(f"{where}: model must be in training mode (two eval passes are identical), got eval mode")
    check_non_negative(where, "alpha", alpha)
    if concat:
        out = model(torch.cat([x, x], dim=0))
        logits1, logits2 = out[: x.shape[0]], out[x.shape[0] :]
    else:
        logits1, logits2 = model(x), model(x)
    return r_drop_loss(logits1, logits2, target, alpha, ignore_index=ignore_index), logits1, logits2
