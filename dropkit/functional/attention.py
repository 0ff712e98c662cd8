"""Scaled dot-product attention with dropout on the attention probabilities that respects ``training``.

Vaswani et al., "Attention Is All You Need", NeurIPS 2017, https://arxiv.org/abs/1706.03762
(dropout on the attention weights is described in the released code and in BERT/GPT; the paper
itself applies dropout to the residual branches).

``torch.nn.functional.scaled_dot_product_attention(dropout_p=...)`` has no ``training`` flag and
applies ``dropout_p`` in evaluation too (pytorch/pytorch#99293, #124464), a bug that recurs across
model code. :func:`attention` takes ``training`` explicitly and passes ``dropout_p=0`` when it is
False, so evaluation is deterministic and equals attention without dropout.

Two paths:

- fast path (``generator=None`` on CUDA, or no dropout): SDPA with ``dropout_p = attn_p if training
  else 0`` (flash / memory-efficient / math kernels, global RNG);
- explicit path (a ``generator`` is given, or dropping off CUDA): ``softmax(q k^T * scale + mask) ->
  dropout -> @ v`` in plain PyTorch with dropkit's :func:`~dropkit.functional.dropout`, the mask drawn
  from ``generator`` (reproducible, and replayable in tests); it keeps the ``O(L * S)`` probabilities
  for backward. SDPA's fused CPU kernels take no dropout, so on the CPU SDPA would run the same math
  kernel; this path also keeps a scheduled ``attn_p`` a symbol under ``torch.compile``, where SDPA
  specialises the graph on ``dropout_p`` and recompiles at each new value (CUDA still does: there the
  flash kernel is worth it).

``attn_p`` is the probability of **dropping** an attention weight; kept weights are scaled by
``1 / (1 - attn_p)`` as in SDPA.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from dropkit._validation import check_floating, check_probability
from dropkit.functional.dropout import dropout

__all__ = ["attention"]


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    attn_p: float,
    training: bool,
    mask: Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Attention ``softmax(q k^T / sqrt(E)) v`` with attention-probability dropout only when ``training``.

    Args:
        q: queries ``(*, L, E)``, floating point.
        k: keys ``(*, S, E)``, same batch dims as ``q``.
        v: values ``(*, S, Ev)``.
        attn_p: probability of **dropping** each attention weight, in ``[0, 1]`` (required keyword).
        training: apply the dropout when True; evaluation (False) is deterministic (required keyword,
            unlike SDPA which always drops).
        mask: optional attention mask broadcastable to ``(*, L, S)``: boolean (True = may attend, as
            in SDPA) or floating (added to the scores) (default: None).
        is_causal: causal (lower-triangular) masking; do not combine with ``mask`` (default: False).
        scale: score scale; ``1 / sqrt(E)`` when None (default: None).
        generator: random generator for the dropout mask; when given, the explicit (non-fused)
            path is used so the mask is reproducible (default: None, SDPA with the global RNG).

    Shape:
        - q: ``(*, L, E)``, k: ``(*, S, E)``, v: ``(*, S, Ev)``.
        - Output: ``(*, L, Ev)``.

    Example:
        >>> import torch
        >>> from dropkit.functional.attention import attention
        >>> q = k = v = torch.randn(2, 4, 5, 8)
        >>> a = attention(q, k, v, attn_p=0.5, training=False)
        >>> torch.equal(a, attention(q, k, v, attn_p=0.0, training=False))   # eval: no dropout
        True
        >>> g = lambda: torch.Generator().manual_seed(0)
        >>> torch.equal(attention(q, k, v, attn_p=0.5, training=True, generator=g()),
        ...             attention(q, k, v, attn_p=0.5, training=True, generator=g()))
        True
    """
    where = "attention"
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_floating(where, t, name)
        if t.dim() < 2:
            raise ValueError(f"{where}: expected {name} with at least 2 dims (*, L, E), got shape {tuple(t.shape)}")
    attn_p = check_probability(where, "attn_p", attn_p)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{where}: q and k must share the last dim E, got shapes {tuple(q.shape)} and {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{where}: k and v must share the sequence dim S, got shapes {tuple(k.shape)} and {tuple(v.shape)}")
    if mask is not None and is_causal:
        raise ValueError(f"{where}: give mask or is_causal, not both; got a mask of shape {tuple(mask.shape)} and is_causal=True")
    if mask is not None and not isinstance(mask, Tensor):
        raise TypeError(f"{where}: mask must be a torch.Tensor or None, got {type(mask).__name__}")
    p = attn_p if training else 0.0
    # Off CUDA, SDPA's fused kernels take no dropout: with dropout it runs its math kernel, which the
    # explicit path below matches in cost, and dropkit's dropout keeps a 1-byte mask and, under
    # torch.compile, the rate a symbol (SDPA specialises the graph on dropout_p, so a scheduled rate
    # would recompile at every new value and fall back to eager after 8).
    if generator is None and (q.is_cuda or not p > 0):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal, scale=scale)

    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale
    if is_causal:
        L, S = q.shape[-2], k.shape[-2]
        allowed = torch.ones(L, S, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    probs = torch.softmax(scores, dim=-1)
    probs = dropout(probs, p, training=training, generator=generator)
    return probs @ v
