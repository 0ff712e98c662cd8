"""benchmarks/bench_audit.py runs end to end on tiny batches and writes its documented columns (times unchecked)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_audit_smoke(tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_audit.py"), "--smoke", "--repeats", "1",
                           "--out", str(out)], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["model"], r["provider"]) for r in rows} == {
        (m, p) for m in ("seed-mlp", "mnist1d-transformer", "nn.TransformerEncoder(4x64)") for p in ("forward", "audit")
    }
    ops = {r["model"]: int(r["random_ops"]) for r in rows}
    assert ops == {"seed-mlp": 2, "mnist1d-transformer": 18, "nn.TransformerEncoder(4x64)": 16}
    assert all(float(r["median_s"]) > 0 and r["torch"] and r["date"] for r in rows)
