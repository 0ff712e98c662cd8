"""The numbers behind a report: one row per run, the swept keys, and the aggregate over seeds."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from dropkit.report.sources import RunRecord
from dropkit.sweep.aggregate import aggregate
from dropkit.sweep.trial import RUN_ONLY_KEYS
from dropkit.train.model_keys import applies_to

__all__ = ["run_rows", "varied_keys", "aggregate_runs", "LOWER_IS_BETTER", "rank_rows"]

# Metrics where smaller is better; every other metric is ranked high to low.
LOWER_IS_BETTER = ("gap", "test_loss", "train_loss")


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def run_rows(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One flat row per run: label, status, final and best metrics, then the config keys."""
    rows = []
    for r in records:
        final = r.summary.get("final") or (r.metrics[-1] if r.metrics else {})
        row: dict[str, Any] = {"label": r.label, "status": r.status}
        for key in ("train_acc", "test_acc", "gap", "train_loss", "test_loss", "wall_time"):
            row[key] = final.get(key)
        row["best_test_acc"] = r.summary.get("best_test_acc")
        if r.summary.get("metric") == "test_loss":  # a language model: bits per character, best val loss
            row["test_bpc"] = final.get("test_bpc")
            row["best_test_loss"] = r.summary.get("best_test_loss")
        row["step"] = r.summary.get("step")
        for key, value in r.config.items():
            if key not in row:
                row[key] = _cell(value)
        rows.append(row)
    return rows


def varied_keys(records: Sequence[RunRecord], preferred: Sequence[str] = ()) -> list[str]:
    """Config keys whose value differs between runs (``preferred`` order first, run-only keys left out).

    Only runs that have a config count (a sweep's pending trials have none yet), and a key counts only
    among the runs whose model it configures: ``drop_path`` is not swept in an MLP compare although
    its baseline sets every rate, that one included, to 0.
    """
    started = [r for r in records if r.config]
    keys: list[str] = []
    for r in started:
        keys += [k for k in r.config if k not in keys]
    varied = []
    for k in keys:
        if k in RUN_ONLY_KEYS:
            continue
        values = {json.dumps(r.config.get(k), sort_keys=True) for r in started if applies_to(k, r.config.get("model"))}
        if len(values) > 1:
            varied.append(k)
    return [k for k in preferred if k in varied] + [k for k in varied if k not in preferred]


def aggregate_runs(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """The aggregate over seeds of ``rows``, grouped by ``keys`` except ``seed``."""
    return aggregate(rows, [k for k in keys if k != "seed"])


def rank_rows(rows: Sequence[dict[str, Any]], column: str) -> list[dict[str, Any]]:
    """``rows`` best first by ``column`` (missing and NaN values last)."""
    sign = 1.0 if column in LOWER_IS_BETTER else -1.0

    def key(row: dict[str, Any]) -> tuple[int, float]:
        v = row.get(column)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return (1, 0.0)
        return (0, sign * float(v))

    return sorted(rows, key=key)
