"""Random123's known answers for Philox4x32-10: the one table every Philox in dropkit is tested against.

The vectors are the three ``philox4x32 10`` lines of Random123's ``kat_vectors`` (Salmon et al., "Parallel
random numbers: as easy as 1, 2, 3", SC 2011): counter words ``c0..c3``, key words ``k0, k1``, expected
output words. The implementations that use them:

- torch ops, :func:`dropkit.rng.philox4x32` (in place, and out of place under ``torch.func``):
  ``tests/test_rng.py``;
- host integers, :mod:`dropkit._philox_host` (packed Python integers and NumPy ``uint64`` arrays):
  ``tests/test_philox_host.py``;
- Triton's ``tl.philox``, what the kernels call: ``tests/kernels/test_philox_kat.py`` (under
  ``TRITON_INTERPRET=1`` on the CPU).

The masks of every backend agree because each Philox agrees with these answers, not only with the others.
"""

from __future__ import annotations

__all__ = ["KNOWN_ANSWERS", "seed_of"]

#: ``(counter (c0, c1, c2, c3), key (k0, k1), expected (r0, r1, r2, r3))``, all uint32.
KNOWN_ANSWERS: list[tuple[tuple[int, int, int, int], tuple[int, int], tuple[int, int, int, int]]] = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


def seed_of(key: tuple[int, int]) -> int:
    """The 64-bit seed whose key words are ``key``: dropkit and Triton split a seed as ``(seed & 0xffffffff, seed >> 32)``."""
    return (key[1] << 32) | key[0]
