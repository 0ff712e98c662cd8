"""``TokenDropout`` (alias ``PatchDropout``): the Module twin of :func:`dropkit.functional.token_dropout`.

Li et al. 2023 (FLIP), https://arxiv.org/abs/2212.00794; Liu et al. 2023 (PatchDropout),
https://arxiv.org/abs/2208.07220. Semantics of timm's ``PatchDropout``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dropkit._validation import check_positive_int
from dropkit.functional.token_dropout import token_dropout
from dropkit.nn._base import DropoutModule, _keyword_only

__all__ = ["TokenDropout", "PatchDropout"]


class TokenDropout(DropoutModule):
    """Keep a random ``1 - p`` fraction of the tokens of each sample, always keeping the prefix tokens.

    ``p`` is the fraction of (non-prefix) tokens to **drop**; kept tokens are not rescaled.

    Args:
        p: drop fraction in ``[0, 1)`` (default: 0.5).
        num_prefix_tokens: leading tokens never dropped, e.g. 1 for CLS (default: 0).
        ordered: keep the kept tokens in their original order (default: False).
        return_indices: ``forward`` returns ``(tokens, indices)`` (default: False).
        generator: optional random generator (default: None, the global one).

    Shape:
        - Input: ``(N, L, D)``; Output: ``(N, P + max(1, floor((L - P)(1 - p))), D)`` in training,
          ``(N, L, D)`` in evaluation (``P = num_prefix_tokens``).

    Example:
        >>> import torch
        >>> from dropkit.nn import TokenDropout
        >>> layer = TokenDropout(0.75, num_prefix_tokens=1)
        >>> layer(torch.randn(2, 17, 8)).shape                # CLS + 4 of 16 patches
        torch.Size([2, 5, 8])
        >>> layer.eval()(torch.randn(2, 17, 8)).shape
        torch.Size([2, 17, 8])
    """

    rates_below_one = ("p",)  # at least one token is kept

    @_keyword_only("generator")
    def __init__(
        self,
        p: float = 0.5,
        num_prefix_tokens: int = 0,
        ordered: bool = False,
        return_indices: bool = False,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        self.p = self._check_rate("p", p)
        self.num_prefix_tokens = check_positive_int(where, "num_prefix_tokens", num_prefix_tokens, minimum=0)
        self.ordered = bool(ordered)
        self.return_indices = bool(return_indices)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return token_dropout(
            x, self.p, num_prefix_tokens=self.num_prefix_tokens, ordered=self.ordered,
            return_indices=self.return_indices, training=self.training, generator=self.generator,
        )

    def _repr_options(self) -> list[str]:
        return [f"num_prefix_tokens={self.num_prefix_tokens}", f"ordered={self.ordered}"]


class PatchDropout(TokenDropout):
    """timm's name for :class:`TokenDropout` (the same layer; it prints under the name it was built with).

    Example:
        >>> from dropkit.nn import PatchDropout
        >>> PatchDropout(0.5, num_prefix_tokens=1)
        PatchDropout(p=0.5, num_prefix_tokens=1, ordered=False)
    """
