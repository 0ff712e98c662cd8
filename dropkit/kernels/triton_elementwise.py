"""Triton kernels for element-wise dropout, bias + activation + dropout, and bias + dropout + residual.

Reference-compatible: the outputs equal :mod:`dropkit.kernels.reference` replaying the same
``rng = [seed, offset]``: element ``i`` (logical row-major index) is kept when the 16-bit slice
``(i % 8) // 2, i % 2`` of ``tl.randint4x(seed, offset + i // 8)`` is ``< threshold`` and kept
values are scaled by ``scale = 2**16 / threshold`` (see :mod:`dropkit.rng`). One Philox call serves
8 elements: a block of ``BLOCK`` elements is laid out as a ``(BLOCK // 8, 8)`` tile whose rows are
Philox calls and whose columns are the 16-bit lanes. Arithmetic is float32; loads and stores use
the tensors' dtypes. Backward regenerates the mask from ``rng`` (0 bytes per element kept).

The ops take the keep test as ``keep``, an int32 pair ``[threshold, float32 bits of scale]``: eager
calls pass a cached CPU pair that becomes two scalar kernel arguments; under ``torch.compile`` the pair
is computed on the device from the rate, and the kernels load it, so a rate that changes between calls
does not recompile the graph (:func:`keep_in_kernel`).

This module imports triton; :mod:`dropkit.kernels.fused` imports it only when the Triton backend runs.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.library import triton_op, wrap_triton

__all__ = [
    "triton_dropout",
    "triton_keep_mask",
    "triton_bias_act_dropout",
    "triton_bias_dropout_add",
    "host_keep",
    "device_keep",
    "keep_in_kernel",
]

_ACT_CODES = {"none": 0, "relu": 1, "gelu": 2, "silu": 3}
_MAX_DIMS = 4


@triton.jit
def _lane_bits(r0, r1, r2, r3, lane):
    """16 random bits of lane ``lane`` (0..7) of one Philox call, as int32."""
    w = tl.where(lane < 2, r0, tl.where(lane < 4, r1, tl.where(lane < 6, r2, r3)))
    return ((w >> ((lane % 2) * 16).to(tl.uint32)) & 0xFFFF).to(tl.int32)


@triton.jit
def _block_calls(rng_ptr, pid, BLOCK: tl.constexpr):
    """The ``BLOCK // 8`` Philox calls of block ``pid``: their (int64) call numbers and four words."""
    seed = tl.load(rng_ptr)
    offset = tl.load(rng_ptr + 1)
    calls = pid.to(tl.int64) * (BLOCK // 8) + tl.arange(0, BLOCK // 8).to(tl.int64)
    r0, r1, r2, r3 = tl.randint4x(seed, offset + calls)
    return calls, r0, r1, r2, r3


@triton.jit
def _keep_params(threshold, scale, T_PTR: tl.constexpr):
    """The keep test's ``(threshold, scale)``: the scalar arguments, or with ``T_PTR`` read from memory,
    where ``threshold`` points to the int32 pair ``[threshold, float32 bits of scale]`` (under
    ``torch.compile``: computed on the device from a rate that may change between calls, so the
    compiled graph does not depend on it). Two scalar loads per program; an in-kernel IEEE division
    would cost ~100 instructions per thread."""
    if T_PTR:
        t = tl.load(threshold)
        s = tl.load(threshold + 1).to(tl.float32, bitcast=True)
    else:
        t = threshold
        s = scale
    return t, s


@triton.jit
def _block_keep(rng_ptr, pid, threshold, BLOCK: tl.constexpr):
    """Logical indices ``(BLOCK//8, 8)`` of block ``pid`` and their keep decisions."""
    calls, r0, r1, r2, r3 = _block_calls(rng_ptr, pid, BLOCK)
    lanes = tl.arange(0, 8)
    idx = calls[:, None] * 8 + lanes[None, :]
    bits = _lane_bits(r0[:, None], r1[:, None], r2[:, None], r3[:, None], lanes[None, :])
    return idx, bits < threshold


@triton.jit
def _half_bits(wa, wb, lane):
    """16 random bits of lane ``lane`` (0..3) of the word pair ``(wa, wb)``, as int32."""
    w = tl.where(lane < 2, wa, wb)
    return ((w >> ((lane % 2) * 16).to(tl.uint32)) & 0xFFFF).to(tl.int32)


@triton.jit
def _block_keep_halves(rng_ptr, pid, threshold, BLOCK: tl.constexpr):
    """:func:`_block_keep` as two ``(BLOCK//8, 4)`` halves: lanes 0-3 (words 0, 1) and 4-7 (words 2, 3).

    For 32-bit data a tile row of 8 elements is two 128-bit accesses, and Triton spreads a ``(., 8)``
    row over two threads that would each compute the row's Philox call; with ``(., 4)`` halves one
    thread holds the whole row and makes the call once (``benchmarks/kernel_codegen.py`` counts it).
    """
    calls, r0, r1, r2, r3 = _block_calls(rng_ptr, pid, BLOCK)
    lanes = tl.arange(0, 4)
    idx_lo = calls[:, None] * 8 + lanes[None, :]
    keep_lo = _half_bits(r0[:, None], r1[:, None], lanes[None, :]) < threshold
    keep_hi = _half_bits(r2[:, None], r3[:, None], lanes[None, :]) < threshold
    return idx_lo, keep_lo, idx_lo + 4, keep_hi


@triton.jit
def _strided(idx, s1, s2, s3, t0, t1, t2, t3):
    """Memory offset of logical (row-major) index ``idx`` in a 4-D tensor with sizes (., s1, s2, s3)."""
    i3 = idx % s3
    r = idx // s3
    i2 = r % s2
    r = r // s2
    i1 = r % s1
    i0 = r // s1
    return i0 * t0 + i1 * t1 + i2 * t2 + i3 * t3


@triton.jit
def _act(v, ACT: tl.constexpr):
    if ACT == 1:
        v = tl.maximum(v, 0.0)
    elif ACT == 2:
        v = 0.5 * v * (1.0 + tl.math.erf(v * 0.7071067811865476))
    elif ACT == 3:
        v = v * tl.sigmoid(v)
    return v


@triton.jit
def _act_grad(v, ACT: tl.constexpr):
    if ACT == 1:
        d = tl.where(v > 0.0, 1.0, 0.0)
    elif ACT == 2:
        d = 0.5 * (1.0 + tl.math.erf(v * 0.7071067811865476)) + v * 0.3989422804014327 * tl.exp(-0.5 * v * v)
    elif ACT == 3:
        s = tl.sigmoid(v)
        d = s * (1.0 + v * (1.0 - s))
    else:
        d = tl.full(v.shape, 1.0, tl.float32)
    return d


@triton.jit
def _load(ptr, offsets, inb, MASKED: tl.constexpr):
    """``ptr[offsets]`` as float32; masked only in a block that runs past the end of the tensor, so
    full blocks keep their 128-bit vector loads whatever the tensor's size."""
    if MASKED:
        v = tl.load(ptr + offsets, mask=inb, other=0.0)
    else:
        v = tl.load(ptr + offsets)
    return v.to(tl.float32)


@triton.jit
def _store(ptr, offsets, value, inb, MASKED: tl.constexpr):
    if MASKED:
        tl.store(ptr + offsets, value.to(ptr.dtype.element_ty), mask=inb)
    else:
        tl.store(ptr + offsets, value.to(ptr.dtype.element_ty))


@triton.jit
def _full_block(pid, numel, BLOCK: tl.constexpr):
    return (pid.to(tl.int64) + 1) * BLOCK <= numel


@triton.jit
def _source_offsets(
    idx, pid, s1, s2, s3, t0, t1, t2, t3, STRIDED: tl.constexpr, INDEX32: tl.constexpr, BLOCK: tl.constexpr,
):
    """Memory offsets of the logical indices ``idx`` (``(BLOCK // 8, 8)``) of block ``pid``.

    ``STRIDED`` 0: contiguous; 1: a 4-D index decomposition per element; 2: the innermost logical size
    is a multiple of 8, so the 8 elements of a Philox call share every index but the last and the
    decomposition runs once per call (8x fewer divisions). ``INDEX32`` does the arithmetic in 32 bits
    when every index and offset fits (64-bit division is a long software sequence on the GPU).
    """
    if STRIDED == 0:
        src = idx
    elif STRIDED == 1:
        if INDEX32:
            src = _strided(idx.to(tl.int32), s1, s2, s3, t0, t1, t2, t3)
        else:
            src = _strided(idx, s1, s2, s3, t0, t1, t2, t3)
    else:
        base = (pid.to(tl.int64) * (BLOCK // 8) + tl.arange(0, BLOCK // 8).to(tl.int64)) * 8
        if INDEX32:
            base = base.to(tl.int32)
        row = _strided(base, s1, s2, s3, t0, t1, t2, t3)
        src = row[:, None] + tl.arange(0, 8)[None, :] * t3
    return src


@triton.jit
def _dropout_block(
    X, Y, idx, keep, pid, numel, scale, s1, s2, s3, t0, t1, t2, t3,
    STRIDED: tl.constexpr, INDEX32: tl.constexpr, BLOCK: tl.constexpr, MASKED: tl.constexpr,
):
    inb = idx < numel
    src = _source_offsets(idx, pid, s1, s2, s3, t0, t1, t2, t3, STRIDED, INDEX32, BLOCK)
    x = _load(X, src, inb, MASKED)
    _store(Y, idx, tl.where(keep, x * scale, 0.0), inb, MASKED)


@triton.jit
def _dropout_kernel(
    X, Y, rng_ptr, numel, threshold, scale,
    s1, s2, s3, t0, t1, t2, t3,
    STRIDED: tl.constexpr, MASK_ONLY: tl.constexpr, BLOCK: tl.constexpr, EVEN: tl.constexpr, INDEX32: tl.constexpr,
    HALVES: tl.constexpr, T_PTR: tl.constexpr,
):
    """``Y[i] = keep_i ? X[i] * scale : 0`` (Y contiguous); ``MASK_ONLY`` writes ``keep`` as uint8.

    ``EVEN`` (``numel % BLOCK == 0``) compiles the unmasked path only; otherwise every full block
    takes it and the last block the masked one. ``STRIDED``/``INDEX32``: see :func:`_source_offsets`.
    """
    threshold, scale = _keep_params(threshold, scale, T_PTR)
    pid = tl.program_id(0)
    if HALVES:  # contiguous 32-bit data: see _block_keep_halves
        idx_lo, keep_lo, idx_hi, keep_hi = _block_keep_halves(rng_ptr, pid, threshold, BLOCK)
        if EVEN or _full_block(pid, numel, BLOCK):
            _dropout_block(X, Y, idx_lo, keep_lo, pid, numel, scale, s1, s2, s3, t0, t1, t2, t3, 0, False, BLOCK, False)
            _dropout_block(X, Y, idx_hi, keep_hi, pid, numel, scale, s1, s2, s3, t0, t1, t2, t3, 0, False, BLOCK, False)
        else:
            _dropout_block(X, Y, idx_lo, keep_lo, pid, numel, scale, s1, s2, s3, t0, t1, t2, t3, 0, False, BLOCK, True)
            _dropout_block(X, Y, idx_hi, keep_hi, pid, numel, scale, s1, s2, s3, t0, t1, t2, t3, 0, False, BLOCK, True)
    else:
        idx, keep = _block_keep(rng_ptr, pid, threshold, BLOCK)
        if MASK_ONLY:
            tl.store(Y + idx, keep.to(tl.uint8), mask=idx < numel)
        elif EVEN or _full_block(pid, numel, BLOCK):
            _dropout_block(X, Y, idx, keep, pid, numel, scale, s1, s2, s3, t0, t1, t2, t3, STRIDED, INDEX32, BLOCK, False)
        else:
            _dropout_block(X, Y, idx, keep, pid, numel, scale, s1, s2, s3, t0, t1, t2, t3, STRIDED, INDEX32, BLOCK, True)


@triton.jit
def _bias_act_dropout_block(
    X, B, R, Y, idx, keep, numel, n_cols, scale,
    HAS_BIAS: tl.constexpr, ACT: tl.constexpr, HAS_RES: tl.constexpr, MASKED: tl.constexpr,
):
    inb = idx < numel
    v = _load(X, idx, inb, MASKED)
    if HAS_BIAS:
        v += tl.load(B + idx % n_cols, mask=inb, other=0.0).to(tl.float32)
    v = _act(v, ACT)
    y = tl.where(keep, v * scale, 0.0)
    if HAS_RES:
        y += _load(R, idx, inb, MASKED)
    _store(Y, idx, y, inb, MASKED)


@triton.jit
def _bias_act_dropout_kernel(
    X, B, R, Y, rng_ptr, numel, n_cols, threshold, scale,
    HAS_BIAS: tl.constexpr, ACT: tl.constexpr, HAS_RES: tl.constexpr, BLOCK: tl.constexpr, EVEN: tl.constexpr,
    HALVES: tl.constexpr, T_PTR: tl.constexpr,
):
    """``Y = [R +] dropout(act(X + B))`` on contiguous ``X``/``R`` with ``B`` broadcast over rows.
    ``HALVES`` (32-bit data): see :func:`_block_keep_halves`."""
    threshold, scale = _keep_params(threshold, scale, T_PTR)
    pid = tl.program_id(0)
    full = EVEN or _full_block(pid, numel, BLOCK)
    if HALVES:
        idx_lo, keep_lo, idx_hi, keep_hi = _block_keep_halves(rng_ptr, pid, threshold, BLOCK)
        if full:
            _bias_act_dropout_block(X, B, R, Y, idx_lo, keep_lo, numel, n_cols, scale, HAS_BIAS, ACT, HAS_RES, False)
            _bias_act_dropout_block(X, B, R, Y, idx_hi, keep_hi, numel, n_cols, scale, HAS_BIAS, ACT, HAS_RES, False)
        else:
            _bias_act_dropout_block(X, B, R, Y, idx_lo, keep_lo, numel, n_cols, scale, HAS_BIAS, ACT, HAS_RES, True)
            _bias_act_dropout_block(X, B, R, Y, idx_hi, keep_hi, numel, n_cols, scale, HAS_BIAS, ACT, HAS_RES, True)
    else:
        idx, keep = _block_keep(rng_ptr, pid, threshold, BLOCK)
        if full:
            _bias_act_dropout_block(X, B, R, Y, idx, keep, numel, n_cols, scale, HAS_BIAS, ACT, HAS_RES, False)
        else:
            _bias_act_dropout_block(X, B, R, Y, idx, keep, numel, n_cols, scale, HAS_BIAS, ACT, HAS_RES, True)


@triton.jit
def _bias_act_dropout_bwd_block(
    DY, X, B, DX, idx, keep, numel, n_cols, scale, HAS_BIAS: tl.constexpr, ACT: tl.constexpr, MASKED: tl.constexpr,
):
    inb = idx < numel
    g = tl.where(keep, _load(DY, idx, inb, MASKED) * scale, 0.0)
    if ACT != 0:
        v = _load(X, idx, inb, MASKED)
        if HAS_BIAS:
            v += tl.load(B + idx % n_cols, mask=inb, other=0.0).to(tl.float32)
        g = g * _act_grad(v, ACT)
    _store(DX, idx, g, inb, MASKED)


@triton.jit
def _bias_act_dropout_bwd_kernel(
    DY, X, B, DX, rng_ptr, numel, n_cols, threshold, scale,
    HAS_BIAS: tl.constexpr, ACT: tl.constexpr, BLOCK: tl.constexpr, EVEN: tl.constexpr, HALVES: tl.constexpr,
    T_PTR: tl.constexpr,
):
    """``DX = keep * scale * DY * act'(X + B)``; the mask is regenerated, ``X`` is re-read."""
    threshold, scale = _keep_params(threshold, scale, T_PTR)
    pid = tl.program_id(0)
    full = EVEN or _full_block(pid, numel, BLOCK)
    if HALVES:
        idx_lo, keep_lo, idx_hi, keep_hi = _block_keep_halves(rng_ptr, pid, threshold, BLOCK)
        if full:
            _bias_act_dropout_bwd_block(DY, X, B, DX, idx_lo, keep_lo, numel, n_cols, scale, HAS_BIAS, ACT, False)
            _bias_act_dropout_bwd_block(DY, X, B, DX, idx_hi, keep_hi, numel, n_cols, scale, HAS_BIAS, ACT, False)
        else:
            _bias_act_dropout_bwd_block(DY, X, B, DX, idx_lo, keep_lo, numel, n_cols, scale, HAS_BIAS, ACT, True)
            _bias_act_dropout_bwd_block(DY, X, B, DX, idx_hi, keep_hi, numel, n_cols, scale, HAS_BIAS, ACT, True)
    else:
        idx, keep = _block_keep(rng_ptr, pid, threshold, BLOCK)
        if full:
            _bias_act_dropout_bwd_block(DY, X, B, DX, idx, keep, numel, n_cols, scale, HAS_BIAS, ACT, False)
        else:
            _bias_act_dropout_bwd_block(DY, X, B, DX, idx, keep, numel, n_cols, scale, HAS_BIAS, ACT, True)


# Launcher. BLOCK = 2048 elements (256 Philox calls) per program, 8 warps: the size the Triton
# tutorial and Inductor use for memory-bound element-wise work; it was not tuned on a GPU here
# (no GPU was available when this was written), so benchmarks/bench_kernels.py is the place to
# revisit it. benchmarks/kernel_codegen.py compiles the kernels at this configuration for sm_90 without a
# GPU (registers, spills, vector widths, instructions per element). The interpreter
# (TRITON_INTERPRET=1) gets 64 to keep CPU test runs short.
GPU_BLOCK = 2048
GPU_NUM_WARPS = 8
INTERPRETER_BLOCK = 64


def _block() -> int:
    import os

    return INTERPRETER_BLOCK if os.environ.get("TRITON_INTERPRET") == "1" else GPU_BLOCK


def _grid(numel: int, block: int) -> tuple[int]:
    return (max(1, triton.cdiv(numel, block)),)


def _as_4d(x: Tensor) -> tuple[list[int], list[int]] | None:
    """Sizes/strides of ``x`` padded to 4 dims, or None when it has more than 4 (non-mergeable) dims."""
    sizes, strides = [], []
    for s, st in zip(x.shape, x.stride()):
        if s == 1:
            continue
        if sizes and strides[-1] == st * s:  # merge with the previous dim
            sizes[-1] *= s
            strides[-1] = st
        else:
            sizes.append(s)
            strides.append(st)
    if len(sizes) > _MAX_DIMS:
        return None
    pad = _MAX_DIMS - len(sizes)
    return [1] * pad + sizes, [0] * pad + strides


def _strided_mode(sizes: list[int], strides: list[int], numel: int, block: int) -> tuple[int, bool]:
    """``(STRIDED, INDEX32)`` for a 4-D layout (see ``_source_offsets``)."""
    mode = 2 if sizes[3] % 8 == 0 else 1
    last_offset = sum((s - 1) * abs(t) for s, t in zip(sizes, strides))
    return mode, numel + block < 2**31 and last_offset < 2**31


def keep_in_kernel(keep: Tensor, x: Tensor) -> bool:
    """Whether the kernels read the keep test from memory (``T_PTR``) rather than as scalar arguments.

    The ops take the keep test as ``keep``, an int32 tensor ``[threshold, float32 bits of the scale]``.
    Eager callers pass a cached CPU tensor (:func:`host_keep`): for CUDA inputs it becomes two scalar
    arguments, as cheap as before and safe under CUDA-graph capture. Under ``torch.compile`` it is
    computed on the input's device (:func:`device_keep`), so the graph does not depend on the rate,
    and the kernels load it. Under the interpreter (CPU inputs) it is always loaded from memory.
    """
    return not (keep.device.type == "cpu" and x.device.type != "cpu")


def _pair(threshold: Tensor, scale: Tensor) -> Tensor:
    return torch.stack((threshold.to(torch.int32), scale.to(torch.float32).view(torch.int32)))


@functools.lru_cache(maxsize=256)
def host_keep(threshold: int) -> Tensor:
    """The ``keep`` pair of threshold ``t`` as a CPU tensor (one per value, reused across calls)."""
    scale = (1 << 16) / threshold if threshold else 0.0
    return _pair(torch.tensor(threshold), torch.tensor(scale, dtype=torch.float64))


def device_keep(threshold: Tensor, scale: Tensor) -> Tensor:
    """The ``keep`` pair from 0-dim threshold and scale tensors (:func:`dropkit.rng.traced_keep_params`)."""
    return _pair(threshold, scale)


def _keep_args(keep: Tensor, x: Tensor) -> dict[str, object]:
    """The kernels' ``threshold``, ``scale`` and ``T_PTR`` arguments for ``keep`` (see above)."""
    if keep_in_kernel(keep, x):
        return {"threshold": keep, "scale": 1.0, "T_PTR": True}
    t, _ = keep.tolist()
    return {"threshold": t, "scale": (1 << 16) / t if t else 0.0, "T_PTR": False}


@triton_op("dropkit::dropout_apply", mutates_args={})
def _dropout_apply(x: Tensor, rng: Tensor, keep: Tensor) -> Tensor:
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    if x.numel() == 0:
        return y
    layout = None if x.is_contiguous() else _as_4d(x)
    if layout is None and not x.is_contiguous():
        x = x.contiguous()
    sizes, strides = layout if layout is not None else ([1, 1, 1, 1], [0, 0, 0, 0])
    block = _block()
    mode, index32 = _strided_mode(sizes, strides, x.numel(), block) if layout is not None else (0, False)
    wrap_triton(_dropout_kernel)[_grid(x.numel(), block)](
        X=x, Y=y, rng_ptr=rng, numel=x.numel(), **_keep_args(keep, x),
        s1=sizes[1], s2=sizes[2], s3=sizes[3], t0=strides[0], t1=strides[1], t2=strides[2], t3=strides[3],
        STRIDED=mode, MASK_ONLY=False, BLOCK=block, EVEN=x.numel() % block == 0, INDEX32=index32,
        HALVES=layout is None and x.element_size() == 4, num_warps=GPU_NUM_WARPS,
    )
    return y


def _dropout_apply_backward(ctx, dy: Tensor):
    (rng,) = ctx.saved_tensors
    return torch.ops.dropkit.dropout_apply(dy, rng, ctx.keep), None, None


def _dropout_apply_setup(ctx, inputs, output) -> None:
    _, rng, ctx.keep = inputs
    ctx.save_for_backward(rng)


_dropout_apply.register_autograd(_dropout_apply_backward, setup_context=_dropout_apply_setup)


@triton_op("dropkit::keep_mask", mutates_args={})
def _keep_mask(rng: Tensor, numel: int, keep: Tensor) -> Tensor:
    m = torch.empty(numel, dtype=torch.uint8, device=rng.device)
    if numel:
        block = _block()
        wrap_triton(_dropout_kernel)[_grid(numel, block)](
            X=m, Y=m, rng_ptr=rng, numel=numel, **_keep_args(keep, m),
            s1=1, s2=1, s3=1, t0=0, t1=0, t2=0, t3=0, STRIDED=0, MASK_ONLY=True, BLOCK=block,
            EVEN=numel % block == 0, INDEX32=False, HALVES=False,
        )
    return m


@triton_op("dropkit::bias_act_dropout", mutates_args={})
def _bias_act_dropout(
    x: Tensor, bias: Tensor | None, residual: Tensor | None, rng: Tensor, keep: Tensor, act: int
) -> Tensor:
    # The output takes the residual's dtype: float32 for a float32 residual stream with 16-bit x.
    y = torch.empty(x.shape, dtype=x.dtype if residual is None else residual.dtype, device=x.device)
    if x.numel():
        block = _block()
        wrap_triton(_bias_act_dropout_kernel)[_grid(x.numel(), block)](
            X=x, B=x if bias is None else bias, R=x if residual is None else residual, Y=y, rng_ptr=rng,
            numel=x.numel(), n_cols=x.shape[-1], **_keep_args(keep, x),
            HAS_BIAS=bias is not None, ACT=act, HAS_RES=residual is not None, BLOCK=block,
            EVEN=x.numel() % block == 0, HALVES=x.element_size() == 4, num_warps=GPU_NUM_WARPS,
        )
    return y


@triton_op("dropkit::bias_act_dropout_bwd", mutates_args={})
def _bias_act_dropout_bwd(
    dy: Tensor, x: Tensor, bias: Tensor | None, rng: Tensor, keep: Tensor, act: int
) -> Tensor:
    dx = torch.empty_like(x)
    if x.numel():
        block = _block()
        wrap_triton(_bias_act_dropout_bwd_kernel)[_grid(x.numel(), block)](
            DY=dy, X=x, B=x if bias is None else bias, DX=dx, rng_ptr=rng, numel=x.numel(), n_cols=x.shape[-1],
            **_keep_args(keep, x), HAS_BIAS=bias is not None, ACT=act, BLOCK=block, EVEN=x.numel() % block == 0,
            HALVES=x.element_size() == 4, num_warps=GPU_NUM_WARPS,
        )
    return dx


def _bad_setup(ctx, inputs, output) -> None:
    x, bias, residual, rng, keep, act = inputs
    ctx.has_bias, ctx.has_res = bias is not None, residual is not None
    ctx.bias_dtype = None if bias is None else bias.dtype  # float32 with 16-bit x under autocast
    ctx.x_dtype = x.dtype
    ctx.keep, ctx.act = keep, act
    # x is needed only for the activation derivative; bias + residual need only the seed.
    ctx.save_for_backward(x if act != 0 else None, bias if act != 0 else None, rng)


def _bad_backward(ctx, dy: Tensor):
    x, bias, rng = ctx.saved_tensors
    dy = dy.contiguous()
    if ctx.act != 0:
        dx = torch.ops.dropkit.bias_act_dropout_bwd(dy, x, bias, rng, ctx.keep, ctx.act)
    else:
        dx = torch.ops.dropkit.dropout_apply(dy, rng, ctx.keep)  # in dy's dtype (the residual's)
    dbias = dx.reshape(-1, dx.shape[-1]).float().sum(0).to(ctx.bias_dtype) if ctx.has_bias else None
    dres = dy if ctx.has_res else None
    return dx.to(ctx.x_dtype), dbias, dres, None, None, None


_bias_act_dropout.register_autograd(_bad_backward, setup_context=_bad_setup)


@functools.lru_cache(maxsize=None)
def act_code(name: str) -> int:
    return _ACT_CODES[name]


def triton_dropout(x: Tensor, rng: Tensor, keep: Tensor) -> Tensor:
    """Dropout with the counter-based mask; any shape and strides, output contiguous (row-major).

    ``keep``: the keep keep as an int32 0-dim tensor (see :func:`threshold_in_kernel`)."""
    return torch.ops.dropkit.dropout_apply(x, rng, keep)


def triton_keep_mask(rng: Tensor, shape: tuple[int, ...], keep: Tensor) -> Tensor:
    """The boolean keep-mask the kernels apply (the ``return_mask`` path for tests)."""
    numel = 1
    for s in shape:
        numel *= int(s)
    return torch.ops.dropkit.keep_mask(rng, numel, keep).bool().reshape(shape)


def triton_bias_act_dropout(x: Tensor, bias: Tensor | None, rng: Tensor, keep: Tensor, act: str) -> Tensor:
    """Launch the fused Triton kernel for ``dropout(act(x + bias))`` (CUDA tensors; ``keep`` is the int32 pair ``[threshold, scale bits]`` of ``fused._kernel_keep``)."""
    return torch.ops.dropkit.bias_act_dropout(x.contiguous(), bias, None, rng, keep, act_code(act))


def triton_bias_dropout_add(x: Tensor, bias: Tensor | None, residual: Tensor, rng: Tensor, keep: Tensor) -> Tensor:
    """Launch the fused Triton kernel for ``residual + dropout(x + bias)`` (CUDA tensors)."""
    return torch.ops.dropkit.bias_act_dropout(x.contiguous(), bias, residual.contiguous(), rng, keep, 0)
