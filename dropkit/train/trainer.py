"""The training loop: seeded, resumable bit for bit, one run folder per run.

``train_run(cfg, out_dir)`` trains ``cfg.model`` on ``cfg.dataset`` and writes the files described in
:mod:`dropkit.train.run_dir`. Batches are drawn by index from in-memory tensors; the order of epoch
``e`` is a permutation seeded by ``(cfg.seed, e)``, so resuming needs no data-loader state.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor, nn

from dropkit._io import atomic_path, remove_stale_temps
from dropkit.data import ArrayDataset, data_record
from dropkit.models import build_model
from dropkit.surgery.stochastic import dropout_modules, mean_dropout_rate
from dropkit.regularizers import apply_max_norm, decay_param_groups, iter_weights, l2_penalty
from dropkit.train.checkpoint import checkpoint_name, list_checkpoints, load_checkpoint, save_checkpoint
from dropkit.train.config import Config
from dropkit.train.dropout_schedule import build_dropout_scheduler
from dropkit.train.distributed import DistContext, current_context
from dropkit.train.device import check_device
from dropkit.train.env_info import environment
from dropkit.train.interrupt import mark_interrupted
from dropkit.train.model_keys import applies_to, save_run_config
from dropkit.train.progress import Progress
from dropkit.schedules import DropoutScheduler
from dropkit.train.validation import Best
from dropkit.train.task import Task, TaskTensors, task_for
from dropkit.train.run_dir import (
    RunFiles,
    append_metrics,
    read_config,
    truncate_metrics,
    write_json,
)

__all__ = ["train_run", "TrainingDiverged", "evaluate", "build_optimizer", "lr_at", "epoch_order", "dropout_layers"]

log = logging.getLogger("dropkit.train")

# Keys that may differ between a run's saved config and the one given on --resume.
_RESUME_FREE_KEYS = ("progress", "threads", "device")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run folder keeps the last good checkpoint."""


def build_optimizer(cfg: Config, model: nn.Module) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD; decoupled weight decay (if any) on weights only."""
    groups = decay_param_groups(model, cfg.weight_decay)
    betas = (0.9, cfg.adam_beta2)
    if cfg.optimizer == "adam":
        if cfg.weight_decay > 0:
            return torch.optim.AdamW(groups, lr=cfg.lr, betas=betas)
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=betas)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=betas)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)


def lr_at(cfg: Config, step: int, total_steps: int) -> float:
    """Learning rate for the update that follows ``step`` completed steps (a pure function of the step)."""
    if cfg.warmup_steps or cfg.min_lr:  # nanoGPT's get_lr: linear warm-up, then cosine down to min_lr
        return _warmup_lr(cfg, step, total_steps)
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
    if cfg.lr_schedule == "step":
        return cfg.lr * (0.1 ** (int(step >= 0.5 * total_steps) + int(step >= 0.75 * total_steps)))
    return cfg.lr


def _warmup_lr(cfg: Config, step: int, total_steps: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / (cfg.warmup_steps + 1)
    if cfg.lr_schedule != "cosine":
        return cfg.lr
    ratio = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.lr - cfg.min_lr)


def epoch_order(seed: int, epoch: int, n: int, device: torch.device) -> Tensor:
    """The sample order of ``epoch``: a permutation that depends only on ``(seed, epoch)``."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen).to(device)


def dropout_layers(model: nn.Module) -> list[nn.Module]:
    """The model's dropout modules (:func:`dropkit.surgery.dropout_modules`, the one definition)."""
    return [m for _, m in dropout_modules(model)]


@torch.inference_mode()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int, dist: DistContext | None = None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (in eval mode) on ``(x, y)``.

    Under DDP (``dist`` active) each rank evaluates its contiguous share of the rows and the sums are
    all-reduced, so every rank returns the same numbers for the whole set at ``1/world_size`` of the cost.
    ``model`` must be the plain module, not its DDP wrapper (whose forward may run collectives).
    """
    was_training = model.training
    model.eval()
    n = len(x)
    if dist is not None and dist.active:
        x, y = x.tensor_split(dist.world_size)[dist.rank], y.tensor_split(dist.world_size)[dist.rank]
    sums = torch.zeros(2, dtype=torch.float64, device=x.device)  # [loss sum, correct]
    for i in range(0, len(x), batch_size):
        logits = model(x[i : i + batch_size])
        target = y[i : i + batch_size]
        sums[0] += F.cross_entropy(logits.float(), target, reduction="sum").double()
        sums[1] += (logits.argmax(1) == target).sum()
    model.train(was_training)
    if dist is not None and dist.active:
        sums = dist.sum(sums)
    n = max(n, 1)
    return float(sums[0]) / n, float(sums[1]) / n


def _total_steps(cfg: Config, n_train: int) -> tuple[int, int]:
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    total = cfg.steps if cfg.steps is not None else cfg.epochs * steps_per_epoch  # type: ignore[operator]
    return total, steps_per_epoch


# Keys that set the run's length: --resume --epochs N (or --steps N) extends a run, even a finished one.
# Schedules that depend on the length (cosine, step, p_schedule) continue on the new length's schedule.
_RESUME_LENGTH_KEYS = ("steps", "epochs")


def _check_resume_config(saved: Config, given: Config) -> None:
    a, b = saved.to_dict(), given.to_dict()
    diff = [
        k
        for k in a
        if k not in _RESUME_FREE_KEYS + _RESUME_LENGTH_KEYS and applies_to(k, a.get("model")) and a[k] != b.get(k)
    ]
    if diff:
        shown = ", ".join(f"{k}: {a[k]!r} in the run, {b[k]!r} given" for k in diff[:4])
        raise ValueError(f"train: --resume must use the run's own config; differs in {shown}")


def train_run(
    cfg: Config,
    out_dir: str | Path,
    *,
    resume: bool = False,
    data: ArrayDataset | Any | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train ``cfg`` and write its run folder at ``out_dir``; return the summary.

    The steps, in order: open the run folder (:func:`_open_run_folder`), build data, model and optimizer
    (:func:`_build_run`), restore the newest checkpoint or start afresh (:func:`_restore_or_start`), then
    train (:func:`_train_step`), evaluating (:func:`_evaluate_row`) and checkpointing
    (:func:`_checkpoint`) on schedule, and write the final files (:func:`_finish`).

    Args:
        cfg: the resolved configuration.
        out_dir: the run folder. It must not hold another run unless ``resume`` is True.
        resume: continue from the newest checkpoint in ``out_dir`` (bit-identical to an
            uninterrupted run); starts from scratch if there is none.
        data: an already loaded dataset (must be ``cfg.dataset``: an ``ArrayDataset``, or a
            ``TextCorpus`` for text); loaded from ``cfg`` when None.
        on_eval: called with every metrics row (used by ``compare`` and sweeps).

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
    """
    files, checkpoints = _open_run_folder(cfg, Path(out_dir), resume)
    dist = current_context()  # DDP: rank 0 writes the run folder; see dropkit.train.distributed
    dist.barrier()  # every rank has checked the folder before rank 0 writes to it
    run = _build_run(cfg, files, dist, data, on_eval)
    _restore_or_start(run, checkpoints[-1] if resume and checkpoints else None)
    bar = None
    try:
        if not run.resumed:  # a resumed run has its step-0 row and checkpoint already
            _evaluate_row(run, None, run.scheduler.step(0) if run.scheduler is not None else _nominal_rate(run))
            _checkpoint(run, 0)
        bar = Progress(run.total_steps, run.step, enabled=cfg.progress and dist.is_main)
        run.model.train()
        while run.step < run.total_steps:
            evaluating = _due(run.step + 1, cfg.eval_every, run.total_steps)
            loss_value, rate = _train_step(run, record_rate=evaluating)
            bar.update(1)
            if evaluating:
                row = _evaluate_row(run, _measured_rate(run), rate if rate is not None else _nominal_rate(run))
                bar.evaluated(row, loss_value)
            if _due(run.step, cfg.checkpoint_every or cfg.eval_every, run.total_steps):
                _checkpoint(run, run.step)
    except TrainingDiverged as exc:
        if dist.is_main:
            write_json(files.summary, _summary_of(run, "diverged", str(exc)))
        raise
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM turned into one: keep the checkpoints, say where to resume
        if dist.is_main:
            mark_interrupted(files.root)
        raise
    finally:
        if bar is not None:
            bar.close()
    return _finish(run)


@dataclass
class _Run:
    """What one run holds from step to step: its data, model and optimizer, and the loop's counters."""

    cfg: Config
    files: RunFiles
    dist: DistContext
    device: torch.device
    task: Task
    data: Any  # the loaded dataset: env.json records it, the task may write files from it
    tensors: TaskTensors
    val_x: Tensor  # the validation rows (empty without val_fraction)
    val_y: Tensor
    total_steps: int
    steps_per_epoch: int
    model: nn.Module  # the plain module: evaluation, checkpoints and state_dict
    net: nn.Module  # what the training forward calls: the model, its DDP wrapper, or compiled
    optimizer: torch.optim.Optimizer
    scheduler: DropoutScheduler | None
    recorders: list[nn.Module]  # dropout layers that can measure the fraction they dropped
    weights: list[Tensor]  # what l2 penalises
    regularized: list[nn.Module]  # modules whose regularization() joins the loss
    on_eval: Callable[[dict[str, Any]], None] | None
    step: int = 0  # optimizer steps done
    resumed: bool = False  # continued from a checkpoint
    wall_offset: float = 0.0  # training seconds of the segments before this one
    start: float = 0.0  # perf_counter when this segment started
    running_sum: Tensor | None = None  # training losses since the last evaluation
    running_n: int = 0
    last_row: dict[str, Any] | None = None
    best: Best | None = None
    order: Tensor | None = None  # the sample order of epoch order_epoch
    order_epoch: int = -1

    def wall(self) -> float:
        """Seconds of training so far, summed over resumed segments."""
        return self.wall_offset + time.perf_counter() - self.start


def _open_run_folder(cfg: Config, root: Path, resume: bool) -> tuple[RunFiles, list[Path]]:
    """The run folder's paths and its checkpoints, oldest first, after checking it may be (re)used."""
    files = RunFiles(root)
    checkpoints = list_checkpoints(files.checkpoints)
    if resume and files.config.exists():
        _check_resume_config(read_config(files.root), cfg)
    elif files.config.exists() and not resume:
        raise ValueError(
            f"train: out folder {str(files.root)!r} already holds a run; pass --resume to continue it "
            "or choose another --out"
        )
    return files, checkpoints


def _build_run(
    cfg: Config,
    files: RunFiles,
    dist: DistContext,
    data: ArrayDataset | Any | None,
    on_eval: Callable[[dict[str, Any]], None] | None,
) -> _Run:
    """Load the data, build the seeded model, its optimizer and dropout scheduler; nothing is written yet."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = check_device(cfg.device)  # before anything is written: a clear error for --device cuda on a CPU torch
    task = task_for(cfg)  # classification, or language modelling on text (dropkit.train.task)
    if data is None:
        data = task.load(cfg)
    tensors = task.tensors(cfg, data, device)  # classification holds out val_fraction of the training rows
    val_x = tensors.val_x if tensors.val_x is not None else tensors.test_x[:0]
    val_y = tensors.val_y if tensors.val_y is not None else tensors.test_y[:0]
    total_steps, steps_per_epoch = _total_steps(cfg, len(tensors.train_x))

    torch.manual_seed(cfg.seed)
    model = build_model(cfg, tensors.input_shape, tensors.num_classes).to(device)
    net = dist.wrap(model)  # DistributedDataParallel under DDP, else the model itself
    if cfg.compile:  # the training forward only: evaluation, checkpoints and state_dict use `model`
        net = torch.compile(net)
        if dist.is_main:
            log.info("compile: the first steps compile the model (one-off; cached on disk by Inductor)")
    optimizer = build_optimizer(cfg, model)
    scheduler = build_dropout_scheduler(cfg, model, total_steps=total_steps)
    return _Run(
        cfg=cfg,
        files=files,
        dist=dist,
        device=device,
        task=task,
        data=data,
        tensors=tensors,
        val_x=val_x,
        val_y=val_y,
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        model=model,
        net=net,
        optimizer=optimizer,
        scheduler=scheduler,
        recorders=[m for m in dropout_layers(model) if hasattr(m, "record_rate")],
        weights=[w for _, w in iter_weights(model)],
        regularized=[m for m in model.modules() if m is not model and callable(getattr(m, "regularization", None))],
        on_eval=on_eval,
    )


def _restore_or_start(run: _Run, checkpoint: Path | None) -> None:
    """Load ``checkpoint`` (model, optimizer, RNG, step) or clear the folder for a fresh start; write the
    run's config, env and a "running" summary; read back the metrics rows the run already has."""
    cfg, files, dist = run.cfg, run.files, run.dist
    files.root.mkdir(parents=True, exist_ok=True)
    if dist.is_main:  # temp files of a process killed mid-write (atomic writes never leave them otherwise)
        for folder in (files.root, files.checkpoints):
            remove_stale_temps(folder)
    if checkpoint is not None:
        run.resumed = True
        meta = load_checkpoint(checkpoint, run.model, run.optimizer)
        run.step, run.wall_offset = int(meta["step"]), float(meta["wall_time"])
        if run.step > run.total_steps:
            raise ValueError(
                f"train: --resume: the run is at step {run.step}, past the {run.total_steps} steps given; "
                "give more steps or epochs"
            )
        if dist.is_main:
            truncate_metrics(files.metrics, run.step)
        log.info("resuming %s from step %d", files.root, run.step)
    elif dist.is_main:
        if files.metrics.exists():
            files.metrics.unlink()
        shutil.rmtree(files.checkpoints, ignore_errors=True)
    if dist.is_main:
        save_run_config(cfg, files.config)  # the keys of this model only (an MLP run lists no CNN keys)
        env = {**environment(cfg.seed, run.device)}
        if isinstance(run.data, ArrayDataset):
            env["data"] = data_record(run.data)
        write_json(files.env, env)
        run.task.write_files(files.root, run.data)
        write_json(files.summary, {"status": "running", "step": run.step, "total_steps": run.total_steps})

    run.start = time.perf_counter()
    run.running_sum = torch.zeros((), dtype=torch.float64, device=run.device)
    run.best = Best("val_acc" if len(run.val_x) else "test_acc")  # the best step is chosen on validation accuracy
    for row in _read_existing(files):
        run.task.observe(row)
        run.best.update(row)
        run.last_row = row


def _due(done: int, every: int, total: int) -> bool:
    """Whether the step that brings the count to ``done`` is followed by an evaluation (or checkpoint)."""
    return done % every == 0 or done == total


def _train_step(run: _Run, *, record_rate: bool) -> tuple[float, float | None]:
    """One optimizer step on the next batch; return its loss (averaged over ranks) and the scheduled rate.

    ``record_rate``: the dropout layers measure the fraction they drop (the step before an evaluation).

    Raises:
        TrainingDiverged: the loss is NaN or infinite (nothing is updated then).
    """
    cfg, dist, optimizer, tensors = run.cfg, run.dist, run.optimizer, run.tensors
    epoch, pos = divmod(run.step, run.steps_per_epoch)
    if epoch != run.order_epoch:
        run.order, run.order_epoch = epoch_order(cfg.seed, epoch, len(tensors.train_x), run.device), epoch
    idx = run.order[pos * cfg.batch_size : (pos + 1) * cfg.batch_size]  # type: ignore[index]
    rate = run.scheduler.step(run.step) if run.scheduler is not None else None
    for m in run.recorders:
        m.record_rate = record_rate  # type: ignore[attr-defined]
    lr = lr_at(cfg, run.step, run.total_steps)
    for group in optimizer.param_groups:
        group["lr"] = lr
    dist.seed_step(cfg.seed, run.step)  # DDP: per-rank dropout masks, the same after a restart
    shard = dist.shard(idx)  # DDP: this rank's part of the global batch
    logits = run.net(tensors.train_x[shard])
    loss = dist.scale_loss(run.task.loss(logits, tensors.train_y[shard]), len(shard), len(idx))
    if cfg.l2 > 0:
        loss = loss + l2_penalty(run.weights, cfg.l2)
    if run.regularized:
        loss = loss + torch.stack([m.regularization() for m in run.regularized]).sum()
    loss_value = dist.mean_item(loss)  # averaged over ranks under DDP
    if not math.isfinite(loss_value):
        last_good = max((int(p.stem[5:]) for p in list_checkpoints(run.files.checkpoints)), default=0)
        raise TrainingDiverged(
            f"train: loss became {loss_value} at step {run.step + 1}; stopped. The run folder keeps the "
            f"last good checkpoint (step {last_good}). Lower --lr, add --grad-clip, or check the data."
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip is not None:
        nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    optimizer.step()
    if cfg.max_norm is not None:
        apply_max_norm(run.model, cfg.max_norm)
    run.running_sum += loss_value  # type: ignore[operator]
    run.running_n += 1
    run.step += 1
    return loss_value, rate


def _nominal_rate(run: _Run) -> float:
    """What a scheduler's rate would be: :func:`dropkit.surgery.mean_dropout_rate`."""
    return mean_dropout_rate(run.model)


def _measured_rate(run: _Run) -> float | None:
    """The mean fraction the recording dropout layers dropped in the last step (None without any)."""
    fractions = [float(m.last_drop_fraction) for m in run.recorders if m.last_drop_fraction is not None]  # type: ignore[attr-defined]
    return sum(fractions) / len(fractions) if fractions else None


def _evaluate_row(run: _Run, p_measured: float | None, rate: float) -> dict[str, Any]:
    """Evaluate the model at the current step, append the row to ``metrics.jsonl`` and return it.

    Under DDP each rank evaluates its share of the rows and the sums are all-reduced.
    """
    cfg, task, tensors, dist = run.cfg, run.task, run.tensors, run.dist
    train_m = task.evaluate(run.model, tensors.sub_x, tensors.sub_y, cfg.eval_batch_size, dist)
    test_m = task.evaluate(run.model, tensors.test_x, tensors.test_y, cfg.eval_batch_size, dist)
    val_loss, val_acc = (
        evaluate(run.model, run.val_x, run.val_y, cfg.eval_batch_size, dist) if len(run.val_x) else (None, None)
    )
    row = {
        "step": run.step,
        "epoch": run.step / run.steps_per_epoch,
        "train_loss": train_m["loss"],
        "train_acc": train_m["acc"],
        "test_loss": test_m["loss"],
        "test_acc": test_m["acc"],
        "gap": train_m["acc"] - test_m["acc"],
        "val_loss": val_loss,
        "val_acc": val_acc,
        "train_loss_running": float(run.running_sum) / run.running_n if run.running_n else None,  # type: ignore[arg-type]
        "p": rate,
        "p_measured": p_measured,
        "lr": lr_at(cfg, run.step, run.total_steps),
        "wall_time": run.wall(),
        **task.extra_row(train_m, test_m),
    }
    task.observe(row)
    if dist.is_main:
        append_metrics(run.files.metrics, row)
    run.running_sum.zero_()  # type: ignore[union-attr]
    run.running_n = 0
    run.best.update(row)  # type: ignore[union-attr]
    run.last_row = row
    if run.on_eval is not None:
        run.on_eval(row)
    return row


def _checkpoint(run: _Run, at_step: int) -> None:
    """Rank 0 saves model, optimizer and RNG state at ``at_step`` and keeps the newest ``keep_checkpoints``."""
    if not run.dist.is_main:
        return
    folder = run.files.checkpoints
    save_checkpoint(folder / checkpoint_name(at_step), run.model, run.optimizer, {"step": at_step, "wall_time": run.wall()})
    for old in list_checkpoints(folder)[: -run.cfg.keep_checkpoints]:
        old.unlink(missing_ok=True)


def _summary_of(run: _Run, status: str, message: str | None) -> dict[str, Any]:
    """``summary.json`` for the run as it stands (:func:`_summary` and the task's fields)."""
    return {
        **_summary(run.cfg, status, run.step, run.total_steps, run.last_row, run.best, run.wall(), run.model, message),  # type: ignore[arg-type]
        **run.task.summary_extra(),
    }


def _finish(run: _Run) -> dict[str, Any]:
    """Rank 0 writes the final weights and the "completed" summary; every rank returns the summary."""
    summary = _summary_of(run, "completed", None)
    if run.dist.is_main:
        with atomic_path(run.files.final_model) as tmp:
            save_file({k: v.detach().contiguous().cpu() for k, v in run.model.state_dict().items()}, str(tmp))
        write_json(run.files.summary, summary)
    return summary


def _read_existing(files: RunFiles) -> list[dict[str, Any]]:
    from dropkit.train.run_dir import read_metrics

    return read_metrics(files.metrics)


def _summary(
    cfg: Config,
    status: str,
    step: int,
    total: int,
    last_row: dict[str, Any] | None,
    best: Best,
    wall_time: float,
    model: nn.Module,
    message: str | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": status,
        "name": cfg.name,
        "dataset": cfg.dataset,
        "model": cfg.model,
        "p": cfg.p,
        "l2": cfg.l2,
        "seed": cfg.seed,
        "step": step,
        "total_steps": total,
        "parameters": sum(p.numel() for p in model.parameters()),
        "wall_time": wall_time,
        "final": last_row,
        "train_acc": last_row["train_acc"] if last_row else None,
        "test_acc": last_row["test_acc"] if last_row else None,
        "gap": last_row["gap"] if last_row else None,
        **best.summary(),  # best_step chosen on validation accuracy; best_test_acc is the test accuracy there
    }
    if message:
        out["message"] = message
    return out


