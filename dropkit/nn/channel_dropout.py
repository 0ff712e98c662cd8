"""``ChannelDropout`` and ``Dropout1d/2d/3d``: Module twins of :mod:`dropkit.functional.channel_dropout`.

Tompson et al., "Efficient Object Localization Using Convolutional Networks", CVPR 2015,
https://arxiv.org/abs/1411.4280.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dropkit._validation import check_bool, check_positive_int
from dropkit.functional.channel_dropout import _channel_dropout
from dropkit.nn._base import DropoutModule

__all__ = ["ChannelDropout", "Dropout1d", "Dropout2d", "Dropout3d"]


class ChannelDropout(DropoutModule):
    """Zero whole (sample, channel) feature maps; ``p`` is the probability of **dropping** a channel.

    Args:
        p: drop probability in ``[0, 1]`` (default: 0.5).
        spatial_dims: how many spatial dims follow the channel dim (default: 2).
        channels_last: the channel dim is last in the logical shape, e.g. ``(N, H, W, C)``
            (default: False; ``torch.channels_last`` memory format needs no flag).
        generator: optional random generator for every mask (default: None, the global one).
        inplace: write the result into the input and return it (default: False).

    Shape:
        - Input: ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import ChannelDropout
        >>> ChannelDropout(0.2, spatial_dims=1)
        ChannelDropout(p=0.2, spatial_dims=1)
        >>> ChannelDropout(0.2, spatial_dims=1)(torch.ones(2, 3, 5)).shape
        torch.Size([2, 3, 5])
    """

    def __init__(
        self,
        p: float = 0.5,
        spatial_dims: int = 2,
        *,
        channels_last: bool = False,
        generator: torch.Generator | None = None,
        inplace: bool = False,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        self.p = self._check_rate("p", p)
        self.spatial_dims = check_positive_int(where, "spatial_dims", spatial_dims)
        self.channels_last = check_bool(where, "channels_last", channels_last)
        self.generator = generator
        self.inplace = check_bool(where, "inplace", inplace)

    _torch_ranks = False  # Dropout1d/2d/3d take the ranks torch's twins take

    def forward(self, x: Tensor) -> Tensor:
        return _channel_dropout(
            type(self).__name__, x, self.p, self.spatial_dims, self.channels_last, self.training, self.generator,
            self.inplace, torch_ranks=self._torch_ranks,
        )

    def _repr_options(self) -> list[str]:
        return [f"spatial_dims={self.spatial_dims}", "inplace=True" if self.inplace else "",
                "channels_last=True" if self.channels_last else ""]


class _FixedChannelDropout(ChannelDropout):
    """``torch.nn.Dropout1d/2d/3d``'s arguments ``(p, inplace)`` in its order; dropkit's are keyword-only."""

    _spatial_dims = 0
    _torch_ranks = True

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        channels_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p, self._spatial_dims, channels_last=channels_last, generator=generator, inplace=inplace)

    def _repr_options(self) -> list[str]:
        return ["inplace=True" if self.inplace else "", "channels_last=True" if self.channels_last else ""]


class Dropout1d(_FixedChannelDropout):
    """Channel dropout for ``(N, C, L)`` / ``(C, L)``; ``p`` is the probability of **dropping** a channel.

    Args:
        p: drop probability in ``[0, 1]`` (default: 0.5).
        inplace: write the result into the input and return it, as torch's ``inplace=True`` (default: False).
        channels_last: input is ``(N, L, C)`` / ``(L, C)`` (default: False).
        generator: optional random generator for every mask (default: None).

    Shape:
        - Input: ``(N, C, L)`` or ``(C, L)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import Dropout1d
        >>> Dropout1d(0.3)(torch.ones(4, 2, 6)).shape
        torch.Size([4, 2, 6])
    """

    _spatial_dims = 1


class Dropout2d(_FixedChannelDropout):
    """Channel dropout for ``(N, C, H, W)``; ``p`` is the probability of **dropping** a channel.

    Every input rank runs as in ``torch.nn.Dropout2d``: a 3-D input is read as ``(N, C, L)`` with torch's
    warning (``ChannelDropout(p, 2)`` reads it as unbatched ``(C, H, W)``), other ranks than 3 and 4 with
    its deprecation warning (see :mod:`dropkit.functional._torch_ranks`).

    Args:
        p: drop probability in ``[0, 1]`` (default: 0.5).
        inplace: write the result into the input and return it, as torch's ``inplace=True`` (default: False).
        channels_last: input is ``(N, H, W, C)`` / ``(H, W, C)`` (default: False; the
            ``torch.channels_last`` memory format needs no flag).
        generator: optional random generator for every mask (default: None).

    Shape:
        - Input: ``(N, C, H, W)`` (or ``(N, C, L)``, see above); Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import Dropout2d
        >>> Dropout2d(0.3, channels_last=True)
        Dropout2d(p=0.3, channels_last=True)
    """

    _spatial_dims = 2


class Dropout3d(_FixedChannelDropout):
    """Channel dropout for ``(N, C, D, H, W)`` / ``(C, D, H, W)``; ``p`` is the probability of **dropping** a channel.

    Args:
        p: drop probability in ``[0, 1]`` (default: 0.5).
        inplace: write the result into the input and return it, as torch's ``inplace=True`` (default: False).
        channels_last: input is ``(N, D, H, W, C)`` / ``(D, H, W, C)`` (default: False).
        generator: optional random generator for every mask (default: None).

    Shape:
        - Input: ``(N, C, D, H, W)`` or ``(C, D, H, W)``; Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.nn import Dropout3d
        >>> Dropout3d(0.3).eval()(torch.ones(1, 1, 2, 2, 2)).sum().item()
        8.0
    """

    _spatial_dims = 3
