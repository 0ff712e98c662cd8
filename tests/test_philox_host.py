"""dropkit._philox_host: the host Philox words equal the torch-op words, and masks do not depend on the path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dropkit.rng as rng_module
from dropkit._philox_host import HOST_MAX_CALLS, _numpy_words, _packed_words, philox_words_host
from dropkit.functional import dropout
from dropkit.rng import PhiloxState, keep_mask, make_rng, random_bits16, randint4x


def _torch_words(seed: int, offset: int, n: int) -> np.ndarray:
    """The reference: :func:`dropkit.rng.randint4x` on int64 counters that wrap like the host's."""
    signed = lambda v: v - 2**64 if v >= 2**63 else v  # noqa: E731
    counters = torch.arange(n, dtype=torch.int64) + signed(offset % 2**64)
    return torch.stack(randint4x(signed(seed % 2**64), counters), -1).numpy().astype(np.uint32)


def test_zero_key_and_counter_is_random123s_known_answer() -> None:
    assert philox_words_host(0, 0, 1)[0].tolist() == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]


@pytest.mark.parametrize("n_calls", [0, 1, 7, 256, 257, 1500])  # both sides of the packed/NumPy switch
def test_host_words_equal_the_torch_words_on_fresh_keys(n_calls: int) -> None:
    for _ in range(4):
        seed = int(torch.randint(-(2**63), 2**63 - 1, ())) % 2**64  # all 64 bits
        offset = int(torch.randint(0, 2**62, ()))
        got = philox_words_host(seed, offset, n_calls)
        assert got.shape == (n_calls, 4) and got.dtype == np.uint32
        assert np.array_equal(got, _torch_words(seed, offset, n_calls))


@pytest.mark.parametrize("offset", [2**32 - 3, 2**63 - 2, 2**64 - 2, -5])
def test_counters_carry_into_the_high_word_and_wrap_like_int64(offset: int) -> None:
    for n_calls in (9, 300):
        assert np.array_equal(philox_words_host(12345, offset, n_calls), _torch_words(12345, offset, n_calls))


def test_packed_and_numpy_rounds_agree() -> None:
    key0, key1 = (int(k) for k in torch.randint(0, 2**32, (2,)))
    counters = np.frombuffer(torch.randint(-(2**63), 2**63 - 1, (100,)).numpy().tobytes(), dtype=np.uint64)
    assert np.array_equal(_packed_words(key0, key1, counters), _numpy_words(key0, key1, counters))


@pytest.mark.parametrize("numel", [1, 13, 8 * 256 + 3, 8 * HOST_MAX_CALLS, 8 * HOST_MAX_CALLS + 1])
def test_masks_do_not_depend_on_which_path_made_the_words(monkeypatch, numel: int) -> None:
    rng = make_rng(int(torch.randint(0, 2**62, ())), int(torch.randint(0, 2**40, ())))
    host = (random_bits16(rng, numel), keep_mask(rng, (numel,), 0.3))
    monkeypatch.setattr(rng_module, "HOST_MAX_CALLS", -1)  # torch ops for every size
    assert torch.equal(host[0], random_bits16(rng, numel)) and torch.equal(host[1], keep_mask(rng, (numel,), 0.3))


def test_portable_dropout_and_its_gradient_are_unchanged_by_the_host_path(monkeypatch) -> None:
    x = torch.randn(6, 37, dtype=torch.float64)
    results = []
    for limit in (HOST_MAX_CALLS, -1):
        monkeypatch.setattr(rng_module, "HOST_MAX_CALLS", limit)
        xg = x.clone().requires_grad_(True)
        y = dropout(xg, 0.3, backend="portable", stream=PhiloxState(seed=9))
        y.backward(torch.ones_like(y))
        results.append((y.detach(), xg.grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
