"""``DropBlock1d``, ``DropBlock2d`` and ``DropBlock3d``: Module twins of :mod:`dropkit.functional.drop_block`.

Ghiasi, Lin, Le, "DropBlock: A regularization method for convolutional networks", NeurIPS 2018,
https://arxiv.org/abs/1810.12890.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dropkit._validation import check_positive_int, check_probability
from dropkit.functional.drop_block import drop_block1d, drop_block2d, drop_block3d

__all__ = ["DropBlock1d", "DropBlock2d", "DropBlock3d"]


class _DropBlock(nn.Module):
    def __init__(
        self,
        p: float = 0.1,
        block_size: int = 7,
        share_channels: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        self.p = check_probability(where, "p", p)
        self.block_size = check_positive_int(where, "block_size", block_size)
        self.share_channels = bool(share_channels)
        self.generator = generator

    def extra_repr(self) -> str:
        shared = ", share_channels=True" if self.share_channels else ""
        return f"p={self.p:g}, block_size={self.block_size}{shared}"


class DropBlock1d(_DropBlock):
    """DropBlock on ``(N, C, L)``; ``p`` is the target probability of **dropping** a unit.

    Args:
        p: target drop probability in ``[0, 1]`` (default: 0.1).
        block_size: length of the dropped segments (default: 7); checked against the input at call time.
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

    def forward(self, x: Tensor) -> Tensor:
        return drop_block1d(x, self.p, self.block_size, share_channels=self.share_channels, training=self.training, generator=self.generator)


class DropBlock2d(_DropBlock):
    """DropBlock on ``(N, C, H, W)``; ``p`` is the target probability of **dropping** a unit.

    Set ``p`` every step from :func:`~dropkit.functional.drop_block_schedule` for the paper's
    linear ramp.

    Args:
        p: target drop probability in ``[0, 1]`` (default: 0.1).
        block_size: side of the dropped squares (default: 7); checked against the input at call time.
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

    def forward(self, x: Tensor) -> Tensor:
        return drop_block2d(x, self.p, self.block_size, share_channels=self.share_channels, training=self.training, generator=self.generator)


class DropBlock3d(_DropBlock):
    """DropBlock on ``(N, C, D, H, W)``; ``p`` is the target probability of **dropping** a unit.

    Args:
        p: target drop probability in ``[0, 1]`` (default: 0.1).
        block_size: side of the dropped cubes (default: 7); checked against the input at call time.
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

    def forward(self, x: Tensor) -> Tensor:
        return drop_block3d(x, self.p, self.block_size, share_channels=self.share_channels, training=self.training, generator=self.generator)
