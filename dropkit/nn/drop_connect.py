"""DropConnect layers: ``nn.Linear`` / ``nn.Conv1d/2d/3d`` subclasses that drop weights in training.

Wan et al., "Regularization of Neural Networks using DropConnect", ICML 2013,
https://proceedings.mlr.press/v28/wan13.html.

They subclass the torch layers, so parameters, ``state_dict`` keys and ``padding_mode`` are those of
``nn.Linear`` / ``nn.ConvNd``: a trained ``nn.Linear`` state dict loads into ``DropConnectLinear``
and back. One weight mask per forward, shared across the batch; the bias is never dropped; in
evaluation the weights are used as they are (the "mean" rule, the expectation of the inverted-scaled
dropped weights). See :mod:`dropkit.functional.drop_connect`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dropkit.functional.drop_connect import drop_connect_linear, drop_connect_weight
from dropkit.nn._base import DropoutModule

__all__ = ["DropConnectLinear", "DropConnectConv1d", "DropConnectConv2d", "DropConnectConv3d"]


class DropConnectLinear(DropoutModule, nn.Linear):
    """``nn.Linear`` whose weights are dropped with probability ``p`` (the probability of **dropping**).

    Args:
        in_features, out_features, bias, device, dtype: as ``nn.Linear``.
        p: weight drop probability in ``[0, 1]`` (default: 0.5).
        generator: optional random generator for every mask (default: None, the global one).

    Shape:
        - Input: ``(*, in_features)``; Output: ``(*, out_features)``.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropConnectLinear
        >>> layer = DropConnectLinear(4, 3, p=0.3)
        >>> layer
        DropConnectLinear(in_features=4, out_features=3, bias=True, p=0.3)
        >>> layer.load_state_dict(torch.nn.Linear(4, 3).state_dict())
        <All keys matched successfully>
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        p: float = 0.5,
        *,
        generator: torch.Generator | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.p = self._check_rate("p", p)
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return drop_connect_linear(x, self.weight, self.bias, self.p, training=self.training, generator=self.generator)


class _DropConnectConvMixin(DropoutModule):
    """Shared ``forward``: the parent's ``_conv_forward`` (padding modes included) on dropped weights."""

    p: float
    generator: torch.Generator | None
    weight: Tensor
    bias: Tensor | None
    training: bool

    def forward(self, x: Tensor) -> Tensor:
        w = drop_connect_weight(self.weight, self.p, training=self.training, generator=self.generator)
        return self._conv_forward(x, w, self.bias)  # type: ignore[attr-defined]


def _init_conv(self: nn.Module, base: type, p: float, generator: torch.Generator | None, args: tuple, kwargs: dict) -> None:
    p = self._check_rate("p", p)
    base.__init__(self, *args, **kwargs)
    self.p = p
    self.generator = generator


class DropConnectConv1d(_DropConnectConvMixin, nn.Conv1d):
    """``nn.Conv1d`` whose kernel weights are dropped with probability ``p`` (the probability of **dropping**).

    Args:
        *args, **kwargs: as ``nn.Conv1d`` (in_channels, out_channels, kernel_size, stride, padding,
            dilation, groups, bias, padding_mode, device, dtype).
        p: weight drop probability in ``[0, 1]`` (default: 0.5); keyword only.
        generator: optional random generator for every mask (default: None); keyword only.

    Shape:
        - Input: ``(N, C_in, L)``; Output: ``(N, C_out, L_out)``.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropConnectConv1d
        >>> DropConnectConv1d(2, 3, 3, padding=1, p=0.2)(torch.ones(1, 2, 5)).shape
        torch.Size([1, 3, 5])
    """

    def __init__(self, *args: Any, p: float = 0.5, generator: torch.Generator | None = None, **kwargs: Any) -> None:
        _init_conv(self, nn.Conv1d, p, generator, args, kwargs)


class DropConnectConv2d(_DropConnectConvMixin, nn.Conv2d):
    """``nn.Conv2d`` whose kernel weights are dropped with probability ``p`` (the probability of **dropping**).

    Args:
        *args, **kwargs: as ``nn.Conv2d`` (in_channels, out_channels, kernel_size, stride, padding,
            dilation, groups, bias, padding_mode, device, dtype).
        p: weight drop probability in ``[0, 1]`` (default: 0.5); keyword only.
        generator: optional random generator for every mask (default: None); keyword only.

    Shape:
        - Input: ``(N, C_in, H, W)``; Output: ``(N, C_out, H_out, W_out)``.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropConnectConv2d
        >>> layer = DropConnectConv2d(2, 3, 3, padding=1, p=0.2)
        >>> layer
        DropConnectConv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), p=0.2)
        >>> layer(torch.ones(1, 2, 5, 5)).shape
        torch.Size([1, 3, 5, 5])
    """

    def __init__(self, *args: Any, p: float = 0.5, generator: torch.Generator | None = None, **kwargs: Any) -> None:
        _init_conv(self, nn.Conv2d, p, generator, args, kwargs)


class DropConnectConv3d(_DropConnectConvMixin, nn.Conv3d):
    """``nn.Conv3d`` whose kernel weights are dropped with probability ``p`` (the probability of **dropping**).

    Args:
        *args, **kwargs: as ``nn.Conv3d``.
        p: weight drop probability in ``[0, 1]`` (default: 0.5); keyword only.
        generator: optional random generator for every mask (default: None); keyword only.

    Shape:
        - Input: ``(N, C_in, D, H, W)``; Output: ``(N, C_out, D_out, H_out, W_out)``.

    Example:
        >>> import torch
        >>> from dropkit.nn import DropConnectConv3d
        >>> DropConnectConv3d(1, 2, 2, p=0.2)(torch.ones(1, 1, 3, 3, 3)).shape
        torch.Size([1, 2, 2, 2, 2])
    """

    def __init__(self, *args: Any, p: float = 0.5, generator: torch.Generator | None = None, **kwargs: Any) -> None:
        _init_conv(self, nn.Conv3d, p, generator, args, kwargs)
