"""The SIGKILL-and-resume harness the trainer tests share: kill ``dropkit train`` after a checkpoint, resume it,
and require the weights and metrics of an uninterrupted run, bit for bit."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file

from dropkit.train.run_dir import read_metrics

__all__ = ["assert_resume_after_sigkill_is_bit_identical"]


def assert_resume_after_sigkill_is_bit_identical(
    train_cmd: Callable[[Path, int], list[str]],
    tmp_path: Path,
    steps: int,
    env: Mapping[str, str],
    *,
    after_step: int = 50,
    timeout_s: float = 120.0,
) -> None:
    """SIGKILL ``train_cmd(killed, steps)`` once a checkpoint of step ``>= after_step`` exists, rerun it with
    ``--resume``, and compare with ``train_cmd(full, steps)`` run without a break.

    Args:
        train_cmd: ``(out folder, steps) -> argv`` of a ``dropkit train`` run that checkpoints often.
        tmp_path: where the two run folders go (``killed``, ``full``).
        steps: the run's length: long enough that the kill lands before the end.
        env: the child processes' environment.
        after_step: kill once a checkpoint of at least this step is written (default: 50).
        timeout_s: how long to wait for that checkpoint (default: 120).
    """
    full, killed = tmp_path / "full", tmp_path / "killed"
    with open(tmp_path / "killed.stderr", "wb") as stderr:  # a file, not a pipe: a full pipe would block the child
        proc = subprocess.Popen(train_cmd(killed, steps), env=dict(env), stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            ckpts = sorted((killed / "checkpoints").glob("step_*.safetensors")) if (killed / "checkpoints").exists() else []
            if any(int(p.stem[5:]) >= after_step for p in ckpts):
                break
            time.sleep(0.05)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert alive, (tmp_path / "killed.stderr").read_text()
    assert not (killed / "model.safetensors").exists(), "the run finished before it could be killed"
    resumed = subprocess.run(train_cmd(killed, steps) + ["--resume"], env=dict(env), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    uninterrupted = subprocess.run(train_cmd(full, steps), env=dict(env), capture_output=True, text=True)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    a, b = load_file(str(full / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ra, rb = read_metrics(full), read_metrics(killed)
    assert [r["step"] for r in ra] == [r["step"] for r in rb]
    assert [r["test_acc"] for r in ra] == [r["test_acc"] for r in rb]
