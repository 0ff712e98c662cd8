"""``sweep.json``: the sweep's state, its real totals, and the history of the invocations that ran it.

Each ``dropkit sweep`` invocation on a folder appends one record to ``invocations``::

    {"started": "2026-12-03T10:40:00+00:00", "wall_time": 18.2, "ran": 6, "skipped": 0, "failed": 0,
     "executor": "local"}

and the top-level counts are the sweep's, over that history, so a rerun of a finished sweep (which
skips every trial and only rebuilds the tables in a second) leaves them as they were:

- ``wall_time``: seconds of the invocations that ran trials, summed (an interrupted sweep and its
  resume add up; an invocation that ran nothing adds nothing). When none ran any, their sum.
- ``ran``: trial runs over every invocation (a trial interrupted and resumed counts in each).
- ``skipped``: trials already finished when the first recorded invocation started.

The other keys (executor, resources, ``status_counts``, ``failed``) describe the folder as the last
invocation left it. A ``sweep.json`` written before the history existed becomes its first record.
The file is rewritten atomically under a lock (``<sweep>/.locks/sweep.json.lock``), so two drivers
finishing at once both land in the history.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from dropkit.train.run_dir import write_json

__all__ = ["record_invocation", "sweep_totals", "read_invocations"]

_RECORD_KEYS = ("started", "wall_time", "ran", "skipped", "failed", "executor")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    locks = path.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{path.name}.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def read_invocations(index: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The invocation records of a parsed ``sweep.json`` (one made from the top-level keys of a file
    written before the history existed; none for an empty or foreign one)."""
    history = index.get("invocations")
    if isinstance(history, list):
        return [dict(r) for r in history if isinstance(r, Mapping)]
    if isinstance(index.get("wall_time"), (int, float)) and "ran" in index:
        failed = index.get("failed")
        return [{
            "started": None,
            "wall_time": float(index["wall_time"]),
            "ran": int(index.get("ran") or 0),
            "skipped": int(index.get("skipped") or 0),
            "failed": len(failed) if isinstance(failed, (dict, list)) else 0,
            "executor": index.get("executor"),
        }]
    return []


def sweep_totals(invocations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The sweep's ``wall_time``, ``ran`` and ``skipped`` over its ``invocations`` (see the module docstring).

    Example:
        >>> first = {"wall_time": 18.2, "ran": 6, "skipped": 0}
        >>> rerun = {"wall_time": 0.9, "ran": 0, "skipped": 6}
        >>> sweep_totals([first, rerun])
        {'wall_time': 18.2, 'ran': 6, 'skipped': 0}
    """
    if not invocations:
        return {"wall_time": 0.0, "ran": 0, "skipped": 0}
    working = [r for r in invocations if r.get("ran")] or list(invocations)
    return {
        "wall_time": sum(float(r.get("wall_time") or 0.0) for r in working),
        "ran": sum(int(r.get("ran") or 0) for r in invocations),
        "skipped": int(invocations[0].get("skipped") or 0),
    }


def record_invocation(path: str | Path, state: Mapping[str, Any], invocation: Mapping[str, Any]) -> dict[str, Any]:
    """Append ``invocation`` to the history in ``path`` (``<sweep>/sweep.json``), write ``state`` with the
    sweep's totals, and return what was written.

    Args:
        path: the sweep's ``sweep.json``; created when missing.
        state: the keys that describe the folder now (name, executor, ``status_counts``, ...); its
            ``wall_time`` / ``ran`` / ``skipped`` / ``invocations``, if any, are replaced.
        invocation: this invocation: ``started`` (ISO time), ``wall_time``, ``ran``, ``skipped``,
            ``failed`` (a count) and ``executor``.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "sweep.json"
        >>> run = {"started": None, "wall_time": 18.2, "ran": 6, "skipped": 0, "failed": 0, "executor": "local"}
        >>> _ = record_invocation(path, {"name": "tiny"}, run)
        >>> done = record_invocation(path, {"name": "tiny"}, {**run, "wall_time": 0.9, "ran": 0, "skipped": 6})
        >>> done["wall_time"], done["ran"], len(done["invocations"])
        (18.2, 6, 2)
    """
    path = Path(path)
    record = {k: invocation.get(k) for k in _RECORD_KEYS}
    with _locked(path):
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError):
            previous = {}
        history = read_invocations(previous if isinstance(previous, dict) else {}) + [record]
        data = {k: v for k, v in state.items() if k not in ("wall_time", "ran", "skipped", "invocations")}
        data.update(sweep_totals(history))
        data["invocations"] = history
        write_json(path, data)
    return data
