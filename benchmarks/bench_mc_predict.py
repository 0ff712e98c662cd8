"""Benchmark: ``dropkit.uncertainty.mc_predict`` (T = 50) against a Python loop of 50 forward passes.

Workload: the MLP preset ``MLP(784, (128, 64), 10, hidden_p=0.5)`` on one 10000 x 784 float32 batch, on the
CPU, no gradients. Every provider computes the same thing: the mean of the 50 softmax outputs inside
``mc_mode``. Providers:

- ``loop``: ``for t in range(50): probs += model(x).softmax(-1)``;
- ``mc_predict``: defaults (replicated batch in chunks sized to a 256 MiB budget, deterministic prefix
  ``Flatten -> Linear -> ReLU`` run once), which also returns entropy and BALD;
- ``mc_predict_no_prefix``: the same with ``reuse_prefix=False`` (replication only).

Wall-clock medians over ``--repeats`` rounds after one warm-up; each round times every provider once,
in turn. Writes a long-format CSV to
``benchmarks/results/cpu/mc_predict.csv`` (CPU, thread count, versions, date, git sha in every row).

Run: ``.venv/bin/python benchmarks/bench_mc_predict.py`` (about 2-3 minutes on 2 shared cores).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import statistics
import platform
import time
from pathlib import Path

import torch

import dropkit
from dropkit._io import atomic_write_text
from dropkit.models import MLP
from dropkit.surgery import mc_mode
from dropkit.train.env_info import cpu_name, git_sha
from dropkit.uncertainty import mc_predict

ROOT = Path(__file__).resolve().parents[1]


def loop(model: torch.nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    with torch.no_grad(), mc_mode(model):
        total = torch.zeros(x.shape[0], 10)
        for _ in range(samples):
            total += model(x).softmax(-1)
    return total / samples


def timed_interleaved(providers: dict, repeats: int) -> dict[str, list[float]]:
    """One warm-up call each, then ``repeats`` rounds that time every provider once, in turn, so that a
    noisy stretch of a shared machine hits all providers alike instead of one block of repeats."""
    for fn in providers.values():
        fn()
    out: dict[str, list[float]] = {name: [] for name in providers}
    for _ in range(repeats):
        for name, fn in providers.items():
            t0 = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50, help="T (default: 50)")
    parser.add_argument("--batch", type=int, default=10000, help="rows in the batch (default: 10000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per provider (default: 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cpu/mc_predict.csv",
                        help="CSV path (default: benchmarks/results/cpu/mc_predict.csv)")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = MLP(784, (128, 64), 10, hidden_p=0.5).eval()
    x = torch.randn(args.batch, 784)
    T = args.samples
    providers = {
        "loop": lambda: loop(model, x, T),
        "mc_predict": lambda: mc_predict(model, x, T),
        "mc_predict_no_prefix": lambda: mc_predict(model, x, T, reuse_prefix=False),
    }
    times = timed_interleaved(providers, args.repeats)
    base = statistics.median(times["loop"])
    meta = {
        "cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "dropkit": dropkit.__version__, "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "git_sha": git_sha() or "unknown",
    }
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append({"op": "mc_predict", "provider": name, "model": "MLP(784,(128,64),10,hidden_p=0.5)",
                     "samples": T, "batch": args.batch, "dtype": "float32", "repeats": len(ts),
                     "median_s": f"{med:.4f}", "min_s": f"{min(ts):.4f}", "max_s": f"{max(ts):.4f}",
                     "speedup_vs_loop": f"{base / med:.2f}", **meta})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(args.out, buf.getvalue())
    print(f"{meta['cpu']}, {meta['threads']} threads, torch {meta['torch']}, {meta['date']}, sha {meta['git_sha']}")
    print(f"{'provider':<22}{'median s':>10}{'min':>9}{'max':>9}{'speedup':>9}")
    for r in rows:
        print(f"{r['provider']:<22}{r['median_s']:>10}{r['min_s']:>9}{r['max_s']:>9}{r['speedup_vs_loop']:>8}x")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
