"""``RDropLoss``: the Module twin of :func:`dropkit.functional.r_drop_loss`.

Liang et al. 2021, "R-Drop: Regularized Dropout for Neural Networks",
https://arxiv.org/abs/2106.14448.
"""

from __future__ import annotations

from torch import Tensor, nn

from dropkit._validation import check_non_negative
from dropkit.functional.r_drop import r_drop_loss

__all__ = ["RDropLoss"]


class RDropLoss(nn.Module):
    """``(CE(z1, y) + CE(z2, y)) / 2 + alpha * symmetric KL(z1, z2)`` for two dropout passes.

    The dropout itself (with ``p`` the probability of **dropping**) lives in the model; this loss
    only compares the two passes.

    Args:
        alpha: weight of the symmetric KL term, ``>= 0`` (default: 1.0).
        ignore_index: target value ignored by both terms (default: -100).

    Shape:
        - logits1, logits2: ``(N, C, *)``; target: ``(N, *)``; Output: a 0-dim tensor.

    Example:
        >>> import torch
        >>> from dropkit.nn import RDropLoss
        >>> loss = RDropLoss(alpha=1.0)
        >>> z = torch.randn(4, 3)
        >>> loss(z, z + 1.0, torch.tensor([0, 1, 2, 0])).shape   # a constant shift: same softmax
        torch.Size([])
    """

    def __init__(self, alpha: float = 1.0, ignore_index: int = -100) -> None:
        super().__init__()
        self.alpha = check_non_negative(type(self).__name__, "alpha", alpha)
        self.ignore_index = int(ignore_index)

    def forward(self, logits1: Tensor, logits2: Tensor, target: Tensor) -> Tensor:
        return r_drop_loss(logits1, logits2, target, self.alpha, ignore_index=self.ignore_index)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}"
