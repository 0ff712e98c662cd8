"""Static report of the Triton kernels as compiled for a GPU architecture, on any machine (no GPU).

Compiles every kernel of ``dropkit.kernels`` at its launch configuration for ``sm_<arch>`` with the
``ptxas`` that ships in the Triton wheel and writes, per kernel and dtype: registers per thread,
spilled bytes, shared memory, SASS instructions per element, 32-bit high multiplies per Philox call
(about 16-20 when one call serves 8 elements), the global load/store instructions (``.v4.b32`` is a
128-bit access) and the number of narrow (scalar, non-rng) global accesses. See
``benchmarks/kernel_codegen.py`` for what each column means; ``bench_kernels.py`` measures speed on a GPU.

    .venv/bin/python benchmarks/inspect_kernels.py               # sm_90, bf16/fp16/fp32
    .venv/bin/python benchmarks/inspect_kernels.py --arch 80 --dtypes bf16 --out /tmp/a100.csv

The environment's ``TRITON_INTERPRET`` is ignored: the script re-runs itself without it, because
interpreted kernels cannot be compiled.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="CUDA compute capability x10 (default: 90)")
    parser.add_argument("--dtypes", default="bf16,fp16,fp32", help="comma list of bf16,fp16,fp32 (default: all)")
    parser.add_argument("--n-cols", type=int, default=4096, help="row length of the norm kernels (default: 4096)")
    parser.add_argument("--out", type=Path, default=None,
                        help="CSV path (default: benchmarks/results/sm<arch>/kernels_codegen.csv)")
    args = parser.parse_args()
    if os.environ.get("TRITON_INTERPRET") == "1":
        env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # Triton 3.9's default, said explicitly
    sys.path.insert(0, str(ROOT))
    import torch
    import triton

    from dropkit._io import atomic_write_text
    from kernel_codegen import codegen_available, compile_report, kernel_cases, report_row
    from dropkit.train.env_info import git_sha

    if not codegen_available():
        sys.exit("inspect_kernels: triton's NVIDIA tools (ptxas, cuobjdump) are not available")
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    out = args.out or ROOT / f"benchmarks/results/sm{args.arch}/kernels_codegen.csv"
    meta = {"triton": triton.__version__, "torch": torch.__version__, "git_sha": git_sha() or "unknown",
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    rows = []
    for dtype in dtypes:
        for case in kernel_cases(dtype, n_cols=args.n_cols):
            row = {**report_row(compile_report(case, arch=args.arch)), **meta}
            rows.append(row)
            print(f"{row['name']:<28} {dtype:<5} regs {row['registers']:>3}  spilled {row['spilled_bytes']:>4} B  "
                  f"{row['instructions_per_element']:>6} instr/elem  {row['mul_hi_per_philox_call']:>5} mul.hi/call  "
                  f"narrow {row['narrow_accesses']}  loads {row['global_loads']}", flush=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out, buf.getvalue())
    print(f"wrote {len(rows)} rows to {out} (sm_{args.arch}, triton {meta['triton']})")


if __name__ == "__main__":
    main()
