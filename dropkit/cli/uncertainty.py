"""``dropkit uncertainty RUN_DIR``: MC dropout vs a single deterministic pass, in distribution, under shift
(Gaussian noise, rotation) and against an out-of-distribution set; writes ``RUN_DIR/uncertainty/``."""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from dropkit.cli.errors import CLIError
from dropkit.train.run_dir import RunFiles, load_model, read_config, write_json

__all__ = ["add_parser", "run"]

log = logging.getLogger("dropkit")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``dropkit uncertainty`` on the CLI's subparsers."""
    parser = sub.add_parser(
        "uncertainty",
        help="MC dropout vs a deterministic pass: NLL, Brier, ECE under shift, OOD AUROC; writes RUN_DIR/uncertainty/",
        description="Load a finished run's model and score its test set with one deterministic pass (eval mode) "
        "and with MC dropout (T stochastic passes): accuracy, NLL, Brier, ECE, in distribution, under additive "
        "Gaussian noise (--noise) and rotation (--rotate, images only), and AUROC / AUPR of predictive entropy "
        "and mutual information separating the test set from an OOD set (--ood). Writes "
        "RUN_DIR/uncertainty/metrics.json, reliability.png, ood_entropy.png and shift.png.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by dropkit train")
    parser.add_argument("--samples", "-T", type=int, default=50, metavar="T",
                        help="MC-dropout passes, >= 1 (default: 50)")
    parser.add_argument("--ood", metavar="DATASET", default=None,
                        help="OOD set: a dataset name (mnist, fashion-mnist, digits, mnist1d; same input shape), "
                        "NAME-resized (images resized to the run's size), noise, or none. Default: for "
                        "fashion-mnist, mnist if its files are here else digits-resized; for mnist, fashion-mnist "
                        "else noise; for digits, fashion-mnist-resized else noise; otherwise noise")
    parser.add_argument("--noise", type=float, nargs="*", default=[], metavar="SIGMA",
                        help="standard deviations of additive Gaussian noise (images are clipped to [0, 1]) (default: none)")
    parser.add_argument("--rotate", type=float, nargs="*", default=[], metavar="DEG",
                        help="rotation angles in degrees, images only (default: none)")
    parser.add_argument("--batch-size", type=int, default=500, help="rows per forward call (default: 500)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the MC masks and the noise (default: 0)")
    parser.add_argument("--max-samples", type=int, default=None, metavar="N",
                        help="evaluate only the first N test (and OOD) rows (default: all)")
    parser.add_argument("--checkpoint", default="final",
                        help="final (model.safetensors), last, or a file in checkpoints/ (default: final)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: RUN_DIR/uncertainty)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``dropkit uncertainty``: MC dropout against a single pass on a run's test set and under shift; return the exit code."""
    from dropkit.data import load_config_dataset
    from dropkit.evaluation.uncertainty import evaluate_uncertainty, format_table, write_plots
    from dropkit.evaluation.shift import default_ood, load_ood
    from dropkit.train.lm_task import LM_MODELS

    where = "uncertainty"
    if args.samples < 1:
        raise CLIError(f"{where}: --samples must be >= 1, got {args.samples}")
    if args.batch_size < 1:
        raise CLIError(f"{where}: --batch-size must be >= 1, got {args.batch_size}")
    if args.max_samples is not None and args.max_samples < 1:
        raise CLIError(f"{where}: --max-samples must be >= 1, got {args.max_samples}")
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise CLIError(f"{where}: run folder {str(run_dir)!r} does not exist")
    if not RunFiles(run_dir).config.exists():
        raise CLIError(f"{where}: {str(run_dir)!r} is not a dropkit run folder (no config.yaml)")
    saved = read_config(run_dir)
    if saved.model in LM_MODELS:  # its metrics (accuracy, calibration, OOD detection) are of class predictions
        raise CLIError(
            f"{where}: the run must be a classification run, got the language model {saved.model!r} on "
            f"{saved.dataset!r}; its weights load with dropkit.train.run_dir.load_model"
        )
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cfg, model = load_model(run_dir, checkpoint=args.checkpoint)
    data = load_config_dataset(cfg, download=False)
    ood_name = args.ood if args.ood is not None else default_ood(data, cfg.data_dir)
    ood = None if ood_name.strip().lower() == "none" else load_ood(ood_name, data, seed=args.seed, data_dir=cfg.data_dir)
    if ood is not None:
        log.info("OOD set: %s", ood.description)
    t0 = time.perf_counter()
    result = evaluate_uncertainty(model, data, samples=args.samples, noise=args.noise, rotate=args.rotate, ood=ood,
                                  batch_size=args.batch_size, seed=args.seed, max_samples=args.max_samples)
    out = Path(args.out) if args.out else run_dir / "uncertainty"
    title = f"{cfg.model} on {cfg.dataset}:"
    plots = write_plots(result, out, title=title)
    result.pop("_arrays")
    doc: dict[str, Any] = {
        "run": str(run_dir),
        "checkpoint": args.checkpoint,
        "dataset": cfg.dataset,
        "model": cfg.model,
        **result,
        "plots": plots,
        "time_s": time.perf_counter() - t0,
        "env": {"torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
                "command": " ".join(["dropkit"] + sys.argv[1:]) if sys.argv and "dropkit" in sys.argv[0] else None},
    }
    write_json(out / "metrics.json", doc)
    print(format_table(result))
    print(f"wrote {out / 'metrics.json'} and {', '.join(plots)}")
    return 0
