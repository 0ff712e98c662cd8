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

from dropkit._validation import check_positive_int, check_probability
from dropkit.surgery.stochastic import is_dropout, rate_attributes

__all__ = ["DropoutScheduler", "is_dropout_module"]


def is_dropout_module(name: str, module: nn.Module) -> bool:
    """Default selection: :func:`dropkit.surgery.is_dropout`, the one definition of a dropout module (torch's
    ``nn.Dropout*``, dropkit's layers, timm's / torchvision's DropPath, ... holding a float rate).

    ``name`` is the module's qualified name in the model (unused here; custom selectors may use it).

    Example:
        >>> from torch import nn
        >>> is_dropout_module("0", nn.Dropout(0.0)), is_dropout_module("1", nn.Linear(2, 2))
        (True, False)
    """
    del name
    return is_dropout(module)


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
            holds as a float (default: None: the module's own rate attributes,
            :func:`dropkit.surgery.rate_attributes`: a dropkit layer's ``DropoutModule.rate_names``,
            e.g. ``attn_p`` of :class:`~dropkit.nn.MultiHeadSelfAttention` or ``input_p``, ``recurrent_p``
            and ``zoneout_p`` of :class:`~dropkit.nn.VariationalLSTM`, else ``p``, ``drop_prob``, ...).
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
        rate: the rate in effect after the last :meth:`step`, None before the first: the mean over the
            scheduled attributes whose rate is > 0 (:func:`dropkit.surgery.mean_dropout_rate`): the common
            rate when ``relative=False``; with ``relative=True`` layers built without dropout stay at 0
            and are not averaged in.
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
            names = tuple(attrs) if not declared else rate_attributes(module)
            for attr in names:
                value = getattr(module, attr, None)
                if isinstance(value, float):
                    self.targets.append(_Target(f"{name}.{attr}" if name else attr, module, attr, value))
        if not self.targets:
            raise ValueError(
                f"{where}: select must match at least one module holding a float rate in "
                f"{tuple(attrs) if not declared else 'its rate attributes (p, drop_prob, ... or its stochastic_rate_attributes)'}, "
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
        # The mean of the rates in effect that are > 0, as dropkit.surgery.mean_dropout_rate reads a model
        # (the same number: relative targets built at 0 stay at 0, absolute ones all hold the value).
        active = [r for r in (float(getattr(t.module, t.attr)) for t in self.targets) if r > 0]
        rate = sum(active) / len(active) if active else 0.0
        self.rate = rate
        self.history.append((step, rate))
        if self.log is not None:
            self.log(step, rate)
        return rate

    def __repr__(self) -> str:
        return f"{type(self).__name__}(schedule={self.schedule!r}, relative={self.relative}, targets={len(self.targets)})"
