"""Gaussian dropout (Srivastava et al. 2014, Section 10): multiplicative N(1, p/(1-p)) noise."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch

from dropkit.functional import gaussian_dropout
from dropkit.nn import GaussianDropout


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_docstring_examples() -> None:
    for name in ("dropkit.functional.gaussian_dropout", "dropkit.nn.gaussian_dropout"):
        assert doctest.testmod(importlib.import_module(name)).failed == 0


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_noise_mean_and_variance(p: float) -> None:
    # y = x * r with r ~ N(1, s^2), s^2 = p/(1-p). For x = 1 the sample mean has standard error
    # s/sqrt(n); the sample variance of Gaussian data has standard error s^2 * sqrt(2/(n-1)).
    n = 200_000
    y = gaussian_dropout(torch.ones(n, dtype=torch.float64), p, generator=gen(1))
    s2 = p / (1 - p)
    assert abs(y.mean().item() - 1.0) < 6 * math.sqrt(s2 / n)
    assert abs(y.var().item() - s2) < 6 * s2 * math.sqrt(2 / (n - 1))


def test_unbiased_on_random_input() -> None:
    # E[x r] = x; the mean of (y - x) over n elements has standard error sqrt(s^2 mean(x^2) / n).
    n, p = 100_000, 0.3
    x = torch.randn(n, generator=gen(2), dtype=torch.float64) + 2.0
    y = gaussian_dropout(x, p, generator=gen(3))
    se = math.sqrt(p / (1 - p) * (x**2).mean().item() / n)
    assert abs((y - x).mean().item()) < 6 * se


def test_eval_and_p0_are_identity() -> None:
    x = torch.randn(5, 7)
    assert torch.equal(gaussian_dropout(x, 0.4, training=False), x)
    assert torch.equal(gaussian_dropout(x, 0.0), x)


def test_broadcast_dims_share_noise() -> None:
    x = torch.ones(6, 4, 5)
    y = gaussian_dropout(x, 0.5, broadcast_dims=(1, 2), generator=gen())
    assert torch.equal(y, y[:, :1, :1].expand_as(y))
    assert y[:, 0, 0].unique().numel() == 6  # different noise per sample


def test_masks_differ_between_calls_and_generator_reproduces() -> None:
    x = torch.ones(100)
    g = gen(5)
    a, b = gaussian_dropout(x, 0.5, generator=g), gaussian_dropout(x, 0.5, generator=g)
    assert not torch.equal(a, b)
    assert torch.equal(a, gaussian_dropout(x, 0.5, generator=gen(5)))


def test_gradcheck() -> None:
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: gaussian_dropout(t, 0.3, generator=gen(7)), (x,))


def test_compile_matches_eager() -> None:
    fn = lambda t: gaussian_dropout(t, 0.3)  # noqa: E731
    compiled = torch.compile(fn, backend="eager", fullgraph=True)
    x = torch.randn(4, 5)
    torch.manual_seed(11)
    expected = fn(x)
    torch.manual_seed(11)
    assert torch.equal(compiled(x), expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtypes_and_empty(dtype: torch.dtype) -> None:
    assert gaussian_dropout(torch.ones(3, 2, dtype=dtype), 0.5).dtype == dtype
    assert gaussian_dropout(torch.ones(0, 3, dtype=dtype), 0.5).shape == (0, 3)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="got 1.5"):
        gaussian_dropout(torch.ones(2), 1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\), got 1"):
        gaussian_dropout(torch.ones(2), 1.0)
    with pytest.raises(TypeError, match="got dtype torch.int64"):
        gaussian_dropout(torch.ones(2, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match="got 3"):
        gaussian_dropout(torch.ones(2, 2), 0.5, broadcast_dims=3)
    with pytest.raises(ValueError, match="got -0.1"):
        GaussianDropout(-0.1)


def test_module() -> None:
    layer = GaussianDropout(0.25, broadcast_dims=1, generator=gen(0))
    assert repr(layer) == "GaussianDropout(p=0.25, broadcast_dims=(1,))"
    x = torch.ones(4, 3)
    y = layer(x)
    assert torch.equal(y, y[:, :1].expand_as(y)) and not torch.equal(y, x)
    assert torch.equal(layer.eval()(x), x)
