"""Plain-PyTorch references for the fused dropout kernels; tests and benchmarks both use them.

Each function replays the mask of :mod:`dropkit.rng` from ``rng = [seed, offset]`` (keep when the
element's 16 random bits are ``< keep_threshold(p)``, scale by ``keep_scale(p)``), computes in float32
(float64 for float64 inputs) like the kernels do, and casts the result to the input dtype. Autograd
differentiates them the ordinary way: they keep the mask and intermediate tensors for backward, which
is exactly what the fused kernels avoid, so they are the "unfused" baseline as well as the oracle.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dropkit.rng import keep_mask, keep_scale_traceable

__all__ = [
    "ACTIVATIONS",
    "compute_dtype",
    "activation",
    "reference_dropout",
    "reference_bias_act_dropout",
    "reference_bias_dropout_add",
    "reference_dropout_add_norm",
    "reference_dropout_linear",
]

ACTIVATIONS = ("none", "relu", "gelu", "silu")


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other floating dtype is computed in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def activation(v: Tensor, name: str) -> Tensor:
    """The activations the fused kernels support; GELU is the exact (erf) form."""
    if name == "relu":
        return torch.relu(v)
    if name == "gelu":
        return F.gelu(v)
    if name == "silu":
        return F.silu(v)
    return v


def _drop(v: Tensor, p: float, rng: Tensor, keep: Tensor | None = None) -> Tensor:
    """Apply the counter-based mask (``keep``, or replayed from ``rng``) to a compute-dtype tensor ``v``."""
    if keep is None:
        keep = keep_mask(rng, v.shape, p, device=v.device)
    return torch.where(keep, v * keep_scale_traceable(p, v.device), torch.zeros((), dtype=v.dtype, device=v.device))


# Every reference function takes ``keep``: the boolean mask of ``x``'s shape when it is already known
# (default: None, replayed from ``rng``); the portable path under torch.compile passes one computed in
# an activation-checkpoint region (see dropkit.kernels.portable).


def reference_dropout(x: Tensor, p: float, rng: Tensor, *, keep: Tensor | None = None) -> Tensor:
    """``dropout(x)`` with the mask of ``rng``."""
    return _drop(x.to(compute_dtype(x.dtype)), p, rng, keep).to(x.dtype)


def reference_bias_act_dropout(
    x: Tensor, bias: Tensor | None, p: float, rng: Tensor, act: str = "relu", *, keep: Tensor | None = None
) -> Tensor:
    """``dropout(act(x + bias))``; ``bias`` has shape ``(x.shape[-1],)`` or is None."""
    v = x.to(compute_dtype(x.dtype))
    if bias is not None:
        v = v + bias.to(v.dtype)
    return _drop(activation(v, act), p, rng, keep).to(x.dtype)


def reference_bias_dropout_add(
    x: Tensor, bias: Tensor | None, residual: Tensor, p: float, rng: Tensor, *, keep: Tensor | None = None
) -> Tensor:
    """``residual + dropout(x + bias)``."""
    v = x.to(compute_dtype(x.dtype))
    if bias is not None:
        v = v + bias.to(v.dtype)
    return (residual.to(v.dtype) + _drop(v, p, rng, keep)).to(residual.dtype)


def reference_dropout_add_norm(
    x: Tensor,
    residual: Tensor | None,
    weight: Tensor,
    bias: Tensor | None,
    p: float,
    rng: Tensor,
    *,
    eps: float = 1e-5,
    norm: str = "layernorm",
    x_bias: Tensor | None = None,
    keep: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``h = residual + dropout(x + x_bias)``; returns ``(norm(h) * weight + bias, h)``."""
    cd = compute_dtype(x.dtype)
    v = x.to(cd)
    if x_bias is not None:
        v = v + x_bias.to(cd)
    h = _drop(v, p, rng, keep)
    if residual is not None:
        h = h + residual.to(cd)
    n = x.shape[-1]
    if norm == "layernorm":
        y = F.layer_norm(h, (n,), weight.to(cd), None if bias is None else bias.to(cd), eps)
    else:
        y = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps) * weight.to(cd)
        if bias is not None:
            y = y + bias.to(cd)
    return y.to(x.dtype), h.to(x.dtype if residual is None else residual.dtype)


def reference_dropout_linear(x: Tensor, weight: Tensor, bias: Tensor | None, p: float, rng: Tensor) -> Tensor:
    """``F.linear(dropout(x), weight, bias)``; autograd keeps the dropped copy of ``x`` for the weight grad."""
    return F.linear(reference_dropout(x, p, rng), weight, bias)
