"""GPU benchmark of dropkit's fused dropout kernels against PyTorch eager, torch.compile and a plain copy.

Usage (see benchmarks/README.md):
    python benchmarks/bench_kernels.py                       # full run on a GPU, ~5-8 min on an H100
    python benchmarks/bench_kernels.py --max-log2 24 --dtypes bf16
    TRITON_INTERPRET=1 python benchmarks/bench_kernels.py --smoke   # CPU check that it runs end to end

Times: ``triton.testing.do_bench`` medians with 20th/80th percentiles on CUDA; on the CPU (``--smoke``
only) wall-clock medians of a few calls, which measure nothing but prove the script runs.
GB/s counts the *minimum* bytes each mode must move: forward reads x and writes y (2 elements),
backward reads dy and writes dx (2), full does both (4); the fused LayerNorm rows count
x, residual, y, h forward (4) and dy, dh, h, dx, dresidual backward (5). Bytes kept for backward are
measured with ``torch.autograd.graph.saved_tensors_hooks`` (unique storages, summed), not computed.

Order: the fused LayerNorm case first (with its backward at other launch configurations, rows with a
``variant``), then dropout from the largest size down (at the largest size also at other block sizes
and warp counts, and for bf16 inside ``torch.compile``, where the kernels read the keep test from
memory); the CSV is rewritten atomically after each
step, so a run stopped by a time limit keeps what it measured.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from dropkit._io import atomic_write_text
from dropkit.functional import dropout, dropout_add_layer_norm
from dropkit.memory import saved_tensor_bytes
from dropkit.train.env_info import git_sha

log = logging.getLogger("bench_kernels")

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
PROVIDERS = ("torch", "torch.compile", "dropkit", "copy")
MODES = ("forward", "backward", "full")
COLUMNS = [
    "op", "provider", "variant", "mode", "dtype", "numel", "median_ms", "p20_ms", "p80_ms", "gbps",
    "saved_bytes_per_elem", "device", "torch", "triton", "git_sha", "date",
]
# Backward launch configurations of the fused LayerNorm timed next to the default on a GPU, as
# (programs per SM, prefetch stages): dropkit/kernels/triton_norm.py's BWD_* are untuned guesses.
LN_BWD_VARIANTS = ((2, 2), (1, 2), (1, 1), (4, 1))
# Element-wise kernel launch configurations timed next to the default (2048 elements, 8 warps:
# dropkit/kernels/triton_elementwise.py's GPU_BLOCK / GPU_NUM_WARPS, untuned) at the largest size.
DROPOUT_VARIANTS = ((1024, 4), (2048, 4), (4096, 8), (8192, 16))
P = 0.1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-log2", type=int, default=16, help="smallest size 2**k elements (default: 16)")
    ap.add_argument("--max-log2", type=int, default=28, help="largest size 2**k elements (default: 28)")
    ap.add_argument("--step-log2", type=int, default=2, help="step between sizes in powers of 2 (default: 2)")
    ap.add_argument("--dtypes", default="fp32,bf16,fp16", help="comma list of fp32,bf16,fp16 (default: all)")
    ap.add_argument("--modes", default=",".join(MODES), help="comma list of forward,backward,full (default: all)")
    ap.add_argument("--providers", default=",".join(PROVIDERS), help="comma list (default: all four)")
    ap.add_argument("--ln-shape", default="32768x4096", help="rows x cols of the fused LayerNorm case (default: 32768x4096)")
    ap.add_argument("--skip-ln", action="store_true", help="skip the fused bias+dropout+residual+LayerNorm case")
    ap.add_argument("--skip-variants", action="store_true",
                    help="time the kernels only at their default launch configurations (no `variant` rows)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, CPU allowed (with TRITON_INTERPRET=1); writes to a temp dir")
    ap.add_argument("--out", default=None, help="CSV path (default: benchmarks/results/<card>/kernels.csv)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.min_log2, args.max_log2, args.step_log2, args.ln_shape = 10, 12, 2, "8x256"
    return args


# ----------------------------------------------------------------------------- environment


def card_name(device: torch.device) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = "cpu-interpreter"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")




def triton_version() -> str:
    try:
        import triton

        return triton.__version__
    except ImportError:
        return "none"


# ----------------------------------------------------------------------------- measurement


def bench(fn: Callable[[], object], device: torch.device) -> tuple[float, float, float]:
    """(median, p20, p80) in ms."""
    if device.type == "cuda":
        from triton.testing import do_bench

        med, p20, p80 = do_bench(fn, quantiles=[0.5, 0.2, 0.8], warmup=25, rep=100)
        return float(med), float(p20), float(p80)
    fn()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return statistics.median(times), times[0], times[-1]


def _compile(fn: Callable, device: torch.device) -> Callable:
    # Inductor on the GPU; on the CPU smoke run only the tracing (aot_eager) is exercised, for speed.
    return torch.compile(fn, dynamic=True, backend="inductor" if device.type == "cuda" else "aot_eager")


def dropout_cases(device: torch.device, providers: list[str]) -> dict[str, Callable]:
    """provider -> forward function ``x -> y`` (``copy``: ``x -> x.clone()``)."""
    backend = "triton"

    def eager(x):
        return F.dropout(x, P, training=True)

    cases = {
        "torch": eager,
        "torch.compile": _compile(eager, device),
        "dropkit": lambda x: dropout(x, P, backend=backend),
        "copy": lambda x: x.clone(),
    }
    return {k: v for k, v in cases.items() if k in providers}


def run_dropout(args, device, dtypes, modes, providers, env, rows, flush: Callable[[], None]) -> None:
    cases = dropout_cases(device, providers)
    sizes = [2**k for k in range(args.min_log2, args.max_log2 + 1, args.step_log2)]
    for numel in reversed(sizes):
        for dname in dtypes:
            dtype = DTYPES[dname]
            x = torch.randn(numel, device=device, dtype=dtype, requires_grad=True)
            dy = torch.randn(numel, device=device, dtype=dtype)
            elt = x.element_size()
            for provider, fwd in cases.items():
                kept = float("nan")
                if provider != "copy":
                    try:
                        kept = saved_tensor_bytes(lambda: fwd(x)) / numel
                    except Exception as exc:  # noqa: BLE001 - report, keep benchmarking
                        log.warning("saved-bytes measurement failed for %s: %s", provider, exc)
                for mode in modes:
                    if provider == "copy":
                        xd = x.detach()
                        fn = (lambda: (xd.clone(), dy.clone())) if mode == "full" else (lambda: xd.clone())
                    elif mode == "forward":
                        fn = lambda: fwd(x)  # noqa: E731
                    else:
                        y = fwd(x)
                        if mode == "backward":
                            fn = lambda: torch.autograd.grad(y, x, dy, retain_graph=True)  # noqa: E731
                        else:
                            fn = lambda: torch.autograd.grad(fwd(x), x, dy)  # noqa: E731
                    med, p20, p80 = bench(fn, device)
                    moved = (4 if mode == "full" else 2) * elt * numel
                    rows.append(_row("dropout", provider, mode, dname, numel, med, p20, p80, moved, kept, env))
                    log.info("%-8s %-14s %-8s %-5s 2^%-2d %8.4f ms", "dropout", provider, mode, dname, numel.bit_length() - 1, med)
            if numel == sizes[-1] and "dropkit" in cases and not args.skip_variants:
                # The smoke run checks the code path with one variant (on the CPU it measures nothing).
                variants = DROPOUT_VARIANTS[:1] if args.smoke else DROPOUT_VARIANTS
                run_dropout_variants(cases["dropkit"], x, dy, dname, [m for m in modes if m != "forward"], env, rows,
                                     variants)
                if device.type == "cuda" and dname == "bf16" and "full" in modes:
                    run_compiled_dropkit(x, dy, dname, env, rows)
            x = dy = None  # free the large tensors before the next size
            if device.type == "cuda":
                torch.cuda.empty_cache()
            flush()


def run_compiled_dropkit(x, dy, dname, env, rows) -> None:
    """dropkit's dropout inside ``torch.compile`` (forward+backward): the kernels then read the keep test
    from a device tensor, so that a scheduled rate does not recompile (a row with ``variant``)."""
    compiled = _compile(lambda t: dropout(t, P, backend="triton"), x.device)
    try:
        med, p20, p80 = bench(lambda: torch.autograd.grad(compiled(x), x, dy), x.device)
    except Exception as exc:  # noqa: BLE001 - report, keep benchmarking
        log.warning("compiled dropkit dropout failed: %s", exc)
        return
    moved = 4 * x.element_size() * x.numel()
    rows.append(_row("dropout", "dropkit", "full", dname, x.numel(), med, p20, p80, moved, float("nan"), env,
                     variant="torch.compile (keep test read from memory)"))
    log.info("dropout  dropkit torch.compile full %-5s %8.4f ms", dname, med)


def run_dropout_variants(fwd, x, dy, dname, modes, env, rows, variants) -> None:
    """The dropkit kernel at other block sizes / warp counts (rows with a ``variant``)."""
    from dropkit.kernels import triton_elementwise as te

    default = (te.GPU_BLOCK, te.GPU_NUM_WARPS)
    try:
        for block, warps in variants:
            te.GPU_BLOCK, te.GPU_NUM_WARPS = block, warps
            for mode in modes:
                if mode == "backward":
                    y = fwd(x)
                    fn = lambda: torch.autograd.grad(y, x, dy, retain_graph=True)  # noqa: E731
                else:
                    fn = lambda: torch.autograd.grad(fwd(x), x, dy)  # noqa: E731
                med, p20, p80 = bench(fn, x.device)
                moved = (4 if mode == "full" else 2) * x.element_size() * x.numel()
                rows.append(_row("dropout", "dropkit", mode, dname, x.numel(), med, p20, p80, moved, float("nan"), env,
                                 variant=f"block={block},num_warps={warps}"))
                log.info("dropout  dropkit block=%d warps=%d %-8s %-5s %8.4f ms", block, warps, mode, dname, med)
    finally:
        te.GPU_BLOCK, te.GPU_NUM_WARPS = default


def run_layer_norm(args, device, modes, providers, env, rows) -> None:
    m, n = (int(v) for v in args.ln_shape.lower().split("x"))
    dtype = torch.bfloat16
    g = torch.Generator(device=device).manual_seed(0)

    def mk(*shape):
        return torch.randn(*shape, device=device, dtype=dtype, generator=g).requires_grad_(True)

    x, res, xb, w, b = mk(m, n), mk(m, n), mk(n), mk(n), mk(n)
    dy, dh = torch.randn(m, n, device=device, dtype=dtype), torch.randn(m, n, device=device, dtype=dtype)

    def eager(x, res, xb, w, b):
        h = res + F.dropout(x + xb, P, training=True)
        return F.layer_norm(h, (n,), w, b, 1e-5), h

    cases = {
        "torch": eager,
        "torch.compile": _compile(eager, device),
        "dropkit": lambda x, res, xb, w, b: dropout_add_layer_norm(x, res, w, b, P, x_bias=xb, backend="triton"),
    }
    params = (x, res, xb, w, b)
    # Minimum bytes: forward reads x, residual and writes y, h (4 tensors); backward reads dy, dh, h and
    # writes dx, dresidual (5); full is both (9).
    tensors = {"forward": 4, "backward": 5, "full": 9}

    def measure(provider: str, fwd, variant: str, kept: float, run_modes) -> None:
        for mode in run_modes:
            if mode == "forward":
                fn = lambda: fwd(*params)  # noqa: E731
            elif mode == "backward":
                outs = fwd(*params)
                fn = lambda: torch.autograd.grad(outs, params, (dy, dh), retain_graph=True)  # noqa: E731
            else:
                fn = lambda: torch.autograd.grad(fwd(*params), params, (dy, dh))  # noqa: E731
            med, p20, p80 = bench(fn, device)
            moved = tensors[mode] * dtype.itemsize * m * n
            rows.append(_row("bias_dropout_add_layer_norm", provider, mode, "bf16", m * n, med, p20, p80, moved, kept,
                             env, variant=variant))
            log.info("fused LN %-14s %-10s %-8s bf16 %dx%d %8.4f ms", provider, variant or "default", mode, m, n, med)

    for provider, fwd in cases.items():
        if provider in providers:
            measure(provider, fwd, "", saved_tensor_bytes(lambda: fwd(*params)) / (m * n), modes)
    if "dropkit" in providers and not args.skip_variants:
        from dropkit.kernels import triton_norm

        default = (triton_norm.BWD_PROGRAMS_PER_SM, triton_norm.BWD_STAGES)
        try:
            for programs, stages in LN_BWD_VARIANTS[:1] if args.smoke else LN_BWD_VARIANTS:
                triton_norm.BWD_PROGRAMS_PER_SM, triton_norm.BWD_STAGES = programs, stages
                variant = f"bwd_programs_per_sm={programs},bwd_stages={stages}"
                measure("dropkit", cases["dropkit"], variant, float("nan"), [m for m in modes if m != "forward"])
        finally:
            triton_norm.BWD_PROGRAMS_PER_SM, triton_norm.BWD_STAGES = default


def _row(op, provider, mode, dname, numel, med, p20, p80, moved, kept, env, variant: str = "") -> dict:
    return {
        "op": op, "provider": provider, "variant": variant, "mode": mode, "dtype": dname, "numel": numel,
        "median_ms": f"{med:.5f}", "p20_ms": f"{p20:.5f}", "p80_ms": f"{p80:.5f}",
        "gbps": f"{moved / (med * 1e-3) / 1e9:.1f}",
        "saved_bytes_per_elem": "" if kept != kept else f"{kept:.4f}",
        **env,
    }


def print_summary(rows: list[dict]) -> None:
    header = f"{'op':<28} {'mode':<8} {'dtype':<5} {'numel':>10} " + " ".join(f"{p:>14}" for p in PROVIDERS)
    print(header)
    print("-" * len(header))
    keys = sorted({(r["op"], r["mode"], r["dtype"], r["numel"]) for r in rows}, key=lambda k: (k[0], k[2], k[1], k[3]))
    for key in keys:
        cells = []
        for p in PROVIDERS:
            hit = [r for r in rows if (r["op"], r["mode"], r["dtype"], r["numel"]) == key and r["provider"] == p
                   and not r["variant"]]
            cells.append(f"{hit[0]['median_ms']:>8}ms/{hit[0]['saved_bytes_per_elem'] or '-':>3}" if hit else f"{'':>14}")
        print(f"{key[0]:<28} {key[1]:<8} {key[2]:<5} {key[3]:>10} " + " ".join(f"{c:>14}" for c in cells))
    print("cells: median ms / bytes kept for backward per element (measured)")
    for r in rows:
        if r["variant"]:
            print(f"{r['op']} {r['provider']} {r['variant']} {r['mode']}: {r['median_ms']} ms")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    if torch.cuda.is_available():
        device = torch.device("cuda")
    elif args.smoke and os.environ.get("TRITON_INTERPRET") == "1":
        device = torch.device("cpu")
    else:
        print("bench_kernels: needs a CUDA device (or --smoke with TRITON_INTERPRET=1 for a CPU check)", file=sys.stderr)
        return 2
    dtypes = [d for d in args.dtypes.split(",") if d]
    modes = [m for m in args.modes.split(",") if m]
    providers = [p for p in args.providers.split(",") if p]
    for name, vals, allowed in (("dtypes", dtypes, DTYPES), ("modes", modes, MODES), ("providers", providers, PROVIDERS)):
        bad = [v for v in vals if v not in allowed]
        if bad:
            print(f"bench_kernels: --{name} must be from {', '.join(allowed)}, got {', '.join(bad)}", file=sys.stderr)
            return 2
    env = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (TRITON_INTERPRET=1)",
        "torch": torch.__version__, "triton": triton_version(), "git_sha": git_sha() or "unknown",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    # "backward" times the same graph repeatedly (retain_graph=True), which donated buffers forbid.
    torch._functorch.config.donated_buffer = False
    if args.out:
        out = Path(args.out)
    elif args.smoke:
        out = Path(tempfile.mkdtemp(prefix="bench_kernels_smoke_")) / "kernels.csv"
    else:
        out = Path(__file__).resolve().parent / "results" / card_name(device) / "kernels.csv"
    rows: list[dict] = []

    def flush() -> None:
        """Rewrite the CSV (atomically) with every row so far: a run cut off by a time limit keeps them."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(out, buf.getvalue())

    # The targets first (the fused LayerNorm case, then dropout from the largest size down),
    # so that a run stopped by a time limit has measured them.
    if not args.skip_ln:
        run_layer_norm(args, device, modes, providers, env, rows)
        flush()
    run_dropout(args, device, dtypes, modes, providers, env, rows, flush)
    flush()
    print_summary(rows)
    print(f"wrote {len(rows)} rows to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
