"""``MultiHeadSelfAttention``: self-attention whose dropout follows the module's ``training`` flag.

Vaswani et al., "Attention Is All You Need", NeurIPS 2017, https://arxiv.org/abs/1706.03762.

Built on :func:`dropkit.functional.attention`, so ``attn_p`` (attention-probability dropout) is
switched off in ``eval()`` -- unlike a bare ``F.scaled_dot_product_attention(dropout_p=...)`` call,
which drops in evaluation too (pytorch/pytorch#99293, #124464). ``proj_p`` drops elements of the
output projection (the residual-branch dropout of the paper). Both are probabilities of
**dropping**.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dropkit._validation import check_positive_int
from dropkit.functional.attention import attention
from dropkit.nn._base import DropoutModule
from dropkit.nn.dropout import Dropout

__all__ = ["MultiHeadSelfAttention"]


def _one_of(where: str, name: str, value: Any, default: Any, old_name: str, old_value: Any) -> Any:
    """``value``, or the value given under the argument's earlier name; both given is a ``TypeError``."""
    if old_value is None:
        return value
    if value != default:
        raise TypeError(f"{where}: give {name} or {old_name} (its earlier name), not both; got {name}={value!r}, {old_name}={old_value!r}")
    return old_value


class MultiHeadSelfAttention(DropoutModule):
    """Multi-head self-attention with attention-probability dropout and output dropout.

    The arguments are named as timm's ``Attention`` names them (``num_heads``, ``attn_drop``,
    ``proj_drop``); the earlier names ``heads``, ``attn_p`` and ``proj_p`` are still accepted as keywords.

    Args:
        dim: model width ``D``; must be divisible by ``num_heads``.
        num_heads: number of heads (default: 8).
        attn_drop: probability of **dropping** an attention weight, training only (default: 0.0).
        proj_drop: probability of **dropping** an element of the output projection (default: 0.0).
        qkv_bias: bias on the fused q/k/v projection (default: True).
        generator: optional random generator; when set, both masks are drawn from it (reproducible)
            and attention takes the explicit softmax path (default: None: the global RNG; SDPA's
            dropout on CUDA, dropkit's on the CPU, see :func:`dropkit.functional.attention`).

    Shape:
        - Input: ``(N, L, D)``; ``mask`` broadcastable to ``(N, heads, L, L)`` (bool: True = attend).
        - Output: ``(N, L, D)``.

    Example:
        >>> import torch
        >>> from dropkit.nn import MultiHeadSelfAttention
        >>> mhsa = MultiHeadSelfAttention(16, num_heads=4, attn_drop=0.5, proj_drop=0.1).eval()
        >>> x = torch.randn(2, 5, 16)
        >>> torch.equal(mhsa(x), mhsa(x))            # evaluation is deterministic
        True
        >>> mhsa.heads, mhsa.attn_p, mhsa.proj_p
        (4, 0.5, 0.1)
    """

    #: the rate of the randomness drawn in forward itself (``proj_p`` lives in the ``proj_drop`` child, a
    #: :class:`~dropkit.nn.Dropout` that surgery and schedules find on their own).
    rate_names = ("attn_p",)

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        *,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        qkv_bias: bool = True,
        generator: torch.Generator | None = None,
        heads: int | None = None,
        attn_p: float | None = None,
        proj_p: float | None = None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        # errors name the argument as the caller spelled it
        attn_name, proj_name = ("attn_drop" if attn_p is None else "attn_p"), ("proj_drop" if proj_p is None else "proj_p")
        heads = _one_of(where, "num_heads", num_heads, 8, "heads", heads)
        attn_p = _one_of(where, "attn_drop", attn_drop, 0.0, "attn_p", attn_p)
        proj_p = _one_of(where, "proj_drop", proj_drop, 0.0, "proj_p", proj_p)
        check_positive_int(where, "dim", dim)
        check_positive_int(where, "heads", heads)
        if dim % heads:
            raise ValueError(f"{where}: dim must be divisible by heads={heads}, got {dim}")
        self.dim, self.heads = dim, heads
        self.attn_p = self._check_rate(attn_name, attn_p)
        self.generator = generator
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = Dropout(self._check_rate(proj_name, proj_p), generator=generator)

    @property
    def proj_p(self) -> float:
        """Probability of dropping an output element (held by the ``proj_drop`` submodule)."""
        return self.proj_drop.p

    @proj_p.setter
    def proj_p(self, value: float) -> None:
        self.proj_drop.p = self._check_rate("proj_p", value)

    def forward(self, x: Tensor, mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        n, length, dim = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        out = attention(
            qkv[0], qkv[1], qkv[2],
            attn_p=self.attn_p, training=self.training, mask=mask, is_causal=is_causal, generator=self.generator,
        )
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(n, length, dim)))

    def _repr_prefix(self) -> list[str]:
        return [f"dim={self.dim}", f"heads={self.heads}"]

    def _repr_options(self) -> list[str]:
        return [f"proj_p={self.proj_p:g}"]
