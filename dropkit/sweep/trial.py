"""One trial of a sweep: its config, a stable id, and the function that runs it in a worker.

The trial id is ``<readable name>-<hash>``: the readable part lists the swept values
(``p=0.5_seed=1``), the hash is the first 10 hex digits of the SHA-256 of the config's values that
differ from ``Config``'s defaults (run-only keys such as ``threads`` and ``progress`` left out). Adding a
new config key with a default therefore keeps every existing id, and resuming a sweep finds its folders.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dropkit.train.config import Config, from_dict

__all__ = ["Trial", "make_trial", "config_hash", "readable_name", "run_trial", "DONE_STATUSES", "RUN_ONLY_KEYS"]

log = logging.getLogger("dropkit.sweep")

# Keys that do not change a trial's result; they are left out of its hash.
RUN_ONLY_KEYS = ("name", "progress", "threads", "device", "data_dir", "download")
# summary.json statuses that mean a trial is finished and is skipped on resume.
DONE_STATUSES = ("completed", "diverged")


@dataclass(frozen=True)
class Trial:
    """One point of a sweep.

    Args:
        trial_id: ``<readable>-<hash>``, also the run folder's name under ``<sweep>/trials/``.
        overrides: the swept values of this trial (grid point and random sample).
        values: the full resolved config as a plain mapping (``Config.to_dict()``).
    """

    trial_id: str
    overrides: dict[str, Any]
    values: dict[str, Any]

    def config(self) -> Config:
        return from_dict(self.values)


def _defaults() -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(Config):
        out[f.name] = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    return out


def config_hash(values: dict[str, Any]) -> str:
    """10 hex digits identifying a resolved config (non-default values only, run-only keys left out).

    Example:
        >>> config_hash({"p": 0.5}) == config_hash({"p": 0.5, "progress": False})
        True
    """
    defaults = _defaults()
    cfg = from_dict(values).to_dict()
    key = {k: v for k, v in sorted(cfg.items()) if k not in RUN_ONLY_KEYS and v != defaults.get(k)}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "x".join(_fmt(v) for v in value)
    if value is None:
        return "none"
    return str(value)


def readable_name(overrides: dict[str, Any]) -> str:
    """``p=0.5_seed=1`` from the swept values (file-name safe, at most 80 characters)."""
    text = "_".join(f"{k}={_fmt(v)}" for k, v in overrides.items()) or "trial"
    return re.sub(r"[^A-Za-z0-9._=+-]", "-", text)[:80]


def make_trial(values: dict[str, Any], overrides: dict[str, Any], *, where: str = "sweep") -> Trial:
    """Validate ``values`` as a config and build the :class:`Trial` (errors name ``where``)."""
    try:
        cfg = from_dict(values)
    except ValueError as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        raise ValueError(f"{where}: trial {shown or '(base)'}: {exc}") from None
    digest = config_hash(cfg.to_dict())
    trial_id = f"{readable_name(overrides)}-{digest}"
    resolved = cfg.replace(name=trial_id).to_dict()
    return Trial(trial_id=trial_id, overrides=dict(overrides), values=resolved)


def run_trial(values: dict[str, Any], trial_dir: str, threads: int = 1) -> dict[str, Any]:
    """Run (or resume, or skip) one trial in the current process; return its ``summary.json``.

    A finished trial (status completed or diverged) is returned as is. A folder holding an unfinished
    run continues from its newest checkpoint. A lock file (``<sweep>/.locks/<trial-id>.lock``) makes sure that a worker
    left over from a killed sweep and a new one never write the same folder at once (the new one waits).

    Args:
        values: the trial's resolved config (``Trial.values``).
        trial_dir: the trial's run folder.
        threads: torch threads, used when the config leaves ``threads`` unset.
    """
    from dropkit.train.run_dir import RunFiles, read_summary
    from dropkit.train.trainer import TrainingDiverged, train_run

    folder = Path(trial_dir)
    locks = folder.parent.parent / ".locks"  # <sweep>/.locks next to <sweep>/trials
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{folder.name}.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        files = RunFiles(folder)
        if files.summary.exists():
            summary = read_summary(folder)
            if summary.get("status") in DONE_STATUSES:
                return summary
        cfg = from_dict({**values, "threads": values.get("threads") or max(1, int(threads)), "progress": False})
        resume = files.config.exists()
        if resume:
            log.info("%s: resuming", folder.name)
        try:
            return train_run(cfg, folder, resume=resume)
        except TrainingDiverged:
            return read_summary(folder)
