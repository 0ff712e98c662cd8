"""DropBlock (Ghiasi, Lin, Le 2018, arXiv:1810.12890).

torchvision.ops.drop_block2d would be the natural reference, but PyPI's torchvision does not import
beside the torch 2.13.0 CPU build used here, so the tests check the statistics it is documented to
have instead: seeds with the paper's gamma, whole blocks dropped, output normalised by the kept
fraction.
"""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch
import torch.nn.functional as F

from dropkit.functional import drop_block1d, drop_block2d, drop_block3d, drop_block_gamma, drop_block_schedule
from dropkit.nn import DropBlock1d, DropBlock2d, DropBlock3d


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def is_union_of_blocks(dropped: torch.Tensor, b: int) -> bool:
    """True when the boolean (N, C, *spatial) map is exactly a union of b-blocks lying inside the map."""
    k = dropped.dim() - 2
    d = dropped.double()
    avg = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[k]
    full = (avg(d, b, stride=1) > 1 - 1e-9).double()  # top-left corners of fully dropped blocks
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[k]
    covered = pool(F.pad(full, (b - 1,) * (2 * k)), b, stride=1) > 0
    return bool(torch.equal(covered, dropped))


def expected_drop_fraction(p: float, b: int, spatial: tuple[int, ...]) -> float:
    """Exact E[dropped fraction] for seeds ~ Bernoulli(gamma) on the valid corners: a position is kept
    when none of the corners whose block covers it is a seed."""
    gamma = drop_block_gamma(p, b, spatial)
    counts = []
    for s in spatial:
        y = torch.arange(s)
        counts.append(torch.minimum(y, torch.tensor(s - b)) - torch.clamp(y - b + 1, min=0) + 1)
    k = counts[0]
    for c in counts[1:]:
        k = k[..., None] * c
    return float((1 - (1 - gamma) ** k.double()).mean())


def test_docstring_examples() -> None:
    for name in ("dropkit.functional.drop_block", "dropkit.nn.drop_block"):
        assert doctest.testmod(importlib.import_module(name)).failed == 0


def test_gamma_is_the_papers_equation() -> None:
    # eq. (1): gamma = (1 - keep_prob) / block_size^2 * feat_size^2 / (feat_size - block_size + 1)^2
    assert drop_block_gamma(0.1, 7, (14, 14)) == pytest.approx(0.1 / 49 * 14**2 / 8**2)
    assert drop_block_gamma(0.2, 3, (10, 6)) == pytest.approx(0.2 / 9 * 60 / (8 * 4))
    assert drop_block_gamma(0.2, 2, (4, 4, 4)) == pytest.approx(0.2 / 8 * 64 / 27)
    assert drop_block_gamma(1.0, 5, (5, 5)) == 1.0  # clipped


@pytest.mark.parametrize("b", [1, 2, 3, 4, 5])
def test_drops_whole_blocks_and_scales_the_rest(b: int) -> None:
    x = torch.rand(8, 4, 11, 9, generator=gen(1)) + 0.5
    y = drop_block2d(x, 0.25, b, generator=gen(b))
    dropped = y == 0
    assert dropped.any() and is_union_of_blocks(dropped, b)
    scale = dropped.numel() / (~dropped).sum().item()
    torch.testing.assert_close(y[~dropped], x[~dropped] * scale)


def test_3d_drops_whole_cubes() -> None:
    x = torch.rand(4, 3, 6, 7, 5, generator=gen(1)) + 0.5
    y = drop_block3d(x, 0.3, 3, generator=gen(2))
    dropped = y == 0
    assert dropped.any() and is_union_of_blocks(dropped, 3)
    torch.testing.assert_close(y[~dropped], x[~dropped] * dropped.numel() / (~dropped).sum().item())


def test_1d_drops_whole_segments() -> None:
    x = torch.rand(16, 3, 40, generator=gen(1)) + 0.5
    y = drop_block1d(x, 0.2, 5, generator=gen(2))
    dropped = y == 0
    assert dropped.any() and is_union_of_blocks(dropped, 5)
    torch.testing.assert_close(y[~dropped], x[~dropped] * dropped.numel() / (~dropped).sum().item())
    assert DropBlock1d(0.2, 5)(x).shape == x.shape


def test_normalisation_keeps_the_mean_of_a_constant_input_exactly() -> None:
    for k, fn in ((1, drop_block1d), (2, drop_block2d), (3, drop_block3d)):
        x = torch.full((3, 2) + (8,) * k, 2.0, dtype=torch.float64)
        assert fn(x, 0.3, 3, generator=gen(k)).mean().item() == pytest.approx(2.0, rel=1e-12)


@pytest.mark.parametrize(("p", "b", "spatial"), [(0.1, 3, (32, 32)), (0.3, 5, (20, 16)), (0.2, 2, (8, 8, 8)), (0.2, 5, (40,))])
def test_drop_rate_matches_gamma(p: float, b: int, spatial: tuple[int, ...]) -> None:
    # Each of the m = N*C channel masks is independent and its dropped fraction f lies in [0, 1],
    # so Var(f) <= mu (1 - mu); the mean over m masks has sd <= sqrt(mu (1 - mu) / m).
    n, c = 200, 10
    fn = {1: drop_block1d, 2: drop_block2d, 3: drop_block3d}[len(spatial)]
    y = fn(torch.ones((n, c) + spatial), p, b, generator=gen(3))
    mu = expected_drop_fraction(p, b, spatial)
    rate = (y == 0).double().mean().item()
    assert abs(rate - mu) < 6 * math.sqrt(mu * (1 - mu) / (n * c))
    assert abs(mu - p) < 0.35 * p  # the paper's gamma ignores overlaps and borders: close, not equal


def test_channels_have_their_own_masks_unless_shared() -> None:
    x = torch.ones(4, 6, 10, 10)
    y = drop_block2d(x, 0.3, 3, generator=gen(1))
    assert not all(torch.equal(y[:, 0] == 0, y[:, i] == 0) for i in range(1, 6))
    ys = drop_block2d(x, 0.3, 3, share_channels=True, generator=gen(1))
    assert all(torch.equal(ys[:, 0], ys[:, i]) for i in range(1, 6))
    assert not torch.equal(ys[0], ys[1])  # but per sample


def test_unbatched_input_is_one_sample() -> None:
    x = torch.rand(3, 9, 9) + 0.5
    y = drop_block2d(x, 0.3, 3, generator=gen(5))
    assert torch.equal(y, drop_block2d(x[None], 0.3, 3, generator=gen(5))[0])


def test_channels_last_and_non_contiguous_inputs() -> None:
    x = torch.rand(4, 3, 10, 10) + 0.5
    ref = drop_block2d(x, 0.3, 3, generator=gen(2))
    torch.testing.assert_close(drop_block2d(x.to(memory_format=torch.channels_last), 0.3, 3, generator=gen(2)), ref)
    big = torch.rand(4, 3, 20, 10) + 0.5
    view = big[:, :, ::2]
    torch.testing.assert_close(drop_block2d(view, 0.3, 3, generator=gen(2)), drop_block2d(view.contiguous(), 0.3, 3, generator=gen(2)))


def test_eval_p0_identity_and_p1_zeros_with_finite_grads() -> None:
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    assert torch.equal(drop_block2d(x, 0.3, 3, training=False), x)
    assert torch.equal(drop_block2d(x, 0.0, 3), x)
    for p in (1.0, 0.999999):  # the latter drops everything through gamma -> 1 and the clamp
        y = drop_block2d(x, p, 8, generator=gen(0))
        assert torch.equal(y, torch.zeros_like(x))
        (g,) = torch.autograd.grad(y.sum(), x)
        assert torch.isfinite(g).all()


def test_masks_differ_between_calls() -> None:
    g = gen(3)
    x = torch.ones(2, 2, 12, 12)
    assert not torch.equal(drop_block2d(x, 0.3, 3, generator=g), drop_block2d(x, 0.3, 3, generator=g))


def test_gradcheck() -> None:
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: drop_block2d(t, 0.3, 3, generator=gen(7)), (x,))
    x3 = torch.randn(1, 2, 4, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: drop_block3d(t, 0.3, 2, generator=gen(7)), (x3,))


def test_compile_matches_eager() -> None:
    fn = lambda t: drop_block2d(t, 0.3, 3)  # noqa: E731
    compiled = torch.compile(fn, backend="eager", fullgraph=True)
    x = torch.randn(4, 3, 8, 8)
    torch.manual_seed(11)
    expected = fn(x)
    torch.manual_seed(11)
    assert torch.equal(compiled(x), expected)


def test_schedule_ramps_linearly_from_zero_to_p() -> None:
    assert drop_block_schedule(0, 100, 0.1) == 0.0
    assert drop_block_schedule(50, 100, 0.1) == pytest.approx(0.05)
    assert drop_block_schedule(100, 100, 0.1) == pytest.approx(0.1)
    assert drop_block_schedule(10_000, 100, 0.1) == pytest.approx(0.1)
    values = [drop_block_schedule(s, 10, 0.3) for s in range(12)]
    assert values == sorted(values)
    with pytest.raises(ValueError, match="got -1"):
        drop_block_schedule(-1, 10, 0.1)
    with pytest.raises(ValueError, match="got 0"):
        drop_block_schedule(1, 0, 0.1)
    with pytest.raises(ValueError, match="got 1.5"):
        drop_block_schedule(1, 10, 1.5)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="got 1.5"):
        drop_block2d(torch.ones(1, 1, 8, 8), 1.5, 3)
    with pytest.raises(ValueError, match=r"smallest spatial size 5 \(spatial shape \(8, 5\)\), got 6"):
        drop_block2d(torch.ones(1, 1, 8, 5), 0.1, 6)
    with pytest.raises(ValueError, match="got 9"):
        drop_block3d(torch.ones(1, 1, 8, 8, 8), 0.1, 9)
    with pytest.raises(ValueError, match="got 0"):
        drop_block2d(torch.ones(1, 1, 8, 8), 0.1, 0)
    with pytest.raises(TypeError, match="got float 2.5"):
        drop_block2d(torch.ones(1, 1, 8, 8), 0.1, 2.5)
    with pytest.raises(ValueError, match=r"expected 4D input \(N, C, H, W\) or 3D unbatched .*got shape \(8, 8\)"):
        drop_block2d(torch.ones(8, 8), 0.1, 3)
    with pytest.raises(ValueError, match=r"got shape \(8, 8, 8\)"):
        drop_block3d(torch.ones(8, 8, 8), 0.1, 3)
    with pytest.raises(TypeError, match="got dtype torch.int64"):
        drop_block2d(torch.ones(1, 1, 8, 8, dtype=torch.long), 0.1, 3)
    with pytest.raises(ValueError, match="got 0"):
        DropBlock2d(0.1, 0)


def test_modules() -> None:
    assert repr(DropBlock2d(0.1, 3)) == "DropBlock2d(p=0.1, block_size=3)"
    assert repr(DropBlock3d(0.2, 2, share_channels=True)) == "DropBlock3d(p=0.2, block_size=2, share_channels=True)"
    x = torch.ones(4, 2, 8, 8)
    layer = DropBlock2d(0.3, 3, generator=gen(1))
    assert is_union_of_blocks(layer(x) == 0, 3)
    assert torch.equal(layer.eval()(x), x)
    layer.train()
    layer.p = drop_block_schedule(0, 10, 0.3)  # the schedule drives p
    assert torch.equal(layer(x), x)
    with pytest.raises(ValueError, match="got 9"):
        DropBlock2d(0.1, 9)(x)
