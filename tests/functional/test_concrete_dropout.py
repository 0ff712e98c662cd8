"""concrete_dropout() and concrete_dropout_regularizer()."""

from __future__ import annotations

import math

import pytest
import torch

from dropkit.functional import concrete_dropout, concrete_dropout_regularizer


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_eval_identity():
    x = torch.randn(4, 5)
    assert concrete_dropout(x, 0.3, training=False) is x
    assert concrete_dropout(x, torch.tensor(0.3), training=False) is x


def test_hard_drop_fraction_is_exactly_p_in_distribution():
    # z > 0.5  <=>  logit(p) + logistic noise > 0, which has probability exactly p
    p, n = 0.2, 200_000
    y = concrete_dropout(torch.ones(n, dtype=torch.float64), p, generator=_gen(1))
    z = 1 - y * (1 - p)
    frac = (z > 0.5).double().mean().item()
    assert abs(frac - p) < 6 * math.sqrt(p * (1 - p) / n)
    assert ((z >= 0) & (z <= 1)).all()


def test_mean_close_to_input_and_low_temperature_is_hard():
    p, n = 0.3, 100_000
    y = concrete_dropout(torch.ones(n), p, generator=_gen(2))
    # the relaxation biases the mean slightly (measured about 0.2% at t = 0.1)
    assert abs(y.mean().item() - 1.0) < 0.01
    hard = concrete_dropout(torch.ones(n, dtype=torch.float64), p, temperature=1e-3, generator=_gen(3))
    z = 1 - hard * (1 - p)
    assert ((z < 1e-6) | (z > 1 - 1e-6)).double().mean().item() > 0.99


def test_gradcheck_float64_pinned_generator():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    p = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)

    def fn(x, p):
        return concrete_dropout(x, p, generator=_gen(5))

    assert torch.autograd.gradcheck(fn, (x, p))


def test_compile_matches_eager_with_fixed_generator():
    x = torch.randn(4, 6)
    p = torch.tensor(0.25)

    def fn(x, p, g):
        return concrete_dropout(x, p, generator=g)

    compiled = torch.compile(fn, backend="aot_eager")
    assert torch.equal(compiled(x, p, _gen(8)), fn(x, p, _gen(8)))


def test_regularizer_matches_formula():
    w = [torch.randn(3, 4), torch.randn(3)]
    p, wr, dr, d = 0.27, 0.01, 0.003, 4
    got = concrete_dropout_regularizer(p, w, d, weight_regularizer=wr, dropout_regularizer=dr)
    sum_sq = sum(float((t**2).sum()) for t in w)
    expected = wr * sum_sq / (1 - p) + dr * d * (p * math.log(p) + (1 - p) * math.log(1 - p))
    assert got.shape == () and math.isclose(got.item(), expected, rel_tol=1e-5)


def test_regularizer_entropy_term_is_minimised_at_one_half():
    p = torch.tensor(0.1, requires_grad=True)
    r = concrete_dropout_regularizer(p, torch.zeros(1), 10, weight_regularizer=0.0, dropout_regularizer=1.0)
    r.backward()
    assert p.grad.item() < 0  # increasing p towards 0.5 lowers the penalty


def test_bad_inputs():
    with pytest.raises(ValueError, match="got 1"):
        concrete_dropout(torch.ones(3), 1.0)
    with pytest.raises(ValueError, match="got 0"):
        concrete_dropout(torch.ones(3), torch.tensor([0.2, 0.0, 0.3]))
    with pytest.raises(ValueError, match="got -0.5"):
        concrete_dropout(torch.ones(3), 0.2, temperature=-0.5)
    with pytest.raises(ValueError, match="got 0"):
        concrete_dropout_regularizer(0.2, torch.ones(2), 0)
    with pytest.raises(ValueError, match=r"got shape \(2,\)"):
        concrete_dropout_regularizer(torch.tensor([0.2, 0.3]), torch.ones(2), 2)
