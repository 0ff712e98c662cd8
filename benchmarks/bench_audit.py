"""Benchmark: the cost of ``dropkit.audit.audit_dropout`` against the plain forward pass it records.

Workloads (CPU, float32, no gradients, training mode): the seed preset's MLP 784-128-64-10 (dropout 0.5,
batch 100), the ``mnist1d-transformer`` preset (4 blocks, attention / projection / residual dropout and
DropPath, batch 32) and a torch ``nn.TransformerEncoder`` (4 ``nn.TransformerEncoderLayer`` of width 64, 4
heads, dropout 0.1, batch 16 x 32 tokens). Providers: ``forward`` (``model(x)`` in training mode under
``torch.no_grad``) and ``audit`` (``audit_dropout(model, x)``: hooks, a TorchFunctionMode, a
TorchDispatchMode that inspects every ATen op, mask measurements, the report). The audit is a one-off
check, not a training-time cost: the column ``overhead_vs_forward`` says how many forwards one audit costs.

Wall-clock medians over ``--repeats`` rounds after one warm-up; each round times every provider once, in
turn. Writes a long-format CSV to ``benchmarks/results/cpu/audit.csv`` (CPU, threads, versions, date, git sha).

Run: ``.venv/bin/python benchmarks/bench_audit.py`` (under a minute on 2 shared cores).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

import dropkit
from dropkit._io import atomic_write_text
from dropkit.audit import audit_dropout
from dropkit.models.registry import build_model
from dropkit.train.config import from_dict
from dropkit.train.env_info import cpu_name, git_sha
from dropkit.train.presets import preset_values

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["op", "provider", "model", "batch", "random_ops", "repeats", "median_s", "min_s", "max_s",
          "overhead_vs_forward", "cpu", "threads", "torch", "dropkit", "python", "date", "git_sha"]


def workloads(smoke: bool) -> dict[str, tuple[nn.Module, torch.Tensor]]:
    scale = 4 if smoke else 1
    seed = build_model(from_dict(preset_values("seed")), (1, 28, 28), 10)
    mnist1d = build_model(from_dict(preset_values("mnist1d-transformer")), (40,), 10)
    layer = nn.TransformerEncoderLayer(64, 4, dim_feedforward=128, dropout=0.1, batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False)
    return {
        "seed-mlp": (seed, torch.randn(100 // scale, 1, 28, 28)),
        "mnist1d-transformer": (mnist1d, torch.randn(32 // scale, 40)),
        "nn.TransformerEncoder(4x64)": (encoder, torch.randn(16 // scale, 32, 64)),
    }


def timed_interleaved(providers: dict, repeats: int) -> dict[str, list[float]]:
    for fn in providers.values():
        fn()
    out: dict[str, list[float]] = {name: [] for name in providers}
    for _ in range(repeats):
        for name, fn in providers.items():
            t0 = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t0)
    return out


def forward(model: nn.Module, x: torch.Tensor) -> None:
    model.train()
    with torch.no_grad():
        model(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds (default: 9)")
    parser.add_argument("--smoke", action="store_true", help="quarter batches, for tests (default: off)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default: 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cpu/audit.csv",
                        help="CSV path (default: benchmarks/results/cpu/audit.csv)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    common = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
              "dropkit": dropkit.__version__, "python": platform.python_version(),
              "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "git_sha": git_sha()}
    rows = []
    for name, (model, x) in workloads(args.smoke).items():
        ops = audit_dropout(model, x).random_ops
        times = timed_interleaved({"forward": lambda: forward(model, x), "audit": lambda: audit_dropout(model, x)},
                                  args.repeats)
        base = statistics.median(times["forward"])
        for provider, values in times.items():
            median = statistics.median(values)
            rows.append({"op": "audit_dropout", "provider": provider, "model": name, "batch": x.shape[0],
                         "random_ops": ops, "repeats": args.repeats, "median_s": f"{median:.5f}",
                         "min_s": f"{min(values):.5f}", "max_s": f"{max(values):.5f}",
                         "overhead_vs_forward": f"{median / base:.1f}", **common})
            print(f"{name:28s} {provider:8s} {median * 1e3:8.2f} ms  x{median / base:.1f}")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, buf.getvalue())


if __name__ == "__main__":
    main()
