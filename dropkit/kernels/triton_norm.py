"""Triton kernel for (bias +) dropout + residual add + LayerNorm / RMSNorm, forward and backward.

Reference-compatible with :func:`dropkit.kernels.reference.reference_dropout_add_norm`:
``h = residual + dropout(x + x_bias)``, ``y = norm(h) * weight + bias``; returns ``(y, h)``. The
mask is the one of :mod:`dropkit.rng` for the logical index ``row * N + col`` of ``x`` viewed as
``(M, N)``, so it equals the mask of plain dropout on ``x`` with the same ``rng``. One program
normalises one row held as a ``(BLOCK_N // 8, 8)`` tile; when ``N % 8 == 0`` each tile row is one
Philox call, otherwise every element computes its own call (correct, 8x more random-number work).

Backward keeps ``h`` (returned to the caller anyway), ``weight``, per-row ``mean``/``rstd`` and the
seed; the mask is regenerated. Weight/bias gradients (and that of ``x_bias``) are accumulated per
program over a contiguous set of rows and the ``(programs, N)`` partial sums are reduced with torch, as in flash-attention's
Triton LayerNorm.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.library import triton_op, wrap_triton

from dropkit.kernels.triton_elementwise import _keep_args, _keep_params, _lane_bits

__all__ = ["triton_dropout_add_norm"]


@triton.jit
def _row_keep(rng_ptr, row, n_cols, threshold, R: tl.constexpr, ALIGNED: tl.constexpr):
    seed = tl.load(rng_ptr)
    offset = tl.load(rng_ptr + 1)
    rows = tl.arange(0, R)
    lanes = tl.arange(0, 8)
    cols = rows[:, None] * 8 + lanes[None, :]
    base = row.to(tl.int64) * n_cols
    if ALIGNED:
        r0, r1, r2, r3 = tl.randint4x(seed, offset + base // 8 + rows.to(tl.int64))
        bits = _lane_bits(r0[:, None], r1[:, None], r2[:, None], r3[:, None], lanes[None, :])
    else:
        idx = base + cols
        r0, r1, r2, r3 = tl.randint4x(seed, offset + idx // 8)
        bits = _lane_bits(r0, r1, r2, r3, (idx % 8).to(tl.int32))
    return cols, bits < threshold


@triton.jit
def _fwd_kernel(
    X, XB, RES, W, B, Y, H, MEAN, RSTD, rng_ptr, n_cols, threshold, scale, eps,
    HAS_XB: tl.constexpr, HAS_RES: tl.constexpr, HAS_B: tl.constexpr, RMS: tl.constexpr,
    ALIGNED: tl.constexpr, R: tl.constexpr, T_PTR: tl.constexpr,
):
    threshold, scale = _keep_params(threshold, scale, T_PTR)
    row = tl.program_id(0)
    cols, keep = _row_keep(rng_ptr, row, n_cols, threshold, R, ALIGNED)
    inb = cols < n_cols
    at = row.to(tl.int64) * n_cols + cols
    v = tl.load(X + at, mask=inb, other=0.0).to(tl.float32)
    if HAS_XB:
        v += tl.load(XB + cols, mask=inb, other=0.0).to(tl.float32)
    h = tl.where(keep, v * scale, 0.0)
    if HAS_RES:
        h += tl.load(RES + at, mask=inb, other=0.0).to(tl.float32)
    tl.store(H + at, h.to(H.dtype.element_ty), mask=inb)
    if RMS:
        mean = tl.zeros((), dtype=tl.float32)
        hc = h
    else:
        mean = tl.sum(tl.sum(h, axis=1), axis=0) / n_cols
        hc = tl.where(inb, h - mean, 0.0)
    var = tl.sum(tl.sum(hc * hc, axis=1), axis=0) / n_cols
    rstd = 1.0 / tl.sqrt(var + eps)
    y = hc * rstd * tl.load(W + cols, mask=inb, other=0.0).to(tl.float32)
    if HAS_B:
        y += tl.load(B + cols, mask=inb, other=0.0).to(tl.float32)
    tl.store(Y + at, y.to(Y.dtype.element_ty), mask=inb)
    tl.store(MEAN + row, mean)
    tl.store(RSTD + row, rstd)


@triton.jit
def _cols0(R: tl.constexpr):
    """Column indices of a row held as a ``(R, 8)`` tile."""
    return tl.arange(0, R)[:, None] * 8 + tl.arange(0, 8)[None, :]


@triton.jit
def _bwd_row(
    DY, DH_OUT, H, MEAN, RSTD, DX, DRES, rng_ptr, w, dw, db, dxb, row, n_rows, n_cols, threshold, scale,
    HAS_DH: tl.constexpr, HAS_RES: tl.constexpr, HAS_XB: tl.constexpr, RMS: tl.constexpr, ALIGNED: tl.constexpr,
    R: tl.constexpr,
):
    """One row of the backward; a row past the end (``row >= n_rows``) is masked off: it loads zeros
    and adds nothing to ``dw``, ``db``, ``dxb``. Returns the updated accumulators."""
    # cols < n_cols in a live row, nothing in a dead one: one comparison (a bool AND of a block and a
    # scalar gives Triton's interpreter an int32 mask it cannot load with).
    ok = _cols0(R) < tl.where(row < n_rows, n_cols, 0)
    cols, keep = _row_keep(rng_ptr, row, n_cols, threshold, R, ALIGNED)
    at = row.to(tl.int64) * n_cols + cols
    h = tl.load(H + at, mask=ok, other=0.0).to(tl.float32)
    dy = tl.load(DY + at, mask=ok, other=0.0).to(tl.float32)
    last = tl.minimum(row, n_rows - 1)  # a dead row reads the last row's statistics; its h, dy are 0
    mean = tl.load(MEAN + last)
    rstd = tl.load(RSTD + last)
    yhat = tl.where(ok, (h - mean) * rstd, 0.0)
    wdy = w * dy
    c1 = tl.sum(tl.sum(yhat * wdy, axis=1), axis=0) / n_cols
    if RMS:
        dh = (wdy - yhat * c1) * rstd
    else:
        c2 = tl.sum(tl.sum(wdy, axis=1), axis=0) / n_cols
        dh = (wdy - (yhat * c1 + c2)) * rstd
    if HAS_DH:
        dh += tl.load(DH_OUT + at, mask=ok, other=0.0).to(tl.float32)
    dw += dy * yhat
    db += dy
    if HAS_RES:
        tl.store(DRES + at, dh.to(DRES.dtype.element_ty), mask=ok)
    dx = tl.where(keep, dh * scale, 0.0)
    if HAS_XB:
        dxb += dx
    tl.store(DX + at, dx.to(DX.dtype.element_ty), mask=ok)
    return dw, db, dxb


@triton.jit
def _bwd_kernel(
    DY, DH_OUT, H, W, MEAN, RSTD, DX, DRES, DW, DB, DXB, rng_ptr, n_rows, n_cols, rows_per_prog, threshold, scale,
    HAS_DH: tl.constexpr, HAS_RES: tl.constexpr, HAS_XB: tl.constexpr, RMS: tl.constexpr, ALIGNED: tl.constexpr,
    R: tl.constexpr, STAGES: tl.constexpr, T_PTR: tl.constexpr,
):
    """Rows ``[pid * rows_per_prog, (pid + 1) * rows_per_prog)``; ``STAGES > 1`` lets Triton prefetch
    the next rows' ``h``, ``dy`` (and ``dh``) into shared memory while the current row is reduced.
    The trip count is fixed and rows past the end are masked (see ``_bwd_row``)."""
    threshold, scale = _keep_params(threshold, scale, T_PTR)
    pid = tl.program_id(0)
    cols0 = _cols0(R)
    inb = cols0 < n_cols
    w = tl.load(W + cols0, mask=inb, other=0.0).to(tl.float32)
    dw = tl.zeros((R, 8), tl.float32)
    db = tl.zeros((R, 8), tl.float32)
    dxb = tl.zeros((R, 8), tl.float32)
    row_start = pid * rows_per_prog
    if STAGES > 1:
        for i in tl.range(0, rows_per_prog, num_stages=STAGES):
            dw, db, dxb = _bwd_row(
                DY, DH_OUT, H, MEAN, RSTD, DX, DRES, rng_ptr, w, dw, db, dxb, row_start + i, n_rows, n_cols,
                threshold, scale, HAS_DH, HAS_RES, HAS_XB, RMS, ALIGNED, R,
            )
    else:  # a plain range: Triton 3.6's interpreter cannot run tl.range over a kernel argument
        for i in range(rows_per_prog):
            dw, db, dxb = _bwd_row(
                DY, DH_OUT, H, MEAN, RSTD, DX, DRES, rng_ptr, w, dw, db, dxb, row_start + i, n_rows, n_cols,
                threshold, scale, HAS_DH, HAS_RES, HAS_XB, RMS, ALIGNED, R,
            )
    tl.store(DW + pid * n_cols + cols0, dw, mask=inb)
    tl.store(DB + pid * n_cols + cols0, db, mask=inb)
    if HAS_XB:
        tl.store(DXB + pid * n_cols + cols0, dxb, mask=inb)


def _tile_rows(n_cols: int) -> int:
    return max(1, triton.next_power_of_2(n_cols) // 8)


def _num_warps(n_cols: int) -> int:
    # One row per program: 4 warps up to 2K columns, 8 beyond, 16 from 16K (as flash-attention's LN).
    return 4 if n_cols <= 2048 else (8 if n_cols < 16384 else 16)


# Backward launch configuration on a GPU. Each program accumulates dW/dB over a contiguous set of rows;
# BWD_PROGRAMS_PER_SM programs per SM, each prefetching BWD_STAGES - 1 rows ahead (cp.async into
# shared memory; 1 = no prefetch, each row waits for its loads). Neither is tuned on a GPU yet:
# benchmarks/bench_kernels.py times the fused LayerNorm backward at other values (rows with a
# `variant`) so the first GPU run can choose. Prefetching stays off by default because, compiled for
# sm_90 by Triton 3.6 (the GPU image's version), 2 stages take the bf16 LayerNorm backward from 128 to
# 140 registers, so only one 8-warp program fits an SM instead of two (Triton 3.9: 128 either way);
# see benchmarks/kernel_codegen.py.
BWD_PROGRAMS_PER_SM = 2
BWD_STAGES = 1


def _bwd_programs(n_rows: int, device: torch.device) -> int:
    """Programs for the backward: a few per SM so each accumulates many rows of dW/dB."""
    if _interpreted() or device.type != "cuda":
        return min(n_rows, 4)
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    return min(n_rows, BWD_PROGRAMS_PER_SM * sms)


def _bwd_stages() -> int:
    return 1 if _interpreted() else BWD_STAGES


def _interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


@triton_op("dropkit::dropout_add_norm", mutates_args={})
def _dropout_add_norm(
    x: Tensor, x_bias: Tensor | None, residual: Tensor | None, weight: Tensor, bias: Tensor | None,
    rng: Tensor, keep: Tensor, eps: float, rms: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    n_cols = x.shape[-1]
    n_rows = x.numel() // max(n_cols, 1)
    y = torch.empty_like(x)
    # h = residual + dropout(x) takes the residual's dtype (a float32 residual stream with 16-bit x).
    h = torch.empty(x.shape, dtype=x.dtype if residual is None else residual.dtype, device=x.device)
    mean = torch.empty(n_rows, dtype=torch.float32, device=x.device)
    rstd = torch.empty(n_rows, dtype=torch.float32, device=x.device)
    if n_rows:
        wrap_triton(_fwd_kernel)[(n_rows,)](
            X=x, XB=x if x_bias is None else x_bias, RES=x if residual is None else residual, W=weight,
            B=weight if bias is None else bias, Y=y, H=h, MEAN=mean, RSTD=rstd, rng_ptr=rng, n_cols=n_cols,
            **_keep_args(keep, x), eps=eps, HAS_XB=x_bias is not None, HAS_RES=residual is not None,
            HAS_B=bias is not None, RMS=rms,
            ALIGNED=n_cols % 8 == 0, R=_tile_rows(n_cols), num_warps=_num_warps(n_cols),
        )
    return y, h, mean, rstd


@triton_op("dropkit::dropout_add_norm_bwd", mutates_args={})
def _dropout_add_norm_bwd(
    dy: Tensor, dh_out: Tensor | None, h: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor,
    rng: Tensor, keep: Tensor, rms: bool, has_res: bool, has_xb: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    n_cols = h.shape[-1]
    n_rows = h.numel() // max(n_cols, 1)
    dx = torch.empty_like(dy)  # x's dtype (dy is the gradient of y, which has x's dtype)
    dres = torch.empty_like(h) if has_res else torch.empty(0, dtype=h.dtype, device=h.device)
    progs = max(1, _bwd_programs(n_rows, h.device))
    dw_part = torch.zeros(progs, n_cols, dtype=torch.float32, device=h.device)
    db_part = torch.zeros(progs, n_cols, dtype=torch.float32, device=h.device)
    # The x_bias gradient (the column sums of dx) is accumulated in fp32 by the kernel like dW/dB,
    # instead of a separate fp32 copy and reduction of dx (3 more passes over an (M, N) tensor).
    dxb_part = torch.zeros(progs if has_xb else 0, n_cols, dtype=torch.float32, device=h.device)
    if n_rows:
        wrap_triton(_bwd_kernel)[(progs,)](
            DY=dy, DH_OUT=h if dh_out is None else dh_out, H=h, W=weight, MEAN=mean, RSTD=rstd, DX=dx,
            DRES=dx if not has_res else dres, DW=dw_part, DB=db_part, DXB=dxb_part if has_xb else db_part,
            rng_ptr=rng, n_rows=n_rows, n_cols=n_cols, rows_per_prog=triton.cdiv(n_rows, progs),
            **_keep_args(keep, h), HAS_DH=dh_out is not None, HAS_RES=has_res, HAS_XB=has_xb, RMS=rms,
            ALIGNED=n_cols % 8 == 0,
            R=_tile_rows(n_cols), STAGES=_bwd_stages(), num_warps=_num_warps(n_cols),
        )
    return dx, dres, dw_part.sum(0), db_part.sum(0), dxb_part.sum(0)


def _setup(ctx, inputs, output) -> None:
    x, x_bias, residual, weight, bias, rng, keep, eps, rms = inputs
    _, h, mean, rstd = output
    ctx.keep, ctx.rms = keep, rms
    ctx.has = (x_bias is not None, residual is not None, bias is not None)
    # float32 parameters with 16-bit x (torch.autocast): each gradient in its parameter's dtype
    ctx.dtypes = (None if x_bias is None else x_bias.dtype, None if bias is None else bias.dtype)
    ctx.save_for_backward(h, weight, mean, rstd, rng)


def _backward(ctx, dy, dh_out, _dmean, _drstd):
    h, weight, mean, rstd, rng = ctx.saved_tensors
    has_xb, has_res, has_b = ctx.has
    dx, dres, dw, db, dxb = torch.ops.dropkit.dropout_add_norm_bwd(
        dy.contiguous(), None if dh_out is None else dh_out.contiguous(), h, weight, mean, rstd, rng,
        ctx.keep, ctx.rms, has_res, has_xb,
    )
    xb_dtype, b_dtype = ctx.dtypes
    dxb = dxb.to(xb_dtype) if has_xb else None
    return (
        dx, dxb, dres if has_res else None, dw.to(weight.dtype), db.to(b_dtype) if has_b else None,
        None, None, None, None,
    )


_dropout_add_norm.register_autograd(_backward, setup_context=_setup)


def triton_dropout_add_norm(
    x: Tensor, x_bias: Tensor | None, residual: Tensor | None, weight: Tensor, bias: Tensor | None,
    rng: Tensor, keep: Tensor, eps: float, norm: str,
) -> tuple[Tensor, Tensor]:
    """Launch the fused Triton kernel for ``h = residual + dropout(x + x_bias)``, returning ``(norm(h), h)`` (CUDA tensors)."""
    y, h, _, _ = torch.ops.dropkit.dropout_add_norm(
        x.contiguous(), x_bias, None if residual is None else residual.contiguous(), weight.contiguous(),
        bias, rng, keep, float(eps), norm == "rmsnorm",
    )
    return y, h
