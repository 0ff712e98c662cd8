"""``dropkit compare``: the same model, data order and seed without dropout and with rate ``--p``."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from dropkit.cli.compare_folder import COMPARE_CONFIG, COMPARE_INDEX, check_new_compare_out, check_resume_out
from dropkit.cli.config_args import add_config_arguments, resolve_config
from dropkit.cli.signals import terminate_as_interrupt
from dropkit.models.baseline import baseline_config
from dropkit.plotting import plot_learning_curves
from dropkit.train.config import DROPOUT_FIELDS, Config, load_config_file, save_config
from dropkit.train.interrupt import resume_command
from dropkit.train.lm_task import LM_MODELS
from dropkit.train.task import task_for
from dropkit.train.run_dir import RunFiles, new_run_dir, read_metrics, read_summary, remove_if_empty, write_json
from dropkit.train.trainer import TrainingDiverged, train_run

__all__ = ["add_parser", "run", "compare", "format_table"]

log = logging.getLogger("dropkit")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``dropkit compare`` (the train flags and ``--p``) on the CLI's subparsers."""
    parser = sub.add_parser(
        "compare",
        help="train with p = 0 and with --p side by side; print the table and write curves.png",
        description="Train the same model, data order and seed twice: every dropout rate 0, then the "
        "configured rates (--p sets the hidden rate). Prints train/test accuracy, gap and time, and "
        "writes <out>/curves.png, <out>/compare.json and one run folder per setting.",
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (default: runs/compare-<name>-<time>)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="finish the interrupted compare in --out: completed runs are kept, the others continue from their checkpoints",
    )
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def compare(cfg: Config, out: Path, *, resume: bool = False) -> dict[str, Any]:
    """Run the baseline (all rates 0) and ``cfg``; return the comparison written to ``compare.json``.

    Args:
        cfg: the config of the dropout run; the baseline is ``baseline_config(cfg)`` (every rate 0, an imported model's own dropout too).
        out: the compare folder (layout in :mod:`dropkit.cli.compare_folder`).
        resume: keep the runs that completed and continue the others from their newest checkpoint.
    """
    data = task_for(cfg).load(cfg)  # fails before writing anything; a text corpus for language models
    lm = cfg.model in LM_MODELS  # their rates are emb_p, attn_p, resid_p, lm_*_p, weight_drop; p is unused
    on = "dropout" if lm else f"dropout p={cfg.p:g}"
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / COMPARE_CONFIG)
    settings = {"no dropout": baseline_config(cfg), on: cfg}
    folders = {label: out / ("p0" if label == "no dropout" else ("dropout" if lm else f"p{cfg.p:g}")) for label in settings}
    index: dict[str, Any] = {"status": "running", "dataset": cfg.dataset, "model": cfg.model, "seed": cfg.seed}
    index["results"] = {label: {"run": str(folder), "p": settings[label].p} for label, folder in folders.items()}
    write_json(out / COMPARE_INDEX, index)
    results: dict[str, Any] = {}
    try:
        for label, run_cfg in settings.items():
            folder = folders[label]
            done = resume and RunFiles(folder).summary.exists() and read_summary(folder).get("status") == "completed"
            log.info("%s -> %s%s", label, folder, " (completed, kept)" if done else "")
            t0 = time.perf_counter()
            if done:
                summary = read_summary(folder)
            else:
                summary = train_run(run_cfg.replace(name=f"{cfg.name}-{folder.name}"), folder, data=data, resume=resume)
            results[label] = {
                "run": str(folder),
                "p": run_cfg.p,
                "train_acc": summary["train_acc"],
                "test_acc": summary["test_acc"],
                "gap": summary["gap"],
                "best_test_acc": summary["best_test_acc"],
                "best_val_acc": summary.get("best_val_acc"),
                "best_step": summary.get("best_step"),
                "time_s": summary["wall_time"] if done or resume else time.perf_counter() - t0,
            }
            if summary.get("metric") == "test_loss":  # language models: val loss and bits per character
                results[label].update({k: summary[k] for k in ("train_loss", "test_loss", "test_bpc", "best_test_loss")})
    except KeyboardInterrupt:
        write_json(out / COMPARE_INDEX, {**index, "status": "interrupted"})
        raise
    plot_learning_curves(
        {label: read_metrics(Path(r["run"])) for label, r in results.items()},
        out / "curves.png",
        title=f"{cfg.model} on {cfg.dataset}: without vs with dropout",
    )
    report = {"status": "completed", "dataset": cfg.dataset, "model": cfg.model, "seed": cfg.seed, "results": results}
    write_json(out / "compare.json", report)
    return report


def format_table(results: dict[str, Any]) -> str:
    """The side-by-side table printed by ``dropkit compare``."""
    labels = list(results)
    width = max(14, *(len(label) + 2 for label in labels))
    lines = ["".ljust(16) + "".join(label.rjust(width) for label in labels)]
    if all("test_loss" in results[label] for label in labels):
        rows = _lm_rows()
    else:
        rows = _classification_rows(results)
    for name, fmt in rows:
        lines.append(name.ljust(16) + "".join(fmt(results[label]).rjust(width) for label in labels))
    return "\n".join(lines)


def _lm_rows() -> list[tuple[str, Any]]:
    return [
        ("train loss", lambda r: f"{r['train_loss']:.4f}"),
        ("val loss", lambda r: f"{r['test_loss']:.4f}"),
        ("val bits/char", lambda r: f"{r['test_bpc']:.4f}"),
        ("best val loss", lambda r: f"{r['best_test_loss']:.4f}"),
        ("time (s)", lambda r: f"{r['time_s']:.1f}"),
    ]


def _classification_rows(results: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("train accuracy", lambda r: f"{r['train_acc']:.4f}"),
        ("test accuracy", lambda r: f"{r['test_acc']:.4f}"),
        ("gap (points)", lambda r: f"{100 * r['gap']:.1f}"),
        # The test accuracy at the step chosen on validation accuracy (on test accuracy without a validation split).
        ("test @ best val" if all(r.get("best_val_acc") is not None for r in results.values()) else "best test acc",
         lambda r: f"{r['best_test_acc']:.4f}"),
        ("time (s)", lambda r: f"{r['time_s']:.1f}"),
    ]


def run(args: argparse.Namespace) -> int:
    """Run ``dropkit compare``: train with p = 0 and with ``--p``, print the table, write ``curves.png``; return the exit code."""
    if args.resume:
        out = check_resume_out(Path(args.out) if args.out else None)
        # The compare's own config unless a preset or file is given; flags apply on top, and each run
        # refuses changes other than progress, threads and device.
        base = None if (args.preset or args.config) else load_config_file(out / COMPARE_CONFIG)
        cfg = resolve_config(args, base=base)
    else:
        cfg = resolve_config(args)
        if args.out:
            check_new_compare_out(Path(args.out))
    if cfg.p == 0 and cfg.input_p == 0 and not cfg.hidden_p:
        others = [k for k in DROPOUT_FIELDS if cfg.model in LM_MODELS and getattr(cfg, k)]
        if not others:
            raise ValueError("compare: p must be > 0 to compare against p = 0, got 0")
    out = Path(args.out) if args.out else new_run_dir(f"compare-{cfg.name}")
    try:
        with terminate_as_interrupt():
            report = compare(cfg, out, resume=args.resume)
    except TrainingDiverged as exc:
        log.error("%s", exc)
        return 3
    except KeyboardInterrupt:
        if (out / COMPARE_INDEX).exists():
            print(f"compare: interrupted; the runs keep their checkpoints -> {out}")
            print(f"resume with: {resume_command(['compare', '--resume', '--out', str(out)])}")
            return 130
        raise
    except BaseException:
        if not args.out:
            remove_if_empty(out)  # failed before writing anything: leave no empty folder behind
        raise
    print(format_table(report["results"]))
    print(f"curves: {out / 'curves.png'}")
    return 0
