"""DropoutLinear: nn.Linear on dropout(x) with nn.Linear's parameters, keys and evaluation behaviour."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropkit.functional import dropout
from dropkit.nn import DropoutLinear
from dropkit.rng import PhiloxState
from dropkit.surgery import get_rate, is_stochastic, mc_mode, set_dropout_rate


def test_state_dict_is_nn_linears_both_ways() -> None:
    plain = nn.Linear(6, 3)
    layer = DropoutLinear(6, 3, p=0.2)
    layer.load_state_dict(plain.state_dict())
    back = nn.Linear(6, 3)
    back.load_state_dict(layer.state_dict())
    assert torch.equal(back.weight, plain.weight) and torch.equal(back.bias, plain.bias)


@pytest.mark.parametrize("bias", [True, False])
def test_from_linear_shares_parameters_and_the_training_flag(bias: bool) -> None:
    plain = nn.Linear(6, 3, bias=bias).eval()
    layer = DropoutLinear.from_linear(plain, p=0.3)
    assert layer.weight is plain.weight and layer.bias is plain.bias and not layer.training
    assert [n for n, _ in layer.named_parameters()] == [n for n, _ in plain.named_parameters()]
    x = torch.randn(4, 6)
    assert torch.equal(layer(x), plain(x))  # evaluation: a plain Linear


def test_training_output_is_linear_of_the_streams_dropout_and_gradients_match() -> None:
    layer = DropoutLinear(7, 5, p=0.3, stream=PhiloxState(seed=3)).double()
    x = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    xr = x.detach().clone().requires_grad_(True)
    w, b = layer.weight.detach().clone().requires_grad_(True), layer.bias.detach().clone().requires_grad_(True)
    yr = nn.functional.linear(dropout(xr, 0.3, stream=PhiloxState(seed=3)), w, b)
    assert torch.equal(y, yr)
    dy = torch.randn_like(y)
    y.backward(dy)
    yr.backward(dy)
    for got, want in ((x.grad, xr.grad), (layer.weight.grad, w.grad), (layer.bias.grad, b.grad)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_counts_as_a_stochastic_layer_for_surgery_and_mc_dropout() -> None:
    model = nn.Sequential(DropoutLinear(4, 4, p=0.2), nn.BatchNorm1d(4))
    assert is_stochastic(model[0]) and get_rate(model[0]) == 0.2
    set_dropout_rate(model, 0.4)
    assert model[0].p == 0.4
    model.eval()
    with mc_mode(model):
        assert model[0].training and not model[1].training


def test_bad_arguments_name_what_was_given() -> None:
    with pytest.raises(ValueError, match="DropoutLinear: p must be in .*got 1.5"):
        DropoutLinear(3, 2, p=1.5)
    with pytest.raises(ValueError, match="backend must be one of .*got 'fast'"):
        DropoutLinear(3, 2, backend="fast")
    with pytest.raises(TypeError, match="linear must be an nn.Linear, got Conv1d"):
        DropoutLinear.from_linear(nn.Conv1d(2, 2, 1))
    with pytest.raises(TypeError, match="stream must be a dropkit.rng.PhiloxState, got int"):
        DropoutLinear(3, 2, stream=3)
