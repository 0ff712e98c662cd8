"""Embedding (word) dropout: drop whole rows of the vocabulary, the same word alike everywhere.

Gal & Ghahramani, "A Theoretically Grounded Application of Dropout in Recurrent Neural Networks",
NeurIPS 2016, https://arxiv.org/abs/1512.05287 (section 4.2, "word embeddings dropout"); used as
``embedded_dropout`` in awd-lstm (Merity et al. 2017, https://arxiv.org/abs/1708.02182).

Differs from awd-lstm in cost, not in result: awd-lstm multiplies the whole ``V x D`` weight by a
``(V, 1)`` mask every step (a full weight copy). Here a ``(V,)`` keep-mask is drawn and applied to
the looked-up rows only: ``F.embedding(ids, W) * mask[ids, None] / (1 - p)``. The output and the
gradient (non-zero only for looked-up, kept rows) are the same as awd-lstm's, with ``O(V)`` extra
memory instead of ``O(V x D)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dropkit._validation import check_floating, check_probability, check_rank
from dropkit.functional.dropout import bernoulli_keep_mask

__all__ = ["embedding_dropout"]


def embedding_dropout(
    input: Tensor,
    weight: Tensor,
    p: float = 0.1,
    *,
    training: bool = True,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Look up ``input`` in ``weight`` with whole vocabulary rows dropped (scaled by ``1/(1-p)``).

    Every occurrence of a word in the batch shares one mask value: a dropped word is a zero vector
    wherever it appears in this call; a new mask is drawn for each call.

    Args:
        input: integer word ids of any shape.
        weight: embedding matrix ``(V, D)``, floating point.
        p: probability of **dropping** a vocabulary row, in ``[0, 1]`` (default: 0.1).
        training: drop rows when True; a plain :func:`torch.nn.functional.embedding` when False
            (default: True).
        padding_idx: as in :func:`torch.nn.functional.embedding` (default: None).
        max_norm: as in :func:`torch.nn.functional.embedding`; renormalises ``weight`` in place
            (default: None).
        norm_type: as in :func:`torch.nn.functional.embedding` (default: 2.0).
        scale_grad_by_freq: as in :func:`torch.nn.functional.embedding` (default: False).
        sparse: as in :func:`torch.nn.functional.embedding` (default: False).
        generator: random generator for the row mask; the global one when None (default: None).

    Shape:
        - Input: ``(*)`` integer ids; weight ``(V, D)``.
        - Output: ``(*, D)``.

    Example:
        >>> import torch
        >>> from dropkit.functional import embedding_dropout
        >>> w = torch.ones(10, 3)
        >>> ids = torch.tensor([[1, 2, 1], [2, 1, 1]])
        >>> y = embedding_dropout(ids, w, 0.5, generator=torch.Generator().manual_seed(0))
        >>> y.shape
        torch.Size([2, 3, 3])
        >>> bool((y[ids == 1] == y[0, 0]).all())        # word 1 has one mask everywhere
        True
        >>> torch.equal(embedding_dropout(ids, w, 0.5, training=False), torch.ones(2, 3, 3))
        True
    """
    where = "embedding_dropout"
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{where}: input must be a torch.Tensor of word ids, got {type(input).__name__}")
    if input.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{where}: input must hold integer ids (int64 or int32), got dtype {input.dtype}")
    check_floating(where, weight, "weight")
    check_rank(where, weight, (2,), "weight (V, D)")
    p = check_probability(where, "p", p)
    out = F.embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)
    if not training or p == 0.0:
        return out
    if p == 1.0:
        return out * 0.0
    keep = bernoulli_keep_mask((weight.shape[0],), 1.0 - p, like=weight, generator=generator)
    keep.mul_(1.0 / (1.0 - p))
    return out * keep[input].unsqueeze(-1)
