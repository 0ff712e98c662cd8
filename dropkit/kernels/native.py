"""The ``"native"`` dropout mask: few random bits per element from torch's own generator.

``torch.rand(shape) < 1 - p`` spends a 32-bit draw and a float conversion on every element; on the CPU
that is most of dropout's cost (about 3-5 ns per element against 0.1 ns for the multiply). The native
path instead fills one full-range ``int64`` tensor with ``randint`` and reads it as lanes of 16 bits
(four elements per 64-bit draw), or of 8 bits (eight elements per draw) when the quantised keep
threshold is a multiple of 256, as it is for p = 0.5, 0.25 or 0.75. The keep test and the scale are
those of the counter-based backends (:func:`dropkit.rng.keep_threshold`, :func:`dropkit.rng.keep_scale`):
an element is kept when its 16 uniform bits ``r`` satisfy ``r < t`` with ``t = round((1-p)·2**16)``, and
kept elements are scaled by ``2**16 / t``, so ``E[y] = x`` holds exactly. For an 8-bit lane,
``r8 < t / 256`` has the same probability as the 16-bit test.

Masks come from torch's generator (the global one, or the ``generator`` given), so ``torch.manual_seed``
reproduces them; they are not the counter-based masks of :mod:`dropkit.rng` and depend on the device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.autograd.forward_ad import unpack_dual

from dropkit._random import generator_kwargs
from dropkit.rng import keep_threshold, traced_keep_params

__all__ = ["native_keep_lanes", "native_keep_mask", "masked_scale", "replay_masked_scale", "state_after_draw"]

_LANE_16 = 1 << 16
# The autograd path by mask size (CPU timings, 1 thread; same values and gradients, bit for bit):
# - up to TINY_MASK_NUMEL: a multiply by the bool mask, which autograd's own ``mul`` keeps (1 byte per
#   element): the fewest ops, with or without autograd (8x8 forward + backward 91 -> 77 us);
# - up to SMALL_MASK_NUMEL: a float mask written by the comparison and a plain multiply, which autograd
#   keeps (at most 64 KB for float32): the mixed bool x float multiply of backward is the slower loop above
#   a few thousand elements (100x128: 87 vs 72 us), and ``_KeepScale``'s per-call overhead (~25-35 us) is
#   larger than the bytes it saves are worth;
# - above: ``_KeepScale``, which keeps the bool mask.
TINY_MASK_NUMEL = 1 << 11
SMALL_MASK_NUMEL = 1 << 14
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def native_keep_lanes(
    shape: Sequence[int],
    p: float,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, int]:
    """Draw the random lanes of a native mask and the threshold they are compared with.

    Args:
        shape: shape of the mask.
        p: drop probability in ``(0, 1)``; its keep threshold must be below ``2**16`` (``p >= 2**-17``).
        device: where to draw (default: None, the CPU).
        generator: torch generator to draw from (default: None, the global one).

    Returns:
        ``(lanes, threshold)``: ``lanes`` of ``shape``, ``uint8`` or ``int16``, and the integer such that
        ``lanes < threshold`` is the keep mask.

    Example:
        >>> import torch
        >>> lanes, t = native_keep_lanes((2, 3), 0.5, generator=torch.Generator().manual_seed(0))
        >>> lanes.dtype, lanes.shape, t
        (torch.uint8, torch.Size([2, 3]), 128)
    """
    return _draw_lanes(tuple(shape), keep_threshold(p), device, generator)


def _draw_lanes(
    shape: tuple[int, ...], t: int, device: torch.device | str | None, generator: torch.Generator | None
) -> tuple[Tensor, int]:
    """:func:`native_keep_lanes` for the 16-bit keep threshold ``t`` (``1 <= t < 2**16``)."""
    numel = math.prod(shape)
    if t % 256 == 0:
        lane_dtype, per_word, threshold = torch.uint8, 8, t // 256
    else:
        lane_dtype, per_word, threshold = torch.int16, 4, t - _LANE_16 // 2
    # randint rather than random_ so torch.compile can trace it (Inductor keeps aten's randint for it, so
    # compiled code draws the eager masks: tested); the range misses one of 2**64 values. No generator=None
    # (see generator_kwargs): a batch size that changes under torch.compile needs the symbolic-size overload.
    kwargs = generator_kwargs(generator)
    if shape and shape[-1] % per_word == 0 and numel:
        # The words drawn in the mask's shape (last dim / lanes per word): the same stream as the flat draw
        # below, with one view instead of three (about 4 us per call on the CPU).
        words = torch.randint(_INT64_MIN, _INT64_MAX, (*shape[:-1], shape[-1] // per_word), dtype=torch.int64,
                              device=device, **kwargs)
        return words.view(lane_dtype), threshold
    words = torch.randint(_INT64_MIN, _INT64_MAX, (max(1, -(-numel // per_word)),), dtype=torch.int64,
                          device=device, **kwargs)
    lanes = words.view(lane_dtype)[:numel].view(shape)
    return lanes, threshold


def native_keep_mask(
    shape: Sequence[int],
    p: float,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The boolean keep mask the ``"native"`` dropout path draws from the generator's current state.

    Drawing it advances the generator exactly as a native dropout call on a tensor of ``shape`` would,
    so replaying a call is ``native_keep_mask(...) * x * dropkit.rng.keep_scale(p)``.

    Example:
        >>> import torch
        >>> from dropkit.functional import dropout
        >>> x = torch.randn(4, 5)
        >>> y = dropout(x, 0.3, generator=torch.Generator().manual_seed(1))
        >>> keep = native_keep_mask(x.shape, 0.3, generator=torch.Generator().manual_seed(1))
        >>> from dropkit.rng import keep_scale
        >>> torch.equal(y, (x * keep).mul_(keep_scale(0.3)))
        True
    """
    lanes, threshold = native_keep_lanes(shape, p, device=device, generator=generator)
    return lanes < threshold


class _KeepScale(torch.autograd.Function):
    """``y = x * keep * scale`` with the boolean ``keep`` (1 byte per element) kept for backward.

    Written in the ``forward(ctx, ...)`` style: ``setup_context`` (needed for ``torch.func`` transforms)
    doubled the per-call overhead (about 40 vs 19 us on a small tensor); under those transforms
    :func:`masked_scale` uses ``torch.where`` instead, which they support natively.
    """

    @staticmethod
    def forward(ctx, x: Tensor, keep: Tensor, scale: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(keep)
        ctx.save_for_forward(keep)
        ctx.scale = scale
        return torch.mul(x, _as_float(keep, x.dtype)).mul_(scale)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (keep,) = ctx.saved_tensors
        return torch.mul(grad, _as_float(keep, grad.dtype)).mul_(ctx.scale), None, None

    @staticmethod
    def jvp(ctx, x_t: Tensor, keep_t: None, scale_t: None) -> Tensor:  # type: ignore[override]
        """Forward-mode AD (``torch.autograd.forward_ad``): the same mask on the tangent."""
        (keep,) = ctx.saved_tensors
        return torch.mul(x_t, _as_float(keep, x_t.dtype)).mul_(ctx.scale)


def _as_float(keep: Tensor, dtype: torch.dtype) -> Tensor:
    """``keep.to(dtype)`` written by a comparison kernel, several times faster on the CPU than a cast."""
    return torch.gt(keep.view(torch.uint8), 0, out=torch.empty(keep.shape, dtype=dtype, device=keep.device))


def masked_scale(
    x: Tensor, p: float, dims_shape: Sequence[int], generator: torch.Generator | None, *, inplace: bool = False
) -> Tensor:
    """Native dropout of ``x`` with a mask of ``dims_shape`` (``x``'s shape, or 1 along shared dims).

    Without autograd the float mask is written straight from the lanes and reused as the output buffer;
    with autograd a boolean mask is kept for backward instead of a float one. ``inplace`` multiplies
    ``x`` itself (traced and transformed code computes out of place and copies back) and returns it.
    """
    if inplace and (torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active()):
        return x.copy_(masked_scale(x, p, dims_shape, generator))
    compiling = torch.compiler.is_compiling()
    if compiling and generator is None:
        return _traced_masked_scale(x, p, tuple(dims_shape))
    t = keep_threshold(p)  # validates p once; the scale is its exact inverse
    if t == _LANE_16:  # p < 2**-17: every element is kept
        return x if inplace else x * 1.0
    scale = _LANE_16 / t
    lanes, threshold = _draw_lanes(tuple(dims_shape), t, x.device, generator)
    if torch._C._are_functorch_transforms_active():  # torch.func.grad / jvp / vmap: plain differentiable ops
        return torch.where(lanes < threshold, x, 0.0) * scale
    if compiling:  # an explicit generator: Dynamo runs its draw outside the graph; eager's masks
        return x * (lanes < threshold).to(x.dtype) * scale
    needs_ad = (torch.is_grad_enabled() and x.requires_grad) or unpack_dual(x).tangent is not None
    numel = lanes.numel()
    if inplace:  # autograd's mul_ keeps the bool mask (1 byte per element) when it needs one
        if needs_ad or numel <= TINY_MASK_NUMEL:
            return x.mul_(lanes < threshold).mul_(scale)
        return x.mul_(torch.lt(lanes, threshold, out=torch.empty(lanes.shape, dtype=x.dtype, device=x.device))).mul_(scale)
    if numel <= TINY_MASK_NUMEL:
        return torch.mul(x, lanes < threshold).mul_(scale)
    if needs_ad and numel > SMALL_MASK_NUMEL:
        return _KeepScale.apply(x, lanes < threshold, scale)  # reverse or forward-mode AD
    mask = torch.lt(lanes, threshold, out=torch.empty(lanes.shape, dtype=x.dtype, device=x.device))
    if needs_ad:
        return torch.mul(x, mask).mul_(scale)
    # Scale after masking with a Python float so low-precision outputs equal x * scale rounded once.
    if mask.shape == x.shape and x.is_contiguous():
        return torch.mul(x, mask, out=mask).mul_(scale)
    return torch.mul(x, mask).mul_(scale)


def _generator_at(state: Tensor) -> torch.Generator:
    replay = torch.Generator(device="cpu")
    replay.set_state(state)
    return replay


def replay_masked_scale(x: Tensor, p: float, state: Tensor) -> Tensor:
    """Native dropout of a CPU tensor ``x`` with the mask a CPU generator in ``state`` draws, ``p`` in ``[0, 1]``.

    ``state`` comes from ``torch.Generator.get_state()`` taken before a draw (5056 bytes for the CPU
    generator, whatever the tensor's size), so backward can regenerate a forward's mask instead of keeping
    it: the ``"native"`` backend of the fused ops (:mod:`dropkit.kernels.fused`). Pair it with
    :func:`state_after_draw` to leave the caller's generator where a direct draw would.

    Example:
        >>> import torch
        >>> from dropkit.functional import dropout
        >>> g = torch.Generator().manual_seed(3)
        >>> state, x = g.get_state(), torch.randn(4, 5)
        >>> torch.equal(replay_masked_scale(x, 0.3, state), dropout(x, 0.3, generator=g))
        True
    """
    if p >= 1.0:
        return x * 0.0
    return masked_scale(x, p, x.shape, _generator_at(state))


def state_after_draw(state: Tensor, shape: Sequence[int], p: float) -> Tensor:
    """The state of a CPU generator in ``state`` after it drew the native mask of ``shape`` for ``p``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(3)
        >>> before = g.get_state()
        >>> _ = native_keep_mask((4, 5), 0.3, generator=g)
        >>> torch.equal(state_after_draw(before, (4, 5), 0.3), g.get_state())
        True
    """
    t = keep_threshold(p)
    if t in (0, _LANE_16):  # p = 1 or p < 2**-17: the mask is all-drop or all-keep, nothing is drawn
        return state
    replay = _generator_at(state)
    _draw_lanes(tuple(shape), t, "cpu", replay)
    return replay.get_state()


def _traced_masked_scale(x: Tensor, p: float, shape: tuple[int, ...]) -> Tensor:
    """:func:`masked_scale` under ``torch.compile`` with the default generator: plain ops, the rate used
    only inside tensors.

    - Plain ops that Inductor fuses: the custom Function compiled was 2-3x slower (2**22 elements,
      forward + backward 28 -> 10-14 ms). The partitioner keeps the mask or the words, 1 byte per element.
    - The keep threshold and the scale are computed from ``p`` by tensor ops (the float64 arithmetic and
      round-half-even of :func:`dropkit.rng.keep_threshold`), never by Python code that would make the graph
      depend on the value. A rate that changes between calls (a :class:`~dropkit.schedules.DropoutScheduler`)
      is then traced once as a symbol, and one graph serves every rate. For the same reason every rate reads
      16 random bits per element here (eager code reads 8 when the threshold is a multiple of 256).
    - ``torch.randint`` is called without ``generator``: that overload takes symbolic sizes (a smaller last
      batch), and Inductor draws the words with its own Philox generator, seeded from torch's default one
      (``torch.manual_seed`` reproduces compiled runs). The masks therefore differ from eager code's
      (same distribution); an explicit ``generator`` gives eager's masks (:func:`masked_scale`).
    """
    threshold, scale = traced_keep_params(p, x.device)  # 0 < p < 1 here, so threshold >= 1
    lanes, _ = _draw_lanes(shape, 1, x.device, None)  # 1: not a multiple of 256, so 16-bit lanes
    # r < t  <=>  r - 2**15 <= t - 1 - 2**15, and t - 1 - 2**15 fits int16 for every t in [1, 2**16].
    keep = lanes <= (threshold - (_LANE_16 // 2 + 1)).to(torch.int16)
    return x * keep.to(x.dtype) * scale
