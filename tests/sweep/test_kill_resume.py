"""Kill a running sweep (SIGKILL to a worker, then to the driver) and rerun it: every trial exactly once,
the interrupted ones continued from their checkpoints to the same numbers as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from safetensors.torch import load_file

from dropkit.sweep import parse_sweep, read_table
from dropkit.sweep.trial import run_trial
from dropkit.train.run_dir import read_metrics

pytestmark = pytest.mark.xdist_group("sweep-kill")

ROOT = Path(__file__).resolve().parents[2]
SPEC = {
    "name": "kill",
    "base": {"dataset": "digits", "hidden": [64], "steps": 400, "eval_every": 50},
    "grid": {"p": [0.0, 0.3, 0.5, 0.7]},
}


def _wait(cond: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def _workers(driver: int) -> list[int]:
    """The driver's pool workers: children of its fork server (or its spawned children), alive."""
    out = []
    for pid in _children(driver):
        cmd = _cmdline(pid)
        if b"forkserver" in cmd:
            out += _children(pid)
        elif b"spawn_main" in cmd:
            out.append(pid)
    return sorted(p for p in out if _alive(p))


def _status(run: Path) -> str | None:
    try:
        return json.loads((run / "summary.json").read_text())["status"]
    except (FileNotFoundError, ValueError):
        return None


def _in_progress(trials: Path) -> list[Path]:
    """Trial folders with a checkpoint past step 0 that are not finished yet."""
    out = []
    for run in trials.glob("*"):
        ckpts = [p for p in (run / "checkpoints").glob("step_*.safetensors") if p.name != "step_00000000.safetensors"]
        if ckpts and _status(run) == "running":
            out.append(run)
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and relies on the parent-death signal")
def test_killed_sweep_resumes_with_every_trial_exactly_once(tmp_path: Path) -> None:
    spec_file = tmp_path / "kill.yaml"
    spec_file.write_text(json.dumps(SPEC))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dropkit.cli.main", "sweep", str(spec_file), "--out", str(out), "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    log = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # 1. SIGKILL a worker in the middle of a trial: the driver rebuilds its pool and goes on.
        _wait(lambda: bool(_in_progress(out / "trials")) and len(_workers(driver.pid)) == 2, "a trial in progress")
        first = _workers(driver.pid)
        seen = set((out / "trials").glob("*/checkpoints/step_*.safetensors"))
        os.kill(first[0], signal.SIGKILL)
        _wait(lambda: bool(set(_workers(driver.pid)) - set(first)), "the pool to be rebuilt")
        # A checkpoint written by the rebuilt pool, of a trial still running.
        _wait(
            lambda: any(set((run / "checkpoints").glob("step_*.safetensors")) - seen for run in _in_progress(out / "trials")),
            "a trial to make progress after the rebuild",
        )
        # 2. SIGKILL the driver: its workers die with it (parent-death signal), nothing is left running.
        workers = _workers(driver.pid)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        _wait(lambda: not any(_alive(p) for p in workers), "the workers to die with the driver", timeout=20)
    finally:
        if driver.poll() is None:
            driver.kill()
        log.close()
    assert driver.returncode == -signal.SIGKILL
    interrupted = [run for run in (out / "trials").glob("*") if _status(run) != "completed"]
    assert interrupted, "the kill came after every trial had finished"

    # 3. The same command again finishes the sweep.
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "4 trials (" in res.stdout
    trial_ids = [t.trial_id for t in parse_sweep(SPEC).trials()]
    rows = read_table(out / "results.parquet")
    assert [r["trial_id"] for r in rows] == trial_ids  # one row per trial, none lost, none twice
    assert {r["status"] for r in rows} == {"completed"}
    for trial_id in trial_ids:
        steps = [m["step"] for m in read_metrics(out / "trials" / trial_id)]
        assert steps == list(range(0, 401, 50)), trial_id
    assert sorted(p.name for p in (out / "trials").iterdir()) == sorted(trial_ids)
    assert not list(out.rglob("*.tmp"))

    # 4. An interrupted trial, continued from its checkpoint, equals the same trial run without a break.
    by_id = {t.trial_id: t for t in parse_sweep(SPEC).trials()}
    run = interrupted[0]
    ref = tmp_path / "reference" / run.name
    run_trial(by_id[run.name].values, str(ref))
    a, b = load_file(str(run / "model.safetensors")), load_file(str(ref / "model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]  # noqa: E731
    assert strip(read_metrics(run)) == strip(read_metrics(ref))


def test_a_trial_killed_after_its_first_checkpoint_resumes_without_a_duplicate_row(tmp_path: Path) -> None:
    (trial,) = parse_sweep({"base": {"dataset": "digits", "hidden": [16], "steps": 40, "eval_every": 20, "keep_checkpoints": 5}, "grid": {"p": [0.5]}}).trials()
    ref = tmp_path / "ref" / "trials" / trial.trial_id
    run_trial(trial.values, str(ref))
    # The state a kill right after step 0 leaves behind: the step-0 row and checkpoint, status running.
    run = tmp_path / "killed" / "trials" / trial.trial_id
    run.mkdir(parents=True)
    for name in ("config.yaml", "env.json"):
        (run / name).write_bytes((ref / name).read_bytes())
    (run / "checkpoints").mkdir()
    (run / "checkpoints/step_00000000.safetensors").write_bytes((ref / "checkpoints/step_00000000.safetensors").read_bytes())
    (run / "metrics.jsonl").write_text((ref / "metrics.jsonl").read_text().splitlines()[0] + "\n")
    (run / "summary.json").write_text(json.dumps({"status": "running", "step": 0}))
    assert run_trial(trial.values, str(run))["status"] == "completed"
    assert [m["step"] for m in read_metrics(run)] == [0, 20, 40]
    a, b = load_file(str(run / "model.safetensors")), load_file(str(ref / "model.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)
