"""``build_dropout_scheduler``: the :class:`~dropkit.schedules.DropoutScheduler` a run's config asks for.

The train layer maps its config fields (``p_schedule``, ``p_schedule_start``, ...) onto the schedules
library, which knows nothing of them.
"""

from __future__ import annotations

from torch import nn

from dropkit._validation import check_choice, check_positive_int, check_probability
from dropkit.schedules.rates import SCHEDULE_NAMES, make_schedule
from dropkit.schedules.scheduler import DropoutScheduler

__all__ = ["build_dropout_scheduler"]


def build_dropout_scheduler(cfg: object, model: nn.Module, *, total_steps: int | None = None) -> DropoutScheduler | None:
    """The scheduler the run config asks for, or None for ``p_schedule = "constant"``.

    The schedule shapes a factor in ``[0, 1]`` (peak 1) that multiplies every dropout rate the
    model was built with (``relative=True``): with ``p = 0.5`` and ``p_schedule = "early"`` the
    hidden layers drop at 0.5 until ``p_schedule_cutoff`` and at 0 afterwards, and a transformer's
    ``attn_p``, residual and depth-wise DropPath rates follow the same shape.

    Reads ``cfg.p_schedule`` (``constant | linear | early | late | curriculum``),
    ``cfg.p_schedule_start`` (linear: factor at step 0), ``cfg.p_schedule_cutoff`` (early / late:
    switching step; linear: end of the ramp; a number in (0, 1) is a fraction of the run),
    ``cfg.p_schedule_linear`` (early: decrease linearly to 0) and ``cfg.p_schedule_gamma``
    (curriculum), plus ``cfg.steps`` for the run's length.

    Args:
        cfg: a :class:`~dropkit.train.config.Config` (or any object with those attributes).
        model: the built model.
        total_steps: the run's length in steps; required when the run is set by ``epochs``
            (default: ``cfg.steps``).

    Returns:
        A :class:`~dropkit.schedules.DropoutScheduler` whose ``step(step)`` (0-based) sets the rates and returns the
        rate in effect (the mean over the layers built with a rate > 0), or None when nothing
        changes over time.
    """
    where = "build_dropout_scheduler"
    name = check_choice(where, "p_schedule", getattr(cfg, "p_schedule", "constant"), SCHEDULE_NAMES)
    if name == "constant":
        return None
    if total_steps is None:
        total_steps = getattr(cfg, "steps", None)
        if total_steps is None:
            raise ValueError(
                f"{where}: total_steps must be given when the run is set by epochs (cfg.steps is None), got None"
            )
    total_steps = check_positive_int(where, "total_steps", total_steps)
    schedule = make_schedule(
        name,
        1.0,
        total_steps=total_steps,
        start_p=check_probability(where, "p_schedule_start", getattr(cfg, "p_schedule_start", 0.0)),
        cutoff=getattr(cfg, "p_schedule_cutoff", None),
        linear=bool(getattr(cfg, "p_schedule_linear", False)),
        gamma=getattr(cfg, "p_schedule_gamma", None),
    )
    return DropoutScheduler(model, schedule, relative=True)
