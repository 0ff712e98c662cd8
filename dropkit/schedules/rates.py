"""Dropout-rate schedules over training time, as pure functions of the step.

Every function maps an optimizer step ``t >= 0`` (0-based: the step about to be taken) to a rate
``p(t)``, the probability of **dropping**. Being pure, a schedule is resumable from a checkpoint
by calling it with the restored step; nothing is stored.

- constant: ``p``.
- linear ramp (DARTS' ``drop_path_prob * epoch / epochs``; Liu, Simonyan, Yang 2019,
  https://arxiv.org/abs/1806.09055): from ``start_p`` at step 0 to ``p`` at ``ramp_steps``, then ``p``.
- early dropout (Liu, Xu, Darrell, Feichtenhofer et al., "Dropout Reduces Underfitting", ICML
  2023, https://arxiv.org/abs/2303.01500): ``p`` before ``cutoff``, 0 from ``cutoff`` on; the
  ``linear`` variant decreases from ``p`` at step 0 to 0 at step ``cutoff - 1``, exactly
  ``numpy.linspace(p, 0, cutoff)`` as in facebookresearch/dropout's ``drop_scheduler``.
- late dropout (same paper): 0 before ``cutoff``, ``p`` from ``cutoff`` on.
- curriculum dropout (Morerio, Cavazza, Volpi, Vidal, Murino, ICCV 2017,
  https://arxiv.org/abs/1703.06229): the retain probability follows
  ``theta(t) = (1 - theta_bar) exp(-gamma t) + theta_bar``, so the drop rate rises from 0
  towards the target ``p = 1 - theta_bar`` as ``p(t) = p (1 - exp(-gamma t))``.

:func:`make_schedule` binds a schedule's hyper-parameters and returns a ``step -> rate`` callable.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from dropkit._validation import check_choice, check_positive, check_positive_int, check_probability

__all__ = [
    "SCHEDULE_NAMES",
    "constant_rate",
    "linear_rate",
    "early_dropout_rate",
    "late_dropout_rate",
    "curriculum_rate",
    "resolve_cutoff",
    "make_schedule",
]

SCHEDULE_NAMES: tuple[str, ...] = ("constant", "linear", "early", "late", "curriculum")

Schedule = Callable[[int], float]


def _check_step(where: str, step: object) -> int:
    return check_positive_int(where, "step", step, minimum=0)


def constant_rate(step: int, p: float) -> float:
    """``p`` at every step; ``p`` is the probability of **dropping**.

    Example:
        >>> constant_rate(123, 0.3)
        0.3
    """
    _check_step("constant_rate", step)
    return check_probability("constant_rate", "p", p)


def linear_rate(step: int, p: float, ramp_steps: int, start_p: float = 0.0) -> float:
    """Linear ramp from ``start_p`` at step 0 to ``p`` at ``ramp_steps``, then ``p`` (rates of **dropping**).

    Args:
        step: the step, ``>= 0``.
        p: rate reached at ``ramp_steps`` and kept afterwards, in ``[0, 1]``.
        ramp_steps: length of the ramp, ``>= 1``.
        start_p: rate at step 0, in ``[0, 1]`` (default: 0.0); may exceed ``p`` (a linear decrease).

    Example:
        >>> [linear_rate(t, 0.4, ramp_steps=4) for t in (0, 1, 2, 4, 9)]
        [0.0, 0.1, 0.2, 0.4, 0.4]
    """
    where = "linear_rate"
    step = _check_step(where, step)
    p = check_probability(where, "p", p)
    ramp_steps = check_positive_int(where, "ramp_steps", ramp_steps)
    start_p = check_probability(where, "start_p", start_p)
    frac = min(step / ramp_steps, 1.0)
    return start_p + (p - start_p) * frac


def early_dropout_rate(step: int, p: float, cutoff: int, *, linear: bool = False) -> float:
    """Early dropout: ``p`` for steps ``< cutoff``, then 0 (rates of **dropping**).

    Args:
        step: the step, ``>= 0``.
        p: rate in the early phase, in ``[0, 1]``.
        cutoff: first step without dropout, ``>= 0``.
        linear: decrease linearly from ``p`` at step 0 to 0 at step ``cutoff - 1`` (``linspace(p, 0,
            cutoff)``) instead of holding ``p`` (default: False).

    Example:
        >>> [early_dropout_rate(t, 0.1, cutoff=3) for t in (0, 2, 3, 50)]
        [0.1, 0.1, 0.0, 0.0]
        >>> [round(early_dropout_rate(t, 0.3, cutoff=4, linear=True), 6) for t in range(5)]
        [0.3, 0.2, 0.1, 0.0, 0.0]
    """
    where = "early_dropout_rate"
    step = _check_step(where, step)
    p = check_probability(where, "p", p)
    cutoff = check_positive_int(where, "cutoff", cutoff, minimum=0)
    if step >= cutoff:
        return 0.0
    if not linear or cutoff == 1:
        return p
    return p * (1.0 - step / (cutoff - 1))


def late_dropout_rate(step: int, p: float, cutoff: int) -> float:
    """Late dropout: 0 for steps ``< cutoff``, then ``p`` (the probability of **dropping**).

    Example:
        >>> [late_dropout_rate(t, 0.2, cutoff=3) for t in (0, 2, 3, 50)]
        [0.0, 0.0, 0.2, 0.2]
    """
    where = "late_dropout_rate"
    step = _check_step(where, step)
    p = check_probability(where, "p", p)
    cutoff = check_positive_int(where, "cutoff", cutoff, minimum=0)
    return 0.0 if step < cutoff else p


def curriculum_rate(step: int, p: float, gamma: float) -> float:
    """Curriculum dropout: ``p (1 - exp(-gamma step))``, rising from 0 towards ``p`` (rate of **dropping**).

    Equivalent to the paper's retain probability ``(1 - theta_bar) exp(-gamma t) + theta_bar`` with
    ``theta_bar = 1 - p``.

    Args:
        step: the step, ``>= 0``.
        p: the limit rate, in ``[0, 1]``.
        gamma: speed ``> 0``; the rate is within ``p e^{-k}`` of ``p`` after ``k / gamma`` steps.

    Example:
        >>> import math
        >>> curriculum_rate(0, 0.5, 0.01), round(curriculum_rate(100, 0.5, 0.01), 6) == round(0.5 * (1 - math.exp(-1)), 6)
        (0.0, True)
    """
    where = "curriculum_rate"
    step = _check_step(where, step)
    p = check_probability(where, "p", p)
    gamma = check_positive(where, "gamma", gamma)
    return p * -math.expm1(-gamma * step)


def resolve_cutoff(where: str, name: str, cutoff: float | int, total_steps: int) -> int:
    """Turn ``cutoff`` into a step: a number in ``(0, 1)`` is a fraction of ``total_steps``
    (rounded), a whole number in ``[1, total_steps]`` is a step.

    Example:
        >>> resolve_cutoff("f", "cutoff", 0.25, 1000), resolve_cutoff("f", "cutoff", 300, 1000)
        (250, 300)
    """
    total_steps = check_positive_int(where, "total_steps", total_steps)
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)):
        raise TypeError(f"{where}: {name} must be a number, got {type(cutoff).__name__}")
    if 0.0 < cutoff < 1.0:
        return max(1, round(cutoff * total_steps))
    if not (float(cutoff).is_integer() and 1 <= cutoff <= total_steps):
        raise ValueError(
            f"{where}: {name} must be a fraction in (0, 1) or a whole step in [1, {total_steps}] "
            f"(the run's length), got {cutoff!r}"
        )
    return int(cutoff)


def make_schedule(
    name: str,
    p: float,
    *,
    total_steps: int,
    start_p: float = 0.0,
    cutoff: float | int | None = None,
    linear: bool = False,
    gamma: float | None = None,
) -> Schedule:
    """A ``step -> rate`` callable for the schedule ``name`` (rates are probabilities of **dropping**).

    Args:
        name: one of ``"constant"``, ``"linear"``, ``"early"``, ``"late"``, ``"curriculum"``.
        p: the schedule's peak / target rate, in ``[0, 1]``.
        total_steps: length of the run in steps, ``>= 1``.
        start_p: ``"linear"``: rate at step 0 (default: 0.0).
        cutoff: ``"early"`` / ``"late"``: the switching step (required); ``"linear"``: the end of the
            ramp (default: ``total_steps``). A fraction in ``(0, 1)`` or a whole step in
            ``[1, total_steps]``.
        linear: ``"early"``: decrease linearly to 0 instead of holding ``p`` (default: False).
        gamma: ``"curriculum"``: speed ``> 0`` (default: ``10 / total_steps``, so the rate is within
            ``p e^{-10}`` of ``p`` at the end; the paper tunes gamma per task).

    Example:
        >>> s = make_schedule("early", 0.1, total_steps=100, cutoff=0.2)
        >>> s(0), s(19), s(20)
        (0.1, 0.1, 0.0)
    """
    where = "make_schedule"
    name = check_choice(where, "name", name, SCHEDULE_NAMES)
    p = check_probability(where, "p", p)
    total_steps = check_positive_int(where, "total_steps", total_steps)
    if name == "constant":
        return functools.partial(constant_rate, p=p)
    if name == "linear":
        ramp = total_steps if cutoff is None else resolve_cutoff(where, "cutoff", cutoff, total_steps)
        return functools.partial(linear_rate, p=p, ramp_steps=ramp, start_p=check_probability(where, "start_p", start_p))
    if name == "curriculum":
        g = 10.0 / total_steps if gamma is None else check_positive(where, "gamma", gamma)
        return functools.partial(curriculum_rate, p=p, gamma=g)
    if cutoff is None:
        raise ValueError(f"{where}: cutoff must be given for the {name!r} schedule, got None")
    step = resolve_cutoff(where, "cutoff", cutoff, total_steps)
    if name == "early":
        return functools.partial(early_dropout_rate, p=p, cutoff=step, linear=bool(linear))
    return functools.partial(late_dropout_rate, p=p, cutoff=step)
