"""CPU benchmark: DropConnect's weight mask, dropkit vs the plain-PyTorch way libraries write it.

DropConnect (Wan et al. 2013, https://proceedings.mlr.press/v28/wan13.html) draws a fresh mask over the
weight at every forward. Providers, on one ``(rows, cols)`` float32 weight with ``requires_grad``:

- ``torch-bernoulli``: ``w * torch.empty_like(w).bernoulli_(1 - p) / (1 - p)`` (how BaaL, fastai and
  awd-lstm style code write it; autograd keeps the float mask);
- ``dropkit``: :func:`dropkit.functional.drop_connect_weight` (the native path: 8-16 random bits per
  weight, a boolean mask kept for backward).

Modes: ``forward`` (the masked weight) and ``full`` (forward + backward of ``sum()``). Wall-clock medians
and 20th/80th percentiles of ``--repeats`` calls after 3 warm-up calls; bytes kept for backward measured
with saved-tensor hooks. Writes ``benchmarks/results/cpu/drop_connect.csv``.

Run: ``.venv/bin/python benchmarks/bench_drop_connect.py`` (about 10 s).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import statistics
import time
from pathlib import Path

import torch

from dropkit._io import atomic_write_text
from dropkit.memory import saved_tensor_bytes
from dropkit.functional import drop_connect_weight
from dropkit.train.env_info import cpu_name, git_sha

ROOT = Path(__file__).resolve().parents[1]


def torch_bernoulli(w: torch.Tensor, p: float) -> torch.Tensor:
    return w * torch.empty_like(w).bernoulli_(1 - p) / (1 - p)


def timed(fn, repeats: int) -> tuple[float, float, float]:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    q = statistics.quantiles(times, n=5)
    return statistics.median(times), q[0], q[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1024, help="weight rows (default: 1024)")
    parser.add_argument("--cols", type=int, default=1024, help="weight columns (default: 1024)")
    parser.add_argument("--ps", default="0.5,0.3", help="comma list of drop rates (default: 0.5,0.3)")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per point (default: 30)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cpu/drop_connect.csv",
                        help="CSV path (default: benchmarks/results/cpu/drop_connect.csv)")
    args = parser.parse_args()
    w = torch.randn(args.rows, args.cols, requires_grad=True)
    meta = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "git_sha": git_sha() or "unknown", "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    rows = []
    for p in (float(v) for v in args.ps.split(",")):
        providers = {"torch-bernoulli": lambda: torch_bernoulli(w, p), "dropkit": lambda: drop_connect_weight(w, p)}
        for name, fwd in providers.items():
            kept = saved_tensor_bytes(fwd) / w.numel()
            for mode, fn in (("forward", fwd), ("full", lambda: fwd().sum().backward())):
                med, p20, p80 = timed(fn, args.repeats)
                rows.append({"op": "drop_connect_weight", "provider": name, "mode": mode, "p": p,
                             "shape": f"{args.rows}x{args.cols}", "median_ms": f"{med:.3f}", "p20_ms": f"{p20:.3f}",
                             "p80_ms": f"{p80:.3f}", "saved_bytes_per_weight": f"{kept:.2f}", **meta})
                print(f"p={p:<4} {name:<16} {mode:<8} {med:8.3f} ms  kept {kept:.2f} B/weight", flush=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(args.out, buf.getvalue())
    print(f"wrote {args.out} ({meta['cpu']}, {meta['threads']} threads)")


if __name__ == "__main__":
    main()
