"""``DropBlock1d``, ``DropBlock2d`` and ``DropBlock3d``: Module twins of :mod:`dropkit.functional.drop_block`.

Ghiasi, Lin, Le, "DropBlock: A regularization method for convolutional networks", NeurIPS 2018,
https://arxiv.org/abs/1810.12890.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dropkit._validation import check_bool, check_positive_int
from dropkit.functional.drop_block import _drop_block
from dropkit.nn._base import DropoutModule

__all__ = ["DropBlock1d", "DropBlock2d", "DropBlock3d"]


class _DropBlock(DropoutModule):
    """``(p, block_size, inplace)`` in torchvision's ``DropBlock2d`` order; dropkit's arguments are keyword-only."""

    _spatial_dims = 0

    def __init__(
        self,
        p: float = 0.1,
        block_size: int = 7,
        inplace: bool = False,
        *,
        share_channels: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        self.p = self._check_rate("p", p)
        self.block_size = check_positive_int(where, "block_size", block_size)
        self.inplace = check_bool(where, "inplace", inplace)
        self.share_channels = bool(share_channels)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return _drop_block(
            type(self).__name__, x, self.p, self.block_size, self._spatial_dims, self.share_channels, self.training,
            self.generator, self.inplace,
        )

    def _repr_options(self) -> list[str]:
        return [f"block_size={self.block_size}", "inplace=True" if self.inplace else "",
                "share_channels=True" if self.share_channels else ""]


class DropBlock1d(_DropBlock):
    """DropBlock on ``(N, C, L)``; ``p`` is the target probability of **dropping** a unit.

    Args:
        p: target drop probability in ``[0, 1]`` (default: 0.1).
        block_size: length of the dropped segments (default: 7); checked against the input at call time.
        inplace: multiply the input in place and return it, as torchvision's ``inplace=True`` (default: False).
        share_channels: one mask per sample for all channels (default: False).
        generator: optional random generator for every mask (default: None, the global one).

    Shape:
        - Input: ``(N, C, L)`` or ``(C, L)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropBlock1d
        >>> DropBlock1d(0.1, 5)(torch.ones(2, 4, 40)).shape
        torch.Size([2, 4, 40])
    """

    _spatial_dims = 1


class DropBlock2d(_DropBlock):
    """DropBlock on ``(N, C, H, W)``; ``p`` is the target probability of **dropping** a unit.

    Set ``p`` every step from :func:`~dropkit.functional.drop_block_schedule` for the paper's
    linear ramp.

    Args:
        p: target drop probability in ``[0, 1]`` (default: 0.1).
        block_size: side of the dropped squares (default: 7); checked against the input at call time.
        inplace: multiply the input in place and return it, as torchvision's ``inplace=True`` (default: False).
        share_channels: one mask per sample for all channels (default: False).
        generator: optional random generator for every mask (default: None, the global one).

    Shape:
        - Input: ``(N, C, H, W)`` or ``(C, H, W)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropBlock2d
        >>> DropBlock2d(0.1, 3)
        DropBlock2d(p=0.1, block_size=3)
        >>> DropBlock2d(0.1, 3)(torch.ones(2, 4, 8, 8)).shape
        torch.Size([2, 4, 8, 8])
    """

    _spatial_dims = 2


class DropBlock3d(_DropBlock):
    """DropBlock on ``(N, C, D, H, W)``; ``p`` is the target probability of **dropping** a unit.

    Args:
        p: target drop probability in ``[0, 1]`` (default: 0.1).
        block_size: side of the dropped cubes (default: 7); checked against the input at call time.
        inplace: multiply the input in place and return it, as torchvision's ``inplace=True`` (default: False).
        share_channels: one mask per sample for all channels (default: False).
        generator: optional random generator for every mask (default: None, the global one).

    Shape:
        - Input: ``(N, C, D, H, W)`` or ``(C, D, H, W)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropBlock3d
        >>> DropBlock3d(0.1, 2)(torch.ones(1, 2, 4, 4, 4)).shape
        torch.Size([1, 2, 4, 4, 4])
    """

    _spatial_dims = 3
