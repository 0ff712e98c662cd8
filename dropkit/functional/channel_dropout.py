"""Channel (spatial) dropout: zero whole feature maps of 1-D, 2-D and 3-D inputs.

Tompson, Goroshin, Jain, LeCun, Bregler, "Efficient Object Localization Using Convolutional
Networks", CVPR 2015, https://arxiv.org/abs/1411.4280 (Section 3.2, "SpatialDropout").

Neighbouring activations of a feature map are strongly correlated, so element-wise dropout barely
removes information from it; dropping whole channels does. Each (sample, channel) pair is dropped
with probability ``p`` (the probability of **dropping**) and kept channels are scaled by
``1 / (1 - p)``. This is :func:`~dropkit.functional.dropout` with ``broadcast_dims`` set to the
spatial dims, so the mask is always per (sample, channel) whatever the layout: for tensors in
``torch.channels_last`` memory format the logical shape is still ``(N, C, H, W)``, and for tensors
whose *logical* layout is ``(N, H, W, C)`` pass ``channels_last=True``.

Unbatched inputs ``(C, *spatial)`` are accepted, as in PyTorch. :func:`dropout1d`, :func:`dropout2d` and
:func:`dropout3d` follow torch's rank rules exactly (:mod:`dropkit.functional._torch_ranks`): a 3-D
input to :func:`dropout2d` is read as ``(N, C, L)`` with torch's warning that this will change, other
ranks torch deprecates run with its deprecation :class:`UserWarning`, and a rank torch refuses raises
:class:`~dropkit.errors.DropkitInputError` (a ``ValueError`` and torch's ``RuntimeError``).
:func:`channel_dropout` takes exactly ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``, so
``channel_dropout(x, p, spatial_dims=2)`` reads a 3-D input as unbatched ``(C, H, W)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dropkit._validation import check_bool, check_floating, check_positive_int, check_probability
from dropkit.errors import DropkitInputError
from dropkit.functional._torch_ranks import channel_broadcast_dims
from dropkit.functional.dropout import dropout

__all__ = ["channel_dropout", "dropout1d", "dropout2d", "dropout3d"]

_SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _layout(spatial_dims: int, channels_last: bool, batched: bool) -> str:
    names = list(_SPATIAL_NAMES.get(spatial_dims, tuple(f"S{i}" for i in range(spatial_dims))))
    axes = names + ["C"] if channels_last else ["C"] + names
    return "(" + ", ".join((["N"] if batched else []) + axes) + ")"


def _channel_dropout(
    where: str,
    x: Tensor,
    p: float,
    spatial_dims: int,
    channels_last: bool,
    training: bool,
    generator: torch.Generator | None,
    inplace: bool = False,
    *,
    torch_ranks: bool = False,
) -> Tensor:
    """Checks and dispatch for every channel dropout; ``where`` names what the user called. With
    ``torch_ranks`` (``dropout1d/2d/3d`` and ``Dropout1d/2d/3d`` in torch's layout) the ranks torch
    accepts are accepted as torch does (:mod:`dropkit.functional._torch_ranks`)."""
    if not isinstance(x, Tensor):
        check_floating(where, x)
    p = check_probability(where, "p", p)
    spatial_dims = check_positive_int(where, "spatial_dims", spatial_dims)
    check_bool(where, "training", training)
    check_bool(where, "inplace", inplace)
    check_bool(where, "channels_last", channels_last)
    if torch_ranks and not channels_last and spatial_dims in (1, 2, 3):
        dims = channel_broadcast_dims(where, x, spatial_dims, p, training)
    elif x.dim() not in (spatial_dims + 1, spatial_dims + 2):
        raise DropkitInputError(
            f"{where}: expected {spatial_dims + 2}D input {_layout(spatial_dims, channels_last, True)} or "
            f"{spatial_dims + 1}D unbatched input {_layout(spatial_dims, channels_last, False)}, "
            f"got shape {tuple(x.shape)}"
        )
    else:
        first = x.dim() - spatial_dims - (1 if channels_last else 0)  # index of the first spatial dim
        dims = tuple(range(first, first + spatial_dims))
    if not training or p == 0.0:
        return x  # any dtype, as torch returns it
    check_floating(where, x)
    return dropout(x, p, True, inplace, broadcast_dims=dims, generator=generator)


def channel_dropout(
    x: Tensor,
    p: float = 0.5,
    *,
    spatial_dims: int,
    channels_last: bool = False,
    training: bool = True,
    generator: torch.Generator | None = None,
    inplace: bool = False,
) -> Tensor:
    """Zero whole channels with probability ``p`` and scale the kept ones by ``1 / (1 - p)``.

    Args:
        x: input ``(N, C, *spatial)`` or unbatched ``(C, *spatial)`` (``(N, *spatial, C)`` /
            ``(*spatial, C)`` when ``channels_last``), floating point.
        p: probability of **dropping** a channel, in ``[0, 1]`` (default: 0.5).
        spatial_dims: how many spatial dims follow the channel dim (1, 2, 3, ...); required.
        channels_last: the channel dim is the last dim of the *logical* shape (default: False). Not
            needed for ``torch.channels_last`` memory format, whose logical shape is ``(N, C, H, W)``.
        training: apply dropout when True; return ``x`` unchanged when False (default: True).
        generator: random generator for the mask; the global one when None (default: None).
        inplace: write the result into ``x`` and return ``x``, as torch does (default: False).

    Shape:
        - Input: ``(N, C, *spatial)`` or ``(C, *spatial)``; channel dim last when ``channels_last``.
        - Output: the same shape as the input.

    Example:
        >>> import torch
        >>> from dropkit.functional import channel_dropout
        >>> y = channel_dropout(torch.ones(2, 4, 3, 3), 0.5, spatial_dims=2, generator=torch.Generator().manual_seed(0))
        >>> bool(((y == 0).all((2, 3)) | (y == 2).all((2, 3))).all())   # whole channels: 0 or 2
        True
    """
    return _channel_dropout("channel_dropout", x, p, spatial_dims, channels_last, training, generator, inplace)


def dropout1d(
    x: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    channels_last: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Channel dropout for 1-D feature maps ``(N, C, L)`` / ``(C, L)``; ``p`` is the probability of **dropping**.

    Another rank raises :class:`~dropkit.errors.DropkitInputError`, in eval too, as torch raises its
    ``RuntimeError`` (both ``except ValueError`` and ``except RuntimeError`` catch it).

    Args:
        x: input ``(N, C, L)`` or ``(C, L)`` (``(N, L, C)`` / ``(L, C)`` when ``channels_last``).
        p: probability of **dropping** a channel, in ``[0, 1]`` (default: 0.5).
        training: apply dropout when True; return ``x`` unchanged when False (default: True).
        inplace: write the result into ``x`` and return ``x``, as torch does (default: False).
        channels_last: the channel dim is last in the logical shape (default: False).
        generator: random generator for the mask; the global one when None (default: None).

    Shape:
        - Input: ``(N, C, L)`` or ``(C, L)``. Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.functional import dropout1d
        >>> dropout1d(torch.ones(2, 3, 5), 0.5).shape
        torch.Size([2, 3, 5])
    """
    return _channel_dropout("dropout1d", x, p, 1, channels_last, training, generator, inplace, torch_ranks=True)


def dropout2d(
    x: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    channels_last: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Channel dropout for 2-D feature maps ``(N, C, H, W)``; ``p`` is the probability of **dropping**.

    As in torch, a 3-D input is read as ``(N, C, L)`` with torch's warning (use :func:`dropout1d` for
    that, or ``channel_dropout(x, p, spatial_dims=2)`` for an unbatched ``(C, H, W)``), and other ranks
    than 3 and 4 run with torch's deprecation warning. With ``channels_last`` a 3-D input is unbatched
    ``(H, W, C)``.

    Args:
        x: input ``(N, C, H, W)`` (``(N, H, W, C)`` or unbatched ``(H, W, C)`` when ``channels_last``);
            ``torch.channels_last`` memory format needs no flag.
        p: probability of **dropping** a channel, in ``[0, 1]`` (default: 0.5).
        training: apply dropout when True; return ``x`` unchanged when False (default: True).
        inplace: write the result into ``x`` and return ``x``, as torch does (default: False).
        channels_last: the channel dim is last in the logical shape (default: False).
        generator: random generator for the mask; the global one when None (default: None).

    Shape:
        - Input: ``(N, C, H, W)`` (or ``(N, C, L)``, see above). Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.functional import dropout2d
        >>> x = torch.ones(2, 3, 4, 4).to(memory_format=torch.channels_last)
        >>> dropout2d(x, 0.5).is_contiguous(memory_format=torch.channels_last)
        True
    """
    return _channel_dropout("dropout2d", x, p, 2, channels_last, training, generator, inplace, torch_ranks=True)


def dropout3d(
    x: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    channels_last: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Channel dropout for 3-D feature maps ``(N, C, D, H, W)`` / ``(C, D, H, W)``; ``p`` is the probability of **dropping**.

    Other ranks run as in torch, with its deprecation warning (see :mod:`dropkit.functional._torch_ranks`).

    Args:
        x: input ``(N, C, D, H, W)`` or ``(C, D, H, W)`` (channel dim last when ``channels_last``).
        p: probability of **dropping** a channel, in ``[0, 1]`` (default: 0.5).
        training: apply dropout when True; return ``x`` unchanged when False (default: True).
        inplace: write the result into ``x`` and return ``x``, as torch does (default: False).
        channels_last: the channel dim is last in the logical shape (default: False).
        generator: random generator for the mask; the global one when None (default: None).

    Shape:
        - Input: ``(N, C, D, H, W)`` or ``(C, D, H, W)``. Output: the same shape.

    Example:
        >>> import torch
        >>> from dropkit.functional import dropout3d
        >>> dropout3d(torch.ones(2, 3, 2, 2, 2), 0.5, training=False).sum().item()
        48.0
    """
    return _channel_dropout("dropout3d", x, p, 3, channels_last, training, generator, inplace, torch_ranks=True)
