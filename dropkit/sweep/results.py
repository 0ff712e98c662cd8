"""The sweep's tables: one row per trial (``results``) and one per configuration (``aggregate``).

Both are written as Parquet and CSV, atomically, built only from the trials' run folders
(``config.yaml`` and ``summary.json``), so they can be rebuilt at any time and never hold a row twice.
List-valued config keys (``hidden``, ``hidden_p``) are stored as JSON text, e.g. ``[256, 256]``.
Trials run by the ``ray`` executor also get ``node_id``, ``node_ip`` and ``attempts`` (from
``placement.json``, see :mod:`dropkit.sweep.placement`).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dropkit._io import atomic_path, atomic_write_text
from dropkit.sweep.placement import placement_columns
from dropkit.sweep.trial import Trial
from dropkit.train.config import config_keys

__all__ = ["trial_row", "collect_results", "write_table", "read_table", "RESULT_METRICS"]

# Metric columns of the results table, taken from summary.json (final row and best values).
RESULT_METRICS = (
    "train_acc",
    "test_acc",
    "gap",
    "train_loss",
    "test_loss",
    "best_test_acc",
    "best_step",
    "val_acc",
    "best_val_acc",
    "p_measured",
    "step",
    "total_steps",
    "wall_time",
)


def _cell(value: Any) -> Any:
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return value


def trial_row(trial: Trial, run_dir: Path, varied: Sequence[str]) -> dict[str, Any]:
    """The results row of one trial: id, status, swept keys, metrics, then every other config key."""
    from dropkit.train.run_dir import RunFiles

    files = RunFiles(run_dir)
    summary: dict[str, Any] = {}
    if files.summary.exists():
        summary = json.loads(files.summary.read_text())
    final = summary.get("final") or {}
    row: dict[str, Any] = {"trial_id": trial.trial_id, "status": summary.get("status", "pending")}
    for key in varied:
        row[key] = _cell(trial.values.get(key))
    for metric in RESULT_METRICS:
        value = summary.get(metric, final.get(metric))
        if metric in ("train_loss", "test_loss", "p_measured"):
            value = final.get(metric)
        row[metric] = value
    row.update(placement_columns(run_dir))
    for key in config_keys():
        if key not in row and key != "name":
            row[key] = _cell(trial.values.get(key))
    return row


def collect_results(sweep_dir: Path, trials: Sequence[Trial], varied: Sequence[str]) -> list[dict[str, Any]]:
    """One row per trial, in the sweep's trial order."""
    return [trial_row(t, Path(sweep_dir) / "trials" / t.trial_id, varied) for t in trials]


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        cols += [k for k in row if k not in cols]
    return cols


def write_table(rows: Sequence[dict[str, Any]], stem: Path) -> tuple[Path, Path]:
    """Write ``<stem>.parquet`` and ``<stem>.csv`` atomically; return both paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stem = Path(stem)
    cols = _columns(rows)
    arrays = {c: [_nan_to_none(r.get(c)) for r in rows] for c in cols}
    table = pa.table({c: _column_array(v) for c, v in arrays.items()}) if cols else pa.table({})
    parquet = stem.with_suffix(".parquet")
    with atomic_path(parquet) as tmp:
        pq.write_table(table, str(tmp))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for r in rows:
        writer.writerow(["" if r.get(c) is None else _csv_value(r.get(c)) for c in cols])
    csv_path = stem.with_suffix(".csv")
    atomic_write_text(csv_path, buf.getvalue())
    return parquet, csv_path


def read_table(path: Path | str) -> list[dict[str, Any]]:
    """Rows of a table written by :func:`write_table` (from its ``.parquet`` file)."""
    import pyarrow.parquet as pq

    return pq.read_table(str(path)).to_pylist()


def _nan_to_none(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def _csv_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _column_array(values: list[Any]) -> Any:
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, float} and float in kinds:
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    if len(kinds) > 1:
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    return pa.array(values)
