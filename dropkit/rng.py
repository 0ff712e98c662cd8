"""Counter-based random numbers for dropout masks: a mask is a pure function of (seed, offset, index).

The generator is Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as
1, 2, 3", SC 2011, https://doi.org/10.1145/2063384.2063405) laid out exactly as Triton's
``tl.randint4x(seed, counter)`` lays it out (``triton/language/random.py``): the key is
``(seed & 0xffffffff, seed >> 32)`` and the counter is ``(counter & 0xffffffff, counter >> 32, 0, 0)``
for a 64-bit ``counter``. :func:`philox4x32` below reproduces those words bit for bit in plain torch
(uint32 arithmetic emulated in int64), so the CPU path and the Triton kernels draw the same masks.

Mask layout (shared by every backend and every fused kernel):

* a call receives ``rng``, an int64 tensor ``[seed, offset]`` (it may live on the GPU, so CUDA-graph
  capture and replay need no host sync);
* element ``i`` of the tensor, counted in **logical row-major order** (so a transposed view gets the
  same mask as its contiguous copy), uses Philox counter ``offset + i // 8``, 32-bit word
  ``(i % 8) // 2`` and its low (``i`` even) or high (``i`` odd) 16 bits: one Philox call serves
  8 elements;
* the element is kept when those 16 bits ``r`` satisfy ``r < t`` with ``t = round((1 - p) * 2**16)``
  clamped to ``[1, 2**16]``; kept elements are scaled by ``2**16 / t = 1 / q`` where
  ``q = t / 2**16`` is the *quantised* keep probability, so ``E[y] = x`` holds exactly. The drop
  probability actually applied is ``1 - q`` (``|1 - q - p| <= 2**-17``); :func:`quantized_keep_prob`
  returns ``q``. The same test is used for every dtype, so float32 and bfloat16 inputs get
  bit-identical masks.

Streams. :class:`PhiloxState` holds ``[seed, offset]`` in a tensor and advances ``offset`` by the
number of Philox calls each mask consumed (:meth:`PhiloxState.next`). Without an explicit stream the
dropout entry points draw a fresh seed per call from torch's generator (:func:`seed_from_generator`,
offset 0), so ``torch.manual_seed`` reproduces a run and ``torch.utils.checkpoint`` (which restores
torch's RNG state before recomputing) recomputes the same masks. Explicit streams are for
distributed runs (:func:`stream_for`) and are made checkpoint-safe by :func:`checkpoint_context`.
"""

from __future__ import annotations

import contextlib
import sys
import zlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from dropkit._philox_host import HOST_MAX_CALLS, KEY_A, KEY_B, PHILOX_ROUNDS, ROUND_A, ROUND_B, philox_rounds, philox_words_host
from dropkit._validation import check_probability

__all__ = [
    "BITS_PER_ELEMENT",
    "ELEMENTS_PER_CALL",
    "philox4x32",
    "randint4x",
    "uint_to_uniform_float",
    "calls_for",
    "keep_threshold",
    "quantized_keep_prob",
    "keep_scale",
    "traced_keep_params",
    "keep_scale_traceable",
    "random_bits16",
    "keep_mask",
    "apply_keep_mask",
    "seed_from_generator",
    "rng_snapshot",
    "make_rng",
    "PhiloxState",
    "stream_for",
    "checkpoint_context",
]

BITS_PER_ELEMENT = 16
ELEMENTS_PER_CALL = 128 // BITS_PER_ELEMENT  # 8 elements per Philox4x32 call
_ONE = 1 << BITS_PER_ELEMENT  # 65536
_M32 = 0xFFFFFFFF
_SEED_HIGH = (1 << 63) - 1


def _functorch() -> bool:
    """Under ``torch.func`` transforms (``vmap``, ``grad``, ``jvp``): no ``out=`` or fresh-tensor writes."""
    return torch._C._are_functorch_transforms_active()


def traced_or_transformed() -> bool:
    """True under ``torch.compile`` or ``torch.func`` transforms: code that must keep rates in tensors
    and use plain out-of-place ops (the eager fast paths use Python numbers and in-place ops)."""
    return torch.compiler.is_compiling() or _functorch()


def _as_key(key: Tensor | int, like: Tensor) -> Tensor:
    if isinstance(key, Tensor):
        return key.to(device=like.device, dtype=torch.int64)
    return torch.tensor(int(key), dtype=torch.int64, device=like.device)


def _philox_rounds(
    k0: Tensor, k1: Tensor, c0: Tensor, c1: Tensor, c2: Tensor, c3: Tensor, n_rounds: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Philox4x32 rounds on int64 tensors; only the low 32 bits of each output word are defined.

    ``c0`` and ``c2`` (the words that get multiplied) must hold zero-extended uint32 values; ``c1``
    and ``c3`` need only their low 32 bits right. The 32x32 -> 64-bit products are int64
    multiplications: the unsigned product is below 2**64 and int64 arithmetic wraps modulo 2**64 on
    every torch backend, so ``p & 0xffffffff`` is the low word and ``(p >> 32) & 0xffffffff`` the
    high one (the arithmetic shift's sign bits are masked off). A product is kept whole as the next
    ``c1``/``c3``: only its low word is ever used. 10 in-place ops per round on five buffers (no
    allocation per round). The four counter tensors must be distinct contiguous int64 tensors of
    one shape that the caller hands over: they are overwritten.
    """
    if _functorch():  # vmap cannot batch out= ops: the same rounds, out of place (plain operators)
        return philox_rounds(k0, k1, c0, c1, c2, c3, n_rounds)
    spare = torch.empty_like(c0)
    for _ in range(n_rounds):
        c2.mul_(ROUND_B)  # product b: high word -> new c0, low word -> new c1
        c0.mul_(ROUND_A)  # product a: high word -> new c2, low word -> new c3
        torch.bitwise_right_shift(c2, 32, out=spare).bitwise_xor_(c1).bitwise_xor_(k0).bitwise_and_(_M32)
        torch.bitwise_right_shift(c0, 32, out=c1).bitwise_xor_(c3).bitwise_xor_(k1).bitwise_and_(_M32)
        c0, c1, c2, c3, spare = spare, c2, c1, c0, c3
        k0 = (k0 + KEY_A) & _M32
        k1 = (k1 + KEY_B) & _M32
    return c0, c1, c2, c3


def philox4x32(
    key0: Tensor | int,
    key1: Tensor | int,
    c0: Tensor,
    c1: Tensor,
    c2: Tensor,
    c3: Tensor,
    n_rounds: int = PHILOX_ROUNDS,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Philox4x32 on int64 tensors holding uint32 values; returns the four output words.

    Bit-identical to ``philox_impl`` in ``triton/language/random.py``.
    """
    k0, k1 = _as_key(key0, c0), _as_key(key1, c0)
    shape = torch.broadcast_shapes(c0.shape, c1.shape, c2.shape, c3.shape)
    words = (c.to(torch.int64).expand(shape).clone(memory_format=torch.contiguous_format) for c in (c0, c1, c2, c3))
    return tuple(w.bitwise_and_(_M32) for w in _philox_rounds(k0, k1, *words, n_rounds))


def randint4x(seed: Tensor | int, counters: Tensor, n_rounds: int = PHILOX_ROUNDS) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Torch twin of ``tl.randint4x(seed, counters)`` for int64 ``counters``: four uint32-valued int64 tensors."""
    return tuple(w.bitwise_and_(_M32) for w in _randint4x_words(seed, counters, n_rounds))


def _randint4x_words(seed: Tensor | int, counters: Tensor, n_rounds: int = PHILOX_ROUNDS) -> tuple[Tensor, ...]:
    """:func:`randint4x` as four int64 tensors whose low 32 bits are the words (high bits undefined).

    A seed held on the CPU becomes Python-int keys in eager code: the rounds then xor with scalars
    instead of 0-dim tensors and skip 40 key-update ops: the same words, the rounds 28-30% faster from
    8 to 65536 calls, portable dropout's forward 12-17% faster from 8x8 to 2**20 elements (2 cores). On a GPU (a host sync), under ``torch.compile`` (a data-dependent value) and under
    ``torch.func`` transforms (possibly batched) it stays a tensor.
    """
    if isinstance(seed, Tensor) and seed.device.type == "cpu" and seed.dim() == 0 and not traced_or_transformed():
        seed = int(seed)
    if isinstance(seed, Tensor):
        seed = seed.to(device=counters.device, dtype=torch.int64)
    else:
        seed = int(seed) & (2**64 - 1)  # the 64-bit pattern, as a tensor int64 seed would hold it
    counters = counters.to(torch.int64)
    c0, c1 = counters & _M32, counters >> 32
    c2, c3 = torch.zeros_like(c0), torch.zeros_like(c0)
    return _philox_rounds(seed & _M32, (seed >> 32) & _M32, c0, c1, c2, c3, n_rounds)


def uint_to_uniform_float(words: Tensor) -> Tensor:
    """Torch twin of Triton's ``uint_to_uniform_float`` for 32-bit words: float32 in ``[0, 1)``."""
    x = words.to(torch.int64)
    x = torch.where(x >= 1 << 31, x - (1 << 32), x)  # bitcast to int32
    x = torch.where(x < 0, -x - 1, x)  # ~x
    return x.to(torch.float32) * torch.tensor(4.6566127342e-10, dtype=torch.float32)


def calls_for(numel: int) -> int:
    """Number of Philox counters a mask of ``numel`` elements consumes (8 elements per call)."""
    return -(-int(numel) // ELEMENTS_PER_CALL)


def keep_threshold(p: float) -> int:
    """The integer ``t`` of the keep test ``r < t`` on 16 random bits.

    ``round((1-p)·2**16)`` clamped to ``[1, 2**16]`` for ``p < 1``; ``0`` (drop everything) for ``p == 1``.
    """
    p = check_probability("keep_threshold", "p", p)
    if p == 1.0:
        return 0
    return min(_ONE, max(1, round((1.0 - p) * _ONE)))


def keep_scale(p: float) -> float:
    """Scale of kept elements, ``1 / quantized_keep_prob(p)`` (``0.0`` for ``p == 1``)."""
    t = keep_threshold(p)
    return _ONE / t if t else 0.0


def traced_keep_params(p: float, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """``keep_threshold(p)`` and ``keep_scale(p)`` as 0-dim tensors (int32, float64) made by tensor ops.

    The same float64 arithmetic and round-half-even as the Python functions, so the values are equal
    (tested over many rates). Code that ``torch.compile`` traces uses these: a rate that changes between
    calls (a :class:`~dropkit.schedules.DropoutScheduler`) is then traced as a symbol and one graph
    serves every rate, where ``round()`` in Python would specialise the graph on each value. ``p`` must
    already be validated (in ``[0, 1]``).

    Example:
        >>> t, s = traced_keep_params(0.3)
        >>> int(t) == keep_threshold(0.3), float(s) == keep_scale(0.3)
        (True, True)
    """
    p_t = torch.ones((), dtype=torch.float64, device=device) * p
    t = torch.round((1.0 - p_t) * _ONE).clamp_(1, _ONE)
    t = torch.where(p_t >= 1.0, torch.zeros_like(t), t)  # p == 1 drops everything
    scale = torch.where(t > 0, _ONE / t.clamp(min=1), torch.zeros_like(t))
    return t.to(torch.int32), scale


def keep_scale_traceable(p: float, device: torch.device | str | None = None) -> float | Tensor:
    """``keep_scale(p)``; under ``torch.compile`` the same value as a 0-dim float64 tensor
    (:func:`traced_keep_params`), so the graph does not depend on the rate's value."""
    if torch.compiler.is_compiling():
        return traced_keep_params(p, device)[1]
    return keep_scale(p)


def quantized_keep_prob(p: float) -> float:
    """Keep probability actually applied for drop probability ``p`` (a multiple of ``2**-16``)."""
    return keep_threshold(p) / _ONE


def _split_rng(rng: Tensor) -> tuple[Tensor, Tensor]:
    if not isinstance(rng, Tensor) or rng.dtype != torch.int64 or rng.shape != (2,):
        got = f"{rng.dtype} tensor of shape {tuple(rng.shape)}" if isinstance(rng, Tensor) else type(rng).__name__
        raise ValueError(f"dropkit.rng: rng must be an int64 tensor [seed, offset], got {got}")
    return rng[0], rng[1]


def _lanes(rng: Tensor, numel: int, device: torch.device | str | None) -> Tensor:
    """The 16-bit lanes ``r`` of ``calls_for(numel)`` Philox calls, as ``r - 2**15`` in an int16
    ``(calls, 4, 2)`` tensor.

    Entry ``[c, w, h]`` is half ``h`` (0: low 16 bits, 1: high) of word ``w`` of call ``c``, so the
    tensor read in row-major order is logical element order. Storing ``r - 2**15`` (the bit pattern
    of ``r`` with its top bit flipped) makes int16 order the unsigned order of ``r``.
    """
    device = rng.device if device is None else torch.device(device)
    n_calls = calls_for(numel)
    if device.type == "cpu" and n_calls <= HOST_MAX_CALLS and isinstance(rng, Tensor) and rng.device.type == "cpu" \
            and not traced_or_transformed():
        # Few calls: the same words from host arithmetic, without ~100 torch ops of dispatch overhead.
        seed, offset = _split_rng(rng)
        words_host = philox_words_host(int(seed), int(offset), n_calls)
        words_host ^= np.uint32(0x80008000)  # _FLIP_HALF_SIGNS
        halves = torch.from_numpy(words_host.view(np.int16)).unflatten(-1, (4, 2))
        return halves.flip(-1) if sys.byteorder == "big" else halves
    rng = rng.to(device)
    seed, offset = _split_rng(rng)
    counters = offset + torch.arange(n_calls, dtype=torch.int64, device=device)
    if _functorch():  # out of place: vmap cannot write batched words into
        words = torch.stack([w.to(torch.int32) for w in _randint4x_words(seed, counters)], dim=-1)  # a fresh tensor
        words = words ^ _FLIP_HALF_SIGNS
    else:
        words = torch.empty(n_calls, 4, dtype=torch.int32, device=device)
        for lane, word in enumerate(_randint4x_words(seed, counters)):
            words[:, lane] = word  # int64 -> int32 keeps the low 32 bits
        words.bitwise_xor_(_FLIP_HALF_SIGNS)
    halves = words.view(torch.int16).unflatten(-1, (4, 2))
    if sys.byteorder == "big":  # the high half comes first in memory
        halves = halves.flip(-1)
    return halves


_FLIP_HALF_SIGNS = -0x7FFF8000  # int32 bit pattern 0x80008000: the top bit of each 16-bit half


def random_bits16(rng: Tensor, numel: int, *, device: torch.device | str | None = None) -> Tensor:
    """The 16 random bits of each logical element ``0 .. numel-1`` as an int32 tensor (values < 2**16)."""
    lanes = _lanes(rng, numel, device)
    bits = torch.empty(lanes.shape, dtype=torch.int32, device=lanes.device)
    bits.copy_(lanes).add_(1 << 15)
    return bits.reshape(-1)[:numel]


def keep_mask(rng: Tensor, shape: torch.Size | tuple[int, ...], p: float, *, device=None) -> Tensor:
    """Boolean keep-mask of ``shape`` (logical row-major indexing) for drop probability ``p``."""
    shape = tuple(shape)
    keep = _compare_lanes(rng, _numel(shape), p, torch.bool, device)
    return keep.reshape(shape)


def apply_keep_mask(x: Tensor, rng: Tensor, p: float) -> Tensor:
    """``where(keep, x * keep_scale(p), 0)`` for the mask of ``rng``, without a bool mask.

    The dropped elements are zeroed by a bitwise AND of ``x``'s bits with an all-ones / all-zeros
    integer mask of the same width (a bool mask and ``torch.where`` are several times slower on the
    CPU), then the result is scaled in place. It is bit-identical to the ``where`` form: dropped
    elements are ``+0`` whatever ``x`` holds (``inf``, ``nan``), kept ones are ``x * scale`` rounded
    once in ``x``'s dtype. Returns a new contiguous tensor of ``x``'s shape; differentiable (through
    ``torch.where``) when ``x`` requires grad and grad mode is on.
    """
    int_dtype = _SAME_WIDTH_INT.get(x.element_size())
    if int_dtype is None or x.is_complex() or (x.requires_grad and torch.is_grad_enabled()):
        keep = keep_mask(rng, x.shape, p, device=x.device)
        return torch.where(keep, x * keep_scale(p), torch.zeros((), dtype=x.dtype, device=x.device))
    y = _compare_lanes(rng, x.numel(), p, int_dtype, x.device).neg_()  # keep -> all ones, drop -> 0
    y.bitwise_and_(x.reshape(-1).view(int_dtype))
    return y.view(x.dtype).mul_(keep_scale(p)).reshape(x.shape)


_SAME_WIDTH_INT = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def _numel(shape: tuple[int, ...]) -> int:
    numel = 1
    for s in shape:
        numel *= int(s)
    return numel


def _compare_lanes(rng: Tensor, numel: int, p: float, dtype: torch.dtype, device) -> Tensor:
    """``r < keep_threshold(p)`` for the bits ``r`` of elements ``0 .. numel-1``, as 0/1 of ``dtype``."""
    if traced_or_transformed():
        # The threshold as a tensor (one compiled graph for every rate), no out= ops (vmap).
        lanes = _lanes(rng, numel, device)
        threshold_t, _ = traced_keep_params(p, lanes.device)
        keep = lanes.to(torch.int32) < (threshold_t - (1 << 15))
        return keep.to(dtype).reshape(-1)[:numel]
    threshold = keep_threshold(p)
    lanes = _lanes(rng, numel, device)
    keep = torch.empty(lanes.shape, dtype=dtype, device=lanes.device)
    if threshold == _ONE:
        keep.fill_(1)
    else:  # r < t  <=>  r - 2**15 < t - 2**15, with t - 2**15 in [-2**15, 2**15)
        torch.lt(lanes, threshold - (1 << 15), out=keep)
    return keep.reshape(-1)[:numel]


@torch.library.custom_op("dropkit::rng_snapshot", mutates_args=())
def rng_snapshot(rng: Tensor) -> Tensor:
    """A copy of ``rng`` that ``torch.compile``'s partitioner keeps for backward instead of recomputing.

    With a :class:`PhiloxState` stream, ``rng`` is a clone of the stream's state, which the same call
    then advances in place. Left to itself, the partitioner may recompute that cheap clone in backward
    from the state *after* the advance and regenerate a different mask (seen with the portable path);
    the output of an opaque op is saved instead. The dropout entry points apply it under
    ``torch.compile``; in eager mode it is not needed.
    """
    return rng.clone()


@rng_snapshot.register_fake
def _(rng: Tensor) -> Tensor:
    return torch.empty_like(rng)


def seed_from_generator(
    generator: torch.Generator | None = None, device: torch.device | str | None = None
) -> Tensor:
    """Draw a 63-bit seed from torch's generator and return the rng tensor ``[seed, 0]`` on ``device``.

    With ``generator=None`` the default generator of ``device`` is used (the CUDA one for CUDA
    devices), so ``torch.manual_seed`` reproduces the draw and, on CUDA, the draw is a device op that
    CUDA graphs capture and replay.
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    draw_device = generator.device if generator is not None else device
    seed = torch.randint(0, _SEED_HIGH, (1,), dtype=torch.int64, device=draw_device, generator=generator)
    return torch.cat((seed.to(device), torch.zeros(1, dtype=torch.int64, device=device)))


def make_rng(seed: int, offset: int = 0, device: torch.device | str | None = None) -> Tensor:
    """The rng tensor ``[seed, offset]`` for explicit integers (tests, replays)."""
    if not 0 <= int(seed) <= _SEED_HIGH or not 0 <= int(offset) <= _SEED_HIGH:
        raise ValueError(f"make_rng: seed and offset must be in [0, 2**63), got seed={seed}, offset={offset}")
    return torch.tensor([int(seed), int(offset)], dtype=torch.int64, device=device)


class PhiloxState:
    """A Philox stream: ``[seed, offset]`` in an int64 tensor; each mask takes the next counters.

    Args:
        seed: 63-bit seed; None draws one from torch's generator (default: None).
        offset: first Philox counter (default: 0).
        device: where the state tensor lives; on CUDA, :meth:`next` is two device ops and needs no
            host sync, so it is safe under CUDA-graph capture (default: cpu).
        generator: generator for the seed draw when ``seed`` is None (default: None).

    Example:
        >>> from dropkit.rng import PhiloxState, keep_mask
        >>> s = PhiloxState(seed=7)
        >>> m1 = keep_mask(s.next(10), (10,), 0.5)
        >>> s.offset  # 10 elements used ceil(10 / 8) = 2 counters
        2
        >>> bool((m1 == keep_mask(PhiloxState(seed=7).next(10), (10,), 0.5)).all())
        True
    """

    def __init__(
        self,
        seed: int | None = None,
        offset: int = 0,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
    ) -> None:
        if seed is None:
            self.state = seed_from_generator(generator, device)
            self.state[1] = int(offset)
        else:
            self.state = make_rng(seed, offset, device)

    @property
    def device(self) -> torch.device:
        return self.state.device

    @property
    def seed(self) -> int:
        return int(self.state[0].item())

    @property
    def offset(self) -> int:
        return int(self.state[1].item())

    def next(self, numel: int) -> Tensor:
        """Return ``[seed, offset]`` for a mask of ``numel`` elements and advance the offset past it."""
        rng = self.state.clone()
        self.state[1] += calls_for(numel)
        return rng

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "offset": self.offset}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.state.copy_(make_rng(state["seed"], state["offset"], self.device))

    def __repr__(self) -> str:
        return f"PhiloxState(seed={self.seed}, offset={self.offset}, device={self.device})"


def _derive_seed(base_seed: int, *words: int) -> int:
    """Mix ``base_seed`` with up to four uint32 ``words`` through one Philox call; 63-bit result."""
    ws = [torch.tensor([w & _M32], dtype=torch.int64) for w in (list(words) + [0, 0, 0, 0])[:4]]
    k = int(base_seed)
    r = philox4x32(torch.tensor(k & _M32), torch.tensor((k >> 32) & _M32), *ws)
    return ((int(r[1]) << 32) | int(r[0])) & _SEED_HIGH


def stream_for(
    seed: int | None = None,
    *,
    dp_rank: int = 0,
    tp_rank: int = 0,
    sharded: bool = False,
    name: str = "dropout",
    device: torch.device | str = "cpu",
) -> PhiloxState:
    """The stream a rank uses, following Megatron's policy.

    The stream seed is Philox(key=``seed``, counter=(``dp_rank``, ``tp_rank`` if ``sharded`` else
    ``0xFFFFFFFF``, crc32(``name``), 0)), so:

    * different data-parallel ranks get different masks (they see different data);
    * tensor-parallel ranks of one group share a stream for **replicated** activations (residual /
      hidden dropout after an all-reduce must drop the same units on every TP rank), the default;
    * ``sharded=True`` gives each TP rank its own stream, for dropout on **sharded** activations
      (attention probabilities of the rank's heads, the rank's slice of an MLP);
    * ``name`` separates independent uses (e.g. ``"attention"`` vs ``"hidden"``).

    Args:
        seed: base seed shared by all ranks; None draws it from torch's default generator, so the
            usual ``torch.manual_seed(s)`` on every rank gives every rank the same base (default: None).
        dp_rank, tp_rank: this process' data- and tensor-parallel ranks (default: 0).
        sharded: whether the dropped activation is sharded across the TP group (default: False).
        name: stream name (default: ``"dropout"``).
        device: where the stream state lives (default: cpu).

    Restarting with the same ``seed`` and ranks gives the same stream; resume mid-run with
    :meth:`PhiloxState.load_state_dict`.
    """
    if seed is None:
        seed = int(torch.randint(0, _SEED_HIGH, (1,), dtype=torch.int64).item())
    for arg, value in (("dp_rank", dp_rank), ("tp_rank", tp_rank)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"stream_for: {arg} must be an integer >= 0, got {value!r}")
    tp_word = tp_rank if sharded else _M32
    derived = _derive_seed(int(seed), dp_rank, tp_word, zlib.crc32(name.encode()), 0)
    return PhiloxState(seed=derived, device=device)


def _rng_state(source: PhiloxState | torch.Generator) -> Tensor:
    return source.state.clone() if isinstance(source, PhiloxState) else source.get_state()


def _set_rng_state(source: PhiloxState | torch.Generator, state: Tensor) -> None:
    if isinstance(source, PhiloxState):
        source.state.copy_(state)
    else:
        source.set_state(state)


@contextlib.contextmanager
def _restore(sources: tuple[PhiloxState | torch.Generator, ...], snapshots: list[Tensor]) -> Iterator[None]:
    current = [_rng_state(s) for s in sources]
    for s, snap in zip(sources, snapshots):
        _set_rng_state(s, snap)
    try:
        yield
    finally:
        for s, cur in zip(sources, current):
            _set_rng_state(s, cur)


def checkpoint_context(*streams: PhiloxState | torch.Generator):
    """A ``context_fn`` for ``torch.utils.checkpoint(..., use_reentrant=False)`` that replays ``streams``.

    Masks drawn from explicit streams advance the stream's offset; on recomputation the offsets are
    rewound to their values at the original forward, so the recomputed masks equal the original ones
    (and the streams end where they were). ``torch.Generator`` objects passed as ``generator=`` are
    replayed the same way: checkpoint's ``preserve_rng_state`` restores only the default generators, so
    without this a recomputed mask drawn from an explicit generator differs from the original one and the
    gradients are silently wrong. Not needed for the default generators.

    Args:
        *streams: the :class:`PhiloxState` streams and ``torch.Generator`` objects the checkpointed code
            draws from.

    Example:
        >>> import torch
        >>> from torch.utils.checkpoint import checkpoint
        >>> from dropkit.functional import dropout
        >>> from dropkit.rng import PhiloxState, checkpoint_context
        >>> s = PhiloxState(seed=1)
        >>> x = torch.ones(8, requires_grad=True)
        >>> y = checkpoint(lambda t: dropout(t, 0.5, stream=s, backend="portable"), x,
        ...                use_reentrant=False, context_fn=lambda: checkpoint_context(s))
        >>> y.sum().backward()
        >>> torch.equal(x.grad, y.detach())
        True
    """
    for source in streams:
        if not isinstance(source, (PhiloxState, torch.Generator)):
            raise TypeError(f"checkpoint_context: streams must be dropkit.rng.PhiloxState or torch.Generator objects, "
                            f"got {type(source).__name__}")
    snapshots: list[Tensor] = []

    @contextlib.contextmanager
    def forward_ctx() -> Iterator[None]:
        snapshots[:] = [_rng_state(s) for s in streams]
        yield

    return forward_ctx(), _restore(streams, snapshots)
