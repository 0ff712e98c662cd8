"""``dropkit train``: one run from a preset or a config file, flags overriding."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch
import yaml

from dropkit.cli.config_args import add_config_arguments, resolve_config
from dropkit.cli.errors import CLIError
from dropkit.cli.paths import check_out_folder
from dropkit.cli.signals import terminate_as_interrupt
from dropkit.train.distributed import env_world_size, exit_rank, init_from_env, launch, train_rank
from dropkit.train.elastic import check_restartable, prepare_start, release_folder, torchrun_job_id
from dropkit.train.interrupt import resume_command
from dropkit.train.run_dir import RunFiles, new_run_dir, read_config, read_summary, remove_if_empty
from dropkit.train.trainer import TrainingDiverged

__all__ = ["add_parser", "run", "default_out_dir"]

log = logging.getLogger("dropkit")


def default_out_dir(name: str) -> Path:
    """A new folder ``runs/<name>-<timestamp>`` (created; ``-2``, ``-3``, ... within one second)."""
    return new_run_dir(name)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``dropkit train`` (one flag per config key) on the CLI's subparsers."""
    parser = sub.add_parser(
        "train",
        help="train one model and write a run folder",
        description="Train one model. Config: defaults < --preset < --config FILE < flags.",
    )
    parser.add_argument("--out", metavar="DIR", help="run folder (default: runs/<name>-<time>)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint (its config.yaml is used when no other config is given)",
    )
    parser.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="data-parallel processes (DDP: gloo on CPU, NCCL on CUDA); under torchrun leave it out (default: 1)",
    )
    parser.add_argument("--tensorboard", action="store_true", help="also log metrics to <out>/tensorboard (default: off)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit (a valid --config file)")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``dropkit train``: resolve the config, train (or ``--resume``) one run folder; return the exit code."""
    if args.resume:
        if not args.out:
            raise ValueError("train: --resume needs --out DIR, the run folder to continue")
        check_out_folder("train", args.out)
        # Start from the run's own config unless a preset or file is given; flags (e.g. --no-progress)
        # apply on top, and the trainer refuses changes other than progress, threads and device.
        base = None if (args.preset or args.config) else read_config(args.out).to_dict()
        cfg = resolve_config(args, base=base)
    else:
        cfg = resolve_config(args)
    if args.print_config:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    if args.nproc < 1:
        raise ValueError(f"train: --nproc must be an integer >= 1, got {args.nproc}")
    under_torchrun = torchrun_job_id() is not None or env_world_size() > 1
    if args.nproc > 1 and under_torchrun:
        raise CLIError(
            f"train: --nproc {args.nproc} was given under torchrun (WORLD_SIZE={os.environ.get('WORLD_SIZE', '?')}), "
            "which starts the processes itself: leave --nproc out and set torchrun's --nproc-per-node"
        )
    if (args.nproc > 1 or under_torchrun) and not args.out:
        raise ValueError(
            "train: data-parallel runs (--nproc, torchrun) need --out DIR, the same on every rank "
            "(under torchrun, a restarted rank resumes from it)"
        )
    if under_torchrun:
        check_restartable()  # before joining the group: a restarted group must be able to form
    check_out_folder("train", args.out)
    out = Path(args.out) if args.out else default_out_dir(cfg.name)
    log.info("run folder: %s", out)
    with terminate_as_interrupt():
        try:
            if args.nproc > 1:
                summary = launch(cfg, out, args.nproc, resume=args.resume, tensorboard=args.tensorboard)
            else:
                ctx = init_from_env(cfg.device)  # torchrun: join its process group (no-op otherwise)
                if ctx.active and torch.device(cfg.device).type == "cuda":
                    cfg = cfg.replace(device=f"cuda:{ctx.local_rank}")
                resume = args.resume
                try:
                    if under_torchrun:  # a shared folder; a restart of the same torchrun job resumes it
                        resume = prepare_start(out, ctx, resume=args.resume)
                    summary = train_rank(cfg, out, ctx, resume=resume, tensorboard=args.tensorboard)
                finally:
                    release_folder(out)  # rank 0's lock of the folder (no-op elsewhere)
                if ctx.active:  # a rank started by torchrun: report, then end without interpreter teardown
                    if ctx.is_main:
                        _print_result(cfg.name, summary, out)
                    exit_rank(0)
        except TrainingDiverged as exc:
            log.error("%s", exc)
            return 3
        except KeyboardInterrupt:
            if RunFiles(out).config.exists():  # the run started: it is marked interrupted, say how to go on
                if int(os.environ.get("RANK", "0")) == 0:
                    _print_interrupted(args, out, under_torchrun)
                return 130
            if not args.out:
                remove_if_empty(out)
            raise
        except BaseException:
            if not args.out:
                remove_if_empty(out)  # failed before writing anything: leave no empty folder behind
            raise
    _print_result(cfg.name, summary, out)
    return 0


def _print_interrupted(args: argparse.Namespace, out: Path, under_torchrun: bool) -> None:
    summary = read_summary(out) if RunFiles(out).summary.exists() else {}
    if under_torchrun:  # torchrun stopped this rank: its restart resumes by itself; a rerun with the same --rdzv-id too
        step = summary.get("step", 0)
        print(f"{summary.get('name', 'run')}: stopped at step {step} (its last checkpoint) -> {out}; a torchrun restart "
              "of this job, or a rerun with the same --rdzv-id, resumes it")
        return
    argv = ["train", "--resume", "--out", str(out)]
    if args.nproc > 1:
        argv += ["--nproc", str(args.nproc)]
    if args.tensorboard:
        argv.append("--tensorboard")
    step, total = summary.get("step", 0), summary.get("total_steps")
    print(f"{summary.get('name', 'run')}: interrupted at step {step}" + (f" of {total}" if total else "") + f" (its last checkpoint) -> {out}")
    print(f"resume with: {resume_command(argv)}")


def _print_result(name: str, summary: dict, out: Path) -> None:
    if summary.get("metric") == "test_loss":  # a language model: loss and bits per character, not accuracy
        print(
            f"{name}: val loss {summary['test_loss']:.4f} ({summary['test_bpc']:.3f} bits/char), train loss "
            f"{summary['train_loss']:.4f}, best val loss {summary['best_test_loss']:.4f}, {summary['step']} steps in "
            f"{summary['wall_time']:.1f} s -> {out}"
        )
        return
    print(
        f"{name}: test accuracy {summary['test_acc']:.4f}, train accuracy {summary['train_acc']:.4f}, "
        f"gap {100 * summary['gap']:.1f} points, {summary['step']} steps in {summary['wall_time']:.1f} s -> {out}"
    )
