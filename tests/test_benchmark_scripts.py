"""The benchmark scripts run end to end on tiny sizes and write the CSV columns their README documents.

Times are not checked (shared machines); what is checked is that each script runs, measures what it says
(bytes kept for backward, speed-up column) and writes a complete CSV.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> None:
    full_env = {**os.environ, "TRITON_INTERPRET": "1", **(env or {})}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_bench_kernels_smoke_measures_zero_mask_bytes(tmp_path: Path) -> None:
    pytest.importorskip("triton")
    out = tmp_path / "kernels.csv"
    _run("bench_kernels.py", "--smoke", "--dtypes", "bf16", "--modes", "full", "--providers", "torch,dropkit,copy",
         "--out", str(out))
    rows = _rows(out)
    drop = {(r["provider"], int(r["numel"])): r for r in rows if r["op"] == "dropout" and not r["variant"]}
    assert set(drop) == {(p, n) for p in ("torch", "dropkit", "copy") for n in (1024, 4096)}
    variants = {(r["op"], r["variant"]) for r in rows if r["variant"]}  # one of each list in a smoke run
    assert variants == {("dropout", "block=1024,num_warps=4"),
                        ("bias_dropout_add_layer_norm", "bwd_programs_per_sm=2,bwd_stages=2")}
    for n in (1024, 4096):  # torch keeps a bf16 mask; dropkit a 16-byte [seed, offset] per call
        assert float(drop[("torch", n)]["saved_bytes_per_elem"]) == pytest.approx(2.0)
        assert float(drop[("dropkit", n)]["saved_bytes_per_elem"]) == pytest.approx(16 / n, abs=1e-4)  # 4 decimals
    assert any(r["op"] == "bias_dropout_add_layer_norm" and r["provider"] == "dropkit" for r in rows)
    assert all(r["device"] and r["torch"] and r["date"] for r in rows)


def test_bench_dropout_cpu_has_every_provider(tmp_path: Path) -> None:
    out = tmp_path / "dropout_cpu.csv"
    # 2**15 elements: above native_mask.SMALL_MASK_NUMEL, where the bool mask (1 B/elem) is kept.
    _run("bench_dropout_cpu.py", "--min-log2", "15", "--max-log2", "15", "--dtypes", "fp32", "--repeats", "2",
         "--out", str(out))
    rows = _rows(out)
    kept = {(r["provider"], r["mode"]): float(r["saved_bytes_per_elem"]) for r in rows}
    providers = {"torch", "torch.compile", "dropkit-native", "dropkit-native+compile", "dropkit-portable",
                 "dropkit-portable+compile", "copy"}
    assert set(kept) == {(p, m) for p in providers for m in ("forward", "full")}
    assert kept[("torch", "full")] == 4.0 and kept[("dropkit-native", "full")] == 1.0
    assert kept[("copy", "full")] == 0.0


def test_bench_mc_predict_reports_speedup(tmp_path: Path) -> None:
    out = tmp_path / "mc.csv"
    _run("bench_mc_predict.py", "--samples", "3", "--batch", "64", "--repeats", "1", "--out", str(out))
    rows = _rows(out)
    assert [r["provider"] for r in rows] == ["loop", "mc_predict", "mc_predict_no_prefix"]
    assert rows[0]["speedup_vs_loop"] == "1.00" and all(float(r["speedup_vs_loop"]) > 0 for r in rows)


def test_bench_drop_connect_measures_the_kept_mask(tmp_path: Path) -> None:
    out = tmp_path / "dc.csv"
    # 128 x 160 weights: above native_mask.SMALL_MASK_NUMEL, where the bool mask (1 B/weight) is kept.
    _run("bench_drop_connect.py", "--rows", "128", "--cols", "160", "--ps", "0.5", "--repeats", "5", "--out", str(out))
    kept = {(r["provider"], r["mode"]): float(r["saved_bytes_per_weight"]) for r in _rows(out)}
    assert kept == {("torch-bernoulli", "forward"): 4.0, ("torch-bernoulli", "full"): 4.0,
                    ("dropkit", "forward"): 1.0, ("dropkit", "full"): 1.0}


# PEFT 0.21 calls a transformers 5 method that is deprecated (is_gradient_checkpointing): not ours.
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_bench_lora_dropout_measures_the_activation_copy_fusing_removes(tmp_path: Path, monkeypatch) -> None:
    # In-process (runpy), with the arguments a user would type.
    pytest.importorskip("peft")
    import runpy

    out = tmp_path / "lora.csv"
    monkeypatch.setattr(sys, "argv", ["bench_lora_dropout.py", "--batch", "2", "--seq", "32", "--hidden", "64",
                                      "--intermediate", "128", "--layers", "2", "--heads", "2", "--vocab", "100",
                                      "--repeats", "2", "--out", str(out)])
    runpy.run_path(str(ROOT / "benchmarks" / "bench_lora_dropout.py"), run_name="__main__")
    saved = {r["provider"]: float(r["saved_mb"]) for r in _rows(out)}
    assert list(saved) == ["peft p=0", "peft p=0.1", "peft p=0.1 + fuse_lora_dropout"]
    # Dropout adds the dropped copies (and masks); fused, only a 5056-byte generator state per adapter remains.
    assert saved["peft p=0.1"] > saved["peft p=0"]
    assert saved["peft p=0.1 + fuse_lora_dropout"] == pytest.approx(saved["peft p=0"], abs=14 * 5056 / 2**20 + 0.1)
