"""Data-parallel training with ``torch.distributed``: one process per rank, DistributedDataParallel.

``dropkit train --nproc N`` starts N processes here (:func:`launch`, ``torch.multiprocessing`` with
``spawn``, rendezvous on 127.0.0.1 and a free port); under ``torchrun`` the ``RANK`` / ``WORLD_SIZE`` /
``LOCAL_RANK`` / ``MASTER_ADDR`` / ``MASTER_PORT`` variables are read instead (:func:`init_from_env`).
The backend is gloo on CPU and NCCL on CUDA (rank ``r`` uses ``cuda:<LOCAL_RANK>``).

How the trainer uses it (:func:`current_context` returns a no-op context outside a process group):

- every rank builds the model from the shared seed, so the weights start equal (DDP also broadcasts
  rank 0's); the model is wrapped in ``DistributedDataParallel``;
- each global batch of ``batch_size`` samples (the same order on every rank) is split into
  ``WORLD_SIZE`` contiguous shards, rank ``r`` takes shard ``r``; each rank's loss is scaled by
  ``WORLD_SIZE * len(shard) / len(batch)`` so the averaged gradient is the global batch's mean
  gradient even when the last batch does not split evenly;
- before every step the rank's RNG is seeded with :func:`rank_seed` ``(seed, rank, step)``: ranks draw
  different dropout masks, and a resumed run draws exactly the masks of an uninterrupted one (no RNG
  state has to be saved per rank);
- only rank 0 writes the run folder (config, metrics, checkpoints, summary, final weights);
  every rank reads the checkpoint on resume.

The training loss used for divergence checks and the running loss is averaged over ranks, so every
rank stops at the same step.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import torch
import torch.distributed as torch_dist
from torch import Tensor, nn

__all__ = [
    "DistContext",
    "current_context",
    "init_from_env",
    "leave_process_group",
    "exit_rank",
    "train_rank",
    "env_world_size",
    "launch",
    "rank_seed",
    "backend_for",
]

log = logging.getLogger("dropkit.train")


def rank_seed(seed: int, rank: int, step: int) -> int:
    """The RNG seed of ``rank`` before training step ``step``: a 63-bit hash of the three numbers.

    Example:
        >>> rank_seed(0, 0, 5) == rank_seed(0, 0, 5), rank_seed(0, 0, 5) != rank_seed(0, 1, 5)
        (True, True)
    """
    digest = hashlib.sha256(f"dropkit-rank-seed:{seed}:{rank}:{step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def backend_for(device: str) -> str:
    """``"nccl"`` for CUDA devices, ``"gloo"`` otherwise."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


@dataclass(frozen=True)
class DistContext:
    """This process's place in the process group (``world_size == 1``: not distributed, every method a no-op).

    Args:
        rank: global rank (default 0).
        world_size: number of processes (default 1).
        local_rank: rank on this machine, the CUDA device index (default 0).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes files."""
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in ``DistributedDataParallel`` when distributed, else ``model`` itself."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device = next(model.parameters()).device
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def shard(self, idx: Tensor) -> Tensor:
        """This rank's contiguous part of a global batch of indices (sizes differ by at most one)."""
        if not self.active:
            return idx
        return idx.tensor_split(self.world_size)[self.rank]

    def scale_loss(self, loss: Tensor, n_local: int, n_global: int) -> Tensor:
        """Scale a per-shard mean loss so that DDP's gradient average is the global batch mean."""
        if not self.active:
            return loss
        if n_local == 0:  # a global batch smaller than the world: this rank contributes nothing
            return loss.nan_to_num(0.0) * 0.0
        return loss * (self.world_size * n_local / n_global)

    def seed_step(self, seed: int, step: int) -> None:
        """Seed this rank's RNG (CPU and CUDA) for training step ``step``; no-op when not distributed."""
        if self.active:
            torch.manual_seed(rank_seed(seed, self.rank, step))

    def mean_item(self, value: Tensor) -> float:
        """``value.item()``, averaged over ranks when distributed."""
        if not self.active:
            return value.item()
        t = value.detach().to(torch.float64).reshape(1).clone()
        torch_dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def sum(self, value: Tensor) -> Tensor:
        """``value`` summed over ranks (a new tensor; ``value`` itself when not distributed)."""
        if not self.active:
            return value
        total = value.detach().clone()
        torch_dist.all_reduce(total)
        return total

    def barrier(self) -> None:
        if self.active:
            torch_dist.barrier()


def current_context() -> DistContext:
    """The context of the initialised default process group, or a single-process context."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        rank = torch_dist.get_rank()
        return DistContext(rank, torch_dist.get_world_size(), int(os.environ.get("LOCAL_RANK", rank)))
    return DistContext()


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (set by ``torchrun``), 1 when unset."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"train: WORLD_SIZE must be an integer, got {value!r}") from None


def init_from_env(device: str = "cpu") -> DistContext:
    """Join the process group described by torchrun's variables (no-op for ``WORLD_SIZE`` 1).

    Args:
        device: the configured device; decides the backend (gloo for CPU, NCCL for CUDA).
    """
    if env_world_size() <= 1:
        return DistContext()
    for key in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if key not in os.environ:
            raise ValueError(f"train: WORLD_SIZE is {os.environ['WORLD_SIZE']} but {key} is not set; start with torchrun or --nproc")
    if not torch_dist.is_initialized():
        backend = backend_for(device)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        torch_dist.init_process_group(backend)
    return current_context()


def leave_process_group() -> None:
    """Destroy the default process group if this process joined one (no-op otherwise).

    Every rank calls this when it has trained successfully, so that pending work finishes and the
    backend shuts down while the interpreter is whole (a torchrun rank then ends with
    :func:`exit_rank`). A rank that failed does not call it: destroying the group while the other
    ranks still wait in a collective can hang them, and the launcher ends them anyway.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def exit_rank(code: int = 0) -> NoReturn:
    """End this rank's process now, after flushing output, without interpreter teardown.

    A torchrun rank that ended through normal interpreter finalization aborted now and then (SIGABRT,
    "terminate called without an active exception", about one full test-suite run in four, also after
    :func:`leave_process_group`): a gloo worker thread that touches a Python object while the
    interpreter finalizes is killed inside C++ code (pytorch/pytorch#179291 describes the mechanism).
    ``multiprocessing``'s children, the ranks of :func:`launch`, end with ``os._exit`` and never did.
    Call it only when the rank's work is done and written.

    Args:
        code: the exit status (default: 0).
    """
    logging.shutdown()  # flush and close the log handlers
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing left to save
            pass
    os._exit(code)


def _worker(
    local_rank: int,
    world_size: int,
    port: int,
    values: dict[str, Any],
    out: str,
    resume: bool,
    tensorboard: bool,
) -> None:
    """One rank started by :func:`launch`."""
    from dropkit.train.config import from_dict

    os.environ.update(
        RANK=str(local_rank),
        LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        TORCHELASTIC_USE_AGENT_STORE="True",  # every rank is a client of the launcher's store
    )
    cfg = from_dict(values)
    if torch.device(cfg.device).type == "cuda":
        cfg = cfg.replace(device=f"cuda:{local_rank}")
    train_rank(cfg, out, init_from_env(cfg.device), resume=resume, tensorboard=tensorboard)


def train_rank(cfg: Any, out: str | Path, ctx: DistContext, *, resume: bool = False, tensorboard: bool = False) -> dict[str, Any]:
    """Train this process's rank of ``cfg`` (the only one without a process group); return the summary.

    Rank 0 alone shows progress and, with ``tensorboard``, logs to ``<out>/tensorboard``. After a
    successful run every rank passes a barrier (all are past their last collective) and leaves the
    group (:func:`leave_process_group`); a failed run raises without either.

    Args:
        cfg: the resolved :class:`~dropkit.train.config.Config` (``device`` already this rank's).
        out: the run folder (written by rank 0).
        ctx: this process's :class:`DistContext` (:func:`init_from_env`).
        resume: continue the run in ``out`` from its newest checkpoint.
        tensorboard: also log metrics to TensorBoard (rank 0).
    """
    from dropkit.train.trainer import train_run

    on_eval = None
    if tensorboard and ctx.is_main:
        from dropkit.report.tensorboard import TensorBoardLogger

        on_eval = TensorBoardLogger(Path(out))
    try:
        summary = train_run(cfg.replace(progress=cfg.progress and ctx.is_main), out, resume=resume, on_eval=on_eval)
    finally:
        if on_eval is not None:
            on_eval.close()
    ctx.barrier()
    leave_process_group()
    return summary


def _preload(cfg: Any) -> None:
    """Import what DistributedDataParallel needs and load the dataset before the ranks are forked."""
    import torch._dynamo  # noqa: F401  (DDP imports it on construction: seconds, per process)

    from dropkit.train.task import task_for

    task_for(cfg).load(cfg)  # an image/signal dataset, or a text corpus


def launch(cfg: Any, out: str | Path, nproc: int, *, resume: bool = False, tensorboard: bool = False) -> dict[str, Any]:
    """Train ``cfg`` on ``nproc`` local processes with DDP; return rank 0's ``summary.json``.

    Args:
        cfg: the resolved :class:`~dropkit.train.config.Config`.
        out: the run folder (written by rank 0).
        nproc: number of processes (ranks); with CUDA, at most the number of GPUs.
        resume: continue the run in ``out`` from its newest checkpoint.
        tensorboard: also log metrics to ``<out>/tensorboard`` (rank 0).

    Raises:
        TrainingDiverged: the (rank-averaged) loss became NaN or infinite.
    """
    import torch.multiprocessing as mp

    from dropkit.train.run_dir import read_summary
    from dropkit.train.trainer import TrainingDiverged

    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"train: --nproc must be an integer >= 1, got {nproc!r}")
    if torch.device(cfg.device).type == "cuda" and nproc > torch.cuda.device_count():
        raise ValueError(f"train: --nproc must be at most the {torch.cuda.device_count()} visible GPUs, got {nproc}")
    if cfg.threads is None:  # share this machine's cores between the ranks
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:
            cores = os.cpu_count() or 1
        cfg = cfg.replace(threads=max(1, cores // nproc))
    try:
        # Fork shares the imports and the loaded data (CPU only: no CUDA state yet). Spawn for CUDA, and
        # for compile: a process that has compiled before holds Inductor's compile thread pool, whose
        # threads a forked rank lacks, so its first compile waits forever.
        method = "spawn" if torch.device(cfg.device).type == "cuda" or cfg.compile else "fork"
        if method == "fork":  # import and load once here, not once per rank
            _preload(cfg)
        # The rendezvous store lives in this process on a port the OS assigns and that stays bound
        # (as torchrun's agent store does): a port picked here and bound later by rank 0 could be
        # taken in between by another process.
        store = torch_dist.TCPStore("127.0.0.1", 0, nproc + 1, is_master=True, wait_for_workers=False)
        mp.start_processes(
            _worker, args=(nproc, store.port, cfg.to_dict(), str(out), resume, tensorboard),
            nprocs=nproc, join=True, start_method=method,
        )
    except mp.ProcessRaisedException as exc:
        summary_path = Path(out) / "summary.json"
        if "TrainingDiverged" in str(exc) and summary_path.exists():
            raise TrainingDiverged(read_summary(out).get("message", str(exc))) from None
        raise RuntimeError(f"train: a rank failed:\n{exc}") from None
    return read_summary(out)
