"""A small CNN for images ``(C, H, W)`` and 1-D signals ``(L,)`` / ``(C, L)`` with structured dropout.

Layout per conv block: ``Conv -> BatchNorm? -> ReLU -> MaxPool(2) -> conv dropout`` where the conv
dropout is channel dropout (``Dropout1d`` / ``Dropout2d``; Tompson et al. 2015,
https://arxiv.org/abs/1411.4280) or DropBlock (``DropBlock1d`` / ``DropBlock2d``; Ghiasi et al. 2018,
https://arxiv.org/abs/1810.12890). Then ``Flatten -> [Linear -> ReLU] -> Dropout(p) -> Linear``
logits. Every rate is a probability of **dropping**. Pooling stops once a map is down to one
position, so the 8x8 digits work with any depth; the DropBlock size is capped at each block's map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from dropkit._validation import check_choice, check_positive_int, check_probability
from dropkit.models.registry import register_model
from dropkit.nn.channel_dropout import Dropout1d, Dropout2d
from dropkit.nn.drop_block import DropBlock1d, DropBlock2d
from dropkit.nn.dropout import Dropout

__all__ = ["CNN", "build_cnn"]


class CNN(nn.Module):
    """Conv blocks with channel dropout or DropBlock, then a dropout-regularised classifier.

    Args:
        input_shape: one sample's shape: ``(C, H, W)`` (Conv2d), ``(C, L)`` or ``(L,)`` (Conv1d;
            ``(L,)`` is read as one channel).
        num_classes: number of classes (logits).
        channels: output channels of each conv block (default: ``(32, 64)``).
        kernel_size: odd conv kernel size, 'same' padding (default: 3).
        batch_norm: BatchNorm after each conv (default: True).
        conv_dropout: ``"channel"`` or ``"block"`` (default: ``"channel"``).
        conv_p: probability of **dropping** in each conv dropout layer (default: 0.1).
        block_size: DropBlock size, capped at each block's map size (default: 3).
        fc_hidden: hidden units before the classifier, 0 for none (default: 128).
        p: probability of **dropping** before the classifier (default: 0.5).

    Shape:
        - Input: ``(N, *input_shape)``.
        - Output: ``(N, num_classes)`` logits.

    Example:
        >>> import torch
        >>> model = CNN((1, 28, 28), 10, conv_dropout="block", block_size=3)
        >>> model(torch.randn(2, 1, 28, 28)).shape
        torch.Size([2, 10])
        >>> CNN((40,), 10)(torch.randn(2, 40)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        *,
        channels: Sequence[int] = (32, 64),
        kernel_size: int = 3,
        batch_norm: bool = True,
        conv_dropout: str = "channel",
        conv_p: float = 0.1,
        block_size: int = 3,
        fc_hidden: int = 128,
        p: float = 0.5,
    ) -> None:
        super().__init__()
        where = "CNN"
        shape = tuple(int(s) for s in input_shape)
        if len(shape) not in (1, 2, 3):
            raise ValueError(f"{where}: input_shape must be (C, H, W), (C, L) or (L,), got {shape}")
        for s in shape:
            check_positive_int(where, "input_shape entry", s)
        check_positive_int(where, "num_classes", num_classes)
        if len(channels) == 0:
            raise ValueError(f"{where}: channels must hold at least one conv block, got {list(channels)}")
        for c in channels:
            check_positive_int(where, "channels entry", c)
        check_positive_int(where, "kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"{where}: kernel_size must be odd (for 'same' padding), got {kernel_size}")
        conv_dropout = check_choice(where, "conv_dropout", conv_dropout, ("channel", "block"))
        conv_p = check_probability(where, "conv_p", conv_p)
        check_positive_int(where, "block_size", block_size)
        check_positive_int(where, "fc_hidden", fc_hidden, minimum=0)
        p = check_probability(where, "p", p)

        self.input_shape = shape
        if len(shape) == 1:
            shape = (1,) + shape  # a 1-D signal is one channel
        spatial = list(shape[1:])
        two_d = len(spatial) == 2
        conv, bn, pool = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d) if two_d else (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d)
        layers: list[nn.Module] = []
        width = shape[0]
        for c in channels:
            layers.append(conv(width, c, kernel_size, padding=kernel_size // 2, bias=not batch_norm))
            if batch_norm:
                layers.append(bn(c))
            layers.append(nn.ReLU())
            if min(spatial) >= 2:
                layers.append(pool(2))
                spatial = [s // 2 for s in spatial]
            if conv_dropout == "channel":
                layers.append((Dropout2d if two_d else Dropout1d)(conv_p))
            else:
                layers.append((DropBlock2d if two_d else DropBlock1d)(conv_p, min(block_size, *spatial)))
            width = c
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten()]
        flat = width * math.prod(spatial)
        if fc_hidden > 0:
            head += [nn.Linear(flat, fc_hidden), nn.ReLU()]
            flat = fc_hidden
        head += [Dropout(p), nn.Linear(flat, num_classes)]
        self.classifier = nn.Sequential(*head)

    def forward(self, x: Tensor) -> Tensor:
        if len(self.input_shape) == 1:
            x = x.unsqueeze(1)
        return self.classifier(self.features(x))


@register_model("cnn")
def build_cnn(cfg: object, input_shape: tuple[int, ...], num_classes: int) -> CNN:
    """Build the CNN from a :class:`~dropkit.train.config.Config` (``p`` is the classifier dropout)."""
    return CNN(
        input_shape,
        num_classes,
        channels=cfg.channels,  # type: ignore[attr-defined]
        kernel_size=cfg.kernel_size,  # type: ignore[attr-defined]
        batch_norm=cfg.batch_norm,  # type: ignore[attr-defined]
        conv_dropout=cfg.conv_dropout,  # type: ignore[attr-defined]
        conv_p=cfg.conv_p,  # type: ignore[attr-defined]
        block_size=cfg.block_size,  # type: ignore[attr-defined]
        fc_hidden=cfg.fc_hidden,  # type: ignore[attr-defined]
        p=cfg.p,  # type: ignore[attr-defined]
    )
