"""``DropPath`` and ``DropPathResidual``: Module twins of :mod:`dropkit.functional.drop_path`.

Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016, https://arxiv.org/abs/1603.09382.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dropkit._validation import check_choice
from dropkit.functional.drop_path import drop_path, drop_path_residual
from dropkit.nn._base import DropoutModule, _keyword_only

__all__ = ["DropPath", "DropPathResidual"]


class DropPath(DropoutModule):
    """Stochastic depth on a residual branch; ``p`` is the probability of **dropping** it.

    Use as ``x + drop_path(branch(x))``.

    Args:
        p: drop probability in ``[0, 1]`` (default: 0.0, as timm's ``DropPath``: set the rate you want).
        mode: ``"row"`` (per sample) or ``"batch"`` (one decision for the batch) (default: ``"row"``).
        scale_by_keep: scale kept samples by ``1 / (1 - p)`` (default: True).
        generator: optional random generator for every draw (default: None, the global one).

    Shape:
        - Input: ``(N, *)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropPath
        >>> DropPath(0.2)
        DropPath(p=0.2, mode='row')
        >>> DropPath(0.2).eval()(torch.ones(2, 3)).sum().item()
        6.0
    """

    @_keyword_only("generator")
    def __init__(
        self,
        p: float = 0.0,
        mode: str = "row",
        scale_by_keep: bool = True,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        self.p = self._check_rate("p", p)
        self.mode = check_choice(where, "mode", mode, ("row", "batch"))
        self.scale_by_keep = bool(scale_by_keep)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return drop_path(x, self.p, mode=self.mode, scale_by_keep=self.scale_by_keep, training=self.training, generator=self.generator)

    def _repr_options(self) -> list[str]:
        return [f"mode={self.mode!r}", "" if self.scale_by_keep else "scale_by_keep=False"]


class DropPathResidual(DropoutModule):
    """``x + branch(x)`` with stochastic depth, running ``branch`` only on the kept samples.

    ``p`` is the probability of **dropping** a sample's branch. See
    :func:`~dropkit.functional.drop_path_residual` (DINOv2's compute-skipping form).

    Args:
        branch: the residual branch; registered as a submodule.
        p: drop probability in ``[0, 1]`` (default: 0.1).
        sampling: ``"fixed"`` (exactly ``max(floor(N (1 - p)), 1)`` samples, DINOv2) or
            ``"bernoulli"`` (independent per sample) (default: ``"fixed"``).
        generator: optional random generator for every draw (default: None, the global one).

    Shape:
        - Input: ``(N, *)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropPathResidual
        >>> block = DropPathResidual(torch.nn.Linear(4, 4), 0.5)
        >>> block(torch.randn(8, 4)).shape
        torch.Size([8, 4])
    """

    @_keyword_only("generator")
    def __init__(
        self,
        branch: nn.Module,
        p: float = 0.1,
        sampling: str = "fixed",
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        if not isinstance(branch, nn.Module):
            raise TypeError(f"{where}: branch must be an nn.Module, got {type(branch).__name__}")
        self.branch = branch
        self.p = self._check_rate("p", p)
        self.sampling = check_choice(where, "sampling", sampling, ("fixed", "bernoulli"))
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return drop_path_residual(x, self.branch, self.p, sampling=self.sampling, training=self.training, generator=self.generator)

    def _repr_options(self) -> list[str]:
        return [f"sampling={self.sampling!r}"]
