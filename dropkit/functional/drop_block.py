"""DropBlock: drop contiguous segments / squares / cubes of 1-D / 2-D / 3-D feature maps.

Ghiasi, Lin, Le, "DropBlock: A regularization method for convolutional networks", NeurIPS 2018,
https://arxiv.org/abs/1810.12890.

Following Algorithm 1 of the paper, block *seeds* are drawn with probability ``gamma`` at the
positions where a whole ``block_size`` block fits inside the feature map, each seed zeroes the
block it starts, and the output is normalised by the kept fraction: ``y = x * M * numel(M) / sum(M)``.
``gamma`` is the paper's eq. (1), generalised to non-square maps::

    gamma = p / block_size**k * prod(S_i) / prod(S_i - block_size + 1)      (k = 1, 2 or 3 spatial dims)

where ``p`` is the probability of **dropping** (the paper's ``1 - keep_prob``). Because blocks overlap,
the realised dropped fraction is close to, not exactly, ``p``; see :func:`drop_block_gamma`.
:func:`drop_block1d` (segments of 1-D signals) is an extension; the paper defines the 2-D case.
Each channel gets its own mask (the variant Algorithm 1 shows and the paper found to work better);
``share_channels=True`` uses one mask per sample for all channels (timm's ``couple_channels``).
The paper ramps the keep probability linearly from 1 to its target over training:
:func:`drop_block_schedule` gives the drop probability at a step.

Differences from the paper: the normalisation counts kept units over the whole batch tensor, as in
the paper's ``count(M) / count_ones(M)``; when every unit is dropped the output is zero (no
division by zero).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from dropkit._validation import check_bool, check_floating, check_non_negative, check_positive_int, check_probability
from dropkit.errors import DropkitInputError
from dropkit.functional.dropout import bernoulli_keep_mask

__all__ = ["drop_block1d", "drop_block2d", "drop_block3d", "drop_block_gamma", "drop_block_schedule"]

_LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
_POOLS = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def drop_block_gamma(p: float, block_size: int, spatial_size: tuple[int, ...]) -> float:
    """Seed probability ``gamma`` of the paper's eq. (1) for maps of ``spatial_size``.

    Args:
        p: target probability of **dropping** a unit, in ``[0, 1]``.
        block_size: side of the square (cubic) block, at most ``min(spatial_size)``.
        spatial_size: the spatial sizes, e.g. ``(H, W)``.

    Returns:
        ``gamma``, clipped to ``[0, 1]``.

    Example:
        >>> from dropkit.functional import drop_block_gamma
        >>> round(drop_block_gamma(0.1, 7, (14, 14)), 5)   # 0.1 / 49 * 196 / 64
        0.00625
    """
    valid = math.prod([s - block_size + 1 for s in spatial_size])
    gamma = p / block_size ** len(spatial_size) * math.prod(spatial_size) / valid
    return min(gamma, 1.0)


def drop_block_schedule(step: int, total_steps: int, p: float) -> float:
    """The paper's schedule: keep probability linear from 1 to ``1 - p`` over ``total_steps``.

    Returns the probability of **dropping** at ``step``: ``p * min(step / total_steps, 1)``
    (0 at step 0, ``p`` from ``total_steps`` on). A pure function, so a trainer can set
    ``module.p = drop_block_schedule(step, total, p)`` every step.

    Args:
        step: the current step, >= 0.
        total_steps: steps over which to ramp, >= 1.
        p: target probability of **dropping**, in ``[0, 1]``.

    Example:
        >>> from dropkit.functional import drop_block_schedule
        >>> [drop_block_schedule(s, 4, 0.2) for s in (0, 2, 4, 9)]
        [0.0, 0.1, 0.2, 0.2]
    """
    where = "drop_block_schedule"
    check_non_negative(where, "step", step)
    check_positive_int(where, "total_steps", total_steps)
    p = check_probability(where, "p", p)
    return p * min(step / total_steps, 1.0)


def _drop_block(
    where: str,
    x: Tensor,
    p: float,
    block_size: int,
    k: int,
    share_channels: bool,
    training: bool,
    generator: torch.Generator | None,
    inplace: bool = False,
) -> Tensor:
    """Checks and DropBlock for every entry point; ``where`` names the function or Module the user called."""
    check_floating(where, x)
    p = check_probability(where, "p", p)
    block_size = check_positive_int(where, "block_size", block_size)
    check_bool(where, "inplace", inplace)
    if x.dim() not in (k + 1, k + 2):
        names = _LAYOUTS[k]
        raise DropkitInputError(
            f"{where}: expected {k + 2}D input {names} or {k + 1}D unbatched input ({names[4:]}, "
            f"got shape {tuple(x.shape)}"
        )
    spatial = tuple(x.shape[-k:])
    if block_size > min(spatial):
        raise ValueError(
            f"{where}: block_size must be <= the input's smallest spatial size {min(spatial)} "
            f"(spatial shape {spatial}), got {block_size}"
        )
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x.mul_(0.0) if inplace else x * 0.0
    batched = x if x.dim() == k + 2 else x.unsqueeze(0)
    gamma = drop_block_gamma(p, block_size, spatial)
    seeds_shape = [batched.shape[0], 1 if share_channels else batched.shape[1]] + [s - block_size + 1 for s in spatial]
    seeds = bernoulli_keep_mask(seeds_shape, gamma, like=x, generator=generator)  # 1 = a block's seed
    # A seed at (i, j) drops the block [i, i + b) x [j, j + b): pad b - 1 zeros on each side and take
    # the max over a b-window, so output (y, x) sees the seeds (i, j) with i <= y < i + b (any parity of b).
    padded = F.pad(seeds, (block_size - 1,) * (2 * k))
    keep = 1.0 - _POOLS[k](padded, kernel_size=block_size, stride=1)
    scale = keep.numel() / keep.sum().clamp_min(1.0)
    if inplace:  # torchvision's inplace: the input (a view of it when unbatched) is multiplied in place
        batched.mul_(keep * scale)
        return x
    out = batched * (keep * scale)
    return out if x.dim() == k + 2 else out.squeeze(0)


def drop_block1d(
    x: Tensor,
    p: float = 0.1,
    block_size: int = 7,
    inplace: bool = False,
    *,
    share_channels: bool = False,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """DropBlock on 1-D feature maps: zero ``block_size``-long segments, renormalise the rest.

    Args:
        x: input ``(N, C, L)`` or unbatched ``(C, L)``, floating point.
        p: target probability of **dropping** a unit, in ``[0, 1]`` (default: 0.1).
        block_size: length of the dropped segments, between 1 and ``L`` (default: 7).
        inplace: multiply the input in place and return it, as torchvision's ``inplace=True``
            (default: False); as in torch, autograd refuses it on a leaf that requires grad.
        share_channels: one mask per sample shared by all channels (default: False).
        training: apply DropBlock when True; return ``x`` unchanged when False (default: True).
        generator: random generator for the block seeds; the global one when None (default: None).

    Shape:
        - Input: ``(N, C, L)`` or ``(C, L)``.
        - Output: the same shape as the input.

    Example:
        >>> import torch
        >>> from dropkit.functional import drop_block1d
        >>> y = drop_block1d(torch.ones(1, 1, 12), 0.3, 4, generator=torch.Generator().manual_seed(4))
        >>> (y > 0).int().tolist()
        [[[1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]]]
    """
    return _drop_block("drop_block1d", x, p, block_size, 1, share_channels, training, generator, inplace)


def drop_block2d(
    x: Tensor,
    p: float = 0.1,
    block_size: int = 7,
    inplace: bool = False,
    *,
    share_channels: bool = False,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """DropBlock on 2-D feature maps: zero ``block_size x block_size`` squares, renormalise the rest.

    Args:
        x: input ``(N, C, H, W)`` or unbatched ``(C, H, W)``, floating point.
        p: target probability of **dropping** a unit, in ``[0, 1]`` (default: 0.1); sets ``gamma``
            through :func:`drop_block_gamma`.
        block_size: side of the dropped squares, between 1 and ``min(H, W)`` (default: 7);
            ``block_size = 1`` is element-wise dropout with batch-level normalisation.
        inplace: multiply the input in place and return it, as torchvision's ``inplace=True``
            (default: False); as in torch, autograd refuses it on a leaf that requires grad.
        share_channels: one mask per sample shared by all channels instead of one per channel
            (default: False, the paper's Algorithm 1).
        training: apply DropBlock when True; return ``x`` unchanged when False (default: True).
        generator: random generator for the block seeds; the global one when None (default: None).

    Shape:
        - Input: ``(N, C, H, W)`` or ``(C, H, W)``.
        - Output: the same shape as the input.

    Example:
        >>> import torch
        >>> from dropkit.functional import drop_block2d
        >>> x = torch.ones(2, 3, 8, 8)
        >>> y = drop_block2d(x, 0.2, 3, generator=torch.Generator().manual_seed(0))
        >>> y.shape, torch.allclose(y.mean(), x.mean())   # normalised by the kept fraction
        (torch.Size([2, 3, 8, 8]), True)
        >>> torch.equal(drop_block2d(x, 0.2, 3, training=False), x)
        True
    """
    return _drop_block("drop_block2d", x, p, block_size, 2, share_channels, training, generator, inplace)


def drop_block3d(
    x: Tensor,
    p: float = 0.1,
    block_size: int = 7,
    inplace: bool = False,
    *,
    share_channels: bool = False,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """DropBlock on 3-D feature maps: zero ``block_size``-cubes, renormalise the rest.

    Args:
        x: input ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``, floating point.
        p: target probability of **dropping** a unit, in ``[0, 1]`` (default: 0.1).
        block_size: side of the dropped cubes, between 1 and ``min(D, H, W)`` (default: 7).
        inplace: multiply the input in place and return it, as torchvision's ``inplace=True``
            (default: False); as in torch, autograd refuses it on a leaf that requires grad.
        share_channels: one mask per sample shared by all channels (default: False).
        training: apply DropBlock when True; return ``x`` unchanged when False (default: True).
        generator: random generator for the block seeds; the global one when None (default: None).

    Shape:
        - Input: ``(N, C, D, H, W)`` or ``(C, D, H, W)``.
        - Output: the same shape as the input.

    Example:
        >>> import torch
        >>> from dropkit.functional import drop_block3d
        >>> drop_block3d(torch.ones(1, 2, 4, 4, 4), 0.3, 2).shape
        torch.Size([1, 2, 4, 4, 4])
    """
    return _drop_block("drop_block3d", x, p, block_size, 3, share_channels, training, generator, inplace)
