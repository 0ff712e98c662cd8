"""Philox4x32-10 words computed on the host for short runs of counters: the portable path's small masks.

:mod:`dropkit.rng` computes Philox in torch ops (10 rounds of ~10 ops). Each torch op costs ~1.5-2 us of
dispatch on the CPU however small its tensor, so a mask of a few thousand elements spent ~200 us in
overhead alone. This module gives the same words, bit for bit, with cheaper arithmetic:

- **Few calls: packed Python integers.** The 32-bit words of all ``n`` calls sit in 64-bit fields of one
  Python ``int``. A field times a 32-bit round constant is below ``2**64``, so one big-integer
  multiplication computes every call's 32x32 -> 64-bit product with no carry between fields; shifts,
  ``&`` with a packed mask and ``^`` then act field-wise. One round is 12 integer operations whatever
  ``n`` is (8 calls: ~11 us against ~190 us in torch ops).
- **More calls: NumPy ``uint64`` arrays**, the same 10 operations per round as the torch version at about
  a third of its per-op overhead (2048 calls: ~135 us against ~235 us).

Above :data:`HOST_MAX_CALLS` torch's vectorised (and multi-threaded) ops are faster and
:mod:`dropkit.rng` keeps them. This module holds Philox's constants for the whole package and
:func:`philox_rounds`, the rounds in plain operators, which serve the packed integers here and
:mod:`dropkit.rng`'s tensors under ``torch.func`` transforms. The NumPy rounds are written apart, in place:
out of place they allocate 8 arrays a round and took 1.2-2.3x as long (256 to 8192 calls, 2 busy cores).
The key/counter layout is Triton's ``philox_impl``; ``tests/test_philox_host.py`` holds both spellings to
the Random123 known answers of ``tests/philox_known_answers.py`` (as the torch and Triton tests do) and
to the torch words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["HOST_MAX_CALLS", "PHILOX_ROUNDS", "ROUND_A", "ROUND_B", "KEY_A", "KEY_B", "philox_rounds", "philox_words_host"]

# Up to this many Philox calls the host arithmetic beats torch ops on the CPU (2 cores, 1 torch thread:
# 8192 calls 215 vs 355 us; at 65536 calls torch wins, 1.4 vs 2.2 ms).
HOST_MAX_CALLS = 1 << 13
# Below this many calls packed integers beat NumPy (128 calls: 40 vs 65 us; 512: 116 vs ~100 us).
_PACKED_MAX_CALLS = 1 << 8

_M32 = 0xFFFFFFFF
_M64 = (1 << 64) - 1
#: Philox4x32's multipliers and Weyl key increments (Random123; ``triton/language/random.py``).
ROUND_A = 0xD2511F53
ROUND_B = 0xCD9E8D57
KEY_A = 0x9E3779B9
KEY_B = 0xBB67AE85
#: Rounds of Philox4x32-10.
PHILOX_ROUNDS = 10


def philox_rounds(
    key0: Any, key1: Any, c0: Any, c1: Any, c2: Any, c3: Any, n_rounds: int = PHILOX_ROUNDS, *, low: Any = _M32, ones: Any = 1
) -> tuple[Any, Any, Any, Any]:
    """Philox4x32 rounds in plain operators, out of place: the four output words.

    The words may be Python integers, int64 tensors (:mod:`dropkit.rng` under ``torch.func`` transforms,
    where ``out=`` ops cannot be batched) or several 32-bit words packed in 64-bit fields of one Python
    integer (``ones`` then has a 1 in every field and ``low = ones * 0xffffffff``). ``c0`` and ``c2`` (the
    words that get multiplied) must be uint32 values; ``c1``, ``c3`` need only their low 32 bits right. A
    product of two uint32 values is below ``2**64``, so it never spills into the next field, and in int64 it
    wraps modulo ``2**64`` with the same low 64 bits; ``(p >> 32) & low`` is then its high word (the sign
    bits of an arithmetic shift are masked off) and ``p & low`` its low word.

    Args:
        key0, key1: the key words (uint32; Python integers or tensors).
        c0, c1, c2, c3: the counter words.
        n_rounds: rounds (default: 10).
        low: ``0xffffffff`` in every field (default: one field).
        ones: 1 in every field (default: one field).

    Example:
        >>> [hex(w) for w in philox_rounds(0, 0, 0, 0, 0, 0)]  # Random123's known answer: zero key and counter
        ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    for _ in range(n_rounds):
        product_b = c2 * ROUND_B
        product_a = c0 * ROUND_A
        c0, c1, c2, c3 = (
            ((product_b >> 32) ^ c1 ^ (ones * key0)) & low,
            product_b & low,
            ((product_a >> 32) ^ c3 ^ (ones * key1)) & low,
            product_a & low,
        )
        key0 = (key0 + KEY_A) & _M32
        key1 = (key1 + KEY_B) & _M32
    return c0, c1, c2, c3


def philox_words_host(seed: int, offset: int, n_calls: int) -> np.ndarray:
    """The four 32-bit Philox4x32-10 words of counters ``offset .. offset + n_calls - 1`` under key ``seed``.

    Args:
        seed: the 64-bit key (any Python int; its low 64 bits are used, as an int64 tensor would hold them).
        offset: the first 64-bit counter (its low 64 bits; counters wrap modulo ``2**64`` as in int64).
        n_calls: how many consecutive counters (``>= 0``).

    Returns:
        A ``(n_calls, 4)`` ``uint32`` array: row ``i`` holds the words that
        ``dropkit.rng.randint4x(seed, offset + i)`` returns.

    Example:
        >>> [hex(w) for w in philox_words_host(0, 0, 1)[0]]  # Random123's known answer: zero key and counter
        ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    key0, key1 = seed & _M32, (seed >> 32) & _M32
    counters = np.arange(n_calls, dtype=np.uint64) + np.uint64(offset & _M64)  # uint64 wraps like int64
    if n_calls <= _PACKED_MAX_CALLS:
        return _packed_words(key0, key1, counters)
    return _numpy_words(key0, key1, counters)


def _packed_words(key0: int, key1: int, counters: np.ndarray, upper: np.ndarray | None = None) -> np.ndarray:
    """Philox on 64-bit fields of Python integers (see the module docstring).

    ``counters`` are the counters' low 64 bits (words ``c0 | c1 << 32``), ``upper`` their high 64 bits
    (``c2 | c3 << 32``; default: 0, as :func:`philox_words_host` uses them).
    """
    n = counters.shape[0]
    nbytes = 8 * n
    ones = int.from_bytes(np.ones(n, dtype="<u8").tobytes(), "little")  # 1 in every 64-bit field
    low_words = ones * _M32  # 0x00000000ffffffff in every field
    packed = int.from_bytes(counters.astype("<u8").tobytes(), "little")
    high = 0 if upper is None else int.from_bytes(upper.astype("<u8").tobytes(), "little")
    packed_words = philox_rounds(
        key0, key1, packed & low_words, (packed >> 32) & low_words, high & low_words, (high >> 32) & low_words,
        low=low_words, ones=ones,
    )
    words = np.empty((n, 4), dtype=np.uint32)
    for column, packed_word in enumerate(packed_words):
        words[:, column] = np.frombuffer(packed_word.to_bytes(nbytes, "little"), dtype="<u8")
    return words


def _numpy_words(key0: int, key1: int, counters: np.ndarray, upper: np.ndarray | None = None) -> np.ndarray:
    """Philox on ``uint64`` arrays: the in-place rounds of :func:`dropkit.rng._philox_rounds`.

    ``counters`` and ``upper`` as in :func:`_packed_words`.
    """
    m32, shift = np.uint64(_M32), np.uint64(32)
    c0 = counters & m32
    c1 = counters >> shift
    c2 = np.zeros_like(c0) if upper is None else upper & m32
    c3 = np.zeros_like(c0) if upper is None else upper >> shift
    spare = np.empty_like(c0)
    for _ in range(PHILOX_ROUNDS):
        c2 *= np.uint64(ROUND_B)  # product b: high word -> new c0, low word -> new c1
        c0 *= np.uint64(ROUND_A)  # product a: high word -> new c2, low word -> new c3
        np.right_shift(c2, shift, out=spare)
        spare ^= c1
        spare ^= np.uint64(key0)
        np.right_shift(c0, shift, out=c1)
        c1 ^= c3
        c1 ^= np.uint64(key1)
        c2 &= m32
        c0 &= m32
        c0, c1, c2, c3, spare = spare, c2, c1, c0, c3
        key0 = (key0 + KEY_A) & _M32
        key1 = (key1 + KEY_B) & _M32
    words = np.empty((counters.shape[0], 4), dtype=np.uint32)
    for column, word in enumerate((c0, c1, c2, c3)):
        words[:, column] = word  # the low 32 bits (c1 and c3 carry none above them here)
    return words
