"""The trainer end to end on small real data: run folder contents, resume bit-identity, divergence."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dropkit.train.config import Config
from dropkit.train.run_dir import METRIC_KEYS, load_model, read_metrics
from dropkit.train.trainer import TrainingDiverged, epoch_order, lr_at, train_run
from tests.kill_resume import assert_resume_after_sigkill_is_bit_identical

TINY = dict(dataset="digits", hidden=[32], p=0.3, steps=60, eval_every=20, progress=False, threads=1)


def test_run_folder_holds_config_metrics_summary_env_checkpoints(tmp_path: Path) -> None:
    summary = train_run(Config(**TINY), tmp_path / "run")
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "env.json", "model.safetensors"):
        assert (run / name).is_file(), name
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [0, 20, 40, 60]
    assert set(METRIC_KEYS) <= set(rows[-1])
    assert rows[-1]["p"] == pytest.approx(0.3)
    assert 0.0 < rows[-1]["p_measured"] < 1.0
    assert rows[-1]["gap"] == pytest.approx(rows[-1]["train_acc"] - rows[-1]["test_acc"])
    assert summary["status"] == "completed" and summary["step"] == 60
    env = json.loads((run / "env.json").read_text())
    assert env["seed"] == 0 and env["torch"] == torch.__version__
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000040.safetensors", "step_00000060.safetensors"]
    assert not list(run.rglob("*.tmp"))
    cfg, model = load_model(run)
    assert not model.training and cfg.hidden == [32]


def test_same_seed_same_weights_and_learning_happens(tmp_path: Path) -> None:
    cfg = Config(**{**TINY, "steps": 150, "eval_every": 150})
    a = train_run(cfg, tmp_path / "a")
    train_run(cfg, tmp_path / "b")
    wa, wb = load_file(str(tmp_path / "a/model.safetensors")), load_file(str(tmp_path / "b/model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a["test_acc"] > 0.5  # 10 classes: chance is 0.1


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    cpu = torch.device("cpu")
    assert torch.equal(epoch_order(1, 3, 50, cpu), epoch_order(1, 3, 50, cpu))
    assert not torch.equal(epoch_order(1, 3, 50, cpu), epoch_order(1, 4, 50, cpu))
    assert sorted(epoch_order(0, 0, 50, cpu).tolist()) == list(range(50))


def test_lr_schedules_are_pure_functions_of_the_step() -> None:
    cfg = Config(lr=0.1, lr_schedule="cosine")
    assert lr_at(cfg, 0, 100) == pytest.approx(0.1) and lr_at(cfg, 100, 100) == pytest.approx(0.0)
    step_cfg = Config(lr=0.1, lr_schedule="step")
    assert [lr_at(step_cfg, s, 100) for s in (0, 50, 75)] == pytest.approx([0.1, 0.01, 0.001])


def test_refuses_to_overwrite_an_existing_run(tmp_path: Path) -> None:
    train_run(Config(**{**TINY, "steps": 5, "eval_every": 5}), tmp_path / "r")
    with pytest.raises(ValueError, match="already holds a run"):
        train_run(Config(**{**TINY, "steps": 5, "eval_every": 5}), tmp_path / "r")


def test_resume_refuses_a_different_config(tmp_path: Path) -> None:
    train_run(Config(**{**TINY, "steps": 5, "eval_every": 5}), tmp_path / "r")
    with pytest.raises(ValueError, match="p: 0.3 in the run, 0.6 given"):
        train_run(Config(**{**TINY, "steps": 5, "eval_every": 5, "p": 0.6}), tmp_path / "r", resume=True)


def test_divergence_stops_with_clear_message_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    cfg = Config(**{**TINY, "optimizer": "sgd", "lr": 1e30, "steps": 50, "eval_every": 1000, "checkpoint_every": 1000})
    with pytest.raises(TrainingDiverged, match="loss became (nan|inf)"):
        train_run(cfg, tmp_path / "nan")
    summary = json.loads((tmp_path / "nan/summary.json").read_text())
    assert summary["status"] == "diverged" and "last good checkpoint (step 0)" in summary["message"]
    assert [p.name for p in (tmp_path / "nan/checkpoints").iterdir()] == ["step_00000000.safetensors"]


def _train_cmd(out: Path, steps: int) -> list[str]:
    return [
        sys.executable, "-m", "dropkit.cli.main", "train", "--dataset", "digits", "--hidden", "64,64",
        "--p", "0.5", "--steps", str(steps), "--eval-every", "25", "--threads", "1", "--no-progress", "--out", str(out),
    ]


def test_resume_after_sigkill_is_bit_identical(tmp_path: Path) -> None:
    assert_resume_after_sigkill_is_bit_identical(_train_cmd, tmp_path, 4000, {**os.environ, "PYTHONUNBUFFERED": "1"})
