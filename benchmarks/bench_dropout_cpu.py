"""CPU benchmark: dropkit's native and portable dropout vs PyTorch eager, ``torch.compile`` and a plain copy.

Usage (see benchmarks/README.md):
    python benchmarks/bench_dropout_cpu.py                  # sizes 2^16..2^22, fp32 and bf16
    python benchmarks/bench_dropout_cpu.py --max-log2 20 --repeats 5

Providers: ``torch`` (eager ``F.dropout``), ``torch.compile`` (Inductor's C++ code for ``F.dropout``,
compiled in the warm-up call), ``dropkit-native``, ``dropkit-native+compile``, ``dropkit-portable``,
``dropkit-portable+compile``
(the portable path inside ``torch.compile``: Inductor fuses the Philox rounds into one C++ loop; the
same masks, bit for bit) and ``copy`` (``x.clone()``; in ``full`` mode two clones, the forward and
backward passes' bytes: the memory-bandwidth ceiling).

Wall-clock medians (and 20th/80th percentiles) of ``--repeats`` calls after one warm-up call, on
``torch.get_num_threads()`` threads. Writes ``benchmarks/results/cpu/dropout_cpu.csv`` (long format,
one row per op/provider/mode/dtype/size, with the CPU model, thread count, versions and date).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from dropkit._io import atomic_write_text
from dropkit.memory import saved_tensor_bytes
from dropkit.functional import dropout
from dropkit.train.env_info import cpu_name, git_sha

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
COLUMNS = [
    "op", "provider", "mode", "dtype", "numel", "median_ms", "p20_ms", "p80_ms", "gbps",
    "saved_bytes_per_elem", "device", "threads", "torch", "git_sha", "date",
]
P = 0.1






def timed(fn, repeats: int) -> tuple[float, float, float]:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    q = statistics.quantiles(times, n=5) if len(times) >= 2 else [times[0]] * 4
    return statistics.median(times), q[0], q[-1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-log2", type=int, default=16, help="smallest size 2**k (default: 16)")
    ap.add_argument("--max-log2", type=int, default=22, help="largest size 2**k (default: 22)")
    ap.add_argument("--step-log2", type=int, default=2, help="size step in powers of 2 (default: 2)")
    ap.add_argument("--dtypes", default="fp32,bf16", help="comma list of fp32,bf16 (default: both)")
    ap.add_argument("--repeats", type=int, default=7, help="timed calls per point (default: 7)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "cpu" / "dropout_cpu.csv"),
                    help="CSV path (default: benchmarks/results/cpu/dropout_cpu.csv)")
    args = ap.parse_args(argv)

    def make_providers() -> dict:
        # Fresh compiled functions for every size and dtype: one static-shape graph each, never
        # recompiled, never past dynamo's cache limit (which would silently run eager code).
        return {
            "torch": lambda x: F.dropout(x, P, training=True),
            "torch.compile": torch.compile(lambda x: F.dropout(x, P, training=True), dynamic=False),
            "dropkit-native": lambda x: dropout(x, P, backend="native"),
            "dropkit-native+compile": torch.compile(lambda x: dropout(x, P, backend="native"), dynamic=False),
            "dropkit-portable": lambda x: dropout(x, P, backend="portable"),
            "dropkit-portable+compile": torch.compile(lambda x: dropout(x, P, backend="portable"), dynamic=False),
            "copy": lambda x: x.detach().clone(),
        }

    env = {
        "device": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "git_sha": git_sha() or "unknown", "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    rows = []
    for dname in args.dtypes.split(","):
        dtype = DTYPES[dname]
        for k in range(args.min_log2, args.max_log2 + 1, args.step_log2):
            n = 2**k
            x = torch.randn(n, dtype=dtype, requires_grad=True)
            dy = torch.randn(n, dtype=dtype)
            for name, fwd in make_providers().items():
                kept = saved_tensor_bytes(lambda: fwd(x)) / n
                for mode in ("forward", "full"):
                    if mode == "forward":
                        fn = lambda: fwd(x)  # noqa: E731
                    elif name == "copy":
                        fn = lambda: (x.detach().clone(), dy.clone())  # noqa: E731
                    else:
                        fn = lambda: torch.autograd.grad(fwd(x), x, dy)  # noqa: E731
                    med, p20, p80 = timed(fn, args.repeats)
                    moved = (2 if mode == "forward" else 4) * x.element_size() * n
                    rows.append({
                        "op": "dropout", "provider": name, "mode": mode, "dtype": dname, "numel": n,
                        "median_ms": f"{med:.4f}", "p20_ms": f"{p20:.4f}", "p80_ms": f"{p80:.4f}",
                        "gbps": f"{moved / (med * 1e-3) / 1e9:.2f}", "saved_bytes_per_elem": f"{kept:.4f}", **env,
                    })
                    print(f"{dname:<5} 2^{k:<3} {name:<17} {mode:<8} {med:9.3f} ms  kept {kept:.3f} B/elem", flush=True)
    out = Path(args.out)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out, buf.getvalue())
    print(f"wrote {len(rows)} rows to {out} ({env['device']}, {env['threads']} threads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
