"""The keep test is ``r < t``, strictly: an element whose 16 random bits equal the threshold is dropped.

Random rates almost never put an element exactly on the threshold (one chance in 65536 per element), so
a ``<`` -> ``<=`` slip in any backend passed every other test. Here ``p`` is chosen so that the
threshold *is* the bits of known elements (``t = r_i`` <=> ``p = 1 - r_i / 2**16``, exact in float64):
those elements must be dropped, and ``t = r_i + 1`` keeps them. The expected mask is written from the
raw bits (:func:`dropkit.rng.random_bits16`), not from :func:`dropkit.rng.keep_mask`, which a slip in
the shared comparison would change too.
"""

from __future__ import annotations

import pytest
import torch

from dropkit.functional import dropout
from dropkit.kernels.native import native_keep_lanes
from dropkit.kernels import counter_dropout
from dropkit.rng import PhiloxState, keep_threshold, make_rng, random_bits16

SEED, OFFSET = 977, 3
SHAPE = (4, 24)  # 96 elements: 12 Philox calls, every lane of the (., 8) tile and both (., 4) halves


def _bits() -> torch.Tensor:
    return random_bits16(make_rng(SEED, OFFSET), SHAPE[0] * SHAPE[1]).reshape(SHAPE)


def _on_threshold_cases() -> list[tuple[int, int]]:
    """``(element, threshold)`` pairs: thresholds equal to the bits of elements in lanes 0-3 and 4-7
    (the fp32 kernel's two halves), and one above; mid-range so that fp16 holds the scale ``2**16 / t``."""
    bits = _bits().flatten()
    cases: list[tuple[int, int]] = []
    for lane in (1, 6):
        i = next(i for i in range(lane, bits.numel(), 8) if 2**12 <= int(bits[i]) < 2**16 - 1)
        cases += [(i, int(bits[i])), (i, int(bits[i]) + 1)]
    return cases


def _p_for(t: int) -> float:
    p = 1.0 - t / 2**16
    assert keep_threshold(p) == t
    return p


def _check(y: torch.Tensor, x: torch.Tensor, i: int, t: int, bits: torch.Tensor) -> None:
    kept = (y != 0).flatten()
    assert bool(kept[i]) == (int(bits.flatten()[i]) < t)  # dropped on the threshold, kept one above
    assert torch.equal(kept, (bits < t).flatten() & (x != 0).flatten())


@pytest.mark.parametrize("backend", ["portable", "triton"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_counter_backends_drop_an_element_whose_bits_equal_the_threshold(backend: str, dtype: torch.dtype) -> None:
    if backend == "triton":
        pytest.importorskip("triton")
    bits, x = _bits(), torch.ones(SHAPE, dtype=dtype)
    for i, t in _on_threshold_cases():
        y = counter_dropout(x, _p_for(t), stream=PhiloxState(SEED, OFFSET), backend=backend)
        _check(y, x, i, t, bits)


def test_portable_traced_comparison_drops_an_element_on_the_threshold() -> None:
    # Under torch.func (as under torch.compile) the comparison is written with a tensor threshold.
    bits, x = _bits(), torch.ones(SHAPE)
    for i, t in _on_threshold_cases():
        p = _p_for(t)
        grad = torch.func.grad(lambda v: dropout(v, p, backend="portable", stream=PhiloxState(SEED, OFFSET)).sum())(x)
        _check(grad, x, i, t, bits)


@pytest.mark.parametrize("backend", ["portable", "triton"])
def test_strided_input_drops_on_the_threshold(backend: str) -> None:
    # Non-contiguous input takes the Triton kernel's strided path (not the fp32 halves).
    if backend == "triton":
        pytest.importorskip("triton")
    bits = _bits()
    x = torch.ones(SHAPE[1], SHAPE[0]).t()
    for i, t in _on_threshold_cases():
        y = counter_dropout(x, _p_for(t), stream=PhiloxState(SEED, OFFSET), backend=backend)
        _check(y, x, i, t, bits)


def test_native_backend_drops_an_element_whose_lane_equals_the_threshold() -> None:
    # Native 16-bit lanes hold r - 2**15 (int16); a threshold that is a multiple of 256 would switch to
    # 8-bit lanes, so those are skipped here and checked below.
    lanes, _ = native_keep_lanes(SHAPE, 0.3, generator=torch.Generator().manual_seed(SEED))
    assert lanes.dtype == torch.int16
    r = lanes.to(torch.int32) + 2**15
    flat = r.flatten()
    i = next(i for i in range(flat.numel()) if 2**12 <= int(flat[i]) < 2**16 - 1 and int(flat[i]) % 256 not in (0, 255))
    x = torch.ones(SHAPE)
    for t in (int(flat[i]), int(flat[i]) + 1):
        y = dropout(x, _p_for(t), backend="native", generator=torch.Generator().manual_seed(SEED))
        assert torch.equal(y != 0, r < t)
        assert bool((y != 0).flatten()[i]) == (t > int(flat[i]))


def test_native_8_bit_lanes_drop_on_the_threshold() -> None:
    # p = 0.5: t = 2**15 is a multiple of 256, so each element reads an 8-bit lane compared with t / 256.
    lanes, threshold = native_keep_lanes(SHAPE, 0.5, generator=torch.Generator().manual_seed(SEED))
    assert lanes.dtype == torch.uint8 and threshold == 128
    flat = lanes.flatten().to(torch.int32)
    i = next(i for i in range(flat.numel()) if 16 <= int(flat[i]) < 255)
    x = torch.ones(SHAPE)
    for t8 in (int(flat[i]), int(flat[i]) + 1):
        y = dropout(x, _p_for(256 * t8), backend="native", generator=torch.Generator().manual_seed(SEED))
        assert torch.equal((y != 0).flatten(), flat < t8)
