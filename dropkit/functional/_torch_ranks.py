"""torch's input-rank rules for the drop-in channel dropouts and feature alpha dropout.

``dropout1d/2d/3d`` and ``feature_alpha_dropout`` (and their Module twins) accept the ranks that
``torch.nn.functional`` 2.13 accepts, share the mask along the same dims, warn where it warns (a
:class:`UserWarning` with torch's wording, naming the function or Module the user called) and refuse
where it refuses, with a :class:`~dropkit.errors.DropkitInputError` (a ``ValueError`` and the
``RuntimeError`` torch raises):

============  =================  ===========================================================
function      no warning         other ranks
============  =================  ===========================================================
dropout1d     3 (N, C, L),       an error, in training and in eval
              2 (C, L)
dropout2d     4 (N, C, H, W)     3: read as (N, C, L) with torch's warning that this will
                                 change; others: a deprecation warning, one mask value per
                                 (dim 0, dim 1); ranks 0-1 are an error when dropout applies
dropout3d     5 (N, C, D, H, W), others: a deprecation warning, read like an unbatched input
              4 (C, D, H, W)     (one mask value per dim-0 slice; per element for 1-D); 0-D is
                                 an error when dropout applies
feature_      any rank >= 2      ranks 0-1: an error when dropout applies (as torch, no
alpha_drop.                      warning)
============  =================  ===========================================================

"When dropout applies" means in training with ``0 < p < 1``; in eval or at ``p`` 0 or 1 torch returns
such inputs (after its warning), and so does dropkit. These rules hold for torch's layout; with
``channels_last=True`` (a dropkit flag torch lacks) the channel dropouts take exactly the batched and
unbatched ranks and read 3-D ``dropout2d`` input as unbatched ``(H, W, C)``. Under ``torch.compile``
the warnings are not issued (Dynamo 2.13 cannot trace ``warnings.warn`` outside torch); the compiled
code reads every rank the same way.
"""

from __future__ import annotations

import os
import sys
import warnings

import torch
from torch import Tensor

from dropkit.errors import DropkitInputError

__all__ = ["channel_broadcast_dims", "feature_broadcast_dims", "warn_from_caller"]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LAYOUTS = {1: ("(N, C, L)", "(C, L)"), 2: ("(N, C, H, W)", "(C, H, W)"), 3: ("(N, C, D, H, W)", "(C, D, H, W)")}


def warn_from_caller(message: str) -> None:
    """Warn with a :class:`UserWarning` attributed to the first frame outside dropkit (the user's call,
    or torch's Module call machinery for a Module), as torch's ``stacklevel=2`` points past ``F``."""
    if torch.compiler.is_compiling():  # Dynamo (2.13) cannot trace warnings.warn in user code: a graph
        return  # break, an error with fullgraph=True; compiled code runs the same, without the warning
    level, frame = 2, sys._getframe(1)  # stacklevel 2 is this function's caller, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, UserWarning, stacklevel=level)


def _applies(training: bool, p: float) -> bool:
    return training and 0.0 < p < 1.0


def _too_few_dims(where: str, x: Tensor, minimum: int) -> DropkitInputError:
    return DropkitInputError(
        f"{where}: expected an input with at least {minimum} dims when dropout applies (training, 0 < p < 1), "
        f"got shape {tuple(x.shape)}"
    )


def channel_broadcast_dims(where: str, x: Tensor, spatial_dims: int, p: float, training: bool) -> tuple[int, ...]:
    """The dims ``dropout{spatial_dims}d`` shares its mask along for ``x``, by torch's rules (see the module
    docstring); warns or raises as torch does. ``spatial_dims`` is 1, 2 or 3."""
    batched, unbatched = _LAYOUTS[spatial_dims]
    rank = x.dim()
    if spatial_dims == 1:
        if rank not in (2, 3):
            raise DropkitInputError(
                f"{where}: expected 3D input {batched} or 2D unbatched input {unbatched}, got shape {tuple(x.shape)}"
            )
        return (rank - 1,)
    if spatial_dims == 2 and rank == 4:
        return (2, 3)
    if spatial_dims == 3 and rank in (4, 5):
        return tuple(range(rank - 3, rank))
    if spatial_dims == 2 and rank == 3:
        warn_from_caller(
            f"{where}: Received a 3D input to {where} and assuming that channel-wise 1D dropout behavior is "
            "desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will "
            "change in a future release to interpret the input as one without a batch dimension, i.e. shape "
            "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d "
            "instead (as torch.nn.Dropout2d does; for the unbatched (C, H, W) reading use dropkit's "
            "channel_dropout(x, p, spatial_dims=2))."
        )
        return (2,)
    low, high = spatial_dims + 1, spatial_dims + 2
    warn_from_caller(
        f"{where}: Received a {rank}-D input to {where}, which is deprecated and will result in an error in a "
        "future release. To retain the behavior and silence this warning, please use dropout instead. Note "
        f"that {where} exists to provide channel-wise dropout on inputs with {spatial_dims} spatial dimensions, "
        f"a channel dimension, and an optional batch dimension (i.e. {low}D or {high}D inputs)."
    )
    if spatial_dims == 2:  # torch's feature dropout on the input as given: one value per (dim 0, dim 1)
        if rank < 2 and _applies(training, p):
            raise _too_few_dims(where, x, 2)
        return tuple(range(2, rank))
    # dropout3d reads any other rank as unbatched: a batch dim is added, then one value per (1, dim 0)
    if rank < 1 and _applies(training, p):
        raise _too_few_dims(where, x, 1)
    return tuple(range(1, rank)) if rank >= 2 else ()


def feature_broadcast_dims(where: str, x: Tensor, p: float, training: bool) -> tuple[int, ...]:
    """The dims ``feature_alpha_dropout`` shares its mask along: every dim after ``(N, C)``; an input of
    fewer than 2 dims is an error when dropout applies, as in torch."""
    if x.dim() < 2 and _applies(training, p):
        raise _too_few_dims(where, x, 2)
    return tuple(range(2, x.dim()))
