"""ConcreteDropout module: learned p, regulariser, model-wide sum."""

from __future__ import annotations

import math

import pytest
import torch

from dropkit.nn import ConcreteDropout, concrete_dropout_regularization


def test_p_readable_and_eval_is_layer_of_input():
    layer = torch.nn.Linear(5, 2)
    cd = ConcreteDropout(layer, init_p=0.25).eval()
    x = torch.randn(3, 5)
    assert math.isclose(cd.p.item(), 0.25, rel_tol=1e-6)
    assert torch.equal(cd(x), layer(x))


def test_regularization_matches_formula():
    layer = torch.nn.Linear(4, 3)
    cd = ConcreteDropout(layer, init_p=0.2, weight_regularizer=0.01, dropout_regularizer=0.002)
    cd(torch.randn(2, 4))  # infers input_dim = 4
    p = 0.2
    sum_sq = float(((layer.weight**2).sum() + (layer.bias**2).sum()).detach())
    expected = 0.01 * sum_sq / (1 - p) + 0.002 * 4 * (p * math.log(p) + (1 - p) * math.log(1 - p))
    assert math.isclose(cd.regularization().item(), expected, rel_tol=1e-5)


def test_model_sum_helper():
    net = torch.nn.Sequential(
        ConcreteDropout(torch.nn.Linear(3, 4), input_dim=3),
        torch.nn.ReLU(),
        ConcreteDropout(torch.nn.Linear(4, 1), init_p=0.3, input_dim=4),
    )
    total = concrete_dropout_regularization(net)
    assert torch.allclose(total, net[0].regularization() + net[2].regularization())
    assert concrete_dropout_regularization(torch.nn.Linear(2, 2)).item() == 0.0


def _train(cd: ConcreteDropout, data_weight: float, steps: int = 150) -> float:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    y = x @ torch.randn(8, 1, generator=g)  # noise-free linear target: dropout only hurts the fit
    opt = torch.optim.Adam(cd.parameters(), lr=0.05)
    for _ in range(steps):
        loss = data_weight * torch.nn.functional.mse_loss(cd(x), y) + cd.regularization()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return cd.p.item()


def test_p_moves_down_under_the_data_term():
    torch.manual_seed(0)
    cd = ConcreteDropout(torch.nn.Linear(8, 1), init_p=0.3, weight_regularizer=1e-6, dropout_regularizer=1e-6)
    assert _train(cd, data_weight=1.0) < 0.1


def test_p_moves_up_towards_one_half_under_the_entropy_term():
    torch.manual_seed(0)
    cd = ConcreteDropout(torch.nn.Linear(8, 1), init_p=0.05, weight_regularizer=0.0, dropout_regularizer=1.0)
    p = _train(cd, data_weight=0.0)
    assert 0.4 < p < 0.6


def test_gradcheck_module_float64_through_p_logit():
    cd = ConcreteDropout(torch.nn.Linear(3, 2), init_p=0.2).double()
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    p_logit = cd.p_logit.detach().clone().requires_grad_()

    def fn(x, p_logit):
        cd.generator = torch.Generator().manual_seed(4)  # same noise on every call
        return torch.func.functional_call(cd, {"p_logit": p_logit}, (x,))

    assert torch.autograd.gradcheck(fn, (x, p_logit))


def test_regularization_before_forward_and_bad_arguments():
    with pytest.raises(RuntimeError, match="input_dim"):
        ConcreteDropout(torch.nn.Linear(2, 2)).regularization()
    with pytest.raises(ValueError, match="got 1"):
        ConcreteDropout(torch.nn.Linear(2, 2), init_p=1.0)
    with pytest.raises(ValueError, match="got 0"):
        ConcreteDropout(torch.nn.Linear(2, 2), temperature=0)
    with pytest.raises(TypeError, match="got str"):
        ConcreteDropout("linear")
