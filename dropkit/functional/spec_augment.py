"""SpecAugment's time and frequency masking: whole bands of a spectrogram set to a constant in training.

Park, Chan, Zhang, Chiu, Zoph, Cubuk, Le, "SpecAugment: A Simple Data Augmentation Method for
Automatic Speech Recognition", Interspeech 2019, https://arxiv.org/abs/1904.08779.

For every example, ``freq_masks`` times: a width ``f`` is drawn uniformly from ``[0, freq_width]`` and
a start ``f0`` from ``[0, F - f]``, and channels ``f0 .. f0 + f - 1`` are set to ``mask_value`` at every
time step; likewise ``time_masks`` times for ``t`` in ``[0, min(time_width, floor(max_time_ratio * T))]``
consecutive frames over every channel (the paper's ``T`` and its upper bound ``p``). Each example gets
its own masks, and a new draw happens at every call. Time warping, the paper's third part, is not
included. Unlike dropout nothing is rescaled: it is an augmentation, and with features normalised to
zero mean the default ``mask_value`` 0 is the paper's mean value. Eval mode returns the input unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dropkit._validation import check_floating, check_positive_int

__all__ = ["spec_augment", "spec_augment_mask"]


def _check(where: str, time_masks: int, time_width: int, freq_masks: int, freq_width: int, max_time_ratio: float) -> None:
    for name, value in (("time_masks", time_masks), ("time_width", time_width), ("freq_masks", freq_masks),
                        ("freq_width", freq_width)):
        check_positive_int(where, name, value, minimum=0)
    if isinstance(max_time_ratio, bool) or not isinstance(max_time_ratio, (int, float)) or not 0 <= max_time_ratio <= 1:
        raise ValueError(f"{where}: max_time_ratio must be in [0, 1], got {max_time_ratio!r}")


def _bands(n: int, length: int, count: int, width: int, *, device: torch.device,
           generator: torch.Generator | None) -> Tensor:
    """``(n, length)`` bool: True inside any of ``count`` bands of width ``U[0, width]`` per row."""
    masked = torch.zeros(n, length, dtype=torch.bool, device=device)
    width = min(width, length)
    if count == 0 or width == 0 or length == 0:
        return masked
    pos = torch.arange(length, device=device)
    for _ in range(count):
        w = torch.randint(0, width + 1, (n,), generator=generator, device="cpu").to(device)
        start = (torch.rand(n, generator=generator, device="cpu").to(device) * (length - w + 1)).floor().long()
        masked |= (pos >= start[:, None]) & (pos < (start + w)[:, None])
    return masked


def spec_augment_mask(
    shape: tuple[int, ...],
    time_masks: int = 2,
    time_width: int = 10,
    freq_masks: int = 2,
    freq_width: int = 8,
    *,
    max_time_ratio: float = 1.0,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The bool mask :func:`spec_augment` applies to an input of ``shape`` ``(N, T, F)``: True = masked.

    Args: as :func:`spec_augment`; ``device`` is the mask's device (default: None, the CPU).

    Example:
        >>> m = spec_augment_mask((4, 50, 40), time_masks=1, time_width=5, freq_masks=0, generator=torch.Generator().manual_seed(0))
        >>> m.shape, bool((m.all(dim=2) == m.any(dim=2)).all())  # time masks cover every channel
        (torch.Size([4, 50, 40]), True)
    """
    where = "spec_augment"
    _check(where, time_masks, time_width, freq_masks, freq_width, max_time_ratio)
    if len(shape) != 3:
        raise ValueError(f"{where}: expected a 3D input (N, T, F), got shape {tuple(shape)}")
    n, t, f = (int(s) for s in shape)
    device = torch.device("cpu") if device is None else torch.device(device)
    width_t = min(time_width, int(max_time_ratio * t))
    time = _bands(n, t, time_masks, width_t, device=device, generator=generator)
    freq = _bands(n, f, freq_masks, freq_width, device=device, generator=generator)
    return time[:, :, None] | freq[:, None, :]


def spec_augment(
    x: Tensor,
    time_masks: int = 2,
    time_width: int = 10,
    freq_masks: int = 2,
    freq_width: int = 8,
    *,
    max_time_ratio: float = 1.0,
    mask_value: float = 0.0,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Set random whole time bands and frequency bands of each spectrogram to ``mask_value``.

    Args:
        x: features, ``(N, T, F)``: batch, frames, frequency channels (e.g. mel bands).
        time_masks: time masks per example (paper: ``m_T``) (default: 2).
        time_width: largest time-mask width in frames (paper: ``T``) (default: 10).
        freq_masks: frequency masks per example (paper: ``m_F``) (default: 2).
        freq_width: largest frequency-mask width in channels (paper: ``F``) (default: 8).
        max_time_ratio: a time mask covers at most this fraction of the frames (paper: ``p``) (default: 1.0).
        mask_value: what masked entries become (default: 0.0).
        training: apply the masks; ``False`` returns ``x`` itself (default: True).
        generator: random generator for the widths and starts (default: None, the global one).

    Shape:
        - Input: :math:`(N, T, F)`; Output: the same.

    Example:
        >>> x = torch.ones(2, 30, 16)
        >>> y = spec_augment(x, time_masks=1, time_width=5, freq_masks=1, freq_width=4, generator=torch.Generator().manual_seed(0))
        >>> y.shape, bool(((y == 0) | (y == 1)).all()), spec_augment(x, training=False) is x
        (torch.Size([2, 30, 16]), True, True)
    """
    where = "spec_augment"
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: x must be a Tensor, got {type(x).__name__}")
    _check(where, time_masks, time_width, freq_masks, freq_width, max_time_ratio)
    if x.dim() != 3:
        raise ValueError(f"{where}: expected a 3D input (N, T, F), got shape {tuple(x.shape)}")
    check_floating(where, x)
    if not training or (time_masks == 0 and freq_masks == 0):
        return x
    mask = spec_augment_mask(tuple(x.shape), time_masks, time_width, freq_masks, freq_width,
                             max_time_ratio=max_time_ratio, device=x.device, generator=generator)
    return x.masked_fill(mask, mask_value)
