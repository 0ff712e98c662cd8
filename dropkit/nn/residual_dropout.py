"""``ResidualDropout``: the Module twin of :func:`dropkit.functional.residual_dropout`.

Vaswani et al. 2017, "Attention Is All You Need", Section 5.4, https://arxiv.org/abs/1706.03762.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dropkit.functional.residual_dropout import residual_dropout
from dropkit.nn._base import DropoutModule, _keyword_only

__all__ = ["ResidualDropout"]


class ResidualDropout(DropoutModule):
    """``x + dropout(branch_out, p)``; ``p`` is the probability of **dropping** a branch element.

    Args:
        p: drop probability in ``[0, 1]`` (default: 0.1).
        generator: optional random generator used for every mask (default: None, the global one).

    Shape:
        - x: ``(*)``; branch_out: ``(*)``, the same shape; Output: ``(*)``.

    Example:
        >>> import torch
        >>> from dropkit.nn import ResidualDropout
        >>> add = ResidualDropout(0.1).eval()
        >>> add(torch.ones(2), torch.ones(2)).tolist()
        [2.0, 2.0]
    """

    @_keyword_only("generator")
    def __init__(self, p: float = 0.1, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = self._check_rate("p", p)
        self.generator = generator

    def forward(self, x: Tensor, branch_out: Tensor) -> Tensor:
        return residual_dropout(x, branch_out, self.p, training=self.training, generator=self.generator)
