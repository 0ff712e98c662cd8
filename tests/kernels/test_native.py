"""The native mask: lane width, per-lane statistics, the quantised scale, saved memory and both code paths."""

from __future__ import annotations

import math

import pytest
import torch

from dropkit.functional import dropout, native_keep_mask
from dropkit.kernels import native as native_mask
from dropkit.kernels.native import native_keep_lanes
from dropkit.rng import keep_scale, keep_threshold, quantized_keep_prob


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("p", "dtype", "threshold"), [(0.5, torch.uint8, 128), (0.25, torch.uint8, 192),
                                                        (0.3, torch.int16, 45875 - 32768), (0.1, torch.int16, 58982 - 32768)])
def test_lane_width_follows_the_quantised_threshold(p: float, dtype: torch.dtype, threshold: int) -> None:
    lanes, t = native_keep_lanes((3, 5), p, generator=_gen())
    assert lanes.dtype == dtype and lanes.shape == (3, 5) and t == threshold


@pytest.mark.parametrize("p", [0.5, 0.25, 0.3, 0.1, 0.9])
def test_every_lane_position_keeps_at_the_quantised_rate(p: float) -> None:
    # Each 64-bit draw feeds 4 (16-bit) or 8 (8-bit) consecutive elements; a lane with missing random
    # bits (random_() leaves the top bit of an int64 at 0) would show up as one position's rate.
    per_word = 8 if keep_threshold(p) % 256 == 0 else 4
    n_words = 40_000
    keep = native_keep_mask((n_words * per_word,), p, generator=_gen(1)).view(n_words, per_word).double()
    q = quantized_keep_prob(p)
    bound = 6 * math.sqrt(q * (1 - q) / n_words)
    assert torch.all((keep.mean(0) - q).abs() <= bound), keep.mean(0)
    # Neighbouring lanes of one word are independent: their joint keep rate is q**2.
    both = (keep[:, 0] * keep[:, 1]).mean().item()
    assert abs(both - q * q) <= 6 * math.sqrt(q * q * (1 - q * q) / n_words)


def test_extreme_rates() -> None:
    x = torch.randn(1000)
    assert torch.equal(dropout(x, 1e-6), x)  # keep threshold 2**16: everything kept, scale exactly 1
    p = 1 - 2**-16
    assert keep_threshold(p) == 1
    y = dropout(torch.ones(200_000), p, generator=_gen(2))
    kept = int((y != 0).sum())
    assert kept <= 3 + 6 * math.sqrt(200_000 * 2**-16)
    assert torch.all((y == 0) | (y == 2.0**16))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "channels_last", "broadcast"])
def test_grad_and_no_grad_paths_give_the_same_output(dtype: torch.dtype, layout: str) -> None:
    x = torch.randn(4, 6, 5, 3).to(dtype)
    dims: tuple[int, ...] = ()
    if layout == "transposed":
        x = x.transpose(1, 3)
    elif layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "broadcast":
        dims = (2, 3)
    p = 0.3
    with torch.no_grad():
        fast = dropout(x, p, broadcast_dims=dims, generator=_gen(3))
    xg = x.clone().requires_grad_()
    slow = dropout(xg, p, broadcast_dims=dims, generator=_gen(3))
    shape = tuple(1 if d in dims else s for d, s in enumerate(x.shape))
    keep = native_keep_mask(shape, p, generator=_gen(3))
    expected = (x * keep.to(dtype)) * keep_scale(p)
    assert torch.equal(fast, expected) and torch.equal(slow.detach(), expected)
    slow.backward(torch.ones_like(slow))
    assert torch.equal(xg.grad, (torch.ones_like(x) * keep.to(dtype)) * keep_scale(p))


def _saved_by(fn) -> list[torch.Tensor]:
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return saved


def test_backward_keeps_one_byte_per_mask_element() -> None:
    x = torch.randn(128, 129, requires_grad=True)  # above SMALL_MASK_NUMEL
    assert x.numel() > native_mask.SMALL_MASK_NUMEL
    saved = _saved_by(lambda: dropout(x, 0.3).sum().backward())
    assert [(t.dtype, t.shape) for t in saved] == [(torch.bool, x.shape)]


@pytest.mark.parametrize(("shape", "kept"), [((8, 8), torch.bool), ((64, 33), torch.float32)])
def test_small_tensors_keep_the_mask_of_a_plain_multiply(shape: tuple[int, int], kept: torch.dtype) -> None:
    x = torch.randn(*shape, requires_grad=True)
    tiny = x.numel() <= native_mask.TINY_MASK_NUMEL
    assert tiny == (kept == torch.bool) and x.numel() <= native_mask.SMALL_MASK_NUMEL
    saved = _saved_by(lambda: dropout(x, 0.3).sum().backward())
    assert [(t.dtype, t.shape) for t in saved] == [(kept, x.shape)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("shape", [(40, 32), (40, 30), (7,)])
def test_small_and_large_no_grad_paths_agree_bit_for_bit(monkeypatch, dtype: torch.dtype, shape) -> None:
    x = torch.randn(*shape, dtype=dtype)
    x.view(-1)[0], x.view(-1)[1] = float("nan"), float("-inf")
    outs = []
    for limit in (x.numel(), 0):  # the bool multiply, then the float mask written in place
        monkeypatch.setattr(native_mask, "TINY_MASK_NUMEL", limit)
        outs.append(dropout(x, 0.3, generator=_gen(6)))
    assert torch.equal(outs[0].view(-1).view(torch.uint8), outs[1].view(-1).view(torch.uint8))


@pytest.mark.parametrize("p", [0.5, 0.3])
@pytest.mark.parametrize("shape", [(6, 16), (6, 15), (5, 4, 8), (3, 0), (0,), ()])
def test_lanes_drawn_in_the_mask_shape_follow_the_flat_stream(p: float, shape: tuple[int, ...]) -> None:
    # Lanes are read from 64-bit words in row-major order whether the words are drawn flat or in the
    # mask's shape: the reference draws them flat.
    per_word = 8 if keep_threshold(p) % 256 == 0 else 4
    numel = math.prod(shape)
    words = torch.randint(-(2**63), 2**63 - 1, (max(1, -(-numel // per_word)),), dtype=torch.int64, generator=_gen(8))
    lanes, threshold = native_keep_lanes(shape, p, generator=_gen(8))
    expected = words.view(torch.uint8 if per_word == 8 else torch.int16)[:numel].view(shape)
    assert lanes.shape == shape and torch.equal(lanes, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_small_and_large_autograd_paths_agree_bit_for_bit(monkeypatch, dtype: torch.dtype) -> None:
    x = torch.randn(40, 30, dtype=dtype)
    x[0, 0], x[1, 1] = float("nan"), float("inf")
    dy = torch.randn(40, 30, dtype=dtype)
    results = []
    # the bool multiply, the float-mask multiply, then the Function
    for tiny, small in ((x.numel(), x.numel()), (0, x.numel()), (0, 0)):
        monkeypatch.setattr(native_mask, "TINY_MASK_NUMEL", tiny)
        monkeypatch.setattr(native_mask, "SMALL_MASK_NUMEL", small)
        xg = x.clone().requires_grad_(True)
        y = dropout(xg, 0.3, generator=_gen(5))
        y.backward(dy)
        results.append((y.detach().view(-1).view(torch.uint8), xg.grad.view(-1).view(torch.uint8)))
    for y, g in results[1:]:
        assert torch.equal(y, results[0][0]) and torch.equal(g, results[0][1])


def test_second_order_gradients_float64() -> None:
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    fn = lambda t: dropout(t, 0.3, generator=_gen(4)) ** 2  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_global_seed_reproduces_the_mask() -> None:
    torch.manual_seed(7)
    a = native_keep_mask((50,), 0.3)
    torch.manual_seed(7)
    assert torch.equal(a, native_keep_mask((50,), 0.3))
    torch.manual_seed(7)
    assert torch.equal(dropout(torch.ones(50), 0.3) != 0, a)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_native_path_on_cuda_replays_and_keeps_a_bool_mask(dtype: torch.dtype) -> None:
    x = torch.randn(64, 33, device="cuda", dtype=dtype, requires_grad=True)
    gen = lambda: torch.Generator(device="cuda").manual_seed(5)  # noqa: E731
    y = dropout(x, 0.3, backend="native", generator=gen())
    keep = native_keep_mask(x.shape, 0.3, device="cuda", generator=gen())
    assert torch.equal(y.detach(), (x.detach() * keep.to(dtype)) * keep_scale(0.3))
    with torch.no_grad():
        assert torch.equal(dropout(x, 0.3, backend="native", generator=gen()), y.detach())
    y.sum().backward()
    assert torch.equal(x.grad, (torch.ones_like(x) * keep.to(dtype)) * keep_scale(0.3))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # from torch.func internals
def test_forward_mode_ad_uses_the_same_mask() -> None:
    import torch.autograd.forward_ad as fwAD

    x, tangent = torch.randn(7, 9, dtype=torch.float64), torch.randn(7, 9, dtype=torch.float64)
    with fwAD.dual_level():
        y = dropout(fwAD.make_dual(x, tangent), 0.3, generator=_gen(8))
        primal, jvp = fwAD.unpack_dual(y)
    keep = native_keep_mask(x.shape, 0.3, generator=_gen(8)).double()
    assert torch.equal(primal, x * keep * keep_scale(0.3)) and torch.equal(jvp, tangent * keep * keep_scale(0.3))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # from torch.func internals
def test_torch_func_transforms_use_the_same_mask() -> None:
    x, t = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    f = lambda a: dropout(a, 0.3, generator=_gen(9))  # noqa: E731
    scaled_keep = native_keep_mask(x.shape, 0.3, generator=_gen(9)).double() * keep_scale(0.3)
    primal, tangent = torch.func.jvp(f, (x,), (t,))
    assert torch.equal(primal, x * scaled_keep) and torch.equal(tangent, t * scaled_keep)
    assert torch.equal(torch.func.grad(lambda a: f(a).sum())(x), scaled_keep)
