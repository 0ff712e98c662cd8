"""A small causal GPT for character-level language modelling: nanoGPT's model with dropkit's dropout layers.

Radford et al. 2019 (GPT-2) as written in Karpathy's nanoGPT (https://github.com/karpathy/nanoGPT,
``model.py``): token + learned position embeddings, pre-LayerNorm blocks of causal self-attention and
a GELU MLP (4x wide in nanoGPT), a final LayerNorm and an output layer tied to the token embedding.
The dropout sites are nanoGPT's, each a probability of **dropping**:

- ``emb_p``: on the sum of token and position embeddings (nanoGPT's ``transformer.drop``);
- ``attn_p``: on the attention probabilities, training only (``attn_dropout``);
- ``resid_p``: on the output of each attention and MLP branch before it is added to the residual
  stream (``resid_dropout`` and the MLP's ``dropout``; Vaswani et al. 2017, Section 5.4).

What differs from nanoGPT: each residual dropout, its add and the *next* LayerNorm are one
:class:`~dropkit.nn.DropoutAddLayerNorm` (flash-attention's pre-norm ``(y, h)`` form: ``h = h +
dropout(branch)``, ``y = LN(h)``), and the embedding dropout is the first of them with no residual
(``h = dropout(emb)``, ``y = LN_1(h)``); the arithmetic is nanoGPT's. All linear layers have biases
(nanoGPT's ``bias=True``; its Shakespeare config turns them off). The tied output layer reuses the
embedding matrix through ``F.linear`` (one tensor in the ``state_dict``). Initialisation is nanoGPT's:
normal(0, 0.02), the residual projections scaled by ``1 / sqrt(2 * depth)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dropkit._validation import check_positive, check_positive_int, check_probability
from dropkit.models.registry import register_model
from dropkit.nn.attention import MultiHeadSelfAttention
from dropkit.nn.dropout_add_norm import DropoutAddLayerNorm

__all__ = ["GPT", "GPTBlock", "build_gpt"]


class GPTBlock(nn.Module):
    """Causal attention and MLP of one block; ``(y, h) -> (y', h')`` in the pre-norm residual form.

    ``y`` is the normalised input of the attention (``LN_1(h)``), ``h`` the residual stream. The block
    computes ``h += dropout(attn(y))``, ``y = LN_2(h)``, ``h += dropout(mlp(y))`` and returns
    ``(LN_next(h), h)``, ``LN_next`` being the next block's first LayerNorm (or the final one).

    Args:
        dim: width.
        heads: attention heads; must divide ``dim``.
        mlp_ratio: MLP hidden width / ``dim`` (default: 4.0, nanoGPT's).
        attn_p: attention-probability dropout rate (default: 0.0).
        resid_p: residual dropout rate on both branch outputs (default: 0.0).

    Shape:
        - y, h: ``(N, T, dim)``; outputs: the same.

    Example:
        >>> import torch
        >>> block = GPTBlock(16, 4, resid_p=0.1)
        >>> y, h = block(torch.randn(2, 5, 16), torch.randn(2, 5, 16))
        >>> y.shape, h.shape
        (torch.Size([2, 5, 16]), torch.Size([2, 5, 16]))
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, attn_p: float = 0.0, resid_p: float = 0.0) -> None:
        super().__init__()
        hidden = max(1, round(dim * check_positive("GPTBlock", "mlp_ratio", mlp_ratio)))
        self.attn = MultiHeadSelfAttention(dim, heads, attn_p=attn_p, proj_p=0.0)
        self.norm_mid = DropoutAddLayerNorm(dim, resid_p)  # h += dropout(attn); y = LN_2(h)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.norm_out = DropoutAddLayerNorm(dim, resid_p)  # h += dropout(mlp); y = next LN(h)

    def forward(self, y: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        y, h = self.norm_mid(self.attn(y, is_causal=True), h)
        return self.norm_out(self.mlp(y), h)


class GPT(nn.Module):
    """``ids (N, T) -> logits (N, T, vocab_size)``: a causal transformer language model (nanoGPT).

    Args:
        vocab_size: number of tokens (characters).
        block_size: the longest context (position embeddings); inputs may be shorter.
        dim: width (nanoGPT ``n_embd``; default: 128).
        heads: attention heads (``n_head``; default: 4).
        depth: blocks (``n_layer``; default: 4).
        mlp_ratio: MLP width / ``dim`` (default: 4.0).
        emb_p: dropout rate on the embeddings (default: 0.0).
        attn_p: attention-probability dropout rate (default: 0.0).
        resid_p: residual dropout rate (default: 0.0).
        tie_weights: the output layer reuses the token embedding (default: True).

    Shape:
        - Input: ``(N, T)`` int64 ids with ``T <= block_size``.
        - Output: ``(N, T, vocab_size)`` logits; position ``t`` predicts token ``t + 1``.

    Example:
        >>> import torch
        >>> model = GPT(65, block_size=32, dim=32, heads=4, depth=2, resid_p=0.1)
        >>> model(torch.randint(0, 65, (3, 10))).shape
        torch.Size([3, 10, 65])
    """

    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        *,
        dim: int = 128,
        heads: int = 4,
        depth: int = 4,
        mlp_ratio: float = 4.0,
        emb_p: float = 0.0,
        attn_p: float = 0.0,
        resid_p: float = 0.0,
        tie_weights: bool = True,
    ) -> None:
        super().__init__()
        where = "GPT"
        self.vocab_size = check_positive_int(where, "vocab_size", vocab_size)
        self.block_size = check_positive_int(where, "block_size", block_size)
        check_positive_int(where, "depth", depth)
        for name, value in (("emb_p", emb_p), ("attn_p", attn_p), ("resid_p", resid_p)):
            check_probability(where, name, value)
        self.tok = nn.Embedding(vocab_size, dim)
        self.pos = nn.Embedding(block_size, dim)
        self.norm_in = DropoutAddLayerNorm(dim, emb_p)  # h = dropout(tok + pos); y = LN_1 of block 0
        self.blocks = nn.ModuleList(GPTBlock(dim, heads, mlp_ratio, attn_p, resid_p) for _ in range(depth))
        self.tie_weights = bool(tie_weights)
        self.head = None if self.tie_weights else nn.Linear(dim, vocab_size, bias=False)
        self.apply(self._init)
        for block in self.blocks:  # nanoGPT: residual projections scaled by 1/sqrt(2 * n_layer)
            for proj in (block.attn.proj, block.mlp[2]):
                nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * depth))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, ids: Tensor) -> Tensor:
        if ids.dim() != 2:
            raise ValueError(f"GPT: expected (N, T) token ids, got shape {tuple(ids.shape)}")
        t = ids.shape[1]
        if t > self.block_size:
            raise ValueError(f"GPT: sequence length must be <= block_size={self.block_size}, got {t}")
        x = self.tok(ids) + self.pos(torch.arange(t, device=ids.device))
        y, h = self.norm_in(x)
        for block in self.blocks:
            y, h = block(y, h)
        return F.linear(y, self.tok.weight) if self.head is None else self.head(y)


@register_model("gpt")
def build_gpt(cfg: object, input_shape: tuple[int, ...], num_classes: int) -> GPT:
    """Build the GPT from a :class:`~dropkit.train.config.Config` (``d_model``, ``heads``, ``depth``,
    ``mlp_ratio``, ``emb_p``, ``attn_p``, ``resid_p``, ``tie_weights``); ``input_shape`` is ``(block_size,)``."""
    if len(input_shape) != 1:
        raise ValueError(f"build_gpt: model 'gpt' reads token ids of a text dataset, got input_shape {tuple(input_shape)}")
    return GPT(
        num_classes,
        input_shape[0],
        dim=cfg.d_model,  # type: ignore[attr-defined]
        heads=cfg.heads,  # type: ignore[attr-defined]
        depth=cfg.depth,  # type: ignore[attr-defined]
        mlp_ratio=cfg.mlp_ratio,  # type: ignore[attr-defined]
        emb_p=cfg.emb_p,  # type: ignore[attr-defined]
        attn_p=cfg.attn_p,  # type: ignore[attr-defined]
        resid_p=cfg.resid_p,  # type: ignore[attr-defined]
        tie_weights=cfg.tie_weights,  # type: ignore[attr-defined]
    )
