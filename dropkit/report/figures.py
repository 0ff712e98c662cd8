"""The report's figures: test accuracy and generalisation gap against p with 95 % intervals, and a
p × λ (L2) heat map. Learning curves come from :func:`dropkit.plotting.plot_learning_curves`.

Every figure is saved as PNG and SVG (atomically) next to the report's ``index.html``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dropkit._io import atomic_path  # noqa: E402
from dropkit.sweep.aggregate import METRIC_RANGES as _METRIC_RANGES  # noqa: E402

__all__ = ["save_figure", "plot_rate_effect", "plot_heatmap", "mean_curve", "series_label", "error_bars", "METRIC_RANGES"]


def save_figure(fig: Any, stem: Path) -> tuple[Path, Path]:
    """Save ``fig`` as ``<stem>.png`` and ``<stem>.svg`` atomically, close it, return both paths."""
    paths = []
    for fmt in ("png", "svg"):
        path = stem.with_suffix(f".{fmt}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=110)
        paths.append(path)
    plt.close(fig)
    return paths[0], paths[1]


def _num(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def series_label(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    """``"l2=0.0001, max_norm=3"`` from a row's values of ``keys`` (``"all"`` when there are none)."""
    parts = []
    for k in keys:
        v = row.get(k)
        if isinstance(v, str) and v.startswith("["):
            v = ",".join(str(x) for x in json.loads(v))
        parts.append(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}")
    return ", ".join(parts) or "all"


def mean_curve(runs: Sequence[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Average metrics rows of several runs (seeds) at the steps they all have."""
    if not runs:
        return []
    common = set.intersection(*({r["step"] for r in rows} for rows in runs))
    out = []
    for step in sorted(common):
        at = [next(r for r in rows if r["step"] == step) for rows in runs]
        row: dict[str, Any] = {"step": step}
        for key in ("train_acc", "test_acc", "train_loss", "test_loss"):
            vals = [_num(r.get(key)) for r in at]
            row[key] = float(np.mean(vals))
        for key in ("train_bpc", "test_bpc"):  # language-model runs (dropkit.train.lm_task)
            if all(key in r for r in at):
                row[key] = float(np.mean([_num(r.get(key)) for r in at]))
        out.append(row)
    return out


def plot_rate_effect(
    agg: Sequence[Mapping[str, Any]],
    stem: Path,
    *,
    x: str = "p",
    series_keys: Sequence[str] = (),
    title: str | None = None,
    max_series: int = 8,
) -> tuple[Path, Path]:
    """Test accuracy and generalisation gap (train − test accuracy) against ``x``, one line per series.

    Args:
        agg: aggregate rows (``<metric>_mean`` / ``_ci_low`` / ``_ci_high`` columns).
        stem: output path without suffix.
        x: the swept rate on the x axis (default ``"p"``, the probability of dropping).
        series_keys: other swept keys; each combination is one line (the ``max_series`` best are drawn).
        title: figure title.
        max_series: at most this many lines, chosen by their best mean test accuracy.
    """
    series: dict[str, list[Mapping[str, Any]]] = {}
    for row in agg:
        series.setdefault(series_label(row, series_keys), []).append(row)
    ranked = sorted(series.items(), key=lambda kv: -max(_num(r.get("test_acc_mean")) for r in kv[1]))[:max_series]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (("test_acc", "test accuracy"), ("gap", "generalisation gap (train − test accuracy)"))
    for ax, (metric, label) in zip(axes, panels):
        for name, rows in ranked:
            rows = sorted(rows, key=lambda r: _num(r.get(x)))
            xs = np.array([_num(r.get(x)) for r in rows])
            mean = np.array([_num(r.get(f"{metric}_mean")) for r in rows])
            low = np.array([_num(r.get(f"{metric}_ci_low")) for r in rows])
            high = np.array([_num(r.get(f"{metric}_ci_high")) for r in rows])
            ax.errorbar(xs, mean, yerr=error_bars(mean, low, high, METRIC_RANGES[metric]), marker="o", capsize=3, label=name)
        ax.set(xlabel=f"{x} (probability of dropping)", ylabel=label)
        ax.grid(alpha=0.3)
        if len(ranked) > 1 or series_keys:
            ax.legend(fontsize=8)
    fig.suptitle(title or f"mean over seeds with 95% t interval, against {x}")
    fig.tight_layout()
    return save_figure(fig, stem)


# What an accuracy (and train − test accuracy) can be: one table for the figures and the tables.
METRIC_RANGES = _METRIC_RANGES


def error_bars(mean: np.ndarray, low: np.ndarray, high: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """``yerr`` for ``errorbar``: the interval ``[low, high]`` clipped to ``bounds``, 0 where it is NaN.

    A 95% t interval over 2 seeds is 12.7 standard errors wide, so an accuracy of 0.90 can get an upper
    end of 1.05; the bar stops at what the metric can be (:func:`dropkit.sweep.aggregate` cuts the
    tables' ends there too).
    """
    low_c, high_c = np.clip(low, *bounds), np.clip(high, *bounds)
    return np.vstack([np.where(np.isnan(low), 0.0, mean - low_c), np.where(np.isnan(high), 0.0, high_c - mean)])


def plot_heatmap(
    agg: Sequence[Mapping[str, Any]],
    stem: Path,
    *,
    rows_key: str = "p",
    cols_key: str = "l2",
    value: str = "test_acc_mean",
    title: str | None = None,
) -> tuple[Path, Path]:
    """A ``rows_key`` × ``cols_key`` heat map of ``value`` (the best over any other swept keys), annotated."""
    ys = sorted({_num(r.get(rows_key)) for r in agg})
    xs = sorted({_num(r.get(cols_key)) for r in agg})
    grid = np.full((len(ys), len(xs)), np.nan)
    for r in agg:
        i, j = ys.index(_num(r.get(rows_key))), xs.index(_num(r.get(cols_key)))
        v = _num(r.get(value))
        if not math.isnan(v) and (math.isnan(grid[i, j]) or v > grid[i, j]):
            grid[i, j] = v
    fig, ax = plt.subplots(figsize=(1.2 * len(xs) + 3, 0.55 * len(ys) + 2))
    image = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
    ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
    ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
    ax.set(xlabel=f"{cols_key} (λ)" if cols_key == "l2" else cols_key, ylabel=f"{rows_key} (probability of dropping)")
    finite = grid[np.isfinite(grid)]
    mid = float(np.mean([finite.min(), finite.max()])) if finite.size else 0.0
    for i in range(len(ys)):
        for j in range(len(xs)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=8, color="black" if grid[i, j] > mid else "white")
    fig.colorbar(image, ax=ax, label=value.replace("_", " "))
    ax.set_title(title or f"{value.replace('_', ' ')}: {rows_key} × {cols_key}")
    fig.tight_layout()
    return save_figure(fig, stem)
