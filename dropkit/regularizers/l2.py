"""The L2 penalty ``lambda * sum ||W||^2`` over the weights, added to the loss.

This is the coupled form (a loss term, so adaptive optimisers such as Adam rescale it); see
:mod:`dropkit.regularizers.weight_decay` for the decoupled AdamW form (Loshchilov & Hutter 2019,
https://arxiv.org/abs/1711.05101).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dropkit._validation import check_non_negative
from dropkit.regularizers.weights import iter_weights

__all__ = ["l2_penalty"]


def l2_penalty(model: nn.Module | Sequence[Tensor], lam: float) -> Tensor:
    """``lam * sum_W ||W||_2^2`` over the model's weights (biases and norm parameters excluded).

    Note the factor: no 1/2 (TensorFlow's ``tf.nn.l2_loss`` has one). The gradient is ``2 * lam * W``.

    Args:
        model: the model whose weights are penalised, or the weight tensors themselves (pass the
            list from :func:`~dropkit.regularizers.iter_weights` once to skip the module walk per step).
        lam: the penalty strength lambda >= 0.

    Example:
        >>> from torch import nn
        >>> layer = nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = layer.weight.fill_(3.0)
        >>> round(l2_penalty(layer, 0.1).item(), 4)   # 0.1 * (9 + 9); the bias is not penalised
        1.8
    """
    lam = check_non_negative("l2_penalty", "lam", lam)
    weights = [w for _, w in iter_weights(model)] if isinstance(model, nn.Module) else list(model)
    if lam == 0.0 or not weights:
        device = weights[0].device if weights else None
        return torch.zeros((), device=device)
    return lam * torch.stack([w.pow(2).sum() for w in weights]).sum()
