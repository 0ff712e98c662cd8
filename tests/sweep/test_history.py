"""``sweep.json`` keeps the history of invocations; the sweep's wall time and counts are over it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from dropkit.sweep.history import read_invocations, record_invocation, sweep_totals

STATE = {"name": "tiny", "executor": "local", "trials": 6, "status_counts": {"completed": 6}}


def _run(wall: float, ran: int, skipped: int, failed: int = 0, started: str = "2026-12-03T10:00:00+00:00") -> dict:
    return {"started": started, "wall_time": wall, "ran": ran, "skipped": skipped, "failed": failed, "executor": "local"}


def test_a_rerun_that_skips_everything_keeps_the_sweeps_time_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    record_invocation(path, STATE, _run(18.0, 6, 0))
    data = record_invocation(path, STATE, _run(0.9, 0, 6))
    assert (data["wall_time"], data["ran"], data["skipped"]) == (18.0, 6, 0)
    assert [r["wall_time"] for r in data["invocations"]] == [18.0, 0.9]
    assert json.loads(path.read_text()) == data and data["status_counts"] == {"completed": 6}


def test_an_interrupted_sweep_and_its_resume_add_up(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    record_invocation(path, STATE, _run(7.5, 6, 0, failed=3))  # 3 trials failed or were cut short
    record_invocation(path, STATE, _run(4.0, 3, 3))
    data = record_invocation(path, STATE, _run(0.8, 0, 6))
    assert data["wall_time"] == 7.5 + 4.0 and data["ran"] == 9 and data["skipped"] == 0
    assert [r["failed"] for r in data["invocations"]] == [3, 0, 0]


def test_a_sweep_json_written_before_the_history_becomes_its_first_record(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    old = {**STATE, "ran": 6, "skipped": 0, "failed": {}, "wall_time": 18.0, "trial_time_sum": 30.0}
    path.write_text(json.dumps(old))
    data = record_invocation(path, STATE, _run(0.9, 0, 6))
    assert [(r["started"], r["wall_time"], r["ran"]) for r in data["invocations"]] == [(None, 18.0, 6), ("2026-12-03T10:00:00+00:00", 0.9, 0)]
    assert data["wall_time"] == 18.0
    assert read_invocations({"name": "x"}) == [] and sweep_totals([]) == {"wall_time": 0.0, "ran": 0, "skipped": 0}


def test_only_reruns_give_their_own_time_when_no_invocation_ran_trials() -> None:
    assert sweep_totals([_run(0.9, 0, 6), _run(1.1, 0, 6)])["wall_time"] == 0.9 + 1.1


def test_drivers_finishing_at_once_all_land_in_the_history(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    start = threading.Barrier(8)

    def driver(i: int) -> None:
        start.wait()
        record_invocation(path, STATE, _run(float(i + 1), 1, 0))

    threads = [threading.Thread(target=driver, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    data = json.loads(path.read_text())
    assert sorted(r["wall_time"] for r in data["invocations"]) == [float(i + 1) for i in range(8)]
    assert data["wall_time"] == sum(range(1, 9)) and data["ran"] == 8
