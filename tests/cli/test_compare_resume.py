"""``dropkit compare --resume`` finishes an interrupted compare; ``--out`` refuses folders that hold other things."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

import dropkit.cli.compare as compare_cli
from dropkit.cli.main import main
from dropkit.train.trainer import train_run

TINY = ["--dataset", "digits", "--hidden", "16", "--steps", "40", "--eval-every", "20", "--threads", "1", "--no-progress"]


def test_an_interrupted_compare_resumes_to_the_uninterrupted_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted_at_the_last_eval_of_the_dropout_run(cfg: Any, folder: Path, **kw: Any) -> Any:
        def on_eval(row: dict[str, Any]) -> None:
            if cfg.p > 0 and row["step"] == 40:  # checkpoints 0 and 20 are written, 40 not yet
                signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, delivered in the middle of the run

        return train_run(cfg, folder, on_eval=on_eval, **kw)

    out = tmp_path / "c"
    with monkeypatch.context() as m:
        m.setattr(compare_cli, "train_run", interrupted_at_the_last_eval_of_the_dropout_run)
        assert main(["compare", *TINY, "--p", "0.5", "--out", str(out)]) == 130
    printed = capsys.readouterr().out
    assert f"resume with: dropkit compare --resume --out {out}" in printed
    assert json.loads((out / "compare.json").read_text())["status"] == "interrupted"
    assert json.loads((out / "p0/summary.json").read_text())["status"] == "completed"
    stopped = json.loads((out / "p0.5/summary.json").read_text())
    assert (stopped["status"], stopped["step"]) == ("interrupted", 20)
    p0_model = (out / "p0/model.safetensors").read_bytes()

    assert main(["compare", "--resume", "--out", str(out)]) == 0  # before: "unrecognized arguments: --resume"
    assert (out / "p0/model.safetensors").read_bytes() == p0_model  # the completed run is kept, not retrained
    resumed = json.loads((out / "compare.json").read_text())
    assert resumed["status"] == "completed" and (out / "curves.png").exists()

    assert main(["compare", *TINY, "--p", "0.5", "--out", str(tmp_path / "ref")]) == 0
    ref = json.loads((tmp_path / "ref/compare.json").read_text())
    for label in ref["results"]:
        for key in ("train_acc", "test_acc", "best_test_acc"):
            assert resumed["results"][label][key] == ref["results"][label][key], (label, key)


def test_compare_out_refuses_a_train_run_a_file_and_an_earlier_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *TINY, "--out", str(tmp_path / "run")]) == 0
    before = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert main(["compare", *TINY, "--p", "0.5", "--out", str(tmp_path / "run")]) == 2
    assert "is a train run folder" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == before  # nothing written into it
    (tmp_path / "file").write_text("x")
    assert main(["compare", *TINY, "--p", "0.5", "--out", str(tmp_path / "file")]) == 2
    assert "must be a folder" in capsys.readouterr().err
    assert main(["compare", *TINY, "--p", "0.5", "--out", str(tmp_path / "c")]) == 0
    assert main(["compare", *TINY, "--p", "0.5", "--out", str(tmp_path / "c")]) == 2
    assert "pass --resume to finish it" in capsys.readouterr().err
    assert main(["compare", "--resume", "--out", str(tmp_path / "run")]) == 2
    assert "use dropkit train --resume" in capsys.readouterr().err
    assert main(["compare", "--resume"]) == 2
    assert "--resume needs --out DIR" in capsys.readouterr().err
