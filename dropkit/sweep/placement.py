"""Where a trial ran: one entry per attempt in ``<trial>/placement.json`` (Ray node id and IP, host, pid).

The ``ray`` executor records an attempt when a task starts a trial, before the trial writes anything;
a trial retried on another node after its node died gets a second entry. The results table shows the
last attempt's ``node_id`` and ``node_ip`` and the number of ``attempts``. The file is rewritten
atomically under the trial's lock, so it never holds a torn entry.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = record_attempt(folder, node_id="ab12", node_ip="127.0.0.2")
    >>> [(a["attempt"], a["node_ip"]) for a in read_placement(folder)]
    [(1, '127.0.0.2')]
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dropkit._io import atomic_write_text

__all__ = ["PLACEMENT_FILE", "record_attempt", "read_placement", "placement_columns"]

PLACEMENT_FILE = "placement.json"


def read_placement(trial_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The attempts recorded for the trial in ``trial_dir``, oldest first (empty when none)."""
    path = Path(trial_dir) / PLACEMENT_FILE
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return []
    return data if isinstance(data, list) else []


def record_attempt(trial_dir: str | os.PathLike[str], *, node_id: str, node_ip: str) -> dict[str, Any]:
    """Append this process's attempt (node id and IP, host name, pid, UTC time) to ``placement.json``.

    Args:
        trial_dir: the trial's run folder (created if missing).
        node_id: the Ray node id of the worker running the trial.
        node_ip: that node's IP address as Ray knows it.
    """
    folder = Path(trial_dir)
    folder.mkdir(parents=True, exist_ok=True)
    attempts = read_placement(folder)
    entry = {
        "attempt": len(attempts) + 1,
        "node_id": node_id,
        "node_ip": node_ip,
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
    }
    atomic_write_text(folder / PLACEMENT_FILE, json.dumps([*attempts, entry], indent=1) + "\n")
    return entry


def placement_columns(trial_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``node_id``, ``node_ip`` (of the last attempt) and ``attempts`` for the results table; empty when unrecorded."""
    attempts = read_placement(trial_dir)
    if not attempts:
        return {}
    last = attempts[-1]
    return {"node_id": last.get("node_id"), "node_ip": last.get("node_ip"), "attempts": len(attempts)}
