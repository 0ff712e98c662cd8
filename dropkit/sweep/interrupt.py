"""A sweep stopped by Ctrl-C: its unfinished trials marked interrupted, its tables written, a resume hint.

The driver of a local sweep stops its workers at once on SIGINT (see :mod:`dropkit.sweep.local`), then
:func:`mark_unfinished` marks every trial that had started but not finished as ``interrupted`` at its
newest checkpoint (:func:`dropkit.train.interrupt.mark_interrupted`); the partial ``results`` and
``aggregate`` tables are written as usual and :class:`SweepInterrupted` carries what happened to the
command line, which prints the command that resumes the sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dropkit.sweep.trial import Trial
from dropkit.train.interrupt import mark_interrupted
from dropkit.train.run_dir import RunFiles

__all__ = ["SweepInterrupted", "mark_unfinished"]


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep; partial results are written and rerunning the same command resumes it.

    A ``KeyboardInterrupt``, so that code not expecting it still stops.

    Args:
        out: the sweep folder.
        finished: trials finished (completed or diverged), this run and before.
        interrupted: ids of the trials stopped part-way (resumable from their checkpoints).
        total: trials in the sweep.
    """

    def __init__(self, out: Path, finished: int, interrupted: Sequence[str], total: int) -> None:
        super().__init__(f"sweep interrupted: {finished} of {total} trials finished")
        self.out = Path(out)
        self.finished = finished
        self.interrupted = list(interrupted)
        self.total = total


def mark_unfinished(jobs: Sequence[tuple[Trial, str]]) -> list[str]:
    """Mark the started, unfinished trials of ``jobs`` (trial, run folder) as interrupted; return their ids.

    Trials that never started (no ``config.yaml``) are left as they are: they are pending.
    """
    stopped = []
    for trial, folder in jobs:
        if not RunFiles(Path(folder)).config.exists():
            continue
        summary = mark_interrupted(folder, reason="sweep interrupted")
        if summary.get("status") == "interrupted":
            stopped.append(trial.trial_id)
    return stopped
