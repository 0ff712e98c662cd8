"""``dropkit train --tensorboard``: the event files hold every metrics row, once, also after a resume."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from dropkit.cli.main import main  # noqa: E402
from dropkit.report.tensorboard import SCALARS, TensorBoardLogger  # noqa: E402
from dropkit.train.run_dir import read_metrics  # noqa: E402

TINY = ["--dataset", "digits", "--hidden", "32", "--p", "0.5", "--steps", "60", "--eval-every", "20",
        "--checkpoint-every", "40", "--threads", "1", "--no-progress"]


def _events(run: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _expected(run: Path) -> dict[str, list[tuple[int, float]]]:
    want: dict[str, list[tuple[int, float]]] = {}
    for row in read_metrics(run):
        for key, tag in SCALARS.items():
            if row.get(key) is not None:
                want.setdefault(tag, []).append((row["step"], float(row[key])))
    return want


def _assert_same(got: dict[str, list[tuple[int, float]]], want: dict[str, list[tuple[int, float]]]) -> None:
    assert set(got) == set(want)
    for tag, points in want.items():
        assert [s for s, _ in got[tag]] == [s for s, _ in points], tag
        for (_, a), (_, b) in zip(got[tag], points):
            assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7), (tag, a, b)  # stored as float32


def test_train_logs_every_metrics_row(tmp_path: Path) -> None:
    run = tmp_path / "r"
    assert main(["train", *TINY, "--tensorboard", "--out", str(run)]) == 0
    got = _events(run)
    _assert_same(got, _expected(run))
    assert set(got) == set(SCALARS.values())
    assert [s for s, _ in got["accuracy/test"]] == [0, 20, 40, 60]
    assert [s for s, _ in got["dropout/p_measured"]] == [20, 40, 60]  # nothing measured before the first step


def test_resume_after_a_crash_logs_each_step_once(tmp_path: Path) -> None:
    run = tmp_path / "r"
    assert main(["train", *TINY, "--tensorboard", "--out", str(run)]) == 0
    # A crash after the step-60 eval and before its checkpoint: the events of step 60 are written,
    # the newest checkpoint is step 40. The resumed run logs step 60 again; TensorBoard must show it once.
    (run / "checkpoints/step_00000060.safetensors").unlink()
    (run / "model.safetensors").unlink()
    (run / "summary.json").write_text(json.dumps({"status": "running", "step": 40}))
    assert main(["train", "--resume", "--tensorboard", "--out", str(run)]) == 0
    assert len(list((run / "tensorboard").iterdir())) == 2  # one event file per session
    _assert_same(_events(run), _expected(run))


def test_a_refused_run_leaves_the_folder_alone(tmp_path: Path) -> None:
    run = tmp_path / "r"
    assert main(["train", *TINY, "--out", str(run)]) == 0
    assert main(["train", *TINY, "--tensorboard", "--out", str(run)]) == 2  # holds a run: no --resume
    assert not (run / "tensorboard").exists()


def test_missing_package_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(ImportError, match="pip install tensorboard"):
        TensorBoardLogger(tmp_path)
    assert main(["train", *TINY, "--tensorboard", "--out", str(tmp_path / "r")]) == 2
    assert "--tensorboard needs the tensorboard package" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
