"""``DropoutScheduler``: set the dropout rate of a model's layers from a schedule, step by step.

Like facebookresearch/dropout's ``update_dropout`` / ``update_drop_path`` (Liu et al. 2023,
https://arxiv.org/abs/2303.01500), but for any schedule (a ``step -> rate`` callable, see
:mod:`dropkit.schedules.rates`) and any layer that holds its rate as a float attribute: dropkit's
layers (``p``, and ``attn_p`` of :class:`~dropkit.nn.MultiHeadSelfAttention`) and torch's
``nn.Dropout*``. Rates are probabilities of **dropping**. Eager models pick the new rate up at
the next forward. Compiled models too: see :class:`DropoutScheduler`'s note on ``torch.compile``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from torch import nn

from dropkit._validation import check_choice, check_positive_int, check_probability
from dropkit.schedules.rates import SCHEDULE_NAMES, make_schedule

__all__ = ["DropoutScheduler", "build_dropout_scheduler", "is_dropout_module"]


def is_dropout_module(name: str, module: nn.Module) -> bool:
    """Default selection: torch's ``nn.Dropout*`` layers and every ``dropkit`` layer.

    ``name`` is the module's qualified name in the model (unused here; custom selectors may use it).
    Only modules that also hold a float rate attribute are scheduled.
    """
    del name
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return True
    return type(module).__module__.startswith("dropkit.") and not isinstance(module, (nn.Sequential, nn.ModuleList))


_DEFAULT_ATTRS = ("p", "attn_p")


@dataclasses.dataclass
class _Target:
    name: str  # "<module name>.<attr>"
    module: nn.Module
    attr: str
    base: float  # the rate when the scheduler was built


class DropoutScheduler:
    """Set every selected dropout rate from ``schedule(step)`` at each :meth:`step`.

    Args:
        model: the model whose layers are updated in place.
        schedule: ``step -> value``; with ``relative=False`` the value is the rate (probability of
            **dropping**) given to every selected layer; with ``relative=True`` it is a factor in
            ``[0, 1]`` that multiplies each layer's base rate (its rate when the scheduler was built),
            so per-layer differences such as depth-wise DropPath rates are kept.
        select: ``(name, module) -> bool`` choosing the modules (default: :func:`is_dropout_module`).
        relative: see ``schedule`` (default: False).
        attrs: attribute names holding a rate; a selected module is updated on each of them that it
            holds as a float (default: None: ``"p"``, ``"attn_p"`` and the names a module declares in
            ``stochastic_rate_attributes``, e.g. ``input_p``, ``recurrent_p`` and ``zoneout_p`` of
            :class:`~dropkit.nn.VariationalLSTM`).
        log: optional ``log(step, rate)`` called at every :meth:`step` (default: None).

    Note:
        Under ``torch.compile`` (``fullgraph=True`` included) dropkit's layers follow a changing rate
        without a graph break and compute what the eager layers compute (each layer tested with the
        ``aot_eager`` backend; with Inductor, draws from the default generator come from Inductor's
        own, so masks differ from eager ones in value but not in distribution). The recurrent layers
        built on ``nn.LSTM``/``nn.GRU`` are the exception: Dynamo does not trace those modules.
        After the first change Dynamo traces the rate as a symbol; dropkit's layers then use it only in
        tensor arithmetic, so one more graph serves every later rate (on CUDA the Triton kernels load the
        keep test from a device tensor for this: checked by a CUDA test that has not yet run on a GPU).
        The exceptions are specialised on the value and recompile at each new one: layers whose shapes
        depend on the rate (:class:`~dropkit.nn.DropPathResidual`'s kept samples,
        :class:`~dropkit.nn.TokenDropout`'s kept tokens), ``attn_p`` of
        :class:`~dropkit.nn.MultiHeadSelfAttention` on CUDA (torch's SDPA takes a constant; on the CPU
        the attention probabilities go through dropkit's dropout) and torch's own ``nn.Dropout*``.
        Past ``torch._dynamo.config.recompile_limit`` (8) those run uncompiled: for them, prefer
        schedules with few values (``"early"`` / ``"late"``: two) or update the rate every N steps.

    Attributes:
        rate: the rate in effect after the last :meth:`step`, None before the first: the common
            rate when ``relative=False``; with ``relative=True`` the mean over the attributes whose
            base rate is > 0 (layers built without dropout stay at 0 and are not averaged in).
        history: ``[(step, rate), ...]``, one entry per :meth:`step`.
        names: the scheduled ``"<module>.<attr>"`` names.

    Example:
        >>> import torch
        >>> from dropkit.schedules import DropoutScheduler, make_schedule
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5), torch.nn.Dropout(0.1))
        >>> sched = DropoutScheduler(model, make_schedule("late", 0.3, total_steps=10, cutoff=5))
        >>> sched.step(0), sched.step(5), model[1].p, model[2].p
        (0.0, 0.3, 0.3, 0.3)
        >>> rel = DropoutScheduler(model, make_schedule("early", 1.0, total_steps=10, cutoff=5), relative=True)
        >>> rel.step(0), model[1].p, model[2].p                  # each layer at its own base rate
        (0.3, 0.3, 0.3)
    """

    def __init__(
        self,
        model: nn.Module,
        schedule: Callable[[int], float],
        *,
        select: Callable[[str, nn.Module], bool] | None = None,
        relative: bool = False,
        attrs: Sequence[str] | None = None,
        log: Callable[[int, float], object] | None = None,
    ) -> None:
        where = type(self).__name__
        if not isinstance(model, nn.Module):
            raise TypeError(f"{where}: model must be an nn.Module, got {type(model).__name__}")
        if not callable(schedule):
            raise TypeError(f"{where}: schedule must be a callable step -> rate, got {type(schedule).__name__}")
        if isinstance(attrs, str):
            attrs = (attrs,)
        declared = attrs is None
        select = is_dropout_module if select is None else select
        self.schedule = schedule
        self.relative = bool(relative)
        self.log = log
        self.targets: list[_Target] = []
        for name, module in model.named_modules():
            if not select(name, module):
                continue
            names = tuple(attrs) if not declared else _DEFAULT_ATTRS + tuple(
                a for a in getattr(module, "stochastic_rate_attributes", ()) if a not in _DEFAULT_ATTRS
            )
            for attr in names:
                value = getattr(module, attr, None)
                if isinstance(value, float):
                    self.targets.append(_Target(f"{name}.{attr}" if name else attr, module, attr, value))
        if not self.targets:
            raise ValueError(
                f"{where}: select must match at least one module holding a float rate in "
                f"{tuple(attrs) if not declared else 'p, attn_p or its stochastic_rate_attributes'}, "
                f"got none in {type(model).__name__}"
            )
        self.rate: float | None = None
        self.history: list[tuple[int, float]] = []

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.targets]

    @property
    def rates(self) -> dict[str, float]:
        """The current rate of every scheduled attribute, by ``"<module>.<attr>"`` name."""
        return {t.name: float(getattr(t.module, t.attr)) for t in self.targets}

    def step(self, step: int) -> float:
        """Set the rates for ``step`` (``>= 0``), record and return the rate in effect."""
        where = type(self).__name__
        step = check_positive_int(where, "step", step, minimum=0)
        value = check_probability(where, "schedule(step)" if not self.relative else "schedule factor", self.schedule(step))
        for t in self.targets:
            setattr(t.module, t.attr, t.base * value if self.relative else value)
        active = [t for t in self.targets if t.base > 0] if self.relative else self.targets
        rate = sum(float(getattr(t.module, t.attr)) for t in active) / len(active) if active else 0.0
        self.rate = rate
        self.history.append((step, rate))
        if self.log is not None:
            self.log(step, rate)
        return rate

    def __repr__(self) -> str:
        return f"{type(self).__name__}(schedule={self.schedule!r}, relative={self.relative}, targets={len(self.targets)})"


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
        A :class:`DropoutScheduler` whose ``step(step)`` (0-based) sets the rates and returns the
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
