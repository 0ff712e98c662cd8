"""Additive Gaussian noise N(0, sigma^2)."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch

from dropkit.functional import gaussian_noise
from dropkit.nn import GaussianNoise


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_docstring_examples() -> None:
    for name in ("dropkit.functional.gaussian_noise", "dropkit.nn.gaussian_noise"):
        assert doctest.testmod(importlib.import_module(name)).failed == 0


@pytest.mark.parametrize("sigma", [0.1, 1.0, 3.0])
def test_noise_statistics(sigma: float) -> None:
    # y - x ~ N(0, sigma^2): the mean has standard error sigma/sqrt(n), the sample variance
    # sigma^2 * sqrt(2/(n-1)).
    n = 200_000
    x = torch.randn(n, generator=gen(1), dtype=torch.float64)
    d = gaussian_noise(x, sigma, generator=gen(2)) - x
    assert abs(d.mean().item()) < 6 * sigma / math.sqrt(n)
    assert abs(d.var().item() - sigma**2) < 6 * sigma**2 * math.sqrt(2 / (n - 1))


def test_eval_and_sigma0_are_identity() -> None:
    x = torch.randn(5, 7)
    assert torch.equal(gaussian_noise(x, 0.5, training=False), x)
    assert torch.equal(gaussian_noise(x, 0.0), x)


def test_sigma_above_one_is_allowed_unlike_keras() -> None:
    y = gaussian_noise(torch.zeros(10_000), 5.0, generator=gen())
    assert y.std().item() > 4.0


def test_generator_reproduces_and_calls_differ() -> None:
    x = torch.zeros(50)
    g = gen(9)
    a, b = gaussian_noise(x, 1.0, generator=g), gaussian_noise(x, 1.0, generator=g)
    assert not torch.equal(a, b)
    assert torch.equal(a, gaussian_noise(x, 1.0, generator=gen(9)))


def test_gradient_is_identity() -> None:
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: gaussian_noise(t, 0.3, generator=gen(7)), (x,))
    gaussian_noise(x, 0.3).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_compile_matches_eager() -> None:
    fn = lambda t: gaussian_noise(t, 0.3)  # noqa: E731
    compiled = torch.compile(fn, backend="eager", fullgraph=True)
    x = torch.randn(4, 5)
    torch.manual_seed(11)
    expected = fn(x)
    torch.manual_seed(11)
    assert torch.equal(compiled(x), expected)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="got -1.5"):
        gaussian_noise(torch.ones(2), -1.5)
    with pytest.raises(ValueError, match="got inf"):
        gaussian_noise(torch.ones(2), math.inf)
    with pytest.raises(TypeError, match="got dtype torch.int32"):
        gaussian_noise(torch.ones(2, dtype=torch.int32), 0.5)
    with pytest.raises(ValueError, match="got -2"):
        GaussianNoise(-2)


def test_module() -> None:
    layer = GaussianNoise(0.5, generator=gen(0))
    assert repr(layer) == "GaussianNoise(sigma=0.5)"
    x = torch.zeros(4, 3)
    assert not torch.equal(layer(x), x)
    assert torch.equal(layer.eval()(x), x)
