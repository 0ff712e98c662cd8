"""``AlphaDropout`` and ``FeatureAlphaDropout``: Module twins of :mod:`dropkit.functional.alpha_dropout`.

Klambauer et al., "Self-Normalizing Neural Networks", NeurIPS 2017, https://arxiv.org/abs/1706.02515.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from dropkit._validation import check_bool, check_dims_type
from dropkit.functional.alpha_dropout import _checked_alpha_dropout
from dropkit.nn._base import DropoutModule

__all__ = ["AlphaDropout", "FeatureAlphaDropout"]


class AlphaDropout(DropoutModule):
    """Alpha dropout for SELU networks; ``p`` is the probability of **dropping** a unit.

    Args:
        p: drop probability in ``[0, 1]`` (default: 0.5).
        inplace: write the result into the input and return it, as torch's ``inplace=True``
            (default: False).
        broadcast_dims: dims that share one mask value (default: ``()``).
        generator: optional random generator for every mask (default: None, the global one).

    Shape:
        - Input: ``(*)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import AlphaDropout
        >>> AlphaDropout(0.1)
        AlphaDropout(p=0.1)
        >>> AlphaDropout(0.1).eval()(torch.ones(2)).tolist()
        [1.0, 1.0]
    """

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        broadcast_dims: int | Sequence[int] = (),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.p = self._check_rate("p", p)
        self.inplace = check_bool(type(self).__name__, "inplace", inplace)
        self.broadcast_dims = check_dims_type(type(self).__name__, "broadcast_dims", broadcast_dims)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return _checked_alpha_dropout(type(self).__name__, x, self.p, self.training, self.inplace,
                                      self.broadcast_dims, self.generator)

    def _repr_options(self) -> list[str]:
        return ["inplace=True" if self.inplace else "", f"broadcast_dims={self.broadcast_dims}" if self.broadcast_dims else ""]


class FeatureAlphaDropout(DropoutModule):
    """Alpha dropout of whole channels of ``(N, C, *)``; ``p`` is the probability of **dropping** one.

    Args:
        p: drop probability in ``[0, 1]`` (default: 0.5).
        inplace: write the result into the input and return it (default: False).
        generator: optional random generator for every mask (default: None, the global one).

    Shape:
        - Input: ``(N, C, *)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import FeatureAlphaDropout
        >>> FeatureAlphaDropout(0.2)(torch.zeros(2, 3, 4)).shape
        torch.Size([2, 3, 4])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = self._check_rate("p", p)
        self.inplace = check_bool(type(self).__name__, "inplace", inplace)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return _checked_alpha_dropout(type(self).__name__, x, self.p, self.training, self.inplace, None,
                                      self.generator)

    def _repr_options(self) -> list[str]:
        return ["inplace=True" if self.inplace else ""]
