"""An interrupted run (Ctrl-C, SIGINT or SIGTERM): marked ``interrupted`` at its newest checkpoint.

A run stopped before its last step keeps its checkpoints (they are written atomically, so the newest one
is whole). :func:`mark_interrupted` rewrites its ``summary.json`` to say so: ``status`` ``"interrupted"``,
``step`` the step of the newest checkpoint (where ``--resume`` continues from) and the metrics of the
evaluations up to that step, so that reports and sweep tables show where the run really stands instead
of ``running, step 0``. The trainer calls it when it is interrupted, the sweep driver for the trials
whose workers it stopped.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dropkit.train.checkpoint import list_checkpoints
from dropkit.train.run_dir import RunFiles, read_metrics, write_json
from dropkit.train.validation import Best, select_on

__all__ = ["mark_interrupted", "checkpoint_step", "resume_command", "INTERRUPTED"]

INTERRUPTED = "interrupted"


def checkpoint_step(run_dir: str | Path) -> int | None:
    """The step of the run's newest checkpoint, or ``None`` when it has none.

    Example:
        >>> import tempfile, pathlib
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> (run / "checkpoints").mkdir()
        >>> _ = (run / "checkpoints" / "step_00000200.safetensors").write_bytes(b"")
        >>> checkpoint_step(run)
        200
    """
    ckpts = list_checkpoints(RunFiles(Path(run_dir)).checkpoints)
    return int(ckpts[-1].stem[len("step_") :]) if ckpts else None


def mark_interrupted(run_dir: str | Path, *, reason: str = "interrupted") -> dict[str, Any]:
    """Write ``summary.json`` of a stopped run as ``interrupted`` at its newest checkpoint; return it.

    Only a run that has not finished is touched: a ``completed`` or ``diverged`` summary is returned
    unchanged. Call it only when no process is training in ``run_dir`` any more.

    Args:
        run_dir: the run folder.
        reason: the ``message`` recorded (e.g. ``"interrupted by SIGINT"``).
    """
    files = RunFiles(Path(run_dir))
    previous: dict[str, Any] = {}
    if files.summary.exists():
        try:
            previous = json.loads(files.summary.read_text())
        except ValueError:
            previous = {}
    if previous.get("status") in ("completed", "diverged"):
        return previous
    step = checkpoint_step(files.root)
    rows = [r for r in read_metrics(files.metrics) if step is not None and r.get("step", 0) <= step]
    last = rows[-1] if rows else None
    best = Best(select_on(rows))  # chosen as the trainer chooses it: on validation accuracy when there is one
    for row in rows:
        best.update(row)
    summary = {
        **previous,
        "status": INTERRUPTED,
        "step": step or 0,
        "resumable": step is not None,
        "wall_time": last.get("wall_time") if last else previous.get("wall_time"),
        "final": last,
        "train_acc": last.get("train_acc") if last else None,
        "test_acc": last.get("test_acc") if last else None,
        "gap": last.get("gap") if last else None,
        **(best.summary() if best.row is not None else {"best_test_acc": None, "best_step": None}),
        "message": f"{reason} at step {step or 0}" + ("" if step is not None else " (no checkpoint: a resume starts again)"),
    }
    if files.root.is_dir():
        write_json(files.summary, summary)
    return summary


def resume_command(argv: Sequence[str]) -> str:
    """A shell-quoted ``dropkit ...`` command line, e.g. for "resume with: ...".

    Example:
        >>> resume_command(["train", "--resume", "--out", "runs/my run"])
        "dropkit train --resume --out 'runs/my run'"
    """
    return " ".join(["dropkit", *(shlex.quote(str(a)) for a in argv)])
