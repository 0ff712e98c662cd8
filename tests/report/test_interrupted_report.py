"""A report on an interrupted run says so (not "1 running, step 0") and gives the command that resumes it."""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

import pytest

from dropkit.report import build_report
from dropkit.train.config import Config
from dropkit.train.interrupt import mark_interrupted
from dropkit.train.trainer import train_run

pytestmark = pytest.mark.xdist_group("report")


def _overview(page: Path, key: str) -> str:
    m = re.search(rf'<th class="k">{re.escape(key)}</th><td class="k">(.*?)</td>', page.read_text())
    assert m, f"no {key!r} in the overview"
    return html_lib.unescape(m.group(1))


def test_an_interrupted_run_reports_its_checkpoint_step_and_the_resume_command(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train_run(Config(dataset="digits", hidden=[16], steps=40, eval_every=20, progress=False, threads=1), run)
    # What a run stopped between step 20 and 40 leaves once it is marked: summary as the trainer writes it.
    (run / "summary.json").write_text(json.dumps({"status": "running", "step": 0, "total_steps": 40}))
    (run / "checkpoints" / "step_00000040.safetensors").unlink()
    (run / "model.safetensors").unlink()
    summary = mark_interrupted(run)
    assert (summary["status"], summary["step"]) == ("interrupted", 20)
    page = build_report(run)
    assert _overview(page, "status") == "1 interrupted"
    assert _overview(page, "step") == "20"
    assert _overview(page, "resume with") == f"dropkit train --resume --out {run}"
