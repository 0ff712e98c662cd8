"""Channel (spatial) dropout for 1-D/2-D/3-D feature maps, layout-aware."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch
import torch.nn.functional as F

from dropkit.functional import channel_dropout, dropout1d, dropout2d, dropout3d
from dropkit.nn import ChannelDropout, Dropout1d, Dropout2d, Dropout3d
from dropkit.functional import native_keep_mask
from dropkit.rng import keep_scale

FNS = {1: dropout1d, 2: dropout2d, 3: dropout3d}
TORCH_FNS = {1: F.dropout1d, 2: F.dropout2d, 3: F.dropout3d}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_docstring_examples() -> None:
    for name in ("dropkit.functional.channel_dropout", "dropkit.nn.channel_dropout"):
        assert doctest.testmod(importlib.import_module(name)).failed == 0


@pytest.mark.parametrize("k", [1, 2, 3])
def test_whole_channels_zero_or_scaled(k: int) -> None:
    p = 0.4
    x = torch.rand((16, 8) + (4,) * k, generator=gen(1)) + 0.5  # no zeros in the input
    y = FNS[k](x, p, generator=gen(2))
    flat_x, flat_y = x.flatten(2), y.flatten(2)
    dropped = (flat_y == 0).all(2)
    kept = torch.isclose(flat_y, flat_x * keep_scale(p), rtol=1e-6, atol=0).all(2)
    assert bool((dropped ^ kept).all())
    assert bool(dropped.any()) and bool(kept.any())


@pytest.mark.parametrize("k", [1, 2, 3])
def test_replays_the_native_mask_rule_and_matches_torch_statistics(k: int) -> None:
    # The native path draws its own mask (torch uses bernoulli_, so masks differ for the same seed);
    # replay it, then compare drop statistics with torch.
    x = torch.randn((4, 6) + (3,) * k)
    keep = native_keep_mask((4, 6) + (1,) * k, 0.3, generator=gen(5))
    torch.testing.assert_close(FNS[k](x, 0.3, generator=gen(5)), (x * keep) * keep_scale(0.3), rtol=0, atol=0)
    big = torch.ones((400, 50) + (1,) * k)
    ours = (FNS[k](big, 0.3) == 0).double().mean().item()
    theirs = (TORCH_FNS[k](big, 0.3, training=True) == 0).double().mean().item()
    m = 400 * 50  # independent channel decisions each; the difference of two rates has sd sqrt(2 p(1-p)/m)
    assert abs(ours - theirs) < 6 * math.sqrt(2 * 0.3 * 0.7 / m)


def test_rate_and_unbiased_mean() -> None:
    # m = N*C independent channel decisions. The dropped fraction has sd sqrt(p(1-p)/m); for x = 1
    # each channel's value is keep/(1-p) with variance p/(1-p), so the mean has sd sqrt(p/(1-p)/m).
    p, n, c = 0.3, 500, 100
    y = dropout2d(torch.ones(n, c, 2, 2), p, generator=gen(3))
    m = n * c
    rate = (y[:, :, 0, 0] == 0).double().mean().item()
    assert abs(rate - p) < 6 * math.sqrt(p * (1 - p) / m)
    assert abs(y.mean().item() - 1.0) < 6 * math.sqrt(p / (1 - p) / m)


def test_channels_last_flag_masks_per_sample_and_channel() -> None:
    x = torch.ones(8, 5, 5, 6)  # (N, H, W, C)
    y = dropout2d(x, 0.5, channels_last=True, generator=gen(4))
    assert torch.equal(y, y[:, :1, :1, :].expand_as(y))  # constant over H, W
    # the same mask as the (N, C, H, W) layout drawn with the same generator state
    ref = dropout2d(x.permute(0, 3, 1, 2), 0.5, generator=gen(4))
    assert torch.equal(y.permute(0, 3, 1, 2), ref)


def test_channels_last_memory_format_keeps_mask_and_layout() -> None:
    x = torch.randn(4, 6, 5, 5)
    xc = x.to(memory_format=torch.channels_last)
    y = dropout2d(xc, 0.5, generator=gen(6))
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, dropout2d(x, 0.5, generator=gen(6)))
    y3 = dropout3d(torch.randn(2, 3, 2, 2, 2).to(memory_format=torch.channels_last_3d), 0.5)
    assert y3.is_contiguous(memory_format=torch.channels_last_3d)


def test_non_contiguous_input() -> None:
    x = torch.randn(6, 4, 8, 8)[:, :, ::2, 1::2]
    y = dropout2d(x, 0.5, generator=gen(1))
    assert torch.equal(y, dropout2d(x.contiguous(), 0.5, generator=gen(1)))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_unbatched_input(k: int) -> None:
    x = torch.ones((10,) + (3,) * k)
    y = channel_dropout(x, 0.5, spatial_dims=k, generator=gen(2))  # (C, *spatial) is unbatched for every k
    flat = y.flatten(1)
    assert bool(((flat == 0).all(1) | (flat == 2).all(1)).all())
    if k != 2:  # dropout2d reads a 3-D input as torch does, (N, C, L): see test_torch_ranks.py
        assert torch.equal(FNS[k](x, 0.5, generator=gen(2)), y)
    ylast = FNS[k](torch.ones((3,) * k + (10,)), 0.5, channels_last=True, generator=gen(2))
    assert torch.equal(ylast.movedim(-1, 0), y)


def test_generic_channel_dropout_matches_aliases() -> None:
    x = torch.randn(3, 4, 5, 5)
    assert torch.equal(channel_dropout(x, 0.5, spatial_dims=2, generator=gen(1)), dropout2d(x, 0.5, generator=gen(1)))
    y = channel_dropout(x, 0.5, spatial_dims=3, generator=gen(1))  # read as unbatched (C, D, H, W)
    flat = (y == 0).flatten(1)
    assert bool((flat.all(1) | (~flat).all(1)).all())


def test_eval_p0_identity_p1_zeros_with_finite_grads() -> None:
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    assert torch.equal(dropout2d(x, 0.3, training=False), x)
    assert torch.equal(dropout2d(x, 0.0), x)
    y = dropout2d(x, 1.0)
    assert torch.equal(y, torch.zeros_like(x))
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(g).all() and torch.equal(g, torch.zeros_like(x))


def test_gradcheck() -> None:
    x = torch.randn(3, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: dropout2d(t, 0.5, generator=gen(7)), (x,))


def test_compile_matches_eager() -> None:
    fn = lambda t: dropout2d(t, 0.3) + dropout1d(t.flatten(2), 0.3).view_as(t)  # noqa: E731
    compiled = torch.compile(fn, backend="eager", fullgraph=True)
    x = torch.randn(4, 5, 3, 3)
    torch.manual_seed(11)
    expected = fn(x)
    torch.manual_seed(11)
    assert torch.equal(compiled(x), expected)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="got 1.5"):
        dropout2d(torch.ones(2, 2, 2, 2), 1.5)
    with pytest.raises(ValueError, match=r"expected 4D input \(N, C, H, W\) or 3D unbatched input \(C, H, W\), got shape \(3, 3\)"):
        channel_dropout(torch.ones(3, 3), 0.5, spatial_dims=2)  # dropout2d takes it, as torch: test_torch_ranks.py
    with pytest.raises(ValueError, match=r"\(N, L, C\).*got shape \(2, 2, 2, 2\)"):
        dropout1d(torch.ones(2, 2, 2, 2), 0.5, channels_last=True)
    with pytest.raises(ValueError, match=r"got shape \(2, 2\)"):
        channel_dropout(torch.ones(2, 2), 0.5, spatial_dims=3)
    with pytest.raises(TypeError, match="got dtype torch.int64"):
        dropout1d(torch.ones(2, 2, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match="got 0"):
        channel_dropout(torch.ones(2, 2), 0.5, spatial_dims=0)
    with pytest.raises(ValueError, match="got -1"):
        Dropout2d(-1)


def test_modules() -> None:
    assert repr(Dropout2d(0.3, channels_last=True)) == "Dropout2d(p=0.3, channels_last=True)"
    assert repr(ChannelDropout(0.2, spatial_dims=1)) == "ChannelDropout(p=0.2, spatial_dims=1)"
    x = torch.ones(6, 5, 4)
    for layer in (Dropout1d(0.5, generator=gen(1)), ChannelDropout(0.5, 1, generator=gen(1))):
        y = layer(x)
        assert torch.equal(y, y[:, :, :1].expand_as(y)) and not torch.equal(y, x)
        assert torch.equal(layer.eval()(x), x)
    assert Dropout3d(0.5)(torch.ones(2, 3, 2, 2, 2)).shape == (2, 3, 2, 2, 2)
