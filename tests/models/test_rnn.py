"""Tests for dropkit.models.rnn (the recurrent classifier and its registry entry)."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

from dropkit.models import build_model
from dropkit.models.rnn import RNNClassifier, sequence_layout
from dropkit.nn import VariationalGRU, VariationalLSTM
from dropkit.train.config import Config


def test_sequence_layouts() -> None:
    assert sequence_layout((1, 28, 28)) == (28, 28)
    assert sequence_layout((40,)) == (40, 1)
    assert sequence_layout((3, 50)) == (50, 3)
    with pytest.raises(ValueError, match=r"got \(1, 2, 3, 4\)"):
        sequence_layout((1, 2, 3, 4))


def test_images_are_read_row_by_row() -> None:
    model = RNNClassifier((1, 4, 5), 3, hidden_size=6).eval()
    x = torch.randn(2, 1, 4, 5)
    _, (h, _) = model.rnn(x[:, 0])  # rows as steps: (N, 4, 5)
    assert torch.allclose(model(x), model.head(h[-1]), atol=1e-6)


@pytest.mark.parametrize("cell,shape", [("lstm", (1, 28, 28)), ("gru", (40,))])
def test_build_from_config_and_backward(cell: str, shape: tuple) -> None:
    cfg = Config(model="rnn", rnn_cell=cell, rnn_hidden=16, rnn_layers=2, rnn_input_p=0.1, rnn_recurrent_p=0.2, weight_drop=0.3, zoneout=0.1, p=0.2)
    model = build_model(cfg, shape, 10)
    assert isinstance(model.rnn, VariationalLSTM if cell == "lstm" else VariationalGRU)
    assert model.rnn.weight_p == 0.3 and model.rnn.zoneout_p == 0.1
    out = model(torch.randn(4, *shape))
    assert out.shape == (4, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_bad_config_values() -> None:
    with pytest.raises(ValueError, match="got 'rnn'"):
        build_model(Config(model="rnn", rnn_cell="rnn"), (40,), 10)
    with pytest.raises(ValueError, match="got 1.5"):
        build_model(Config(model="rnn", rnn_recurrent_p=1.5), (40,), 10)
    with pytest.raises(ValueError, match="use rnn_input_p"):
        build_model(Config(model="rnn", input_p=0.2), (40,), 10)


def test_docstring_examples_run() -> None:
    assert doctest.testmod(importlib.import_module("dropkit.models.rnn"), raise_on_error=True).attempted > 0
