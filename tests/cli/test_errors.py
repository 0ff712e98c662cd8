"""Clear errors instead of argparse's bare usage or a traceback: misspelt flags and sub-commands,
``--device cuda`` on a torch without CUDA, ``--out`` naming a file, broken YAML, a closed stdout pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dropkit.cli.main import main
from dropkit.train.run_dir import read_config

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--dataset", "digits", "--hidden", "16", "--steps", "20", "--eval-every", "10", "--threads", "1", "--no-progress"]


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["train", "--droput", "0.3"], "(did you mean --dropout?)"),
        (["compare", "--eval-evry", "5"], "(did you mean --eval-every?)"),
        (["train", "--eval_every=5"], "(did you mean --eval-every?)"),
        (["sweep", "s.yaml", "--wokers", "2"], "(did you mean --workers?)"),
        (["trian"], "did you mean 'train'?"),
    ],
)
def test_a_misspelt_flag_or_command_gets_the_closest_one(argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(argv, capsys)
    assert hint in err, err


def test_dropout_is_another_name_for_p(tmp_path: Path) -> None:
    assert main(["train", *TINY, "--dropout", "0.3", "--out", str(tmp_path / "r")]) == 0
    assert read_config(tmp_path / "r").p == 0.3


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *TINY, "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "device 'cuda'" in err and "use --device cpu" in err, err
    assert not (tmp_path / "r" / "config.yaml").exists()  # refused before the run folder was written
    assert main(["train", *TINY, "--device", "gpu", "--out", str(tmp_path / "r2")]) == 2
    assert "device must be a torch device such as 'cpu', 'cuda' or 'cuda:1', got 'gpu'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_out_naming_a_file_is_refused(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    spec = tmp_path / "s.yaml"
    spec.write_text("base: {dataset: digits, hidden: [8], steps: 5}\ngrid: {p: [0.1]}\n")
    argv = ["train", *TINY] if command == "train" else ["sweep", str(spec)]
    assert main([*argv, "--out", str(target)]) == 2
    assert f"{command}: --out must be a folder, got {str(target)!r}, an existing file" in capsys.readouterr().err
    assert target.read_text() == "mine"


def test_broken_yaml_in_config_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("p: 0.3\nhidden: [16\nsteps: 3\n")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"config: {str(bad)!r} is not valid YAML: line 3" in err and "Traceback" not in err


def test_a_closed_stdout_pipe_ends_quietly() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # `dropkit datasets --json | head -c 0`: the reader is gone before dropkit writes a byte.
    proc = subprocess.Popen([sys.executable, "-m", "dropkit.cli.main", "datasets", "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert "BrokenPipeError" not in err and "Traceback" not in err, err
    assert proc.returncode == 141
