"""``dropkit train|compare|datasets`` end to end on tiny real data, and their errors."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path

import pytest

from dropkit.cli.main import main
from dropkit.train.run_dir import read_config

TINY = ["--dataset", "digits", "--hidden", "32", "--steps", "40", "--eval-every", "20", "--threads", "1", "--no-progress"]


def test_train_writes_a_run_and_prints_the_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *TINY, "--p", "0.25", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "gap" in out
    assert json.loads((tmp_path / "r/summary.json").read_text())["status"] == "completed"
    assert read_config(tmp_path / "r").p == 0.25


def test_default_run_folders_never_collide_and_failures_leave_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dropkit.train.run_dir as run_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_dir.time, "strftime", lambda fmt: "20261127-120000")  # all in one second
    for _ in range(3):
        assert main(["train", *TINY]) == 0
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert names == ["run-20261127-120000", "run-20261127-120000-2", "run-20261127-120000-3"]
    assert all(json.loads((tmp_path / "runs" / n / "summary.json").read_text())["status"] == "completed" for n in names)
    # A run that fails before writing anything (here: a data_dir that does not exist) leaves no empty folder.
    assert main(["train", *TINY, "--data-dir", str(tmp_path / "none")]) == 2
    assert main(["compare", *TINY, "--p", "0.5", "--data-dir", str(tmp_path / "none")]) == 2
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == names


def test_precedence_defaults_preset_file_flags(tmp_path: Path) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("dataset: digits\nhidden: [16]\nsteps: 20\neval_every: 10\np: 0.1\nl2: 0.001\n")
    assert main(["train", "--preset", "seed", "--config", str(cfg_file), "--p", "0.3", "--threads", "1", "--no-progress", "--out", str(tmp_path / "r")]) == 0
    cfg = read_config(tmp_path / "r")
    assert (cfg.p, cfg.l2, cfg.hidden, cfg.dataset, cfg.batch_size) == (0.3, 0.001, [16], "digits", 100)


def test_resume_uses_the_saved_config(tmp_path: Path) -> None:
    assert main(["train", *TINY, "--out", str(tmp_path / "r")]) == 0
    assert main(["train", "--resume", "--out", str(tmp_path / "r")]) == 0
    # free keys may change on resume without restating the config
    assert main(["train", "--resume", "--no-progress", "--threads", "1", "--out", str(tmp_path / "r")]) == 0
    assert main(["train", "--resume", "--p", "0.9", "--out", str(tmp_path / "r")]) == 2


def test_compare_prints_side_by_side_and_writes_curves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *TINY, "--p", "0.5", "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "no dropout" in out and "dropout p=0.5" in out
    for row in ("train accuracy", "test accuracy", "gap (points)", "time (s)"):
        assert row in out
    report = json.loads((tmp_path / "c/compare.json").read_text())
    assert [r["p"] for r in report["results"].values()] == [0.0, 0.5]
    assert (tmp_path / "c/curves.png").stat().st_size > 10_000
    assert read_config(tmp_path / "c/p0").p == 0.0 and read_config(tmp_path / "c/p0.5").p == 0.5


def test_datasets_table_agrees_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--json"]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert main(["datasets", "--searched"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["dataset", "found", "train", "test", "size"]
    rows = {line.split()[0]: line for line in lines[1:] if not line.startswith(" ")}
    assert set(rows) == set(records)
    digits = rows["digits"].split()
    assert digits[1:4] == ["yes", "1437", "360"] and rows["digits"].endswith(records["digits"]["location"])
    searched = [line.split("searched: ", 1)[1] for line in lines if line.lstrip().startswith("searched: ")]
    assert searched == [place for r in records.values() for place in r["searched"]]


def test_sweep_dry_run_lists_the_trials_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("base: {dataset: digits, steps: 10}\ngrid:\n  p: [0.0, 0.5]\n  seed: [0, 1]\n")
    assert main(["sweep", str(spec), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"s: 4 trials -> {tmp_path / 'out'}"
    assert [line.strip().split("-")[0] for line in lines[1:]] == ["p=0_seed=0", "p=0_seed=1", "p=0.5_seed=0", "p=0.5_seed=1"]
    assert not (tmp_path / "out").exists()


def test_datasets_lists_every_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--json"]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"mnist1d", "digits", "fashion-mnist", "mnist"} <= set(records)
    assert records["digits"]["found"] is True and records["digits"]["num_train"] == 1437


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--p", "1.5"], "p must be in [0, 1], got 1.5"),
        (["--dataset", "fashoin-mnist"], "did you mean 'fashion-mnist'"),
        (["--hidden", "0"], "hidden must be a list of positive integers, got [0]"),
        (["--data-dir", "/nonexistent/dropkit-data"], "/nonexistent/dropkit-data"),
        (["--preset", "sed"], "did you mean 'seed'"),
        (["--steps", "ten"], "steps must be of type int, got 'ten'"),
    ],
)
def test_bad_input_gets_one_clear_error(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *TINY, *argv, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r" / "config.yaml").exists()


def test_unknown_key_in_config_file_suggests_closest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("dataset: digits\nlearning_rate: 0.1\n")
    assert main(["train", "--config", str(cfg_file), "--out", str(tmp_path / "r")]) == 2
    assert "unknown key 'learning_rate'" in capsys.readouterr().err


def test_compare_needs_a_positive_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *TINY, "--p", "0", "--out", str(tmp_path / "c")]) == 2
    assert "p must be > 0" in capsys.readouterr().err


def test_logging_follows_stderr_across_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() run twice in one process (tests, notebooks) with stderr replaced in between must log to
    the new stream, not to the first (closed) one: that printed '--- Logging error ---' tracebacks."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    assert main(["datasets", "--json"]) == 0
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    assert main(["datasets", "--json"]) == 0
    logging.getLogger("dropkit.train").info("after the second call")
    assert second.getvalue().endswith("after the second call\n") and "Logging error" not in second.getvalue()
    assert len(root.handlers) == 1  # one handler, not one per call


def test_logging_leaves_a_configured_root_logger_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    mine = logging.NullHandler()
    monkeypatch.setattr(root, "handlers", [mine])
    monkeypatch.setattr(root, "level", logging.WARNING)
    assert main(["datasets", "--json"]) == 0
    assert root.handlers == [mine] and root.level == logging.WARNING
