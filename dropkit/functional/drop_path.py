"""DropPath / stochastic depth: drop a residual branch for whole samples (or the whole batch).

Huang, Sun, Liu, Sedra, Weinberger, "Deep Networks with Stochastic Depth", ECCV 2016,
https://arxiv.org/abs/1603.09382.

The paper drops a residual block for the whole mini-batch and rescales the branch by its survival
probability at test time. Here, as in timm's ``DropPath`` and torchvision's ``stochastic_depth``,
the scaling is *inverted* (kept branches are multiplied by ``1 / (1 - p)`` in training, evaluation
is the identity) and ``mode="row"`` (the default) draws one decision per sample; ``mode="batch"``
is the paper's per-batch decision. ``p`` is the probability of **dropping** (the paper's
``1 - p_l``).

:func:`drop_path_residual` is the compute-skipping form used by DINOv2
(``dinov2/layers/block.py``): the branch runs only on the kept samples, and their output is
scattered back with ``index_add``, so dropped samples cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from dropkit._validation import check_choice, check_floating, check_probability
from dropkit.functional.dropout import bernoulli_keep_mask

__all__ = ["drop_path", "drop_path_residual"]


def drop_path(
    x: Tensor,
    p: float = 0.0,
    *,
    mode: str = "row",
    scale_by_keep: bool = True,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Zero whole samples (``mode="row"``) or the whole batch (``mode="batch"``) with probability ``p``.

    Apply it to a residual *branch*: ``x + drop_path(branch(x), p)``.

    Args:
        x: branch output ``(N, *)`` with at least 1 dim, floating point.
        p: probability of **dropping** a sample's branch (``"row"``) or the batch's (``"batch"``),
            in ``[0, 1]`` (default: 0, as timm's; the Module twin's default too).
        mode: ``"row"`` (one decision per sample) or ``"batch"`` (one for all) (default: ``"row"``).
        scale_by_keep: scale kept samples by ``1 / (1 - p)`` so the expectation is preserved
            (default: True); False gives the paper's unscaled training-time form.
        training: apply it when True; return ``x`` unchanged when False (default: True).
        generator: random generator for the decisions; the global one when None (default: None).

    Shape:
        - Input: ``(N, *)``.
        - Output: the same shape as the input.

    Example:
        >>> import torch
        >>> from dropkit.functional import drop_path
        >>> y = drop_path(torch.ones(6, 3), 0.5, generator=torch.Generator().manual_seed(0))
        >>> bool(((y == 0).all(1) | (y == 2).all(1)).all())   # each row dropped or scaled as a whole
        True
    """
    where = "drop_path"
    check_floating(where, x)
    p = check_probability(where, "p", p)
    mode = check_choice(where, "mode", mode, ("row", "batch"))
    if x.dim() < 1:
        raise ValueError(f"{where}: expected input (N, *) with at least 1 dim, got shape {tuple(x.shape)}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    shape = (x.shape[0] if mode == "row" else 1,) + (1,) * (x.dim() - 1)
    keep = bernoulli_keep_mask(shape, 1.0 - p, like=x, generator=generator)
    if scale_by_keep:
        keep.mul_(1.0 / (1.0 - p))
    return x * keep


def drop_path_residual(
    x: Tensor,
    branch: Callable[[Tensor], Tensor],
    p: float = 0.1,
    *,
    sampling: str = "fixed",
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``x + drop_path(branch(x), p)`` in expectation, running ``branch`` only on kept samples.

    The kept samples ``idx`` are gathered, ``branch(x[idx])`` is computed, and the result is added
    back with ``x.index_add(0, idx, out, alpha=scale)``. Each sample is kept with probability
    ``k / N`` and scaled by ``N / k`` (or kept with probability ``1 - p`` and scaled by
    ``1 / (1 - p)``), so the output equals ``x + branch(x)`` in expectation when ``branch`` treats
    samples independently (no batch statistics).

    Args:
        x: input ``(N, *)`` with at least 1 dim, floating point; ``branch`` must map ``(k, *)`` to
            ``(k, *)`` of the same trailing shape.
        branch: the residual branch, a callable (e.g. an ``nn.Module``).
        p: probability of **dropping** a sample's branch, in ``[0, 1]`` (default: 0.1); ``p = 1``
            returns ``x`` and does not call ``branch``.
        sampling: ``"fixed"`` keeps exactly ``k = max(floor(N (1 - p)), 1)`` samples chosen at random
            (DINOv2; one shape per batch size, friendly to ``torch.compile``), scaled by ``N / k``;
            ``"bernoulli"`` keeps each sample independently with probability ``1 - p``, scaled by
            ``1 / (1 - p)`` -- the same distribution as :func:`drop_path` (default: ``"fixed"``).
        training: skip samples when True; return ``x + branch(x)`` when False (default: True).
        generator: random generator for the choice of samples; the global one when None.

    Shape:
        - Input: ``(N, *)``.
        - Output: the same shape as the input.

    Example:
        >>> import torch
        >>> from dropkit.functional import drop_path_residual
        >>> calls = []
        >>> def branch(t):
        ...     calls.append(t.shape[0])
        ...     return torch.ones_like(t)
        >>> y = drop_path_residual(torch.zeros(8, 2), branch, 0.25, generator=torch.Generator().manual_seed(0))
        >>> calls, sorted(set(y.flatten().tolist()))   # 6 of 8 samples run, each scaled by 8/6
        ([6], [0.0, 1.3333333730697632])
    """
    where = "drop_path_residual"
    check_floating(where, x)
    p = check_probability(where, "p", p)
    sampling = check_choice(where, "sampling", sampling, ("fixed", "bernoulli"))
    if not callable(branch):
        raise TypeError(f"{where}: branch must be callable, got {type(branch).__name__}")
    if x.dim() < 1:
        raise ValueError(f"{where}: expected input (N, *) with at least 1 dim, got shape {tuple(x.shape)}")
    if not training or p == 0.0:
        return x + branch(x)
    if p == 1.0:
        return x
    n = x.shape[0]
    if sampling == "fixed":
        k = max(int(n * (1.0 - p)), 1)
        idx = torch.randperm(n, generator=generator, device=x.device)[:k]
        scale = n / k
    else:
        # the same draw as drop_path(mode="row") makes for a tensor like x, so the kept set matches it
        keep = bernoulli_keep_mask((n,), 1.0 - p, like=x, generator=generator)
        idx = keep.nonzero().squeeze(1)
        scale = 1.0 / (1.0 - p)
    out = branch(x.index_select(0, idx))
    if out.shape[1:] != x.shape[1:]:
        raise ValueError(
            f"{where}: branch must keep the trailing shape {tuple(x.shape[1:])}, got output shape {tuple(out.shape)}"
        )
    return x.index_add(0, idx, out.to(x.dtype), alpha=scale)
