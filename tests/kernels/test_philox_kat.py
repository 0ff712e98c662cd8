"""Triton's Philox (what the kernels call) against Random123's known answers for philox4x32-10.

The table is ``tests/philox_known_answers.py``, shared with the torch-ops Philox (``tests/test_rng.py``)
and the host one (``tests/test_philox_host.py``); the masks of every backend agree because each Philox
agrees with these answers, not only with the others. Runs under ``TRITON_INTERPRET=1`` on the CPU
(``tests/kernels/conftest.py``).
"""

from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton")
tl = pytest.importorskip("triton.language")

from tests.philox_known_answers import KNOWN_ANSWERS, seed_of  # noqa: E402


@triton.jit
def _philox_kernel(seed_ptr, counter_ptr, out_ptr):
    seed = tl.load(seed_ptr)
    c0 = tl.load(counter_ptr).to(tl.uint32, bitcast=True)
    c1 = tl.load(counter_ptr + 1).to(tl.uint32, bitcast=True)
    c2 = tl.load(counter_ptr + 2).to(tl.uint32, bitcast=True)
    c3 = tl.load(counter_ptr + 3).to(tl.uint32, bitcast=True)
    r0, r1, r2, r3 = tl.philox(seed, c0, c1, c2, c3)
    tl.store(out_ptr, r0.to(tl.int32, bitcast=True))
    tl.store(out_ptr + 1, r1.to(tl.int32, bitcast=True))
    tl.store(out_ptr + 2, r2.to(tl.int32, bitcast=True))
    tl.store(out_ptr + 3, r3.to(tl.int32, bitcast=True))


def _int32(words: tuple[int, ...]) -> torch.Tensor:
    return torch.tensor([w - (1 << 32) if w >= 1 << 31 else w for w in words], dtype=torch.int32)


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_triton_philox_matches_random123_known_answers(counter, key, expected) -> None:
    seed = seed_of(key)  # Triton's key is (seed & 0xffffffff, seed >> 32), as dropkit.rng's
    seed_t = torch.tensor([seed - (1 << 64) if seed >= 1 << 63 else seed], dtype=torch.int64)
    out = torch.zeros(4, dtype=torch.int32)
    _philox_kernel[(1,)](seed_t, _int32(counter), out)
    assert tuple(int(w) & 0xFFFFFFFF for w in out) == expected
