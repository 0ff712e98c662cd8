"""What a report is made from: the run folders under a run, compare or sweep folder.

A report reads only run-folder files (``config.yaml``, ``metrics.jsonl``, ``summary.json``,
``env.json``) plus the folder's own index (``compare.json`` or ``trials.json`` / ``sweep.json``), and
turns every kind of folder into the same list of :class:`RunRecord` s.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dropkit.train.run_dir import RunFiles, read_metrics

__all__ = ["RunRecord", "ReportSource", "detect_kind", "load_source"]


@dataclass(frozen=True)
class RunRecord:
    """One run folder, read.

    Args:
        label: a short name (the trial id, ``p0`` / ``p0.5`` for compare folders, the run's name).
        folder: the run folder.
        config: its ``config.yaml`` as a mapping.
        summary: its ``summary.json`` (``{"status": "pending"}`` when missing).
        metrics: the rows of ``metrics.jsonl``.
        env: its ``env.json`` (empty when missing).
    """

    label: str
    folder: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    metrics: list[dict[str, Any]]
    env: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.summary.get("status", "pending"))


@dataclass(frozen=True)
class ReportSource:
    """A folder to report on: its kind, its runs and its own index file (``compare.json``, ``sweep.json``)."""

    kind: str
    folder: Path
    records: list[RunRecord]
    index: dict[str, Any]


def detect_kind(folder: str | Path) -> str:
    """``"run"`` (has config.yaml), ``"compare"`` (compare.json) or ``"sweep"`` (trials.json or trials/)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"report: folder {str(folder)!r} does not exist")
    if RunFiles(folder).config.exists():
        return "run"
    if (folder / "compare.json").exists():
        return "compare"
    if (folder / "trials.json").exists() or (folder / "trials").is_dir():
        return "sweep"
    raise ValueError(
        f"report: {str(folder)!r} must be a run folder (config.yaml), a compare folder (compare.json) or a "
        "sweep folder (trials.json), got none of these"
    )


def _read_run(folder: Path, label: str) -> RunRecord:
    files = RunFiles(folder)
    config = yaml.safe_load(files.config.read_text()) if files.config.exists() else {}
    summary = json.loads(files.summary.read_text()) if files.summary.exists() else {"status": "pending"}
    env = json.loads(files.env.read_text()) if files.env.exists() else {}
    return RunRecord(label, folder, config or {}, summary, read_metrics(files.metrics), env)


def load_source(folder: str | Path) -> ReportSource:
    """Read every run under ``folder`` (a run, compare or sweep folder)."""
    folder = Path(folder)
    kind = detect_kind(folder)
    if kind == "run":
        record = _read_run(folder, "")
        record = dataclasses.replace(record, label=str(record.config.get("name") or folder.name))
        return ReportSource(kind, folder, [record], {})
    if kind == "compare":
        index = json.loads((folder / "compare.json").read_text())
        records = []
        for result in index.get("results", {}).values():
            run = Path(result["run"])
            run = run if run.is_absolute() and run.exists() else folder / run.name
            records.append(_read_run(run, run.name))
        return ReportSource(kind, folder, records, index)
    index = json.loads((folder / "sweep.json").read_text()) if (folder / "sweep.json").exists() else {}
    if (folder / "trials.json").exists():
        ids = [t["trial_id"] for t in json.loads((folder / "trials.json").read_text())]
    else:
        ids = sorted(p.name for p in (folder / "trials").iterdir() if p.is_dir() and not p.name.startswith("."))
    records = [_read_run(folder / "trials" / i, i) for i in ids]
    return ReportSource(kind, folder, records, index)
