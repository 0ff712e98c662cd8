"""The Triton kernels as compiled for an H100 (sm_90), checked on the CPU: no spills, 128-bit
accesses on contiguous tensors, one Philox call per 8 elements.

These are structural properties of the generated code, not timings: a change that breaks the
vectorisation of a load, spills registers to local memory or recomputes the random numbers per
element fails here, on a machine without a GPU. ``benchmarks/inspect_kernels.py`` compiles the
kernels with the ptxas in the Triton wheel (``benchmarks/kernel_codegen.py``: a report tool, not part of
the package), in a process without ``TRITON_INTERPRET``.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.xdist_group("codegen")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, str]]:
    pytest.importorskip("triton")
    out = tmp_path_factory.mktemp("codegen") / "codegen.csv"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "inspect_kernels.py"), "--dtypes", "bf16,fp32", "--out", str(out)],
        cwd=ROOT, env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True, text=True, timeout=600,
    )
    if proc.returncode != 0 and "(ptxas, cuobjdump) are not available" in proc.stderr:
        pytest.skip("triton's NVIDIA tools (ptxas, cuobjdump) are not installed")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with out.open() as f:
        return {(r["name"], r["dtype"]): r for r in csv.DictReader(f)}


def test_every_kernel_is_reported_for_both_dtypes(reports) -> None:
    names = {name for name, _ in reports}
    assert {"dropout", "dropout_odd_numel", "dropout_strided", "bias_gelu_dropout", "bias_dropout_add", "bias_gelu_dropout_bwd",
            "dropout_add_layer_norm", "dropout_add_layer_norm_bwd", "dropout_add_rms_norm",
            "dropout_add_rms_norm_bwd"} <= names
    assert {dtype for _, dtype in reports} == {"bf16", "fp32"}
    assert all(r["arch"] == "90" and r["git_sha"] and r["triton"] for r in reports.values())


def test_no_kernel_spills_registers(reports) -> None:
    spilled = {key: r["spilled_bytes"] for key, r in reports.items() if int(r["spilled_bytes"])}
    assert not spilled, f"register spills (bytes of local memory): {spilled}"
    assert all(0 < int(r["registers"]) <= 255 for r in reports.values())


def test_contiguous_kernels_use_128_bit_accesses(reports) -> None:
    for (name, dtype), r in reports.items():
        if name == "dropout_strided":  # a transposed read is a gather: scalar loads are expected
            continue
        assert "ld.global.v4.b32" in r["global_loads"].split(), (name, dtype, r["global_loads"])
        assert "st.global.v4.b32" in r["global_stores"].split(), (name, dtype, r["global_stores"])
        # The norm kernels read or write two fp32 scalars per row (mean, rstd); an odd-sized tensor's
        # last block is masked element by element (8 loads and 8 stores per thread); the compiled path
        # loads its int32 keep threshold and float32 scale once; nothing else is narrow.
        allowed = {"dropout_odd_numel": 16, "dropout_keep_in_memory": 2}.get(name, 2 if "norm" in name else 0)
        assert int(r["narrow_accesses"]) <= allowed, (name, dtype, r["narrow_accesses"])


def test_one_philox_call_serves_eight_elements(reports) -> None:
    # Philox4x32-10 is 10 rounds of two 32-bit high multiplies (a few fold away in the first round).
    for (name, dtype), r in reports.items():
        per_call = float(r["mul_hi_per_philox_call"])
        if dtype == "bf16" or not (name == "dropout_strided" or "norm" in name):
            assert 12 <= per_call <= 20, (name, dtype, per_call)
        else:  # fp32 norm / strided tiles split a row of 8 over two threads, and each computes the row's call
            assert per_call <= 40, (name, dtype, per_call)
