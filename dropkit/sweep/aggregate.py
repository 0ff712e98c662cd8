"""Aggregate trials over seeds: mean, standard deviation and a 95 % t interval per configuration.

For ``n`` seeds with mean ``m`` and sample standard deviation ``s`` (``ddof=1``) the interval is
``m ± t_{0.975, n-1} · s / sqrt(n)`` (Student's t, two-sided). With ``n == 1`` the standard deviation
and the interval are undefined and written as missing values. The interval's ends are cut at what the
metric can be (:data:`METRIC_RANGES`: an accuracy lies in ``[0, 1]``): over 2 seeds the interval is
12.7 standard errors wide and put a mean accuracy of 0.98 at ``test_acc_ci_high`` 1.0191.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["aggregate", "t_interval", "AGGREGATE_METRICS", "METRIC_RANGES"]

# Columns of the results table summarised per configuration.
AGGREGATE_METRICS = ("test_acc", "best_test_acc", "train_acc", "gap", "test_loss", "train_loss", "wall_time")

#: What each metric can be; a t interval over few seeds can pass these, and its ends are cut there.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "test_acc": (0.0, 1.0),
    "best_test_acc": (0.0, 1.0),
    "train_acc": (0.0, 1.0),
    "gap": (-1.0, 1.0),  # train - test accuracy
    "test_loss": (0.0, math.inf),
    "train_loss": (0.0, math.inf),
    "wall_time": (0.0, math.inf),
}


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float, float]:
    """``(mean, std, low, high)`` of ``values``: a two-sided Student-t interval for the mean.

    Example:
        >>> mean, std, low, high = t_interval([0.90, 0.92, 0.94])
        >>> round(mean, 2), round(high - mean, 4)
        (0.92, 0.0497)
    """
    from scipy.stats import t

    if not 0 < confidence < 1:
        raise ValueError(f"t_interval: confidence must be in (0, 1), got {confidence!r}")
    n = len(values)
    if n == 0:
        raise ValueError("t_interval: values must hold at least one number, got none")
    mean = math.fsum(values) / n
    if n == 1:
        return mean, math.nan, math.nan, math.nan
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def aggregate(
    rows: Sequence[Mapping[str, Any]],
    group_keys: Sequence[str],
    *,
    metrics: Sequence[str] = AGGREGATE_METRICS,
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """One row per distinct value of ``group_keys`` over the completed rows, in first-seen order.

    Each output row holds the group keys, ``n`` (completed trials, usually the seeds), ``seeds`` (their
    seeds) and, for each metric, ``<metric>_mean``, ``<metric>_std``, ``<metric>_ci_low`` and
    ``<metric>_ci_high`` (the interval cut at the metric's range in :data:`METRIC_RANGES`).

    Args:
        rows: rows of the results table (``status`` ``"completed"`` rows are used, others skipped).
        group_keys: the columns that define a configuration (the swept keys except ``seed``).
        metrics: columns to summarise (default :data:`AGGREGATE_METRICS`).
        confidence: the interval's confidence level (default 0.95).
    """
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        if row.get("status") != "completed":
            continue
        key = tuple(_hashable(row.get(k)) for k in group_keys)
        groups.setdefault(key, []).append(row)
    out = []
    for key, members in groups.items():
        agg: dict[str, Any] = {k: members[0].get(k) for k in group_keys}
        agg["n"] = len(members)
        agg["seeds"] = ",".join(str(m.get("seed")) for m in members)
        for metric in metrics:
            values = [float(m[metric]) for m in members if m.get(metric) is not None]
            if values:
                mean, std, low, high = t_interval(values, confidence)
                lowest, highest = METRIC_RANGES.get(metric, (-math.inf, math.inf))
                low, high = min(max(low, lowest), highest), min(max(high, lowest), highest)  # NaN stays NaN
            else:
                mean = std = low = high = math.nan
            agg[f"{metric}_mean"] = mean
            agg[f"{metric}_std"] = std
            agg[f"{metric}_ci_low"] = low
            agg[f"{metric}_ci_high"] = high
        out.append(agg)
    return out


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value
