"""A small pre-norm vision transformer for MNIST-like images and 1-D signals, with every transformer dropout.

Dosovitskiy et al., "An Image is Worth 16x16 Words" (ViT), ICLR 2021,
https://arxiv.org/abs/2010.11929, scaled down. The regularisers and where they sit:

- token (patch) dropout after the position embedding (:class:`~dropkit.nn.TokenDropout`, FLIP,
  https://arxiv.org/abs/2212.00794), keeping the CLS token;
- attention-probability dropout inside attention, off in evaluation
  (:class:`~dropkit.nn.MultiHeadSelfAttention`);
- residual dropout on each branch output before the add (Vaswani et al. 2017, Section 5.4): the
  attention output projection (``proj_p``) and the MLP output (:class:`~dropkit.nn.ResidualDropout`);
- DropPath on each branch with rates rising linearly over depth from 0 to ``drop_path``
  (:func:`~dropkit.schedules.drop_path_rates`, Huang et al. 2016, https://arxiv.org/abs/1603.09382).

Every rate is a probability of **dropping**. Tokens are ``patch x patch`` pixel patches of a
``(C, H, W)`` image (on 28x28 MNIST ``patch = 4`` gives 49 tokens, ``patch = 7`` gives 16) or
``patch`` consecutive values of a ``(L,)`` / ``(C, L)`` signal (MNIST-1D ``(40,)`` with
``patch = 4``: 10 tokens). Rows-as-tokens embeddings are not offered.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dropkit._validation import check_choice, check_positive, check_positive_int, check_probability
from dropkit.models.registry import register_model
from dropkit.nn.attention import MultiHeadSelfAttention
from dropkit.nn.drop_path import DropPath
from dropkit.nn.residual_dropout import ResidualDropout
from dropkit.nn.token_dropout import TokenDropout
from dropkit.schedules.depth import drop_path_rates

__all__ = ["Transformer", "TransformerBlock", "build_transformer"]


class _TokenEmbedding(nn.Module):
    """Cut the input into non-overlapping ``patch``-sized pieces and project each to ``dim``."""

    def __init__(self, input_shape: tuple[int, ...], patch: int, dim: int) -> None:
        super().__init__()
        where = "Transformer"
        if len(input_shape) not in (1, 2, 3):
            raise ValueError(f"{where}: expected input_shape (L,), (C, L) or (C, H, W), got {input_shape}")
        spatial = input_shape[1:] if len(input_shape) > 1 else input_shape
        for size in spatial:
            if size % patch:
                raise ValueError(f"{where}: patch must divide the input size {size} (input shape {input_shape}), got {patch}")
        self.input_shape = input_shape
        if len(input_shape) == 3:
            self.proj: nn.Module = nn.Conv2d(input_shape[0], dim, patch, stride=patch)
        elif len(input_shape) == 2:
            self.proj = nn.Conv1d(input_shape[0], dim, patch, stride=patch)
        else:
            self.proj = nn.Conv1d(1, dim, patch, stride=patch)
        self.num_tokens = math.prod(s // patch for s in spatial)

    def forward(self, x: Tensor) -> Tensor:
        if len(self.input_shape) == 1:
            x = x.unsqueeze(1)
        return self.proj(x).flatten(2).transpose(1, 2)  # (N, T, D)


class TransformerBlock(nn.Module):
    """Pre-norm block: ``x + DropPath(Attn(LN x))`` then ``x + Dropout(DropPath(MLP(LN x)))``.

    Args:
        dim: width.
        heads: attention heads.
        mlp_ratio: MLP hidden width / ``dim`` (default: 2.0).
        attn_p: attention-probability dropout rate (probability of **dropping**) (default: 0.0).
        resid_p: residual dropout rate on both branch outputs (default: 0.0).
        drop_path_p: DropPath rate of both branches (default: 0.0).

    Shape:
        - Input: ``(N, L, dim)``; Output: the same.

    Example:
        >>> import torch
        >>> TransformerBlock(16, 2, attn_p=0.1, resid_p=0.1, drop_path_p=0.1)(torch.randn(2, 5, 16)).shape
        torch.Size([2, 5, 16])
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        *,
        mlp_ratio: float = 2.0,
        attn_p: float = 0.0,
        resid_p: float = 0.0,
        drop_path_p: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = max(1, round(dim * check_positive("TransformerBlock", "mlp_ratio", mlp_ratio)))
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads, attn_p=attn_p, proj_p=resid_p)
        self.drop_path1 = DropPath(drop_path_p)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path2 = DropPath(drop_path_p)
        self.mlp_residual = ResidualDropout(resid_p)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = x + self.drop_path1(self.attn(self.norm1(x), mask))
        return self.mlp_residual(x, self.drop_path2(self.mlp(self.norm2(x))))


class Transformer(nn.Module):
    """Patch/chunk embedding, learned positions, CLS or mean pooling, pre-norm blocks, linear head.

    Args:
        input_shape: one sample's shape without the batch dim: ``(C, H, W)``, ``(C, L)`` or ``(L,)``.
        num_classes: number of classes (logits).
        d_model: width (default: 64).
        heads: attention heads, dividing ``d_model`` (default: 4).
        depth: number of blocks (default: 4).
        patch: token size, dividing every spatial size (default: 4).
        mlp_ratio: MLP hidden width / ``d_model`` (default: 2.0).
        pool: ``"cls"`` (a learned CLS token, never token-dropped) or ``"mean"`` (default: ``"cls"``).
        attn_p: attention-probability dropout rate (default: 0.0).
        resid_p: residual dropout rate on each branch output (default: 0.0).
        drop_path: DropPath rate of the last block; block ``i`` gets ``drop_path * i / (depth - 1)``
            (default: 0.0).
        token_p: fraction of tokens dropped in training (default: 0.0).

    All rates are probabilities of **dropping**.

    Shape:
        - Input: ``(N, *input_shape)``; Output: ``(N, num_classes)`` logits.

    Example:
        >>> import torch
        >>> model = Transformer((1, 28, 28), 10, d_model=32, heads=4, depth=2, patch=7, attn_p=0.1, token_p=0.5)
        >>> model(torch.randn(3, 1, 28, 28)).shape
        torch.Size([3, 10])
        >>> Transformer((40,), 10, d_model=16, heads=2, depth=1, patch=4, pool="mean")(torch.randn(2, 40)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        *,
        d_model: int = 64,
        heads: int = 4,
        depth: int = 4,
        patch: int = 4,
        mlp_ratio: float = 2.0,
        pool: str = "cls",
        attn_p: float = 0.0,
        resid_p: float = 0.0,
        drop_path: float = 0.0,
        token_p: float = 0.0,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        input_shape = tuple(int(s) for s in input_shape)
        check_positive_int(where, "num_classes", num_classes)
        check_positive_int(where, "d_model", d_model)
        check_positive_int(where, "heads", heads)
        check_positive_int(where, "depth", depth)
        check_positive_int(where, "patch", patch)
        self.pool = check_choice(where, "pool", pool, ("cls", "mean"))
        attn_p = check_probability(where, "attn_p", attn_p)
        resid_p = check_probability(where, "resid_p", resid_p)
        drop_path = check_probability(where, "drop_path", drop_path)
        token_p = check_probability(where, "token_p", token_p, allow_one=False)
        if d_model % heads:
            raise ValueError(f"{where}: d_model must be divisible by heads={heads}, got {d_model}")

        self.embed = _TokenEmbedding(input_shape, patch, d_model)
        prefix = 1 if self.pool == "cls" else 0
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model)) if prefix else None
        self.pos_embed = nn.Parameter(torch.zeros(1, self.embed.num_tokens + prefix, d_model))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.token_drop = TokenDropout(token_p, num_prefix_tokens=prefix)
        rates = drop_path_rates(drop_path, depth)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, heads, mlp_ratio=mlp_ratio, attn_p=attn_p, resid_p=resid_p, drop_path_p=r)
            for r in rates
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.embed(x)
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = self.token_drop(x + self.pos_embed)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        x = x[:, 0] if self.cls_token is not None else x.mean(dim=1)
        return self.head(x)


@register_model("transformer")
def build_transformer(cfg: object, input_shape: tuple[int, ...], num_classes: int) -> Transformer:
    """Build the transformer from a :class:`~dropkit.train.config.Config` (its transformer keys)."""
    return Transformer(
        input_shape,
        num_classes,
        d_model=cfg.d_model,  # type: ignore[attr-defined]
        heads=cfg.heads,  # type: ignore[attr-defined]
        depth=cfg.depth,  # type: ignore[attr-defined]
        patch=cfg.patch,  # type: ignore[attr-defined]
        mlp_ratio=cfg.mlp_ratio,  # type: ignore[attr-defined]
        pool=cfg.pool,  # type: ignore[attr-defined]
        attn_p=cfg.attn_p,  # type: ignore[attr-defined]
        resid_p=cfg.resid_p,  # type: ignore[attr-defined]
        drop_path=cfg.drop_path,  # type: ignore[attr-defined]
        token_p=cfg.token_p,  # type: ignore[attr-defined]
    )
