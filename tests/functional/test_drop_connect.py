"""DropConnect (Wan et al. 2013): weights dropped per call, shared by the batch, bias kept."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dropkit.functional import (
    drop_connect_conv1d,
    drop_connect_conv2d,
    drop_connect_conv3d,
    drop_connect_linear,
    drop_connect_weight,
)
from dropkit.nn import DropConnectConv1d, DropConnectConv2d, DropConnectConv3d, DropConnectLinear
from dropkit.rng import keep_scale


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_docstring_examples() -> None:
    for name in ("dropkit.functional.drop_connect", "dropkit.nn.drop_connect"):
        assert doctest.testmod(importlib.import_module(name)).failed == 0


def test_linear_effective_weight_is_zero_or_scaled_and_shared_by_the_batch() -> None:
    p, fan_in = 0.4, 6
    w = torch.rand(5, fan_in, dtype=torch.float64) + 0.5
    eye = torch.eye(fan_in, dtype=torch.float64)
    # rows of the identity read out the columns of the dropped weight; stacking it twice shows that
    # both halves of the batch saw the same weights (one mask per call)
    y = drop_connect_linear(torch.cat([eye, eye]), w, None, p, generator=gen(1))
    w_eff = y[:fan_in].T
    assert torch.equal(y[:fan_in], y[fan_in:])
    dropped = w_eff == 0
    assert bool(dropped.any()) and bool((~dropped).any())
    torch.testing.assert_close(w_eff[~dropped], w[~dropped] * keep_scale(p))  # 1 / the 16-bit quantised keep prob


def test_bias_is_never_dropped() -> None:
    bias = torch.arange(1.0, 4.0)
    y = drop_connect_linear(torch.randn(7, 4), torch.zeros(3, 4), bias, 0.9, generator=gen(2))
    assert torch.equal(y, bias.expand(7, 3))
    y1 = drop_connect_linear(torch.randn(7, 4), torch.randn(3, 4), bias, 1.0)
    assert torch.equal(y1, bias.expand(7, 3))  # p = 1: every weight dropped, bias kept


def test_weight_rate_and_unbiased_mean() -> None:
    # n independent weight decisions: rate sd sqrt(p(1-p)/n); each dropped-and-scaled 1 has variance
    # p/(1-p), so the mean of the n effective weights has sd sqrt(p/(1-p)/n).
    p = 0.5
    w = drop_connect_weight(torch.ones(400, 300), p, generator=gen(3))
    n = w.numel()
    assert abs((w == 0).double().mean().item() - p) < 6 * math.sqrt(p * (1 - p) / n)
    assert abs(w.mean().item() - 1.0) < 6 * math.sqrt(p / (1 - p) / n)


def test_output_is_unbiased_over_masks() -> None:
    # E[y] = F.linear(x, w, b) (the "mean" inference rule). Average m independent calls; per output
    # the variance of one call is p/(1-p) * sum_j (w_j x_j)^2, so the average has that over m.
    p, m = 0.3, 4000
    x = torch.randn(1, 20, dtype=torch.float64, generator=gen(4))
    w = torch.randn(3, 20, dtype=torch.float64, generator=gen(5))
    g = gen(6)
    mean = sum(drop_connect_linear(x, w, None, p, generator=g) for _ in range(m)) / m
    sd = torch.sqrt(p / (1 - p) * ((w * x) ** 2).sum(1) / m)
    assert bool(((mean - F.linear(x, w)).abs() < 6 * sd).all())


@pytest.mark.parametrize(
    ("fn", "conv", "x_shape", "w_shape"),
    [
        (drop_connect_conv1d, F.conv1d, (2, 3, 9), (4, 3, 3)),
        (drop_connect_conv2d, F.conv2d, (2, 3, 7, 6), (4, 3, 3, 2)),
        (drop_connect_conv3d, F.conv3d, (1, 2, 4, 5, 4), (3, 2, 2, 2, 2)),
    ],
)
def test_conv_uses_the_dropped_kernel(fn, conv, x_shape, w_shape) -> None:  # type: ignore[no-untyped-def]
    x, w, b = torch.randn(x_shape), torch.randn(w_shape), torch.randn(w_shape[0])
    y = fn(x, w, b, 0.5, padding=1, generator=gen(7))
    w_eff = drop_connect_weight(w, 0.5, generator=gen(7))
    assert not torch.equal(w_eff, w)
    torch.testing.assert_close(y, conv(x, w_eff, b, 1, 1))
    assert torch.equal(fn(x, w, b, 0.5, padding=1, training=False), conv(x, w, b, 1, 1))


def test_eval_p0_identity_and_p1_finite_grads() -> None:
    x, w, b = torch.randn(4, 5), torch.randn(3, 5, requires_grad=True), torch.randn(3)
    assert torch.equal(drop_connect_linear(x, w, b, 0.5, training=False), F.linear(x, w, b))
    assert torch.equal(drop_connect_linear(x, w, b, 0.0), F.linear(x, w, b))
    assert drop_connect_weight(w, 0.0) is w
    y = drop_connect_linear(x, w, None, 1.0)
    assert torch.equal(y, torch.zeros(4, 3))
    (g,) = torch.autograd.grad(y.sum(), w)
    assert torch.isfinite(g).all()


def test_gradcheck() -> None:
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: drop_connect_linear(*a, 0.4, generator=gen(8)), (x, w, b))
    xc = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    wc = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, c: drop_connect_conv2d(a, c, None, 0.4, generator=gen(8)), (xc, wc))


def test_compile_matches_eager() -> None:
    w = torch.randn(4, 3, 3, 3)
    fn = lambda t: drop_connect_conv2d(t, w, None, 0.3, padding="same")  # noqa: E731
    compiled = torch.compile(fn, backend="eager", fullgraph=True)
    x = torch.randn(2, 3, 6, 6)
    torch.manual_seed(11)
    expected = fn(x)
    torch.manual_seed(11)
    assert torch.equal(compiled(x), expected)


def test_bad_inputs() -> None:
    x, w = torch.ones(2, 3), torch.ones(4, 3)
    with pytest.raises(ValueError, match="got 1.5"):
        drop_connect_linear(x, w, None, 1.5)
    with pytest.raises(ValueError, match="got -0.1"):
        drop_connect_conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), None, -0.1)
    with pytest.raises(TypeError, match="input must be a floating-point tensor, got dtype torch.int64"):
        drop_connect_linear(x.long(), w, None, 0.5)
    with pytest.raises(TypeError, match="weight must be a floating-point tensor, got dtype torch.int64"):
        drop_connect_weight(w.long(), 0.5)
    with pytest.raises(ValueError, match="got 2"):
        DropConnectLinear(3, 4, p=2)
    with pytest.raises(ValueError, match="got 1.5"):
        DropConnectConv2d(1, 1, 3, p=1.5)


def test_linear_module_loads_linear_state_dicts_both_ways() -> None:
    plain = nn.Linear(4, 3)
    layer = DropConnectLinear(4, 3, p=0.3, generator=gen(1))
    assert repr(layer) == "DropConnectLinear(in_features=4, out_features=3, bias=True, p=0.3)"
    layer.load_state_dict(plain.state_dict())
    x = torch.randn(5, 4)
    assert not torch.equal(layer(x), plain(x))
    layer.eval()
    assert torch.equal(layer(x), plain(x))  # mean inference: weights as they are
    nn.Linear(4, 3).load_state_dict(layer.state_dict())
    assert isinstance(layer, nn.Linear)


def test_conv_modules_keep_conv_behaviour() -> None:
    plain = nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect")
    layer = DropConnectConv2d(2, 3, 3, padding=1, padding_mode="reflect", p=0.5, generator=gen(2))
    assert repr(layer).endswith("padding_mode=reflect, p=0.5)")
    layer.load_state_dict(plain.state_dict())
    x = torch.randn(2, 2, 6, 6)
    y = layer(x)
    w_eff = drop_connect_weight(plain.weight, 0.5, generator=gen(2))
    with torch.no_grad():
        torch.testing.assert_close(y, plain._conv_forward(x, w_eff, plain.bias))
        assert torch.equal(layer.eval()(x), plain(x))
    layer.train()
    y.sum().backward()
    assert torch.isfinite(layer.weight.grad).all()
    assert DropConnectConv1d(2, 3, 3, p=0.1)(torch.randn(1, 2, 8)).shape == (1, 3, 6)
    assert DropConnectConv3d(1, 2, 2, p=0.1)(torch.randn(1, 1, 3, 3, 3)).shape == (1, 2, 2, 2, 2)
