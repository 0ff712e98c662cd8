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


def _relaxed_keep_moments(p: float, t: float, eps: float = 1e-7, points: int = 1 << 21) -> tuple[float, float]:
    """E[y] and Var[y] of ``y = (1 - z) / (1 - p)`` for ``u ~ U(0, 1)``, by the midpoint rule over ``u``
    (the integrand is smooth; 2**21 points are exact to far below the sampling error)."""
    u = (torch.arange(points, dtype=torch.float64) + 0.5) / points
    z = torch.sigmoid((math.log(p) - math.log1p(-p) + torch.log(u + eps) - torch.log(1 - u + eps)) / t)
    y = (1 - z) / (1 - p)
    mean = y.mean().item()
    return mean, (y * y).mean().item() - mean**2


def test_mean_equals_the_relaxations_expectation_within_its_standard_error():
    # The relaxation biases the mean slightly (E[y] != 1 at t = 0.1); the expectation is integrated
    # over the noise instead of being allowed a magic tolerance.
    p, t, n = 0.3, 0.1, 400_000
    mean, var = _relaxed_keep_moments(p, t)
    y = concrete_dropout(torch.ones(n, dtype=torch.float64), p, temperature=t, generator=_gen(2))
    assert abs(y.mean().item() - mean) <= 6 * math.sqrt(var / n)


def test_low_temperature_soft_fraction_is_binomial():
    # z is soft (in [1e-6, 1 - 1e-6]) iff the logistic noise L lies within d = t * logit(1 - 1e-6) of
    # -logit(p): probability q = sigmoid(-logit p + d) - sigmoid(-logit p - d), ignoring eps (u is never
    # within 1e-7 of 0 or 1 at these odds). The soft count is Binomial(n, q).
    p, t, n = 0.3, 1e-3, 100_000
    lp, d = math.log(p / (1 - p)), t * math.log((1 - 1e-6) / 1e-6)
    q = 1 / (1 + math.exp(lp - d)) - 1 / (1 + math.exp(lp + d))
    hard = concrete_dropout(torch.ones(n, dtype=torch.float64), p, temperature=t, generator=_gen(3))
    z = 1 - hard * (1 - p)
    soft = ((z >= 1e-6) & (z <= 1 - 1e-6)).double().mean().item()
    assert abs(soft - q) <= 6 * math.sqrt(q * (1 - q) / n)


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
