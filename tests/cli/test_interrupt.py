"""Ctrl-C (SIGINT) or SIGTERM to ``dropkit train``: the run is marked interrupted at its newest checkpoint,
the command that resumes it is printed, and that command finishes the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dropkit.cli.main import main
from dropkit.train.interrupt import checkpoint_step
from dropkit.train.run_dir import read_metrics

ROOT = Path(__file__).resolve().parents[2]
STEPS = 20_000


def _start(out: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "dropkit.cli.main", "train", "--dataset", "digits", "--hidden", "16", "--steps", str(STEPS),
           "--eval-every", "100", "--threads", "1", "--no-progress", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for_checkpoint(proc: subprocess.Popen[str], out: Path, at_least: int) -> None:
    end = time.monotonic() + 120
    while (checkpoint_step(out) or 0) < at_least:
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.monotonic() < end, "timed out waiting for a checkpoint"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_is_marked_at_its_checkpoint_and_says_how_to_resume(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "run"
    proc = _start(out)
    try:
        _wait_for_checkpoint(proc, out, 200)
        os.killpg(proc.pid, sig)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, output[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    step = checkpoint_step(out)
    assert summary["status"] == "interrupted" and summary["step"] == step and 200 <= step < STEPS, summary
    assert summary["final"]["step"] == step and summary["test_acc"] == summary["final"]["test_acc"]
    assert f"interrupted at step {step} of {STEPS}" in output
    assert f"resume with: dropkit train --resume --out {out}" in output
    assert "Traceback" not in output
    if sig == signal.SIGINT:  # the printed command finishes the run (shortened here: the same run, fewer steps)
        cfg = (out / "config.yaml").read_text().replace(f"steps: {STEPS}", f"steps: {step + 100}")
        (out / "config.yaml").write_text(cfg)
        assert main(["train", "--resume", "--out", str(out)]) == 0
        assert json.loads((out / "summary.json").read_text())["status"] == "completed"
        assert [r["step"] for r in read_metrics(out)] == list(range(0, step + 101, 100))
