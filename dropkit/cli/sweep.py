"""``dropkit sweep``: run a sweep file's trials (grid and/or random search), resumable, and tabulate them."""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

from dropkit.cli.paths import check_out_folder
from dropkit.sweep.interrupt import SweepInterrupted
from dropkit.sweep.runner import default_sweep_dir, group_keys, run_sweep
from dropkit.sweep.spec import EXECUTORS, load_sweep
from dropkit.train.interrupt import resume_command

__all__ = ["add_parser", "run"]

log = logging.getLogger("dropkit")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``dropkit sweep`` on the CLI's subparsers."""
    parser = sub.add_parser(
        "sweep",
        help="run a sweep file (grid / random search) and write results and aggregate tables",
        description="Run every trial of a sweep file: base: (or preset:) config keys, grid: lists of values "
        "(cartesian product) and/or random: n samples from distributions. Each trial writes "
        "<out>/trials/<trial-id>/; results.parquet/.csv hold one row per trial, aggregate.parquet/.csv the "
        "mean and 95% t interval over seeds. Rerunning the same command resumes an interrupted sweep.",
    )
    parser.add_argument("sweep_file", metavar="SWEEP.yaml", help="the sweep file")
    parser.add_argument("--out", metavar="DIR", help="sweep folder (default: runs/sweeps/<name>)")
    parser.add_argument(
        "--executor", choices=EXECUTORS, default=None, help="local process pool or Ray (default: the file's, else local)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="local: worker processes (default: cores // cpus per trial); ray: CPUs of the local Ray instance "
        "(default: the cores)",
    )
    parser.add_argument(
        "--address", metavar="ADDR", help="ray: join a running cluster: 'auto' (the one started on this machine), the head's HOST:PORT "
        "(ray start --head --port PORT, 6379 by default) or 'ray://host:10001'; the --out folder must be on a "
        "file system every node sees (default: a private local Ray)"
    )
    parser.add_argument("--cpus-per-trial", type=float, metavar="C", help="CPUs (and torch threads) per trial (default: the file's, else 1)")
    parser.add_argument("--gpus-per-trial", type=float, metavar="G", help="GPUs per trial (default: the file's, else 0)")
    parser.add_argument("--max-attempts", type=int, default=3, metavar="K", help="starts per trial whose worker (or, on a cluster, its node) died (default: 3)")
    parser.add_argument("--dry-run", action="store_true", help="list the trials and exit")
    parser.add_argument("--report", action="store_true", help="also write the HTML report (dropkit report) at the end")
    parser.set_defaults(func=run)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4f}"
    return "-" if value is None else str(value)


def _resume_argv(args: argparse.Namespace, out: Path) -> list[str]:
    """The arguments of the command that resumes this sweep: the same file, folder and executor flags."""
    argv = ["sweep", args.sweep_file, "--out", str(out)]
    for flag, value in (
        ("--executor", args.executor),
        ("--workers", args.workers),
        ("--address", args.address),
        ("--cpus-per-trial", args.cpus_per_trial),
        ("--gpus-per-trial", args.gpus_per_trial),
        ("--max-attempts", getattr(args, "max_attempts", 3) if getattr(args, "max_attempts", 3) != 3 else None),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def run(args: argparse.Namespace) -> int:
    """Run ``dropkit sweep``: run (or resume) every trial of a sweep file and write its tables; return the exit code."""
    spec = load_sweep(args.sweep_file)
    check_out_folder("sweep", args.out)
    out = Path(args.out) if args.out else default_sweep_dir(spec)
    trials = spec.trials()
    if args.dry_run:
        print(f"{spec.name}: {len(trials)} trials -> {out}")
        for t in trials:
            print(f"  {t.trial_id}")
        return 0
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"sweep: --workers must be an integer >= 1, got {args.workers}")
    try:
        outcome = run_sweep(
            spec,
            out,
            executor=args.executor,
            workers=args.workers,
            address=args.address,
            cpus=args.cpus_per_trial,
            gpus=args.gpus_per_trial,
            max_attempts=args.max_attempts,
        )
    except SweepInterrupted as stop:
        print(
            f"{spec.name}: interrupted; {stop.finished} of {stop.total} trials finished, {len(stop.interrupted)} "
            f"stopped at their last checkpoint -> partial results in {out / 'results.csv'}"
        )
        print(f"resume with: {resume_command(_resume_argv(args, out))}")
        return 130
    keys = group_keys(spec)
    metric = spec.metric
    best = sorted(
        (r for r in outcome.aggregate if not math.isnan(r[f"{metric}_mean"])),
        key=lambda r: r[f"{metric}_mean"],
        reverse=metric not in ("gap", "test_loss", "train_loss"),
    )[:5]
    if best:
        print(f"best by {metric} (mean over seeds, 95% t interval):")
        for r in best:
            shown = ", ".join(f"{k}={r[k]}" for k in keys) or "(all)"
            print(
                f"  {shown}: {_fmt(r[f'{metric}_mean'])} [{_fmt(r[f'{metric}_ci_low'])}, "
                f"{_fmt(r[f'{metric}_ci_high'])}] n={r['n']}"
            )
    print(
        f"{spec.name}: {len(outcome.rows)} trials ({outcome.ran} run, {outcome.skipped} already done) in "
        f"{outcome.wall_time:.1f} s -> {out / 'results.csv'}, {out / 'aggregate.csv'}"
    )
    if args.report:
        from dropkit.report import build_report

        print(f"report: {build_report(out)}")
    if outcome.failed:
        for trial_id, message in outcome.failed.items():
            log.error("%s: %s", trial_id, message)
        print(f"{len(outcome.failed)} trial(s) failed; rerun the same command to retry them")
        return 1
    return 0
