"""Decoupled weight decay (Loshchilov & Hutter 2019, https://arxiv.org/abs/1711.05101): parameter groups
that decay the weights only, for ``torch.optim.AdamW`` / SGD."""

from __future__ import annotations

from typing import Any

from torch import nn

from dropkit._validation import check_non_negative
from dropkit.regularizers.weights import split_decay_params

__all__ = ["decay_param_groups"]


def decay_param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two optimiser parameter groups: weights with ``weight_decay``, everything else with 0.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> groups = decay_param_groups(nn.Linear(3, 2), 0.01)
        >>> [(len(g["params"]), g["weight_decay"]) for g in groups]
        [(1, 0.01), (1, 0.0)]
        >>> opt = torch.optim.AdamW(groups, lr=1e-3)
    """
    weight_decay = check_non_negative("decay_param_groups", "weight_decay", weight_decay)
    decay, no_decay = split_decay_params(model)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
