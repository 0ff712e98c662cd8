"""Triton's Philox (what the kernels call) against Random123's known answers for philox4x32-10.

The same three vectors check the torch-ops Philox (``tests/test_rng.py``) and, where its interface
reaches (counters ``(offset_lo, offset_hi, 0, 0)``), the host one (``tests/test_philox_host.py``); the
masks of every backend agree because each Philox agrees with these answers, not only with the others.
"""

from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton")
tl = pytest.importorskip("triton.language")

KAT = [  # (counter, key, expected), Random123 kat_vectors
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


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


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_triton_philox_matches_random123_known_answers(counter, key, expected) -> None:
    seed = (key[1] << 32) | key[0]  # Triton's key is (seed & 0xffffffff, seed >> 32), as dropkit.rng's
    seed_t = torch.tensor([seed - (1 << 64) if seed >= 1 << 63 else seed], dtype=torch.int64)
    out = torch.zeros(4, dtype=torch.int32)
    _philox_kernel[(1,)](seed_t, _int32(counter), out)
    assert tuple(int(w) & 0xFFFFFFFF for w in out) == expected


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_torch_philox_out_of_place_rounds_match_the_known_answers(counter, key, expected) -> None:
    # Under torch.func transforms dropkit.rng runs its rounds out of place (vmap cannot batch out= ops):
    # the second torch spelling of the same Philox, held to the same answers as the in-place one.
    from dropkit.rng import philox4x32

    counters = torch.tensor([counter], dtype=torch.int64)
    words = torch.func.vmap(lambda c: torch.stack(philox4x32(key[0], key[1], c[0], c[1], c[2], c[3])))(counters)
    assert tuple(int(w) for w in words[0]) == expected


def test_host_philox_matches_the_known_answer_its_interface_reaches() -> None:
    from dropkit._philox_host import philox_words_host

    (counter, key, expected) = KAT[0]
    assert tuple(int(w) for w in philox_words_host(0, 0, 1).reshape(-1)[:4]) == expected
