"""audit_dropout on planted disagreements, the model left as found, and bad input."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dropkit.audit import audit_dropout

from .conftest import HardCodedTraining, MyDropout, SDPAIgnoresMode, within_binomial


def _kinds(report):
    return sorted((f.module, f.kind) for f in report.findings)


def test_configured_but_never_fires():
    class Forgot(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.drop = nn.Linear(8, 8), nn.Dropout(0.1)

        def forward(self, x):
            return self.fc(x)  # self.drop is never called

    report = audit_dropout(Forgot(), torch.randn(4, 8))
    assert _kinds(report) == [("drop", "never-fires")]
    assert report.findings[0].message == "configured p=0.1, never fired"
    assert not report.ok and report.random_ops == 0


def test_hard_coded_training_fires_in_eval():
    model = HardCodedTraining()
    train = audit_dropout(model, torch.randn(32, 8))
    assert train.ok and train.module("").calls[0].describe() == "F.dropout(p=0.2, training=True)"
    assert within_binomial(train.module("").fraction, 0.2, 32 * 64)
    evaluation = audit_dropout(model, torch.randn(32, 8), training=False)
    assert _kinds(evaluation) == [("", "hard-coded-training")]
    assert "hard-coded training=True" in evaluation.findings[0].message


def test_sdpa_with_dropout_p_in_eval():
    model = SDPAIgnoresMode()
    train = audit_dropout(model, torch.randn(4, 6, 16))
    assert train.ok and train.module("").declared[0].attribute == "dropout_p"
    evaluation = audit_dropout(model, torch.randn(4, 6, 16), training=False)
    assert _kinds(evaluation) == [("", "sdpa-in-eval")]
    assert "scaled_dot_product_attention(dropout_p=0.1)" in evaluation.findings[0].message


def test_rand_mask_in_eval_and_a_wrong_rate():
    class Ignores(nn.Module):
        def forward(self, x):
            return x * (torch.rand_like(x) > 0.1)  # no training check at all

    evaluation = audit_dropout(nn.Sequential(nn.Linear(4, 4), Ignores()), torch.randn(8, 4), training=False)
    assert _kinds(evaluation) == [("1", "fires-in-eval")]
    report = audit_dropout(nn.Sequential(MyDropout(0.1)), torch.randn(64, 64).abs() + 0.1)
    assert _kinds(report) == [("0", "rate-mismatch")]  # declares 0.1, drops 0.5 of 4096
    assert report.findings[0].message.startswith("configured 0.1, dropped 0.")


def test_a_module_that_stays_in_training_mode_fires_in_eval():
    class StaysOn(nn.Dropout):
        def train(self, mode: bool = True):
            return super().train(True)  # e.g. a "keep dropout on for MC sampling" override

    report = audit_dropout(nn.Sequential(nn.Linear(4, 8), StaysOn(0.2)), torch.randn(8, 4), training=False)
    assert _kinds(report) == [("1", "fires-in-eval")]
    assert report.findings[0].message.startswith("fires in eval: the module stayed in training mode")


def test_lstm_dropout_on_one_layer_never_fires():
    # torch warns at construction: dropout only acts between stacked layers.
    with pytest.warns(UserWarning):
        lstm = nn.LSTM(4, 8, num_layers=1, dropout=0.2, batch_first=True)
    report = audit_dropout(lstm, torch.randn(2, 5, 4))
    assert _kinds(report) == [("", "never-fires")]
    two = audit_dropout(nn.LSTM(4, 8, num_layers=2, dropout=0.2, batch_first=True), torch.randn(2, 5, 4))
    assert two.ok and two.module("").fired


def test_the_model_is_left_as_found():
    model = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.3), nn.BatchNorm1d(16), nn.Dropout(0.1))
    model.eval()
    model[1].train()  # a mixed state, which must come back exactly
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    hooks = [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]
    x = torch.randn(16, 8)
    rng = torch.get_rng_state()
    report = audit_dropout(model, x)
    assert report.ok and report.random_ops == 2
    assert [m.training for m in model.modules()] == modes
    assert [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()] == hooks
    assert torch.equal(torch.get_rng_state(), rng)
    after = model.state_dict()
    assert after.keys() == state.keys() and all(torch.equal(after[k], state[k]) for k in state)  # no grad step either
    assert all(p.grad is None for p in model.parameters())


def test_a_compiled_model_is_audited_through_its_eager_module():
    model = nn.Sequential(nn.Linear(8, 64), nn.Dropout(0.3))
    report = audit_dropout(torch.compile(model, backend="eager"), torch.randn(16, 8))
    assert [row.module for row in report.modules] == ["1"] and report.module("1").fired


def test_kwargs_inputs_and_json(tmp_path):
    class Keywords(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.5)

        def forward(self, *, features):
            return self.drop(features)

    report = audit_dropout(Keywords(), {"features": torch.ones(50, 40)})
    path = tmp_path / "audit.json"
    report.write_json(path)
    data = json.loads(path.read_text())
    assert data["mode"] == "train" and data["ok"] is True and data["random_ops"] == 1
    (row,) = data["modules"]
    assert row["module"] == "drop" and row["measured_elements"] == 2000
    assert within_binomial(row["fraction_dropped"], 0.5, 2000)
    assert "drop" in str(report) and "train mode: 1 random ops, 0 disagreements" in str(report)


def test_bad_input_errors():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        audit_dropout(lambda x: x, torch.ones(2))
    with pytest.raises(TypeError, match="example_inputs must be a Tensor, a tuple/list .* got int"):
        audit_dropout(nn.Linear(2, 2), 3)
    with pytest.raises(TypeError, match="training must be a bool, got .yes."):
        audit_dropout(nn.Linear(2, 2), torch.ones(1, 2), training="yes")
    with pytest.raises(ValueError, match=r"example input 0 is on device 'cpu', the model is on 'meta'"):
        audit_dropout(nn.Linear(2, 2, device="meta"), torch.ones(1, 2))

    class Raises(nn.Module):
        def forward(self, x):
            raise ValueError("expected 4D input")

    model = Raises()
    model.eval()
    with pytest.raises(RuntimeError, match="the model raised ValueError on the example inputs: expected 4D input"):
        audit_dropout(model, torch.ones(1))
    assert not model.training  # restored on the error path too
    with pytest.raises(RuntimeError, match=r"raised RuntimeError on the example inputs: .*shapes cannot be multiplied"):
        audit_dropout(nn.Linear(3, 2), torch.ones(1, 5))
