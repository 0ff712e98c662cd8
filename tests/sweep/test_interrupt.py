"""Ctrl-C in a local sweep: SIGINT to the driver, or to its whole process group as a terminal sends it,
stops every trial at once (no queued trial starts), keeps the checkpoints, marks the stopped trials
interrupted at their newest checkpoint, writes the partial tables and prints the command that resumes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dropkit.sweep import parse_sweep
from dropkit.sweep.trial import run_trial
from dropkit.train.interrupt import checkpoint_step, mark_interrupted

pytestmark = pytest.mark.xdist_group("sweep-kill")

ROOT = Path(__file__).resolve().parents[2]
STEPS = 20_000  # far more than the test waits for: no trial can finish before the signal
SPEC = {
    "name": "ctrl-c",
    "base": {"dataset": "digits", "hidden": [32], "steps": STEPS, "eval_every": 100},
    "grid": {"p": [0.0, 0.3, 0.5, 0.7]},
}


def _status(run: Path) -> str | None:
    try:
        return json.loads((run / "summary.json").read_text())["status"]
    except (FileNotFoundError, ValueError, KeyError):
        return None


def _progressed(trials: Path) -> bool:
    """Some trial is running and has a checkpoint past step 0."""
    return any(
        _status(run) == "running" and (checkpoint_step(run) or 0) > 0 for run in trials.glob("*") if run.is_dir()
    )


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
        for kid in kids:
            out += [kid, *_descendants(kid)]
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("target", ["driver", "group"])
def test_ctrl_c_stops_a_local_sweep_at_once_and_says_how_to_resume(tmp_path: Path, target: str) -> None:
    spec_file = tmp_path / "ctrl-c.yaml"
    spec_file.write_text(json.dumps(SPEC))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dropkit.cli.main", "sweep", str(spec_file), "--out", str(out), "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        end = time.monotonic() + 120
        while not _progressed(out / "trials"):
            assert driver.poll() is None, driver.communicate()[0][-3000:]
            assert time.monotonic() < end, "timed out waiting for a trial to make progress"
            time.sleep(0.05)
        processes = _descendants(driver.pid)
        if target == "group":
            os.killpg(driver.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        else:
            os.kill(driver.pid, signal.SIGINT)
        output, _ = driver.communicate(timeout=20)  # before: every trial ran to its end, 40 s and more
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    assert driver.returncode == 130, output[-3000:]
    # The workers are gone; the fork server and resource tracker follow once they see the driver's end.
    end = time.monotonic() + 10
    while [p for p in processes if _alive(p)] and time.monotonic() < end:
        time.sleep(0.05)
    assert not [p for p in processes if _alive(p)], "processes left running after the sweep stopped"

    trials = sorted(p for p in (out / "trials").iterdir())
    started = [run for run in trials if (run / "config.yaml").exists()]
    assert 1 <= len(started) <= 2, "a queued trial started after Ctrl-C"  # two workers: at most two ran
    for run in started:
        summary = json.loads((run / "summary.json").read_text())
        step = checkpoint_step(run)
        assert step is not None and step < STEPS  # its checkpoints are kept
        assert summary["status"] == "interrupted" and summary["step"] == step, summary
        assert summary["final"]["step"] == step
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 4
    assert sorted(r["status"] for r in rows) == sorted(["interrupted"] * len(started) + ["pending"] * (4 - len(started)))
    assert json.loads((out / "sweep.json").read_text())["status"] == "interrupted"
    assert f"resume with: dropkit sweep {spec_file} --out {out} --workers 2" in output
    assert "Traceback" not in output


def test_an_interrupted_trial_resumes_from_its_checkpoint_to_the_uninterrupted_result(tmp_path: Path) -> None:
    (trial,) = parse_sweep({"base": {"dataset": "digits", "hidden": [16], "steps": 60, "eval_every": 20, "keep_checkpoints": 5}, "grid": {"p": [0.5]}}).trials()
    ref = tmp_path / "ref" / "trials" / trial.trial_id
    run_trial(trial.values, str(ref))
    run = tmp_path / "stopped" / "trials" / trial.trial_id
    # What an interrupt after step 20 leaves: rows and checkpoints up to 20, a row past it, status running.
    (run / "checkpoints").mkdir(parents=True)
    for name in ("config.yaml", "env.json"):
        (run / name).write_bytes((ref / name).read_bytes())
    rows = (ref / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join(rows[:3]) + "\n")
    for step in (0, 20):
        name = f"step_{step:08d}.safetensors"
        (run / "checkpoints" / name).write_bytes((ref / "checkpoints" / name).read_bytes())
    (run / "summary.json").write_text(json.dumps({"status": "running", "step": 0, "total_steps": 60}))
    summary = mark_interrupted(run)
    assert (summary["status"], summary["step"], summary["final"]["step"]) == ("interrupted", 20, 20)
    assert run_trial(trial.values, str(run))["status"] == "completed"
    assert json.loads((run / "summary.json").read_text())["test_acc"] == json.loads((ref / "summary.json").read_text())["test_acc"]
