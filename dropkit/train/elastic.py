"""Elastic DDP under ``torchrun``: restarted ranks resume from the run folder, which every node must share.

``torchrun --nnodes MIN:MAX --max-restarts N --rdzv-backend c10d ...`` restarts the whole worker group
when a rank dies (and when a node joins or is lost). A restarted ``dropkit train`` finds the run it was
training in ``--out`` and continues from its newest checkpoint, without ``--resume``: a run folder whose
``elastic.jsonl`` names the same torchrun job (``TORCHELASTIC_RUN_ID``, torchrun's ``--rdzv-id``) is
resumed; one that holds another job's run (or a run not started by torchrun) is refused unless
``--resume`` is given, as on a single machine.

Before every (re)start, :func:`prepare_start`

1. checks that the run folder is one folder shared by every rank: rank 0 writes a marker with a fresh
   random token, every rank looks for it (for up to :data:`SHARED_WAIT_S` seconds: a network file
   system may show a new file late) and all ranks fail with :class:`~dropkit.errors.DropkitInputError`
   naming the ranks and hosts that do not see it;
2. lets rank 0 decide whether to resume and broadcasts the decision (each agent has its own
   ``TORCHELASTIC_RESTART_COUNT``, so the ranks could not decide alike from it);
3. checks that every rank sees the checkpoint rank 0 resumes from;
4. appends one line to ``<out>/elastic.jsonl``: time, job id, restart count, world size, hosts, the
   step resumed from, and whether the world size changed.

Rank 0 holds an exclusive lock (``flock`` on ``<out>/.dropkit-lock``) from then until training ends, so
that two groups never write one run folder: the second fails with a clear error instead.

What is guaranteed (``docs/guides/torchrun-elastic.md`` shows the measurements):

- the same world size after a restart: the final state_dict is bit-identical to an uninterrupted run's
  (the data order depends only on ``(seed, epoch)``, each rank reseeds from
  :func:`~dropkit.train.distributed.rank_seed` ``(seed, rank, step)`` before every step, and the
  optimizer state comes from the checkpoint);
- a changed world size (``--nnodes 1:2`` and a node lost, or one joining): the run continues from the
  newest checkpoint with the same global batches, the same number of steps and the same learning-rate
  schedule, exactly as ``dropkit train --resume`` of that checkpoint at the new world size would; the
  dropout masks from there on are those of the new world size, so the final weights are not those of
  the uninterrupted run. A warning says so and ``elastic.jsonl`` records it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dropkit._io import atomic_write_text
from dropkit.errors import DropkitInputError
from dropkit.train.checkpoint import list_checkpoints
from dropkit.train.distributed import DistContext
from dropkit.train.run_dir import RunFiles, append_metrics, read_metrics

__all__ = [
    "ELASTIC_LOG",
    "SHARED_WAIT_S",
    "torchrun_job_id",
    "check_restartable",
    "check_shared_folder",
    "read_starts",
    "prepare_start",
    "release_folder",
]

log = logging.getLogger("dropkit.train")

ELASTIC_LOG = "elastic.jsonl"
"""File name, in the run folder, of the log of (re)starts under torchrun, one JSON line each."""

SHARED_WAIT_S = 5.0
"""Seconds a rank keeps looking for rank 0's marker before it reports the run folder as not shared."""

_MARKER = ".dropkit-shared-check"
_LOCK = ".dropkit-lock"
_held: dict[str, int] = {}  # run folder -> descriptor of its lock file, held by this process (rank 0)


def _lock_folder(out: Path) -> bool:
    """Take the exclusive lock of ``out`` for this process (``flock``; kept until :func:`release_folder`)."""
    import fcntl

    key = str(out.resolve())
    if key in _held:
        return True
    fd = os.open(out / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _held[key] = fd
    return True


def release_folder(out: str | Path) -> None:
    """Release the run folder lock :func:`prepare_start` took on rank 0 (no-op when not held).

    Example:
        >>> release_folder("runs/never-locked")
    """
    fd = _held.pop(str(Path(out).resolve()), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def torchrun_job_id() -> str | None:
    """The torchrun job this process is a rank of (``TORCHELASTIC_RUN_ID``: ``--rdzv-id``), or ``None``.

    Example:
        >>> import os
        >>> saved = os.environ.pop("TORCHELASTIC_RUN_ID", None)
        >>> torchrun_job_id() is None
        True
        >>> os.environ["TORCHELASTIC_RUN_ID"] = "myrun"
        >>> torchrun_job_id()
        'myrun'
        >>> _ = os.environ.pop("TORCHELASTIC_RUN_ID") if saved is None else os.environ.update(TORCHELASTIC_RUN_ID=saved)
    """
    return os.environ.get("TORCHELASTIC_RUN_ID") or None


def check_restartable() -> None:
    """Refuse a torchrun job whose restarts cannot form a process group (call before joining it).

    With the c10d rendezvous torchrun shares one TCP store between its agents and the ranks by default
    (``TORCHELASTIC_USE_AGENT_STORE=True``), and keeps it across restarts: a restarted group then reads
    the addresses its dead predecessors left there and fails, or hangs, in ``init_process_group``
    (seen with torch 2.13; pytorch/pytorch#135712 describes the mechanism). With
    ``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1`` in the agents' environment, rank 0 of every new group
    hosts a fresh store and restarts work. A job that may restart (``--max-restarts`` above 0) without
    it is refused here, in seconds, instead of failing at its first restart.

    Raises:
        DropkitInputError: torchrun may restart this job and shares its store with the ranks.

    Example:
        >>> import os
        >>> check_restartable() if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True" else None
    """
    restarts = os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0") or "0"
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True" and restarts.isdigit() and int(restarts) > 0:
        raise DropkitInputError(
            f"train: torchrun may restart this job (--max-restarts {restarts}) but shares its rendezvous store "
            "with the ranks (TORCHELASTIC_USE_AGENT_STORE=True), so a restarted group cannot form (it reads the "
            "addresses of the dead one); export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 on every node before "
            "torchrun, with --rdzv-backend c10d, or use --max-restarts 0"
        )


def read_starts(out: str | Path) -> list[dict[str, Any]]:
    """The lines of ``<out>/elastic.jsonl``, oldest first (empty when the run never ran under torchrun).

    Example:
        >>> import tempfile
        >>> read_starts(tempfile.mkdtemp())
        []
    """
    return read_metrics(Path(out) / ELASTIC_LOG)


def _gather(ctx: DistContext, value: Any) -> list[Any]:
    if not ctx.active:
        return [value]
    import torch.distributed as torch_dist

    values: list[Any] = [None] * ctx.world_size
    torch_dist.all_gather_object(values, value)
    return values


def _broadcast(ctx: DistContext, value: Any) -> Any:
    if not ctx.active:
        return value
    import torch.distributed as torch_dist

    box = [value]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]


def check_shared_folder(out: str | Path, ctx: DistContext, *, wait_s: float = SHARED_WAIT_S) -> list[str]:
    """Check that every rank sees the same run folder; return each rank's host name (by rank).

    Rank 0 creates ``out`` and writes a marker file holding a random token; after a barrier every rank
    looks for the token (for up to ``wait_s`` seconds), the answers are gathered and rank 0 removes the
    marker. Every rank raises the same error when any rank does not see it. A collective: every rank of
    the group must call it (with one process it only creates the folder).

    Args:
        out: the run folder (``--out``), the same path on every rank.
        ctx: this process's place in the group.
        wait_s: how long a rank waits for the marker to appear (default: :data:`SHARED_WAIT_S`).

    Raises:
        DropkitInputError: some rank does not see rank 0's marker: the folder is not shared.

    Example:
        >>> import tempfile
        >>> from dropkit.train.distributed import DistContext
        >>> check_shared_folder(tempfile.mkdtemp(), DistContext()) == [socket.gethostname()]
        True
    """
    out = Path(out)
    host = socket.gethostname()
    if not ctx.active:
        out.mkdir(parents=True, exist_ok=True)
        return [host]
    token = _broadcast(ctx, secrets.token_hex(16) if ctx.is_main else None)
    marker = out / _MARKER
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(marker, token)
    ctx.barrier()
    deadline = time.monotonic() + wait_s
    while True:
        try:
            seen = marker.read_text() == token
        except OSError:
            seen = False
        if seen or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    answers = _gather(ctx, (seen, host))
    if ctx.is_main:
        marker.unlink(missing_ok=True)
    hosts = [h for _, h in answers]
    blind = [r for r, (ok, _) in enumerate(answers) if not ok]
    if blind:
        who = ", ".join(f"rank {r} on {hosts[r]!r}" for r in blind)
        raise DropkitInputError(
            f"train: --out {str(out)!r} is not one folder shared by every rank: rank 0 on {hosts[0]!r} wrote "
            f"a marker file there that {who} cannot see within {wait_s:g} s; put the run folder on a file "
            "system every node mounts (NFS, a cluster file system) and give the same path on every node"
        )
    return hosts


def _newest_step(out: Path) -> int | None:
    ckpts = list_checkpoints(RunFiles(out).checkpoints)
    return int(ckpts[-1].stem[len("step_") :]) if ckpts else None


def _decide(out: Path, job: str | None, resume: bool) -> dict[str, Any]:
    """Rank 0's decision: resume or not, from which step, and the world size the run had so far."""
    starts = read_starts(out)
    holds_run = RunFiles(out).config.exists()
    same_job = job is not None and any(s.get("job") == job for s in starts)
    if holds_run and not (resume or same_job):
        jobs = sorted({str(s.get("job")) for s in starts if s.get("job")})
        started = f"by torchrun job(s) {', '.join(jobs)}" if jobs else "outside torchrun"
        return {
            "error": f"train: out folder {str(out)!r} already holds a run (started {started}), and this is "
            f"torchrun job {job!r}; rerun with the same --rdzv-id to continue it, pass --resume, or choose another --out"
        }
    resume = holds_run and (resume or same_job)
    step = _newest_step(out) if resume else None
    previous = next((s.get("world_size") for s in reversed(starts) if s.get("world_size")), None)
    return {"resume": resume, "step": step, "previous_world_size": previous}


def prepare_start(out: str | Path, ctx: DistContext, *, resume: bool = False) -> bool:
    """Get a (re)started torchrun rank ready to train in ``out``; return whether to resume.

    A collective (every rank calls it, after joining the process group and before training): it checks
    that ``out`` is shared (:func:`check_shared_folder`), lets rank 0 decide whether to resume (the
    folder holds a run of the same torchrun job, or ``resume`` is set), checks that every rank sees the
    checkpoint it resumes from, warns when the world size differs from the run's, and appends this
    start to ``<out>/elastic.jsonl`` (rank 0). Rank 0 keeps the folder's lock until
    :func:`release_folder` (or its exit).

    Args:
        out: the run folder (``--out``).
        ctx: this process's place in the group (inactive with one process: no collectives).
        resume: ``--resume`` was given: continue whatever run the folder holds (default: False).

    Raises:
        DropkitInputError: the folder is not shared, another process holds its lock, ranks see different
            checkpoints, or it holds the run of another job and ``resume`` is not set.

    Example:
        >>> import tempfile
        >>> from dropkit.train.distributed import DistContext
        >>> run = tempfile.mkdtemp()
        >>> prepare_start(run, DistContext())  # a fresh folder: nothing to resume
        False
        >>> [s["world_size"] for s in read_starts(run)]
        [1]
        >>> release_folder(run)
    """
    out = Path(out)
    job = torchrun_job_id()
    hosts = check_shared_folder(out, ctx)
    decision = None
    if ctx.is_main:
        if _lock_folder(out):
            decision = _decide(out, job, resume)
        else:  # torchelastic stops a group before it starts the next, so this is another group or job
            decision = {"error": (
                f"train: another process is training in {str(out)!r} (it holds {_LOCK}): two groups would write "
                "one run folder (a second job with the same --out, or a rendezvous that split because nodes "
                "missed each other's keep-alives); stop the other one or choose another --out"
            )}
    decision = _broadcast(ctx, decision)
    if "error" in decision:
        raise DropkitInputError(decision["error"])
    views = _gather(ctx, _newest_step(out) if decision["resume"] else None)
    if decision["resume"] and any(v != decision["step"] for v in views):
        shown = ", ".join(f"rank {r} on {hosts[r]!r}: {v}" for r, v in enumerate(views))
        raise DropkitInputError(
            f"train: the ranks see different newest checkpoints in {str(out)!r} ({shown}); the run folder "
            "must be one shared folder, in sync on every node"
        )
    previous = decision["previous_world_size"]
    changed = decision["resume"] and decision["step"] is not None and previous is not None and previous != ctx.world_size
    if changed and ctx.is_main:
        log.warning(
            "train: the world size changed from %d to %d; resuming at step %d with the same global batches and "
            "steps, but from here on each of the %d rank(s) draws its own dropout masks for its share of the "
            "batch: the final weights will not be bit-identical to an uninterrupted run",
            previous, ctx.world_size, decision["step"], ctx.world_size,
        )
    if ctx.is_main:
        if decision["resume"]:
            log.info("torchrun job %s: resuming %s from step %s", job, out, decision["step"])
        append_metrics(out / ELASTIC_LOG, {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "job": job,
            "restart": int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0),
            "world_size": ctx.world_size,
            "hosts": hosts,
            "resumed_from_step": decision["step"] if decision["resume"] else None,
            "world_size_changed": bool(changed),
        })
    return bool(decision["resume"])
