"""A tiny sweep on ``digits`` end to end: local pool, results and aggregate tables, resume, and Ray."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import scipy.stats

from dropkit.cli.main import main
from dropkit.report import build_report
from dropkit.sweep import parse_sweep, read_table, run_sweep
from dropkit.sweep.aggregate import METRIC_RANGES

# One pytest worker runs this module, so the sweep below runs once for all its tests.
pytestmark = pytest.mark.xdist_group("sweep")

TINY = {
    "name": "tiny",
    "base": {"dataset": "digits", "hidden": [32], "steps": 60, "eval_every": 20},
    "grid": {"p": [0.0, 0.5], "seed": [0, 1, 2]},
}
# Times, and where a Ray trial ran (node id and IP, attempts: columns only ray rows have).
VOLATILE = ("wall_time", "wall_time_mean", "wall_time_std", "wall_time_ci_low", "wall_time_ci_high", "node_id", "node_ip", "attempts")


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    (root / "tiny.yaml").write_text(json.dumps(TINY))
    out = root / "out"
    assert main(["sweep", str(root / "tiny.yaml"), "--out", str(out), "--workers", "2"]) == 0
    return out


def _same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert {k: v for k, v in ra.items() if k not in VOLATILE} == {k: v for k, v in rb.items() if k not in VOLATILE}


def test_local_sweep_writes_one_run_folder_and_one_row_per_trial(local_sweep: Path) -> None:
    trials = json.loads((local_sweep / "trials.json").read_text())
    assert len(trials) == 6
    rows = read_table(local_sweep / "results.parquet")
    assert [r["trial_id"] for r in rows] == [t["trial_id"] for t in trials]
    assert {r["status"] for r in rows} == {"completed"}
    assert sorted((r["p"], r["seed"]) for r in rows) == sorted((p, s) for p in (0.0, 0.5) for s in (0, 1, 2))
    for r in rows:
        run = local_sweep / "trials" / r["trial_id"]
        summary = json.loads((run / "summary.json").read_text())
        assert r["test_acc"] == summary["test_acc"] and r["best_test_acc"] == summary["best_test_acc"]
        assert r["step"] == 60 and r["hidden"] == "[32]" and r["dataset"] == "digits"
        assert (run / "model.safetensors").is_file()
    with open(local_sweep / "results.csv") as f:
        csv_rows = list(csv.DictReader(f))
    assert [c["trial_id"] for c in csv_rows] == [r["trial_id"] for r in rows]
    assert [float(c["test_acc"]) for c in csv_rows] == [r["test_acc"] for r in rows]
    sweep = json.loads((local_sweep / "sweep.json").read_text())
    assert sweep["status_counts"] == {"completed": 6} and sweep["executor"] == "local"
    assert not list(local_sweep.rglob("*.tmp"))


def test_aggregate_holds_mean_and_t_interval_over_seeds(local_sweep: Path) -> None:
    rows = read_table(local_sweep / "results.parquet")
    agg = read_table(local_sweep / "aggregate.parquet")
    assert [(a["p"], a["n"], a["seeds"]) for a in agg] == [(0.0, 3, "0,1,2"), (0.5, 3, "0,1,2")]
    for a in agg:
        for metric in ("test_acc", "gap", "train_loss"):
            values = [r[metric] for r in rows if r["p"] == a["p"]]
            mean = sum(values) / 3
            sem = scipy.stats.sem(values)
            low, high = scipy.stats.t.interval(0.95, df=2, loc=mean, scale=sem)
            lowest, highest = METRIC_RANGES[metric]  # the ends are cut at what the metric can be
            low, high = min(max(low, lowest), highest), min(max(high, lowest), highest)
            assert a[f"{metric}_mean"] == pytest.approx(mean, rel=1e-12)
            assert a[f"{metric}_std"] == pytest.approx(sem * math.sqrt(3), rel=1e-12)
            assert (a[f"{metric}_ci_low"], a[f"{metric}_ci_high"]) == pytest.approx((low, high), rel=1e-12)
    with open(local_sweep / "aggregate.csv") as f:
        assert len(list(csv.DictReader(f))) == 2


def test_rerunning_a_finished_sweep_runs_nothing_and_keeps_the_table(local_sweep: Path) -> None:
    before = read_table(local_sweep / "results.parquet")
    index_before = json.loads((local_sweep / "sweep.json").read_text())
    outcome = run_sweep(parse_sweep(TINY), local_sweep, workers=2)
    assert outcome.ran == 0 and outcome.skipped == 6
    _same(read_table(local_sweep / "results.parquet"), before)
    # The sweep's wall time and counts stay those of the invocation that ran the trials; the rerun is
    # one more entry of the history, with its own (short) time.
    index = json.loads((local_sweep / "sweep.json").read_text())
    assert len(index["invocations"]) == 2
    first, rerun = index["invocations"]
    assert (index["wall_time"], index["ran"], index["skipped"]) == (index_before["wall_time"], 6, 0)
    assert index["wall_time"] == first["wall_time"] and index["status_counts"] == {"completed": 6}
    assert (first["ran"], first["skipped"], rerun["ran"], rerun["skipped"], rerun["failed"]) == (6, 0, 0, 6, 0)
    assert rerun["wall_time"] == pytest.approx(outcome.wall_time) and rerun["started"] >= first["started"]
    page = build_report(local_sweep).read_text()
    assert f'sweep wall time (s)</th><td class="k">{index["wall_time"]:.4f}</td>' in page  # the sweep's, not the rerun's
    assert 'sweep invocations</th><td class="k">2 (1 ran trials' in page and "<h2>Invocations</h2>" in page


def test_ray_executor_gives_the_same_rows(local_sweep: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    # The seed-0 trials only (Ray starts slowly on a busy machine); same ids, so rows can be matched.
    spec = parse_sweep({**TINY, "grid": {"p": [0.0, 0.5], "seed": [0]}})
    outcome = run_sweep(spec, tmp_path / "ray", executor="ray", workers=2)
    assert outcome.ran == 2 and not outcome.failed
    assert json.loads((tmp_path / "ray/sweep.json").read_text())["executor"] == "ray"
    local = {r["trial_id"]: r for r in read_table(local_sweep / "results.parquet")}
    ray_rows = read_table(tmp_path / "ray/results.parquet")
    assert len(ray_rows) == 2
    _same(ray_rows, [local[r["trial_id"]] for r in ray_rows])
