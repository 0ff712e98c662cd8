"""``--version``, ``dropkit presets``, ``train --print-config``, ``preset:`` in ``--config`` files, readable
run files under umask 022, and ``--resume --steps/--epochs`` extending a finished run."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from dropkit import __version__
from dropkit.cli.main import main
from dropkit.train.presets import preset_names, preset_values
from dropkit.train.run_dir import read_config, read_metrics, read_summary

TINY = ["--dataset", "digits", "--hidden", "16", "--eval-every", "20", "--threads", "1", "--no-progress"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"dropkit {__version__} (torch ")


def test_presets_lists_them_and_prints_one_as_a_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line and not line.startswith("use:")]
    assert listed == preset_names()
    assert main(["presets", "mnist1d"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == preset_values("mnist1d")
    assert main(["presets", "mnist1dd"]) == 2
    assert "got 'mnist1dd'" in capsys.readouterr().err


def test_print_config_prints_the_resolved_config_and_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--preset", "mnist1d", "--p", "0.2", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["p"] == 0.2 and printed["hidden"] == [256, 256] and printed["epochs"] == 200
    assert not (tmp_path / "runs").exists()
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(printed))  # what it prints is a valid --config file
    assert main(["train", "--config", "c.yaml", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == printed


def test_a_config_file_may_name_a_preset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text("preset: mnist1d\np: 0.1\n")
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert (cfg["name"], cfg["hidden"], cfg["p"]) == ("mnist1d-mlp", [256, 256], 0.1)  # before: unknown key 'preset'


def test_run_files_are_readable_by_others_under_umask_022(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert main(["train", *TINY, "--steps", "20", "--out", str(tmp_path / "r")]) == 0
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"config.yaml", "summary.json", "env.json", "model.safetensors", "metrics.jsonl"}
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
    assert all(mode == 0o644 for mode in modes.values()), modes  # before: 0600 for every atomically written file


def test_resume_with_more_steps_extends_a_finished_run_to_the_longer_run(tmp_path: Path) -> None:
    assert main(["train", *TINY, "--steps", "40", "--out", str(tmp_path / "r")]) == 0
    assert main(["train", "--resume", "--steps", "60", "--out", str(tmp_path / "r")]) == 0  # before: "differs in steps"
    assert read_summary(tmp_path / "r")["step"] == 60 and read_config(tmp_path / "r").steps == 60
    assert [m["step"] for m in read_metrics(tmp_path / "r")] == [0, 20, 40, 60]
    assert main(["train", *TINY, "--steps", "60", "--out", str(tmp_path / "ref")]) == 0
    a, b = load_file(str(tmp_path / "r/model.safetensors")), load_file(str(tmp_path / "ref/model.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)  # constant schedules: the same as training 60 steps at once
    assert main(["train", "--resume", "--steps", "20", "--out", str(tmp_path / "r")]) == 2  # cannot shorten
