"""dropkit._philox_host: the known answers, the host Philox words equal the torch-op words, and masks do not depend on the path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dropkit.rng as rng_module
from dropkit._philox_host import HOST_MAX_CALLS, _numpy_words, _packed_words, philox_rounds, philox_words_host
from dropkit.functional import dropout
from dropkit.rng import PhiloxState, keep_mask, make_rng, random_bits16, randint4x
from tests.philox_known_answers import KNOWN_ANSWERS, seed_of


def _torch_words(seed: int, offset: int, n: int) -> np.ndarray:
    """The reference: :func:`dropkit.rng.randint4x` on int64 counters that wrap like the host's."""
    signed = lambda v: v - 2**64 if v >= 2**63 else v  # noqa: E731
    counters = torch.arange(n, dtype=torch.int64) + signed(offset % 2**64)
    return torch.stack(randint4x(signed(seed % 2**64), counters), -1).numpy().astype(np.uint32)


def _halves(counter: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A 128-bit Philox counter as the host functions take it: uint64 ``c0 | c1 << 32`` and ``c2 | c3 << 32``."""
    return np.array([counter[0] | counter[1] << 32], np.uint64), np.array([counter[2] | counter[3] << 32], np.uint64)


@pytest.mark.parametrize("words", [_packed_words, _numpy_words], ids=["packed", "numpy"])
@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_both_host_spellings_match_random123s_known_answers(words, counter, key, expected) -> None:
    assert tuple(words(*key, *_halves(counter))[0].tolist()) == expected


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_the_rounds_on_python_integers_match_the_known_answers(counter, key, expected) -> None:
    assert philox_rounds(*key, *counter) == expected


# philox_words_host's counter is (offset_lo, offset_hi, 0, 0), Triton's layout: it reaches the answers whose c2, c3 are 0
@pytest.mark.parametrize(("counter", "key", "expected"), [kat for kat in KNOWN_ANSWERS if kat[0][2:] == (0, 0)])
def test_philox_words_host_matches_the_known_answers_its_counters_reach(counter, key, expected) -> None:
    assert tuple(philox_words_host(seed_of(key), counter[0] | counter[1] << 32, 1)[0].tolist()) == expected


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
    counters, upper = (np.frombuffer(torch.randint(-(2**63), 2**63 - 1, (100,)).numpy().tobytes(), dtype=np.uint64)
                       for _ in range(2))
    assert np.array_equal(_packed_words(key0, key1, counters), _numpy_words(key0, key1, counters))
    assert np.array_equal(_packed_words(key0, key1, counters, upper), _numpy_words(key0, key1, counters, upper))


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
