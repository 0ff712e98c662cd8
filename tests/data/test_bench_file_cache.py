"""``benchmarks/bench_file_cache.py`` runs end to end (smoke size) and writes every provider's row; times
are not checked (shared machines)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_file_cache_smoke_writes_each_provider(tmp_path: Path) -> None:
    out = tmp_path / "file_cache.csv"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_file_cache.py"), "--smoke", "--out", str(out)],
                          cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["provider"] for r in rows] == ["decode", "decode+write", "cached"]
    assert all(float(r["median_s"]) > 0 and int(r["num_train"]) == 160 and int(r["cache_bytes"]) > 0 for r in rows)
