"""``run_sweep``: run every unfinished trial of a sweep, then write its tables.

The sweep folder::

    <sweep>/sweep.yaml            the sweep file as given (the last run's)
    <sweep>/trials.json           every trial: id and swept values, in order
    <sweep>/trials/<trial-id>/    one run folder per trial (see dropkit.train.run_dir)
    <sweep>/results.parquet|csv   one row per trial: swept keys, final and best metrics, all config keys
    <sweep>/aggregate.parquet|csv one row per configuration over seeds: mean, std, 95 % t interval
    <sweep>/sweep.json            counts, executor, the sweep's wall time and each invocation's (sweep/history.py)
    <sweep>/.locks/               one lock file per trial, held while a worker runs it
    <sweep>/.dropkit-sweep        ray: the marker each task checks to be sure it sees this folder
    <sweep>/trials/<id>/placement.json  ray: the node (id, IP) of each attempt of the trial

Running the same sweep again resumes it: trials whose ``summary.json`` says completed (or diverged) are
skipped, unfinished ones continue from their newest checkpoint. The tables are rebuilt from the run
folders each time, one row per trial id, so no row is ever lost or written twice.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from dropkit._io import atomic_write_text, remove_stale_temps
from dropkit.sweep.aggregate import aggregate
from dropkit.sweep.history import record_invocation
from dropkit.sweep.interrupt import SweepInterrupted, mark_unfinished
from dropkit.sweep.local import available_cpus, run_local
from dropkit.sweep.results import collect_results, write_table
from dropkit.sweep.spec import EXECUTORS, SweepSpec
from dropkit.sweep.trial import DONE_STATUSES, Trial
from dropkit.train.run_dir import RunFiles, write_json

__all__ = ["run_sweep", "SweepOutcome", "write_tables", "default_sweep_dir", "group_keys"]

log = logging.getLogger("dropkit.sweep")


@dataclass(frozen=True)
class SweepOutcome:
    """What :func:`run_sweep` did.

    Args:
        out: the sweep folder.
        rows: the results table (one dict per trial).
        aggregate: the aggregate table (one dict per configuration).
        ran: trials run (or resumed) by this invocation.
        skipped: trials already finished before it.
        failed: trial id -> error message.
        wall_time: seconds this invocation took.
    """

    out: Path
    rows: list[dict[str, Any]]
    aggregate: list[dict[str, Any]]
    ran: int
    skipped: int
    failed: dict[str, str]
    wall_time: float


def default_sweep_dir(spec: SweepSpec) -> Path:
    """``runs/sweeps/<name>``: fixed, so that rerunning the same command resumes the sweep."""
    return Path("runs") / "sweeps" / spec.name


def group_keys(spec: SweepSpec) -> list[str]:
    """The columns that define a configuration in the aggregate: the swept keys except ``seed``."""
    return [k for k in spec.varied_keys() if k != "seed"]


def _finished(folder: Path) -> bool:
    files = RunFiles(folder)
    if not files.summary.exists():
        return False
    try:
        return json.loads(files.summary.read_text()).get("status") in DONE_STATUSES
    except ValueError:
        return False


def write_tables(spec: SweepSpec, out: Path, trials: list[Trial]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(Re)build ``results`` and ``aggregate`` from the trials' run folders and write them."""
    rows = collect_results(out, trials, spec.varied_keys())
    write_table(rows, out / "results")
    agg = aggregate(rows, group_keys(spec))
    write_table(agg, out / "aggregate")
    return rows, agg


def run_sweep(
    spec: SweepSpec,
    out: str | Path | None = None,
    *,
    executor: str | None = None,
    workers: int | None = None,
    address: str | None = None,
    cpus: float | None = None,
    gpus: float | None = None,
    max_attempts: int = 3,
) -> SweepOutcome:
    """Run (or resume) ``spec`` into ``out`` and write its tables.

    Args:
        spec: the parsed sweep file.
        out: the sweep folder (default :func:`default_sweep_dir`).
        executor: ``"local"`` or ``"ray"`` (default: the file's, else local).
        workers: local: processes (default: cores // cpus); ray: CPUs of a private local Ray instance
            (default: this machine's cores).
        address: ray only: a running cluster to join (``"auto"``, the head's ``"HOST:PORT"``,
            ``"ray://host:10001"``); the sweep folder must then be on a file system every node sees.
        cpus: CPUs per trial, also its torch threads (default: the file's ``resources.cpus``, else 1).
        gpus: GPUs per trial (default: the file's ``resources.gpus``, else 0).
        max_attempts: how often a trial whose worker died is started again (default 3).
    """
    t0 = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    executor = executor or spec.executor
    if executor not in EXECUTORS:
        raise ValueError(f"sweep: executor must be one of {', '.join(map(repr, EXECUTORS))}, got {executor!r}")
    if address and executor != "ray":
        raise ValueError(f"sweep: --address needs --executor ray, got executor {executor!r}")
    cpus = spec.cpus if cpus is None else cpus
    gpus = spec.gpus if gpus is None else gpus
    if cpus <= 0:
        raise ValueError(f"sweep: cpus per trial must be > 0, got {cpus!r}")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"sweep: max_attempts must be an integer >= 1, got {max_attempts!r}")
    if spec.custom and executor != "ray":
        raise ValueError(
            f"sweep: resources.custom ({', '.join(sorted(spec.custom))}) are Ray resources and need --executor ray, "
            f"got executor {executor!r}"
        )
    out = Path(out) if out is not None else default_sweep_dir(spec)
    trials = spec.trials()
    (out / "trials").mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # left by a driver killed while writing results; trials clean their own folders
    atomic_write_text(out / "sweep.yaml", yaml.safe_dump(spec.source, sort_keys=False))
    write_json(out / "trials.json", [{"trial_id": t.trial_id, "overrides": t.overrides} for t in trials])

    todo = [(t, str(out / "trials" / t.trial_id)) for t in trials if not _finished(out / "trials" / t.trial_id)]
    skipped = len(trials) - len(todo)
    log.info("sweep %s: %d trials, %d finished, %d to run -> %s", spec.name, len(trials), skipped, len(todo), out)
    failed: dict[str, str] = {}
    finished = [skipped]

    def on_done(trial: Trial, summary: dict[str, Any] | None, error: BaseException | None) -> None:
        finished[0] += 1
        if error is not None:
            failed[trial.trial_id] = f"{type(error).__name__}: {error}"
            log.error("[%d/%d] %s failed: %s", finished[0], len(trials), trial.trial_id, failed[trial.trial_id])
        else:
            assert summary is not None
            acc = summary.get("test_acc")
            shown = f"test_acc {acc:.4f}" if isinstance(acc, float) else summary.get("status")
            log.info("[%d/%d] %s: %s, %.1f s", finished[0], len(trials), trial.trial_id, shown, summary.get("wall_time") or 0.0)

    interrupted: list[str] | None = None
    if todo:
        _warm_datasets([t for t, _ in todo])
        threads = max(1, int(math.floor(cpus)))
        try:
            if executor == "local":
                n_workers = workers or max(1, available_cpus() // threads)
                run_local(todo, workers=n_workers, threads=threads, max_attempts=max_attempts, on_done=on_done)
            else:
                from dropkit.sweep.ray_executor import run_ray

                run_ray(
                    todo,
                    cpus=cpus,
                    gpus=gpus,
                    num_cpus=workers or available_cpus(),
                    address=address,
                    max_attempts=max_attempts,
                    on_done=on_done,
                    custom=spec.custom,
                    sweep_dir=out,
                )
        except KeyboardInterrupt:  # the workers are stopped: mark, write the partial tables, then say so
            interrupted = mark_unfinished(todo)
    rows, agg = write_tables(spec, out, trials)
    wall = time.perf_counter() - t0
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    record_invocation(  # the sweep's totals over its invocations: a rerun that skips everything keeps them
        out / "sweep.json",
        {
            "name": spec.name,
            "description": spec.description,
            "executor": executor,
            "address": address,
            "cpus_per_trial": cpus,
            "gpus_per_trial": gpus,
            "trials": len(trials),
            "status_counts": counts,
            "failed": failed,
            "trial_time_sum": sum(r["wall_time"] or 0.0 for r in rows),
            "metric": spec.metric,
            "varied": spec.varied_keys(),
            "status": "interrupted" if interrupted is not None else "finished",
        },
        {"started": started, "wall_time": wall, "ran": len(todo), "skipped": skipped, "failed": len(failed),
         "executor": executor},
    )
    if interrupted is not None:
        done = sum(1 for r in rows if r["status"] in DONE_STATUSES)
        raise SweepInterrupted(out, done, interrupted, len(trials))
    return SweepOutcome(out, rows, agg, len(todo), skipped, failed, wall)


def _warm_datasets(trials: list[Trial]) -> None:
    """Load each dataset once in the driver, so that workers never download or generate it at once."""
    from dropkit.data import clear_memo, load_config_dataset
    from dropkit.data.corpora import clear_corpus_memo, is_text_dataset, load_corpus

    seen = set()
    for t in trials:
        # file datasets: the loading options too (each set is decoded and cached once, here)
        keys = ("dataset", "data_dir", "download", "label_column", "test_split", "split_seed", "image_size")
        key = tuple(str(t.values.get(k)) for k in keys)
        if key not in seen:
            seen.add(key)
            if is_text_dataset(t.values["dataset"]):  # a text corpus: fetched / built into the cache once
                load_corpus(t.values["dataset"], data_dir=t.values.get("data_dir"), download=t.values.get("download", True))
            else:
                load_config_dataset(t.config())
    clear_memo()
    clear_corpus_memo()
