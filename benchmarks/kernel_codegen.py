"""Ahead-of-time code generation report for the Triton kernels: what the GPU would run, without a GPU.

The Triton wheel ships NVIDIA's ``ptxas`` and ``cuobjdump``, so every kernel can be compiled for a
GPU architecture (default sm_90, the H100/H200) on any machine. :func:`compile_report` compiles one
kernel at the launch configuration the dispatcher uses (block size, warps, tile rows, the integer
specialisations Triton's JIT applies to the benchmark shapes) and reads back the properties that
decide whether a memory-bound kernel can reach the bandwidth ceiling:

* registers per thread and spilled bytes (spills go to local memory: extra DRAM traffic);
* the global load/store instructions (``ld.global.v4.b32`` is a 128-bit access; 16-bit scalar
  accesses on a contiguous tensor mean the vectorisation failed);
* SASS instructions per element, and the number of 32-bit high multiplies (each Philox4x32-10 call
  is 10 rounds of two ``mul.hi.u32``, a few folded away in the first round), which shows that one
  Philox call serves 8 elements.

This is a structural check, not a timing: ``benchmarks/bench_kernels.py`` measures on a GPU;
``benchmarks/inspect_kernels.py`` writes this report for every kernel; ``tests/kernels`` asserts on
it so a change that breaks vectorisation or spills registers fails on the CPU.

Example:
    >>> from kernel_codegen import compile_report, kernel_cases
    >>> report = compile_report(kernel_cases("bf16")[0])  # doctest: +SKIP
    >>> report.spilled_bytes, report.global_loads  # doctest: +SKIP
    (0, ('ld.global.b64', 'ld.global.v4.b32'))
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["KernelCase", "KernelReport", "kernel_cases", "compile_report", "report_row", "codegen_available"]

_DTYPES = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class KernelCase:
    """One kernel at one launch configuration.

    Args:
        name: report name (kernel and variant).
        dtype: element type of the activations (``fp32``, ``bf16``, ``fp16``).
        kernel: the ``@triton.jit`` function.
        signature: parameter name -> Triton type (``*bf16``, ``i32``, ``fp32``, ...), in order;
            constexpr parameters are listed in ``constexprs`` instead.
        constexprs: values of the ``tl.constexpr`` parameters.
        aligned: parameters the JIT specialises as divisible by 16 at the benchmark shapes
            (pointers from the caching allocator, sizes like 2**28 or 4096).
        num_warps: warps per program.
        elements_per_thread: elements one thread handles per straight-line pass (per loop iteration
            for kernels that loop over rows); the denominator of the per-element counts.
        philox_calls_per_thread: Philox calls one thread makes per pass.
    """

    name: str
    dtype: str
    kernel: Any
    signature: dict[str, str]
    constexprs: dict[str, Any]
    aligned: tuple[str, ...]
    num_warps: int
    elements_per_thread: int
    philox_calls_per_thread: int


@dataclass(frozen=True)
class KernelReport:
    """What :func:`compile_report` read back from the compiled kernel (see the module docstring)."""

    name: str
    dtype: str
    arch: int
    num_warps: int
    registers: int
    spilled_bytes: int
    shared_bytes: int
    sass_instructions: int
    instructions_per_element: float
    mul_hi_per_philox_call: float
    global_loads: tuple[str, ...]
    global_stores: tuple[str, ...]
    narrow_accesses: int


def _tools_dir() -> str:
    import triton

    return os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")


def codegen_available() -> bool:
    """True when triton imports and its NVIDIA backend ships ``ptxas`` and ``cuobjdump``."""
    try:
        tools = _tools_dir()
    except ImportError:
        return False
    return all(os.access(os.path.join(tools, t), os.X_OK) for t in ("ptxas", "cuobjdump"))


def kernel_cases(dtype: str = "bf16", n_cols: int = 4096) -> list[KernelCase]:
    """The kernels at the configurations the issue's benchmark targets run: element-wise ops at
    2**28 elements, the norm kernels on ``(32768, n_cols)`` rows; plus dropout on a size that is not
    a multiple of 16 (``dropout_odd_numel``: only its last block is masked), on a transposed input
    (``dropout_strided``), with the keep test read from memory as under ``torch.compile``
    (``dropout_keep_in_memory``), and the norm backward with 2 prefetch stages (``*_bwd_prefetch``)."""
    if dtype not in _DTYPES:
        raise ValueError(f"kernel_cases: dtype must be one of {_DTYPES}, got {dtype!r}")
    from dropkit.kernels import triton_elementwise as te
    from dropkit.kernels import triton_norm as tn

    t = "*" + dtype
    per_thread = te.GPU_BLOCK // (32 * te.GPU_NUM_WARPS)
    calls = max(1, per_thread // 8)
    drop_sig = {
        "X": t, "Y": t, "rng_ptr": "*i64", "numel": "i64", "threshold": "i32", "scale": "fp32",
        "s1": "i32", "s2": "i32", "s3": "i32", "t0": "i32", "t1": "i32", "t2": "i32", "t3": "i32",
    }
    bad_sig = {
        "X": t, "B": t, "R": t, "Y": t, "rng_ptr": "*i64", "numel": "i64", "n_cols": "i32",
        "threshold": "i32", "scale": "fp32",
    }
    bwd_sig = {
        "DY": t, "X": t, "B": t, "DX": t, "rng_ptr": "*i64", "numel": "i64", "n_cols": "i32",
        "threshold": "i32", "scale": "fp32",
    }
    ew = dict(num_warps=te.GPU_NUM_WARPS, elements_per_thread=per_thread, philox_calls_per_thread=calls)
    cases = [
        KernelCase("dropout", dtype, te._dropout_kernel, drop_sig,
                   {"STRIDED": 0, "MASK_ONLY": False, "BLOCK": te.GPU_BLOCK, "EVEN": True, "INDEX32": False,
                    "HALVES": dtype == "fp32", "T_PTR": False},
                   ("X", "Y", "rng_ptr", "numel"), **ew),
        KernelCase("dropout_odd_numel", dtype, te._dropout_kernel, drop_sig,
                   {"STRIDED": 0, "MASK_ONLY": False, "BLOCK": te.GPU_BLOCK, "EVEN": False, "INDEX32": False,
                    "HALVES": dtype == "fp32", "T_PTR": False},
                   ("X", "Y", "rng_ptr"), **ew),
        KernelCase("dropout_strided", dtype, te._dropout_kernel, drop_sig,
                   {"STRIDED": 2, "MASK_ONLY": False, "BLOCK": te.GPU_BLOCK, "EVEN": True, "INDEX32": True,
                    "HALVES": False, "T_PTR": False},
                   ("X", "Y", "rng_ptr", "numel", "s3", "t3"), **ew),
        KernelCase("dropout_keep_in_memory", dtype, te._dropout_kernel, {**drop_sig, "threshold": "*i32"},
                   {"STRIDED": 0, "MASK_ONLY": False, "BLOCK": te.GPU_BLOCK, "EVEN": True, "INDEX32": False,
                    "HALVES": dtype == "fp32", "T_PTR": True},
                   ("X", "Y", "rng_ptr", "numel"), **ew),
        KernelCase("bias_gelu_dropout", dtype, te._bias_act_dropout_kernel, bad_sig,
                   {"HAS_BIAS": True, "ACT": te.act_code("gelu"), "HAS_RES": False, "BLOCK": te.GPU_BLOCK, "EVEN": True,
                    "HALVES": dtype == "fp32", "T_PTR": False},
                   ("X", "B", "R", "Y", "rng_ptr", "numel", "n_cols"), **ew),
        KernelCase("bias_dropout_add", dtype, te._bias_act_dropout_kernel, bad_sig,
                   {"HAS_BIAS": True, "ACT": 0, "HAS_RES": True, "BLOCK": te.GPU_BLOCK, "EVEN": True,
                    "HALVES": dtype == "fp32", "T_PTR": False},
                   ("X", "B", "R", "Y", "rng_ptr", "numel", "n_cols"), **ew),
        KernelCase("bias_gelu_dropout_bwd", dtype, te._bias_act_dropout_bwd_kernel, bwd_sig,
                   {"HAS_BIAS": True, "ACT": te.act_code("gelu"), "BLOCK": te.GPU_BLOCK, "EVEN": True,
                    "HALVES": dtype == "fp32", "T_PTR": False},
                   ("DY", "X", "B", "DX", "rng_ptr", "numel", "n_cols"), **ew),
    ]
    rows = tn._tile_rows(n_cols)
    warps = tn._num_warps(n_cols)
    norm_per_thread = max(1, rows * 8 // (32 * warps))
    norm = dict(num_warps=warps, elements_per_thread=norm_per_thread, philox_calls_per_thread=max(1, norm_per_thread // 8))
    fwd_sig = {
        "X": t, "XB": t, "RES": t, "W": t, "B": t, "Y": t, "H": t, "MEAN": "*fp32", "RSTD": "*fp32",
        "rng_ptr": "*i64", "n_cols": "i32", "threshold": "i32", "scale": "fp32", "eps": "fp32",
    }
    bwd_norm_sig = {
        "DY": t, "DH_OUT": t, "H": t, "W": t, "MEAN": "*fp32", "RSTD": "*fp32", "DX": t, "DRES": t,
        "DW": "*fp32", "DB": "*fp32", "DXB": "*fp32", "rng_ptr": "*i64", "n_rows": "i32", "n_cols": "i32",
        "rows_per_prog": "i32", "threshold": "i32", "scale": "fp32",
    }
    fwd_aligned = tuple(k for k, v in fwd_sig.items() if v.startswith("*")) + ("n_cols",)
    bwd_aligned = tuple(k for k, v in bwd_norm_sig.items() if v.startswith("*")) + ("n_rows", "n_cols")
    for rms in (False, True):
        label = "rms_norm" if rms else "layer_norm"
        cases.append(KernelCase(
            f"dropout_add_{label}", dtype, tn._fwd_kernel, fwd_sig,
            {"HAS_XB": True, "HAS_RES": True, "HAS_B": not rms, "RMS": rms, "ALIGNED": n_cols % 8 == 0, "R": rows,
             "T_PTR": False},
            fwd_aligned, **norm,
        ))
        for stages, suffix in ((tn.BWD_STAGES, ""), (2, "_prefetch")):
            if suffix and stages == tn.BWD_STAGES:
                continue
            cases.append(KernelCase(
                f"dropout_add_{label}_bwd{suffix}", dtype, tn._bwd_kernel, bwd_norm_sig,
                {"HAS_DH": True, "HAS_RES": True, "HAS_XB": True, "RMS": rms, "ALIGNED": n_cols % 8 == 0, "R": rows,
                 "STAGES": stages, "T_PTR": False},
                bwd_aligned, **norm,
            ))
    return cases


def _run(tool: str, *args: str) -> str:
    done = subprocess.run([os.path.join(_tools_dir(), tool), *args], capture_output=True, text=True, check=True)
    return done.stdout


def compile_report(case: KernelCase, arch: int = 90) -> KernelReport:
    """Compile ``case`` for ``sm_<arch>`` and read back registers, spills, accesses and counts."""
    if not codegen_available():
        raise RuntimeError("compile_report: needs triton with its NVIDIA tools (ptxas, cuobjdump); not found")
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError(
            "compile_report: TRITON_INTERPRET=1 makes the kernels interpreted functions that cannot be "
            "compiled; run it in a process without it (benchmarks/inspect_kernels.py does)"
        )
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    names = list(case.signature) + list(case.constexprs)
    signature = {**case.signature, **{k: "constexpr" for k in case.constexprs}}
    unknown = set(case.aligned) - set(case.signature)
    if unknown:
        raise ValueError(f"compile_report: aligned names {sorted(unknown)} are not parameters of {case.name}")
    source = ASTSource(
        fn=case.kernel,
        signature=signature,
        constexprs={(names.index(k),): v for k, v in case.constexprs.items()},
        attrs={(names.index(k),): [["tt.divisibility", 16]] for k in case.aligned},
    )
    compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32), options={"num_warps": case.num_warps})
    ptx = compiled.asm["ptx"]
    with tempfile.TemporaryDirectory() as tmp:
        cubin = os.path.join(tmp, "kernel.cubin")
        with open(cubin, "wb") as f:
            f.write(compiled.asm["cubin"])
        usage = _run("cuobjdump", "-res-usage", cubin)
        sass = _run("cuobjdump", "-sass", cubin)
    res = {k: int(v) for k, v in re.findall(r"\b(REG|SHARED|LOCAL):(\d+)", usage)}
    instructions = [
        line.split()[1] for line in sass.splitlines() if re.match(r"\s+/\*[0-9a-f]{4}\*/\s+\S", line)
    ]
    executed = [op for op in instructions if not op.startswith("NOP")]
    mul_hi = len(re.findall(r"\bmul\.hi\.u32\b", ptx))
    accesses = re.findall(r"\b(?:ld|st)\.global(?:\.[a-z0-9]+)*", ptx)
    # Narrow: neither a vector access nor the 64-bit load of the rng words.
    narrow = [a for a in accesses if ".v2." not in a and ".v4." not in a and not a.endswith(".b64")]
    return KernelReport(
        name=case.name,
        dtype=case.dtype,
        arch=arch,
        num_warps=case.num_warps,
        registers=res.get("REG", 0),
        spilled_bytes=res.get("LOCAL", 0),
        shared_bytes=max(res.get("SHARED", 0), int(getattr(compiled.metadata, "shared", 0) or 0)),
        sass_instructions=len(executed),
        instructions_per_element=len(executed) / case.elements_per_thread,
        mul_hi_per_philox_call=mul_hi / case.philox_calls_per_thread,
        global_loads=tuple(sorted(set(re.findall(r"\bld\.global(?:\.[a-z0-9]+)*", ptx)))),
        global_stores=tuple(sorted(set(re.findall(r"\bst\.global(?:\.[a-z0-9]+)*", ptx)))),
        narrow_accesses=len(narrow),
    )


def report_row(report: KernelReport) -> dict[str, Any]:
    """``report`` as a flat dict (access lists joined with spaces), for CSV and JSON output."""
    row = asdict(report)
    row["global_loads"] = " ".join(report.global_loads)
    row["global_stores"] = " ".join(report.global_stores)
    row["instructions_per_element"] = round(report.instructions_per_element, 2)
    row["mul_hi_per_philox_call"] = round(report.mul_hi_per_philox_call, 2)
    return row
