"""Shared input checks for the metrics: probabilities vs regression outputs, targets, task mismatch."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["as_class_probs", "as_targets", "as_regression"]


def as_class_probs(where: str, probs: Any) -> Tensor:
    """Return an ``(N, C)`` float tensor of class probabilities from a tensor or a classification MCPrediction."""
    from dropkit.uncertainty.mc_predict import MCPrediction

    if isinstance(probs, MCPrediction):
        if probs.task != "classification":
            raise ValueError(f"{where}: needs a classification prediction, got task={probs.task!r} "
                             "(use gaussian_nll / mc_log_likelihood / rmse for regression)")
        probs = probs.mean
    if not isinstance(probs, Tensor):
        raise TypeError(f"{where}: probs must be a torch.Tensor or an MCPrediction, got {type(probs).__name__}")
    if probs.dim() != 2 or probs.shape[1] < 2:
        raise ValueError(f"{where}: probs must be class probabilities of shape (N, C) with C >= 2, got shape "
                         f"{tuple(probs.shape)}; regression outputs need gaussian_nll / mc_log_likelihood / rmse")
    if not probs.is_floating_point():
        raise TypeError(f"{where}: probs must be a floating-point tensor, got dtype {probs.dtype}")
    probs = probs.detach().double()
    if probs.numel() and (probs.min() < -1e-6 or (probs.sum(1) - 1).abs().max() > 1e-3):
        raise ValueError(f"{where}: probs must be non-negative rows summing to 1 (apply softmax to logits), got row "
                         f"sums in [{probs.sum(1).min().item():.4g}, {probs.sum(1).max().item():.4g}]")
    return probs


def as_targets(where: str, target: Any, n: int, num_classes: int) -> Tensor:
    """Return integer class targets ``(N,)`` checked against ``n`` rows and ``num_classes``."""
    if not isinstance(target, Tensor):
        target = torch.as_tensor(target)
    if target.dtype.is_floating_point or target.dtype == torch.bool or target.dim() != 1:
        raise ValueError(f"{where}: target must be integer class indices of shape (N,), got dtype {target.dtype} "
                         f"shape {tuple(target.shape)}")
    if target.shape[0] != n:
        raise ValueError(f"{where}: target must have {n} entries (one per row of probs), got {target.shape[0]}")
    if n and (target.min() < 0 or target.max() >= num_classes):
        raise ValueError(f"{where}: target must hold classes in [0, {num_classes - 1}], got values in "
                         f"[{target.min().item()}, {target.max().item()}]")
    return target.long()


def as_regression(where: str, value: Any, name: str) -> Tensor:
    """Return a float64 tensor; reject classification predictions."""
    from dropkit.uncertainty.mc_predict import MCPrediction

    if isinstance(value, MCPrediction):
        raise ValueError(f"{where}: {name} must be a tensor; pass prediction.mean / prediction.samples")
    if not isinstance(value, Tensor):
        value = torch.as_tensor(value)
    if not value.is_floating_point():
        value = value.double()
    return value.detach().double()
