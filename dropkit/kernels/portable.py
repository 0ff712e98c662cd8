"""Portable (any device, plain torch) versions of the fused ops that regenerate the mask in backward.

Same masks and math as :mod:`dropkit.kernels.reference` and the Triton kernels, but written as
``torch.autograd.Function`` s that keep only ``rng = [seed, offset]`` (16 bytes per call) instead of
a mask, and regenerate the mask from it in backward. This is the CPU path of every fused op and the
``backend="portable"`` path of :func:`dropkit.functional.dropout`.

Under ``torch.compile`` the same math is written as differentiable ops (the references of
:mod:`dropkit.kernels.reference`) with the mask computed inside an activation-checkpoint region
(``torch.utils.checkpoint``): Inductor fuses the Philox rounds into its generated loops (4-6x faster
than the eager path on the CPU), and the partitioner recomputes the mask from ``rng`` in backward.
Without the region it saved the Philox output words or the mask instead (1-8 bytes per element,
measured). For ``dropout_linear`` the whole dropped input is recomputed, so only ``x`` is kept.
The outputs are the same bits as the eager path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from dropkit.kernels.reference import (
    activation,
    compute_dtype,
    reference_bias_act_dropout,
    reference_bias_dropout_add,
    reference_dropout,
    reference_dropout_add_norm,
)
from dropkit.kernels.native import replay_masked_scale
from dropkit.rng import apply_keep_mask, keep_mask, rng_snapshot, traced_or_transformed

__all__ = [
    "portable_dropout",
    "portable_bias_act_dropout",
    "portable_bias_dropout_add",
    "portable_dropout_add_norm",
    "portable_dropout_linear",
]


def _drop(v: Tensor, p: float, rng: Tensor, native: bool = False) -> Tensor:
    """The mask of ``rng`` applied to ``v``: the Philox mask of ``rng = [seed, offset]``, or with ``native``
    the native mask replayed from ``rng``, a CPU generator's state (the ``"native"`` backend of
    :mod:`dropkit.kernels.fused`). The caller says which; the tensor's dtype is not a type tag."""
    if native:
        return replay_masked_scale(v, p, rng)
    return apply_keep_mask(v, rng, p)


def _sum_rows(g: Tensor, like: Tensor) -> Tensor:
    """Gradient of a broadcast ``(N,)`` bias: sum over every leading dim, in the compute dtype."""
    return g.reshape(-1, g.shape[-1]).to(compute_dtype(g.dtype)).sum(0).to(like.dtype)


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, p: float, rng: Tensor) -> Tensor:
        ctx.p = p
        ctx.save_for_backward(rng)
        return _plain_drop(x, rng, p)

    @staticmethod
    def backward(ctx, dy: Tensor):
        (rng,) = ctx.saved_tensors
        return _plain_drop(dy, rng, ctx.p), None, None


class _BiasActDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, bias: Tensor | None, p: float, rng: Tensor, act: str, native: bool) -> Tensor:
        ctx.p, ctx.act, ctx.has_bias, ctx.native = p, act, bias is not None, native
        ctx.save_for_backward(x, bias, rng)
        v = x.to(compute_dtype(x.dtype))
        if bias is not None:
            v = v + bias.to(v.dtype)
        return _drop(activation(v, act), p, rng, native).to(x.dtype)

    @staticmethod
    def backward(ctx, dy: Tensor):
        x, bias, rng = ctx.saved_tensors
        cd = compute_dtype(x.dtype)
        g = _drop(dy.to(cd), ctx.p, rng, ctx.native)
        if ctx.act != "none":
            with torch.enable_grad():
                v = x.to(cd).detach()
                if bias is not None:
                    v = v + bias.to(cd)
                v = v.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(activation(v, ctx.act), v, g)
        dx = g.to(x.dtype)
        dbias = _sum_rows(g, bias) if ctx.has_bias and ctx.needs_input_grad[1] else None
        return dx, dbias, None, None, None, None


class _BiasDropoutAdd(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, bias: Tensor | None, residual: Tensor, p: float, rng: Tensor, native: bool) -> Tensor:
        ctx.p, ctx.has_bias, ctx.x_dtype, ctx.native = p, bias is not None, x.dtype, native
        ctx.bias_dtype = None if bias is None else bias.dtype
        ctx.save_for_backward(rng)
        v = x.to(compute_dtype(x.dtype))
        if bias is not None:
            v = v + bias.to(v.dtype)
        return (residual.to(v.dtype) + _drop(v, p, rng, native)).to(residual.dtype)

    @staticmethod
    def backward(ctx, dy: Tensor):
        (rng,) = ctx.saved_tensors
        g = _drop(dy.to(compute_dtype(dy.dtype)), ctx.p, rng, ctx.native)
        dbias = None
        if ctx.has_bias and ctx.needs_input_grad[1]:
            dbias = g.reshape(-1, g.shape[-1]).sum(0).to(ctx.bias_dtype)
        return g.to(ctx.x_dtype), dbias, dy, None, None, None


class _DropoutAddNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, x_bias, residual, weight, bias, p, rng, eps, norm, native):
        cd = compute_dtype(x.dtype)
        v = x.to(cd)
        if x_bias is not None:
            v = v + x_bias.to(cd)
        h = _drop(v, p, rng, native)
        if residual is not None:
            h = h + residual.to(cd)
        h_out = h.to(x.dtype if residual is None else residual.dtype)
        y = _norm(h, weight, bias, eps, norm)
        ctx.p, ctx.eps, ctx.norm, ctx.x_dtype, ctx.native = p, eps, norm, x.dtype, native
        ctx.has = (x_bias is not None, residual is not None, bias is not None)
        ctx.save_for_backward(h_out, weight, bias, x_bias, rng)
        return y.to(x.dtype), h_out

    @staticmethod
    def backward(ctx, dy, dh_out):
        h, weight, bias, x_bias, rng = ctx.saved_tensors
        cd = compute_dtype(h.dtype)
        with torch.enable_grad():
            h32 = h.to(cd).detach().requires_grad_(True)
            w32 = weight.to(cd).detach().requires_grad_(True)
            b32 = None if bias is None else bias.to(cd).detach().requires_grad_(True)
            y = _norm(h32, w32, b32, ctx.eps, ctx.norm)
            inputs = [h32, w32] + ([b32] if b32 is not None else [])
            grads = torch.autograd.grad(y, inputs, dy.to(cd))
        dh = grads[0]
        if dh_out is not None:
            dh = dh + dh_out.to(cd)
        g = _drop(dh, ctx.p, rng, ctx.native)
        has_xb, has_res, has_b = ctx.has
        dx = g.to(ctx.x_dtype)
        dxb = _sum_rows(g, x_bias) if has_xb else None
        dres = dh.to(h.dtype) if has_res else None
        dw = grads[1].to(weight.dtype)
        db = grads[2].to(bias.dtype) if has_b else None
        return dx, dxb, dres, dw, db, None, None, None, None, None


def _norm(h: Tensor, weight: Tensor, bias: Tensor | None, eps: float, norm: str) -> Tensor:
    cd = h.dtype
    if norm == "layernorm":
        return F.layer_norm(h, (h.shape[-1],), weight.to(cd), None if bias is None else bias.to(cd), eps)
    y = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps) * weight.to(cd)
    return y if bias is None else y + bias.to(cd)


class _DropoutLinear(torch.autograd.Function):
    """``F.linear(dropout(x), W, b)`` keeping only ``x``, ``W`` and ``rng`` for backward.

    ``dropout_fn(t, rng)`` applies the mask (portable torch here; the Triton op on CUDA), so the same
    Function serves both backends.

    Under ``torch.autocast`` the forward's ``F.linear`` runs in the autocast dtype (``dy`` comes back in
    it) while ``x`` and the weight stay float32; backward then multiplies in ``dy``'s dtype and casts
    each gradient to its input's dtype, as autograd does through autocast's casts.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, p, rng, dropout_fn):
        xd = dropout_fn(x, rng)
        y = F.linear(xd, weight, bias)
        ctx.p, ctx.dropout_fn, ctx.has_bias = p, dropout_fn, bias is not None
        ctx.bias_dtype = None if bias is None else bias.dtype
        ctx.save_for_backward(x, weight, rng)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, rng = ctx.saved_tensors
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = ctx.dropout_fn(dy.matmul(weight.to(dy.dtype)).to(x.dtype), rng)
        if ctx.needs_input_grad[1]:
            xd = ctx.dropout_fn(x, rng).to(dy.dtype)  # regenerated: the dropped input is never stored
            dw = dy.reshape(-1, dy.shape[-1]).t().matmul(xd.reshape(-1, xd.shape[-1])).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = dy.reshape(-1, dy.shape[-1]).sum(0).to(ctx.bias_dtype)
        return dx, dw, db, None, None, None


def _plain_drop(t: Tensor, rng: Tensor, p: float) -> Tensor:
    """Dropout of ``t`` in its own dtype: for 16-bit floats, torch multiplies by the scale in float32
    and rounds once to the dtype, the same bits as the float32 round trip (tested), one pass instead
    of three."""
    return _drop(t, p, rng)


def _compiling() -> bool:
    """Plain differentiable ops instead of the autograd Functions: under ``torch.compile`` (see the
    module docstring) and under ``torch.func`` transforms (``vmap``, ``grad``, ``jvp``), which need
    Functions written with ``setup_context``, a form that cost twice the per-call overhead."""
    return traced_or_transformed()


def _recomputed_keep(rng: Tensor, like: Tensor, p: float) -> Tensor:
    """``keep_mask`` for ``like``'s shape, in an activation-checkpoint region under ``torch.compile``
    (see the module docstring); plainly under ``torch.func`` transforms, which refuse the region's
    saved-tensor hooks."""
    if not torch.compiler.is_compiling():
        return keep_mask(rng, tuple(like.shape), p, device=like.device)
    rng = rng_snapshot(rng)
    return checkpoint(keep_mask, rng, tuple(like.shape), p, device=like.device, use_reentrant=False)


def portable_dropout(x: Tensor, p: float, rng: Tensor) -> Tensor:
    """Counter-based dropout on any device in plain PyTorch ops: the Triton kernel's mask for ``rng = [seed, offset]``, regenerated in backward."""
    if _compiling():
        return reference_dropout(x, p, rng, keep=_recomputed_keep(rng, x, p))
    return _Dropout.apply(x, p, rng)


# ``native=True``: ``rng`` is a CPU generator's state and the native mask is replayed from it (the fused
# ops' "native" backend, never traced: see dropkit.kernels.backend), else ``rng = [seed, offset]``.


def portable_bias_act_dropout(
    x: Tensor, bias: Tensor | None, p: float, rng: Tensor, act: str, *, native: bool = False
) -> Tensor:
    """``dropout(act(x + bias))`` with the Triton kernel's counter-based mask, in plain PyTorch ops."""
    if _compiling():
        assert not native, "the native backend is never traced (dropkit.kernels.backend)"
        return reference_bias_act_dropout(x, bias, p, rng, act, keep=_recomputed_keep(rng, x, p))
    return _BiasActDropout.apply(x, bias, p, rng, act, native)


def portable_bias_dropout_add(
    x: Tensor, bias: Tensor | None, residual: Tensor, p: float, rng: Tensor, *, native: bool = False
) -> Tensor:
    """``residual + dropout(x + bias)`` with the Triton kernel's counter-based mask, in plain PyTorch ops."""
    if _compiling():
        assert not native, "the native backend is never traced (dropkit.kernels.backend)"
        return reference_bias_dropout_add(x, bias, residual, p, rng, keep=_recomputed_keep(rng, x, p))
    return _BiasDropoutAdd.apply(x, bias, residual, p, rng, native)


def portable_dropout_add_norm(
    x, x_bias, residual, weight, bias, p, rng, eps, norm, *, native: bool = False
) -> tuple[Tensor, Tensor]:
    """``h = residual + dropout(x + x_bias)``; returns ``(norm(h), h)`` (LayerNorm or RMSNorm) with the Triton kernel's mask, in plain PyTorch ops."""
    if _compiling():
        assert not native, "the native backend is never traced (dropkit.kernels.backend)"
        return reference_dropout_add_norm(x, residual, weight, bias, p, rng, eps=eps, norm=norm, x_bias=x_bias,
                                          keep=_recomputed_keep(rng, x, p))
    return _DropoutAddNorm.apply(x, x_bias, residual, weight, bias, p, rng, eps, norm, native)


def portable_dropout_linear(
    x: Tensor, weight: Tensor, bias: Tensor | None, p: float, rng: Tensor, dropout_fn=None, *, native: bool = False
):
    """``linear(dropout(x), weight, bias)`` keeping only ``x`` and the seed for backward (the dropped input is regenerated)."""
    if native:
        assert dropout_fn is None and not _compiling(), "the native backend is never traced (dropkit.kernels.backend)"

        def dropout_fn(t: Tensor, r: Tensor) -> Tensor:
            return replay_masked_scale(t, p, r)

    if dropout_fn is None and torch.compiler.is_compiling():  # the dropped input is recomputed: only x is kept
        dropped = checkpoint(reference_dropout, x, p, rng_snapshot(rng), use_reentrant=False)
        return F.linear(dropped, weight, bias)
    if _compiling():  # torch.func transforms: plain ops
        return F.linear(reference_dropout(x, p, rng), weight, bias)
    if dropout_fn is None:

        def dropout_fn(t: Tensor, r: Tensor) -> Tensor:
            return _plain_drop(t, r, p)

    return _DropoutLinear.apply(x, weight, bias, p, rng, dropout_fn)
