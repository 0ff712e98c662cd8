"""``dropkit audit``: tables, JSON, exit status 0 / 1 / 2 for a user's CI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dropkit.cli.main import main

_MODELS = '''
import torch
import torch.nn.functional as F
from torch import nn


class Clean(nn.Module):
    def __init__(self, p=0.25):
        super().__init__()
        self.fc, self.drop = nn.Linear(8, 64), nn.Dropout(p)

    def forward(self, x):
        return self.drop(self.fc(x))


class Leaky(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.unused = nn.Linear(8, 64), nn.Dropout(0.3)

    def forward(self, x):
        return F.dropout(self.fc(x), 0.2, training=True)


class Keywords(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.drop = nn.Embedding(20, 8), nn.Dropout(0.1)

    def forward(self, input_ids):
        return self.drop(self.emb(input_ids))


class WithConfig(Clean):
    def __init__(self):
        super().__init__(p=0.1)
        self.config = type("Config", (), {})()
        self.config.hidden_dropout_prob = 0.1
        self.config.classifier_dropout = 0.3  # declared, read by nothing


def example():
    return {"input_ids": torch.randint(0, 20, (4, 12))}


def raises():
    raise RuntimeError("never built")
'''


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "audit_models.py").write_text(_MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "audit_models"


def test_clean_model_exits_0_and_writes_json(models: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "audit.json"
    argv = ["audit", "--model", f"{models}:Clean", "--model-args", '{"p": 0.5}', "--input-shape", "32,8",
            "--json", str(out), "--check-disable"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "train mode: 1 random ops, 0 disagreements" in text and "eval mode: 0 random ops" in text
    assert "0 random ops left in a train-mode pass; deterministic: True" in text
    data = json.loads(out.read_text())
    assert data["ok"] is True and [p["mode"] for p in data["passes"]] == ["train", "eval"]
    assert data["passes"][0]["modules"][0]["declared"] == [{"module": "drop", "attribute": "p", "value": 0.5}]
    assert data["disable_dropout"]["state_dict_unchanged"] and data["disable_dropout"]["restored"]


def test_disagreements_exit_1(models: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--model", f"{models}:Leaky", "--input-shape", "16,8", "--check-disable"]) == 1
    text = capsys.readouterr().out
    assert "configured p=0.3, never fired" in text
    assert "functional dropout with a hard-coded training=True: F.dropout(p=0.2, training=True) fires in eval" in text
    assert "still fires: (root): aten::bernoulli_.float in F.dropout(p=0.2, training=True)" in text
    # one pass at a time: eval alone finds the hard-coded call, train alone the unused module
    assert main(["audit", "--model", f"{models}:Leaky", "--input-shape", "16,8", "--mode", "train"]) == 1


def test_unused_config_rates_warn_and_fail_only_with_strict(models: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["audit", "--model", f"{models}:WithConfig", "--input-shape", "16,8", "--mode", "train"]
    assert main(argv) == 0
    assert "warning: (root): config.classifier_dropout=0.3: no dropout at this rate fired" in capsys.readouterr().out
    assert main([*argv, "--strict"]) == 1


def test_keyword_inputs_from_flags_or_a_callable(models: str) -> None:
    flags = ["--input-shape", "4,12", "--input-dtype", "long", "--input-high", "20", "--input-name", "input_ids"]
    assert main(["audit", "--model", f"{models}:Keywords", *flags]) == 0
    assert main(["audit", "--model", f"{models}:Keywords", "--inputs", f"{models}:example"]) == 0


def test_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--preset", "mnist1d", "--input-shape", "16,40", "--mode", "train"]) == 0
    assert "net.3" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "audit_models:Clean"], "example inputs are needed: --input-shape"),
        (["--model", "audit_models:Clean", "--input-shape", "2,x"], "--input-shape: must be positive integers"),
        (["--model", "audit_models:Clean", "--input-shape", "4,5"], "the model raised RuntimeError on the example inputs"),
        (["--model", "audit_models:Nope", "--input-shape", "4,8"], "has no attribute 'Nope'"),
        (["--model", "audit_models:raises", "--input-shape", "4,8"], "--model 'audit_models:raises' raised RuntimeError: never built"),
        (["--model", "audit_models:Clean", "--inputs", "audit_models:example", "--input-shape", "4,8"], "not both"),
        (["--preset", "mnist1d"], "--preset needs --input-shape"),
        (["--model", "audit_models:Clean", "--input-shape", "4,8", "--device", "nodevice"], "--device must be a torch device"),
        (["--model", "audit_models:Clean", "--input-shape", "4,8", "--device", "cuda:99"], "cannot move the model to --device 'cuda:99'"),
    ],
)
def test_bad_input_exits_2(models: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", *argv]) == 2
    assert message in capsys.readouterr().err


def test_runs_as_a_command(models: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "dropkit.cli.main", "audit", "--model", f"{models}:Leaky", "--input-shape", "8,8"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "audit: disagreements found" in proc.stdout
