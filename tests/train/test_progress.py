"""Progress output: a line per evaluation where stderr is not a terminal; on a terminal the bar stays."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest

from dropkit.cli.main import main
from dropkit.train.progress import Progress
from dropkit.train.run_dir import read_metrics

TINY = ["--dataset", "digits", "--hidden", "16", "--steps", "60", "--eval-every", "20", "--threads", "1"]


def test_train_logs_a_line_per_evaluation_when_stderr_is_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dropkit")
    assert main(["train", *TINY, "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err  # a pipe, as in CI, a log file or nohup
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    rows = read_metrics(tmp_path / "r")[1:]  # every evaluation after step 0
    assert [int(re.match(r"step (\d+)/60", line).group(1)) for line in lines] == [r["step"] for r in rows] == [20, 40, 60]
    for line, row in zip(lines, rows):
        assert f"test_acc {row['test_acc']:.4f}" in line and f"train_acc {row['train_acc']:.4f}" in line
    assert "\r" not in err  # no bar fragments in a log


def test_no_progress_keeps_the_log_quiet(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dropkit")
    assert main(["train", *TINY, "--no-progress", "--out", str(tmp_path / "r")]) == 0
    assert not [r for r in caplog.records if r.getMessage().startswith("step ")]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_stays_after_the_run() -> None:
    term = _Terminal()
    progress = Progress(10, 0, stream=term)
    assert progress.bar is not None and not progress.lines
    for step in range(1, 11):
        progress.update(1)
        if step % 5 == 0:
            progress.evaluated({"step": step, "train_acc": 0.5, "test_acc": 0.25}, loss=1.0)
    progress.close()
    shown = term.getvalue().split("\r")[-1]  # what is left on the line once the bar is closed
    assert "10/10" in shown and "test_acc=0.250" in shown
