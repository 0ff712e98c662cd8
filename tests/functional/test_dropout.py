"""Invariants, statistics, gradients and errors of the element-wise dropout core."""

from __future__ import annotations

import math

import pytest
import torch

from dropkit.functional import dropout
from dropkit.nn import Dropout
from dropkit.rng import keep_scale


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_every_output_is_zero_or_scaled_input(p: float, dtype: torch.dtype) -> None:
    x = torch.randn(257, 33).to(dtype)
    y = dropout(x, p, generator=_gen())
    scaled = x * keep_scale(p)  # 1 / the keep probability quantised to 16 bits, rounded once
    assert torch.all((y == 0) | (y == scaled))
    assert y.dtype == dtype and y.shape == x.shape


def test_eval_and_p_zero_are_identity() -> None:
    x = torch.randn(10, 7)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    layer = Dropout(0.5).eval()
    assert torch.equal(layer(x), x)


def test_p_one_gives_zeros_with_finite_gradients() -> None:
    x = torch.randn(5, 4, requires_grad=True)
    y = dropout(x, 1.0)
    assert torch.equal(y, torch.zeros_like(x))
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropped_fraction_within_binomial_bound(p: float) -> None:
    n = 200_000
    y = dropout(torch.ones(n), p, generator=_gen(1))
    frac = float((y == 0).float().mean())
    assert abs(frac - p) <= 6 * math.sqrt(p * (1 - p) / n)


def test_mean_is_preserved_within_standard_error() -> None:
    p, n = 0.3, 400_000
    x = torch.rand(n) + 0.5
    y = dropout(x, p, generator=_gen(2))
    # Var(y_i) = x_i^2 * p / (1 - p); the standard error of the mean difference is sqrt(sum var) / n.
    se = math.sqrt(float((x**2).sum()) * p / (1 - p)) / n
    assert abs(float(y.mean() - x.mean())) <= 6 * se


@pytest.mark.parametrize("dims", [(0,), (1,), (-1,), (0, 2), (1, 2)])
def test_mask_is_constant_along_broadcast_dims(dims: tuple[int, ...]) -> None:
    x = torch.ones(6, 7, 8)
    y = dropout(x, 0.5, broadcast_dims=dims, generator=_gen(3))
    for d in dims:
        assert torch.equal(y, y.select(d, 0).unsqueeze(d).expand_as(y))


def test_fresh_mask_every_call_and_reproducible_with_seed() -> None:
    x = torch.ones(1000)
    a, b = dropout(x, 0.5), dropout(x, 0.5)
    assert not torch.equal(a, b)
    torch.manual_seed(123)
    c = dropout(x, 0.5)
    torch.manual_seed(123)
    assert torch.equal(c, dropout(x, 0.5))
    assert torch.equal(dropout(x, 0.5, generator=_gen(9)), dropout(x, 0.5, generator=_gen(9)))


def test_gradcheck_float64_with_pinned_generator() -> None:
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: dropout(t, 0.4, generator=_gen(4)), (x,))
    assert torch.autograd.gradcheck(lambda t: dropout(t, 0.4, broadcast_dims=(0,), generator=_gen(4)), (x,))


def test_module_records_rate_and_repr() -> None:
    layer = Dropout(0.25, broadcast_dims=1)
    assert "p=0.25" in repr(layer) and "broadcast_dims=(1,)" in repr(layer)
    layer.record_rate = True
    layer(torch.ones(4000, 3))
    assert abs(float(layer.last_drop_fraction) - 0.25) < 6 * math.sqrt(0.25 * 0.75 / 4000)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_bad_p_is_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\], got"):
        dropout(torch.ones(3), bad)
    with pytest.raises(ValueError, match="p must be in"):
        Dropout(bad)


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(TypeError, match="floating-point"):
        dropout(torch.ones(3, dtype=torch.int64), 0.5)
    with pytest.raises(ValueError, match="got 3"):
        dropout(torch.ones(2, 2), 0.5, broadcast_dims=(3,))
    with pytest.raises(ValueError, match="must not repeat"):
        dropout(torch.ones(2, 2), 0.5, broadcast_dims=(1, -1))
    with pytest.raises(TypeError, match="p must be a float"):
        dropout(torch.ones(2), "0.5")  # type: ignore[arg-type]
