"""``--model module:callable`` through train/compare/sweep, dropout placed by config keys (dropkit.surgery),
and ``--resume`` after SIGKILL bit-identical for an imported model.

torchvision and timm import as in a user's environment (make installs torch and torchvision as a matched
pair; no shim): the timm model trains through the ``dropkit`` command in a subprocess, as docs/your-data.md
writes it, the torchvision model through the CLI's ``main()`` in process. The model class of the test tree
also trains in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dropkit.cli.main import main
from dropkit.models import build_model
from dropkit.train.config import Config
from dropkit.train.run_dir import read_config
from tests.kill_resume import assert_resume_after_sigkill_is_bit_identical

ROOT = Path(__file__).resolve().parents[2]
NET = "tests.models.user_nets:TinyNet"
TINY = ["--dataset", "digits", "--steps", "20", "--eval-every", "10", "--threads", "1", "--no-progress"]


@pytest.fixture
def rgb16(tmp_path: Path) -> str:
    """A 3x16x16 image dataset as .npz (two classes, bright and dark), small enough for a ResNet on CPU."""
    rng = np.random.default_rng(0)
    y = np.arange(48) % 2
    x = np.clip(rng.normal(90 + 70 * y[:, None, None, None], 30, (48, 3, 16, 16)), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "rgb16.npz", x_train=x[:32], y_train=y[:32], x_test=x[32:], y_test=y[32:])
    return f"npz:{tmp_path / 'rgb16.npz'}"


def _rates(model: nn.Module, cls: type) -> list[float]:
    return [float(m.p) for m in model.modules() if isinstance(m, cls)]


def test_flags_place_dropout_on_a_model_of_the_test_tree_and_config_yaml_records_them(tmp_path: Path) -> None:
    import dropkit.nn as dnn

    out = tmp_path / "r"
    args = ["--model", NET, "--model-args", '{"num_classes": 10}', "--insert-dropout", "after=Linear", "--p", "0.3",
            "--swap-dropout", "true"]
    assert main(["train", *TINY, *args, "--out", str(out)]) == 0
    cfg = read_config(out)
    assert (cfg.model, cfg.model_args, cfg.insert_dropout, cfg.swap_dropout) == (NET, {"num_classes": 10}, "after=Linear", True)
    torch.manual_seed(0)
    model = build_model(cfg, (1, 8, 8), 10)
    # the two hidden Linear layers get dropout, the output layer does not; torch's Dropout became dropkit's
    assert [n for n, m in model.named_modules() if n.endswith("dropout_after")] == ["body.1.dropout_after", "body.4.dropout_after"]
    assert not hasattr(model.head, "dropout_after")
    assert type(model.body[3]) is dnn.Dropout and model.body[3].p == 0.2
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
    # set_rate re-rates everything, inserted dropout included
    model = build_model(cfg.replace(set_rate=0.05), (1, 8, 8), 10)
    assert sorted(_rates(model, dnn.Dropout)) == [0.05, 0.05, 0.05]


def test_swap_rnn_and_explicit_positions_and_errors_that_name_the_flag() -> None:
    from dropkit.nn import VariationalLSTM

    cfg = Config(dataset="digits", model="tests.models.user_nets:RowLSTM", swap_rnn="input_p=0.2,recurrent_p=0.1",
                 insert_dropout="after=LSTM,p=0.25")
    model = build_model(cfg, (1, 8, 8), 10)
    assert isinstance(model.rnn, VariationalLSTM) and (model.rnn.input_p, model.rnn.recurrent_p) == (0.2, 0.1)
    assert model.rnn.dropout_after.p == 0.25
    head_too = build_model(cfg.replace(swap_rnn=None, insert_dropout="after=Linear,positions=-1,p=0.1"), (1, 8, 8), 10)
    assert head_too.head.dropout_after.p == 0.1
    for bad, message in [
        ({"insert_dropout": "before=Linear"}, "unknown field 'before'"),
        ({"insert_dropout": "after=Linear,p=2"}, "p must be a number in \\[0, 1\\], got '2'"),
        ({"swap_rnn": "input=0.2"}, "unknown field 'input'"),
        ({"model": "mlp", "insert_dropout": "after=Linear"}, "place dropout on a model given as module:callable"),
        ({"model_args": "{num_classes: 3}"}, "model_args: must be a JSON object"),
    ]:
        with pytest.raises(ValueError, match=message):
            cfg.replace(**bad)
    with pytest.raises(ValueError, match="'Linaer' is neither a torch.nn nor a dropkit.nn class"):
        build_model(cfg.replace(swap_rnn=None, insert_dropout="after=Linaer"), (1, 8, 8), 10)
    with pytest.raises(ValueError, match=r"importing or calling .tests.models.user_nets:Broken. failed: RuntimeError: no kernel"):
        build_model(Config(model="tests.models.user_nets:Broken"), (1, 8, 8), 10)
    with pytest.raises(ValueError, match=r"must return logits of shape \(batch, 3\).*got \(2, 10\).*num_classes"):
        build_model(Config(model=NET), (1, 8, 8), 3)


def test_torchvision_resnet18_trains_and_compares_with_dropout_before_its_classifier(torchvision, rgb16: str, tmp_path: Path) -> None:
    args = ["--dataset", rgb16, "--model", "torchvision.models:resnet18", "--model-args", '{"num_classes": 2}',
            "--insert-dropout", "after=AdaptiveAvgPool2d", "--p", "0.4", "--batch-size", "8", "--steps", "4",
            "--eval-every", "2", "--eval-batch-size", "16", "--threads", "1", "--no-progress"]
    assert main(["compare", *args, "--out", str(tmp_path / "c")]) == 0
    res = json.loads((tmp_path / "c/compare.json").read_text())["results"]
    assert set(res) == {"no dropout", "dropout p=0.4"}
    base, dropped = read_config(tmp_path / "c/p0"), read_config(tmp_path / "c/p0.4")
    assert (base.set_rate, dropped.set_rate) == (0.0, None)  # the baseline zeroes the model's own dropout too
    model = build_model(dropped, (3, 16, 16), 2)
    assert model.avgpool.dropout_after.p == 0.4
    assert build_model(base, (3, 16, 16), 2).avgpool.dropout_after.p == 0.0


def test_timm_model_with_drop_path_rerated_over_depth(timm, rgb16: str, tmp_path: Path) -> None:
    spec = '{"model_name": "resnet10t", "num_classes": 2, "drop_path_rate": 0.05}'
    cfg = Config(dataset=rgb16, model="timm:create_model", model_args=spec, drop_path=0.3, swap_dropout=True)
    model = build_model(cfg, (3, 16, 16), 2)
    rates = [m.drop_prob for m in model.modules() if type(m).__name__ == "DropPath"]
    assert len(rates) >= 2 and rates == pytest.approx(list(np.linspace(0, 0.3, len(rates))))
    out = tmp_path / "t"
    cli = [sys.executable, "-m", "dropkit.cli.main", "train", "--dataset", rgb16, "--model", "timm:create_model", "--model-args",
           spec, "--drop-path", "0.3", "--batch-size", "8", "--steps", "4", "--eval-every", "2", "--threads", "1",
           "--no-progress", "--out", str(out)]
    done = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert read_config(out).model_args["model_name"] == "resnet10t"
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"


def test_sweep_varies_method_and_rate_on_an_imported_model(tmp_path: Path) -> None:
    from dropkit.sweep import read_table

    sweep = {"name": "own", "base": {"dataset": "digits", "model": NET, "steps": 20, "eval_every": 10},
             "grid": {"insert_dropout": ["after=Linear", "after=Linear,type=GaussianDropout"], "p": [0.3]}}
    (tmp_path / "s.yaml").write_text(json.dumps(sweep))
    assert main(["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "s"), "--workers", "2"]) == 0
    rows = read_table(tmp_path / "s/results.parquet")
    assert len(rows) == 2 and all(r["status"] == "completed" for r in rows)


def _train_cmd(out: Path, steps: int) -> list[str]:
    return [
        sys.executable, "-m", "dropkit.cli.main", "train", "--dataset", "digits", "--model", NET,
        "--model-args", '{"hidden": 64}', "--insert-dropout", "after=Linear", "--p", "0.5", "--swap-dropout", "true",
        "--steps", str(steps), "--eval-every", "25", "--threads", "1", "--no-progress", "--out", str(out),
    ]


def test_resume_after_sigkill_is_bit_identical_for_an_imported_model(tmp_path: Path) -> None:
    steps = 1200  # a checkpoint every 25 steps; the kill comes after step 50, long before the end
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    assert_resume_after_sigkill_is_bit_identical(_train_cmd, tmp_path, steps, env)
