"""``EmbeddingDropout``: an :class:`torch.nn.Embedding` that drops whole vocabulary rows in training.

Gal & Ghahramani 2016, https://arxiv.org/abs/1512.05287; awd-lstm's ``embedded_dropout``
(Merity et al. 2017, https://arxiv.org/abs/1708.02182). The Module twin of
:func:`dropkit.functional.embedding_dropout`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dropkit.functional.embedding_dropout import embedding_dropout
from dropkit.nn._base import DropoutModule, _keyword_only

__all__ = ["EmbeddingDropout"]


class EmbeddingDropout(DropoutModule, nn.Embedding):
    """``nn.Embedding`` with word dropout; ``p`` is the probability of **dropping** a vocabulary row.

    A subclass of :class:`torch.nn.Embedding` with the same parameters, so its ``state_dict`` (one
    ``weight``) loads into and from a plain ``nn.Embedding``. In eval mode it is a plain lookup.

    Args:
        num_embeddings: vocabulary size ``V``.
        embedding_dim: embedding size ``D``.
        p: drop probability of a vocabulary row, in ``[0, 1]`` (default: 0.1).
        generator: optional random generator for every mask (default: None, the global one).
        **embedding_kwargs: the other :class:`torch.nn.Embedding` arguments (``padding_idx``,
            ``max_norm``, ``norm_type``, ``scale_grad_by_freq``, ``sparse``, ``_weight``, ``device``,
            ``dtype``), passed on unchanged.

    Shape:
        - Input: ``(*)`` integer ids; Output: ``(*, D)``.

    Example:
        >>> import torch
        >>> from dropkit.nn import EmbeddingDropout
        >>> emb = EmbeddingDropout(100, 8, p=0.2)
        >>> emb(torch.tensor([[1, 5, 7]])).shape
        torch.Size([1, 3, 8])
        >>> plain = torch.nn.Embedding(100, 8)
        >>> plain.load_state_dict(emb.state_dict())
        <All keys matched successfully>
    """

    @_keyword_only("generator")
    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        p: float = 0.1,
        *,
        generator: torch.Generator | None = None,
        **embedding_kwargs: Any,
    ) -> None:
        p = self._check_rate("p", p)
        super().__init__(num_embeddings, embedding_dim, **embedding_kwargs)
        self.p = p
        self.generator = generator

    @classmethod
    def from_embedding(cls, embedding: nn.Embedding, p: float = 0.1) -> EmbeddingDropout:
        """Wrap an existing ``nn.Embedding``, sharing (not copying) its weight."""
        if not isinstance(embedding, nn.Embedding):
            raise TypeError(f"{cls.__name__}.from_embedding: embedding must be an nn.Embedding, got {type(embedding).__name__}")
        out = cls(
            embedding.num_embeddings,
            embedding.embedding_dim,
            p,
            padding_idx=embedding.padding_idx,
            max_norm=embedding.max_norm,
            norm_type=embedding.norm_type,
            scale_grad_by_freq=embedding.scale_grad_by_freq,
            sparse=embedding.sparse,
            _weight=embedding.weight,
        )
        out.weight = embedding.weight
        return out

    def forward(self, input: Tensor) -> Tensor:
        return embedding_dropout(
            input, self.weight, self.p, training=self.training, padding_idx=self.padding_idx,
            max_norm=self.max_norm, norm_type=self.norm_type, scale_grad_by_freq=self.scale_grad_by_freq,
            sparse=self.sparse, generator=self.generator,
        )
