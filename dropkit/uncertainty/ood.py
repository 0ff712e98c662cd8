"""Out-of-distribution detection scores: AUROC and AUPR (average precision) from an uncertainty score.

Hendrycks & Gimpel 2017, "A Baseline for Detecting Misclassified and Out-of-Distribution Examples in
Neural Networks", ICLR, https://arxiv.org/abs/1610.02136 (AUROC / AUPR-in / AUPR-out protocol).
AUROC is the Mann-Whitney statistic with ties counted as 1/2; AUPR is average precision
``sum_k (R_k - R_{k-1}) P_k`` over distinct thresholds, the definition of scikit-learn's
``average_precision_score``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["auroc", "aupr", "ood_detection"]


def _scores_labels(where: str, scores: Any, labels: Any) -> tuple[Tensor, Tensor]:
    s = torch.as_tensor(scores).detach().double().flatten()
    y = torch.as_tensor(labels).detach().flatten()
    if y.dtype.is_floating_point:
        if not torch.all((y == 0) | (y == 1)):
            raise ValueError(f"{where}: labels must be 0/1, got values other than 0 and 1")
    y = y.bool()
    if s.shape != y.shape:
        raise ValueError(f"{where}: scores and labels must have the same length, got {s.numel()} and {y.numel()}")
    if torch.isnan(s).any():
        raise ValueError(f"{where}: scores must not contain NaN, got {int(torch.isnan(s).sum())} NaN values")
    pos = int(y.sum())
    if pos == 0 or pos == y.numel():
        raise ValueError(f"{where}: labels must contain both classes (0 and 1), got {pos} positives out of {y.numel()}")
    return s, y


def auroc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random negative.

    Args:
        scores: higher means "more likely positive" (e.g. predictive entropy, positive = OOD).
        labels: 1 for positives, 0 for negatives.

    Example:
        >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        0.75
    """
    s, y = _scores_labels("auroc", scores, labels)
    order = torch.argsort(s)
    sorted_s = s[order]
    ranks = torch.empty_like(s)
    # average ranks over ties (1-based)
    _, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    avg = ends - (counts.double() - 1) / 2
    ranks[order] = avg[inverse]
    n_pos = int(y.sum())
    n_neg = y.numel() - n_pos
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def aupr(scores: Any, labels: Any) -> float:
    """Area under the precision-recall curve as average precision (positives = label 1).

    Example:
        >>> round(aupr([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 4)
        0.8333
    """
    s, y = _scores_labels("aupr", scores, labels)
    order = torch.argsort(s, descending=True, stable=True)
    s, y = s[order], y[order].double()
    tp = torch.cumsum(y, 0)
    # keep the last index of each run of equal scores: one point per distinct threshold
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]
    tp, k = tp[last], torch.arange(1, s.numel() + 1, dtype=torch.float64)[last]
    precision = tp / k
    recall = tp / tp[-1]
    prev = torch.cat([recall.new_zeros(1), recall[:-1]])
    return float(((recall - prev) * precision).sum())


def ood_detection(score_in: Any, score_out: Any) -> dict[str, float]:
    """AUROC, AUPR-out (OOD as positives) and AUPR-in (in-distribution as positives, score negated).

    Args:
        score_in: uncertainty scores on in-distribution data (higher = more uncertain).
        score_out: the same score on out-of-distribution data.

    Example:
        >>> ood_detection([0.1, 0.2], [0.3, 0.4])
        {'auroc': 1.0, 'aupr_out': 1.0, 'aupr_in': 1.0}
    """
    a = torch.as_tensor(score_in).double().flatten()
    b = torch.as_tensor(score_out).double().flatten()
    s = torch.cat([a, b])
    y = torch.cat([torch.zeros(a.numel()), torch.ones(b.numel())])
    return {"auroc": auroc(s, y), "aupr_out": aupr(s, y), "aupr_in": aupr(-s, 1 - y)}
