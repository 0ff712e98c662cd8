"""CPU training-step time of recurrent regularizers: plain nn.LSTM vs weight drop vs recurrent dropout.

One training step = forward + loss + backward + Adam step on a batch-first LSTM. Providers:

- ``torch``: plain ``nn.LSTM`` (the fused oneDNN / native kernel) — the baseline;
- ``weight_drop``: :class:`dropkit.nn.WeightDropLSTM` (parametrized ``weight_hh``, fused kernel kept);
- ``locked_input``: :class:`dropkit.nn.VariationalLSTM` with ``input_p`` only (fused path);
- ``recurrent``: :class:`dropkit.nn.VariationalLSTM` with ``recurrent_p`` (Python step loop).

Providers run round-robin within each repeat so that load from other processes hits all of them
alike; the table reports medians and the interquartile range. Writes a long-format CSV to
``benchmarks/results/cpu/rnn_weight_drop.csv``.

Usage: ``python benchmarks/bench_rnn_weight_drop.py [--repeats 15] [--batch 64] [--seq 35] [--hidden 256] [--threads 1]``
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from dropkit.nn import VariationalLSTM, WeightDropLSTM
from dropkit.train.env_info import cpu_name, git_sha

RESULTS = Path(__file__).resolve().parent / "results" / "cpu" / "rnn_weight_drop.csv"


def make_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out, _ = model(x)
        out.pow(2).mean().backward()
        opt.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64, help="batch size (default: 64)")
    ap.add_argument("--seq", type=int, default=35, help="sequence length (default: 35)")
    ap.add_argument("--hidden", type=int, default=256, help="input and hidden size (default: 256)")
    ap.add_argument("--repeats", type=int, default=15, help="timed repeats per provider (default: 15)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per provider (default: 3)")
    ap.add_argument("--p", type=float, default=0.5, help="weight-drop and dropout rates (default: 0.5)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    ap.add_argument("--out", type=Path, default=RESULTS, help=f"CSV path (default: {RESULTS})")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    b, t, h = args.batch, args.seq, args.hidden
    x = torch.randn(b, t, h)
    providers = {
        "torch": nn.LSTM(h, h, batch_first=True),
        "weight_drop": WeightDropLSTM(h, h, batch_first=True, weight_p=args.p),
        "locked_input": VariationalLSTM(h, h, batch_first=True, input_p=args.p),
        "recurrent": VariationalLSTM(h, h, batch_first=True, recurrent_p=args.p),
    }
    steps = {name: make_step(m.train(), x) for name, m in providers.items()}
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)

    base = statistics.median(times["torch"])
    meta = {
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "git_sha": git_sha() or "",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    rows = []
    print(f"LSTM training step (fwd+bwd+Adam), batch {b}, seq {t}, hidden {h}, float32, p={args.p:g}")
    print(f"{meta['cpu']}, {meta['threads']} threads, torch {meta['torch']}, {args.repeats} repeats")
    print(f"{'provider':<14}{'median ms':>11}{'IQR ms':>9}{'x torch':>9}")
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=4)
        med = statistics.median(ts)
        print(f"{name:<14}{med * 1e3:>11.2f}{(q[2] - q[0]) * 1e3:>9.2f}{med / base:>9.2f}")
        rows.append({
            "op": "lstm_train_step", "provider": name, "mode": "full", "dtype": "float32",
            "batch": b, "seq": t, "hidden": h, "p": args.p, "repeats": args.repeats,
            "median_ms": round(med * 1e3, 3), "q1_ms": round(q[0] * 1e3, 3), "q3_ms": round(q[2] * 1e3, 3),
            "ratio_to_torch": round(med / base, 3), **meta,
        })
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
