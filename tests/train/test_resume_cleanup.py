"""A run killed while writing a checkpoint leaves a temp file; resuming removes it."""

from __future__ import annotations

from pathlib import Path

from dropkit.cli.main import main

FLAGS = ["--dataset", "digits", "--hidden", "16", "--steps", "20", "--eval-every", "10", "--no-progress", "--threads", "1"]


def test_resume_removes_temp_files_of_a_killed_write(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *FLAGS]) == 0
    stale = [run / "checkpoints" / ".step_00000020.safetensors.k1ll3d.tmp", run / ".summary.json.x9y8z7.tmp"]
    for p in stale:
        p.write_bytes(b"half-written")
    (run / "notes.tmp").write_text("the user's own file")
    assert main(["train", "--out", str(run), "--resume"]) == 0
    assert not any(p.exists() for p in stale)
    assert (run / "notes.tmp").exists()
