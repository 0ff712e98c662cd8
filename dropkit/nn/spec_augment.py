"""``SpecAugment``: the Module twin of :func:`dropkit.functional.spec_augment`.

Park et al. 2019, "SpecAugment: A Simple Data Augmentation Method for Automatic Speech Recognition",
https://arxiv.org/abs/1904.08779 (time and frequency masking; no time warping).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dropkit.functional.spec_augment import _check, spec_augment

__all__ = ["SpecAugment"]


class SpecAugment(nn.Module):
    """Time and frequency masking of ``(N, T, F)`` spectrograms in training; identity in eval mode.

    Every call draws new masks, per example: ``time_masks`` bands of up to ``time_width`` frames and
    ``freq_masks`` bands of up to ``freq_width`` channels are set to ``mask_value``.

    Args:
        time_masks: time masks per example (default: 2).
        time_width: largest time-mask width in frames (default: 10).
        freq_masks: frequency masks per example (default: 2).
        freq_width: largest frequency-mask width in channels (default: 8).
        max_time_ratio: a time mask covers at most this fraction of the frames (default: 1.0).
        mask_value: what masked entries become (default: 0.0).
        generator: random generator for the masks (default: None, the global one).

    Shape:
        - Input: :math:`(N, T, F)`; Output: the same.

    Example:
        >>> import torch
        >>> from dropkit.nn import SpecAugment
        >>> aug = SpecAugment(time_masks=1, time_width=5, freq_masks=1, freq_width=4)
        >>> x = torch.randn(3, 40, 20)
        >>> aug(x).shape, torch.equal(aug.eval()(x), x)
        (torch.Size([3, 40, 20]), True)
    """

    def __init__(
        self,
        time_masks: int = 2,
        time_width: int = 10,
        freq_masks: int = 2,
        freq_width: int = 8,
        *,
        max_time_ratio: float = 1.0,
        mask_value: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        _check(type(self).__name__, time_masks, time_width, freq_masks, freq_width, max_time_ratio)
        self.time_masks, self.time_width = time_masks, time_width
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.max_time_ratio = float(max_time_ratio)
        self.mask_value = float(mask_value)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return spec_augment(x, self.time_masks, self.time_width, self.freq_masks, self.freq_width,
                            max_time_ratio=self.max_time_ratio, mask_value=self.mask_value,
                            training=self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return (f"time_masks={self.time_masks}, time_width={self.time_width}, freq_masks={self.freq_masks}, "
                f"freq_width={self.freq_width}, max_time_ratio={self.max_time_ratio:g}")
