"""Proper scoring rules for predictive distributions: NLL and Brier score (classification), Gaussian NLL,
Gal's MC log-likelihood and RMSE (regression).

Brier 1950, "Verification of forecasts expressed in terms of probability", Monthly Weather Review 78(1),
https://doi.org/10.1175/1520-0493(1950)078%3C0001:VOFEIT%3E2.0.CO;2 (summed over classes, as in
Lakshminarayanan et al. 2017, https://arxiv.org/abs/1612.01474). The MC log-likelihood is the UCI test
log-likelihood of Gal & Ghahramani 2016, https://arxiv.org/abs/1506.02142.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from dropkit._validation import check_positive
from dropkit.uncertainty._inputs import as_class_probs, as_regression, as_targets

__all__ = ["nll", "brier_score", "gaussian_nll", "mc_log_likelihood", "rmse"]


def nll(probs: Any, target: Any, *, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood ``-mean_i log p_i[y_i]`` in nats.

    Args:
        probs: class probabilities ``(N, C)`` or a classification :class:`~dropkit.uncertainty.MCPrediction`.
        target: class indices ``(N,)``.
        eps: floor on probabilities so a confident mistake costs ``-log(eps)``, not infinity (default: 1e-12).

    Example:
        >>> import torch
        >>> round(nll(torch.tensor([[0.5, 0.5], [0.9, 0.1]]), torch.tensor([0, 0])), 4)
        0.3993
    """
    where = "nll"
    p = as_class_probs(where, probs)
    y = as_targets(where, target, p.shape[0], p.shape[1])
    return float(-p.gather(1, y[:, None]).clamp_min(eps).log().mean())


def brier_score(probs: Any, target: Any) -> float:
    """Mean over rows of ``sum_c (p_c - [c == y])^2`` (in ``[0, 2]``; 0 is perfect).

    Example:
        >>> import torch
        >>> brier_score(torch.tensor([[1.0, 0.0], [0.5, 0.5]]), torch.tensor([0, 1]))
        0.25
    """
    where = "brier_score"
    p = as_class_probs(where, probs)
    y = as_targets(where, target, p.shape[0], p.shape[1])
    onehot = torch.nn.functional.one_hot(y, p.shape[1]).double()
    return float(((p - onehot) ** 2).sum(1).mean())


def rmse(mean: Any, target: Any) -> float:
    """Root mean squared error of a regression prediction.

    Example:
        >>> round(rmse([1.0, 2.0], [1.0, 4.0]), 12)   # sqrt(2); torch's float64 sqrt may differ in the last bit
        1.414213562373
    """
    m, y = as_regression("rmse", mean, "mean"), as_regression("rmse", target, "target")
    _same_shape("rmse", m, y)
    return float(((m - y) ** 2).mean().sqrt())


def gaussian_nll(mean: Any, variance: Any, target: Any) -> float:
    """Mean negative log-density of ``target`` under ``N(mean, variance)``, in nats.

    Example:
        >>> round(gaussian_nll([0.0], [1.0], [0.0]), 6)   # 0.5 * log(2 pi)
        0.918939
    """
    where = "gaussian_nll"
    m, v, y = (as_regression(where, a, n) for a, n in ((mean, "mean"), (variance, "variance"), (target, "target")))
    _same_shape(where, m, y)
    if v.numel() and v.min() <= 0:
        raise ValueError(f"{where}: variance must be > 0 everywhere, got min {v.min().item():g}")
    return float((0.5 * torch.log(2 * math.pi * v) + 0.5 * (y - m) ** 2 / v).mean())


def mc_log_likelihood(samples: Any, target: Any, tau: float) -> float:
    """Gal & Ghahramani's test log-likelihood of MC samples with model precision ``tau``.

    ``mean_i [logsumexp_t(-tau/2 (y_i - yhat_ti)^2) - log T - log(2 pi)/2 + log(tau)/2]``: the predictive
    density is the mixture of ``T`` Gaussians ``N(yhat_t, 1/tau)`` (higher is better).

    Args:
        samples: per-pass predictions ``(T, N)`` (or ``(T, N, D)``, averaged over D too), in target units.
        target: ``(N,)`` (or ``(N, D)``).
        tau: model precision ``> 0`` (inverse observation-noise variance, in target units).

    Example:
        >>> import torch, math
        >>> ll = mc_log_likelihood(torch.zeros(5, 3), torch.zeros(3), tau=1.0)
        >>> abs(ll + 0.5 * math.log(2 * math.pi)) < 1e-12
        True
    """
    where = "mc_log_likelihood"
    tau = check_positive(where, "tau", tau)
    s, y = as_regression(where, samples, "samples"), as_regression(where, target, "target")
    if s.dim() != y.dim() + 1 or s.shape[1:] != y.shape:
        raise ValueError(f"{where}: samples must have shape (T, *target.shape) = (T, {', '.join(map(str, y.shape))}), "
                         f"got {tuple(s.shape)}")
    ll = torch.logsumexp(-0.5 * tau * (y - s) ** 2, 0) - math.log(s.shape[0]) - 0.5 * math.log(2 * math.pi) + 0.5 * math.log(tau)
    return float(ll.mean())


def _same_shape(where: str, a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{where}: prediction and target must have the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
