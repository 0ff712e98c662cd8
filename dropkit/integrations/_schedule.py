"""What the Lightning and Hugging Face schedule callbacks share: resolve a schedule, find every rate a
model has (its modules' rate attributes and the dropout keys of its configs) and set them per step.

Rates are probabilities of **dropping**. The module side is a
:class:`~dropkit.schedules.DropoutScheduler`; the config side exists because some Hugging Face models
read an attention-dropout rate from ``self.config`` at forward time instead of from a module
(``GPTNeoSelfAttention``: ``self.config.attention_dropout if self.training else 0.0``; Falcon and
Persimmon do the same), so setting the modules alone would leave that dropout at its build-time rate.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from torch import nn

from dropkit._validation import check_bool, check_choice, check_positive_int, check_probability
from dropkit.schedules import SCHEDULE_NAMES, DropoutScheduler, make_schedule
from dropkit.surgery.stochastic import RATE_ATTRIBUTES, is_regulariser

__all__ = ["ModelRates", "ScheduleSpec", "resolve_schedule", "is_rate_module", "config_rate_keys"]

Schedule = Callable[[int], float]

# A config key holds a dropout rate when its name says so: hidden_dropout_prob, attention_probs_dropout_prob,
# attention_dropout, attn_pdrop, resid_pdrop, embd_pdrop, classifier_dropout, layerdrop, drop_path_rate...
_CONFIG_RATE_KEY = re.compile(r"drop")


def is_rate_module(name: str, module: nn.Module) -> bool:
    """Default selection: every stochastic-regulariser kind (see
    :func:`~dropkit.surgery.stochastic.is_regulariser`), rate 0 included: ``nn.Dropout*``, dropkit's
    layers, timm's ``DropPath``, and Hugging Face attention modules that hold their attention-dropout rate
    as a float (``LlamaAttention.attention_dropout``), and stacked ``nn.LSTM``/``nn.GRU`` (``dropout``).

    Example:
        >>> from torch import nn
        >>> is_rate_module("drop", nn.Dropout(0.0)), is_rate_module("fc", nn.Linear(2, 2))
        (True, False)
    """
    del name
    return is_regulariser(module)


def config_rate_keys(config: Any) -> dict[str, float]:
    """The dropout rates a (Hugging Face) config object holds: keys containing ``"drop"`` with a float
    value in ``[0, 1]``.

    Example:
        >>> from types import SimpleNamespace
        >>> config_rate_keys(SimpleNamespace(hidden_dropout_prob=0.1, hidden_size=8, classifier_dropout=None))
        {'hidden_dropout_prob': 0.1}
    """
    items = config.to_dict().items() if hasattr(config, "to_dict") else vars(config).items()
    out = {}
    for key, value in items:
        if not isinstance(key, str) or not _CONFIG_RATE_KEY.search(key):
            continue
        # to_dict() also lists sub-configs (dicts) and keys stored elsewhere; read the live attribute
        value = getattr(config, key, None)
        if isinstance(value, float) and 0.0 <= value <= 1.0:
            out[key] = value
    return out


def _configs(model: nn.Module) -> list[Any]:
    """Every distinct config object of ``model``: ``model.config``, each sub-module's ``config`` and the
    sub-configs they hold (``text_config``, ``vision_config``, ...)."""
    found: dict[int, Any] = {}

    def add(config: Any) -> None:
        if config is None or id(config) in found or not hasattr(config, "to_dict"):
            return
        found[id(config)] = config
        for value in list(vars(config).values()):
            if hasattr(value, "to_dict") and hasattr(value, "model_type"):
                add(value)

    for m in model.modules():
        add(getattr(m, "config", None))
    return list(found.values())


def resolve_schedule(
    where: str,
    schedule: str | Schedule,
    p: float | None,
    *,
    relative: bool,
    total_steps: int | None,
    **options: Any,
) -> Schedule:
    """A ``step -> value`` callable: ``schedule`` itself when callable, else :func:`~dropkit.schedules.make_schedule`.

    Args:
        where: the caller's name for error messages.
        schedule: one of :data:`~dropkit.schedules.SCHEDULE_NAMES` or a callable ``step -> value``.
        p: the peak of a named schedule: the rate with ``relative=False`` (required), the factor with
            ``relative=True`` (default 1.0); must be None with a callable.
        relative: whether the value is a factor on each layer's own rate.
        total_steps: the run's length in steps (required by the named schedules).
        options: ``start_p``, ``cutoff``, ``linear``, ``gamma`` for :func:`~dropkit.schedules.make_schedule`.

    Example:
        >>> s = resolve_schedule("f", "late", 0.2, relative=False, total_steps=10, cutoff=5)
        >>> s(4), s(5)
        (0.0, 0.2)
    """
    if callable(schedule):
        if p is not None:
            raise ValueError(f"{where}: p must be None when schedule is a callable (it returns the value itself), got {p!r}")
        if options:
            raise ValueError(f"{where}: schedule options ({', '.join(sorted(options))}) need a named schedule, got a callable schedule")
        return schedule
    if not isinstance(schedule, str):
        raise TypeError(f"{where}: schedule must be a schedule name or a callable step -> rate, got {type(schedule).__name__}")
    schedule = check_choice(where, "schedule", schedule, SCHEDULE_NAMES)
    if p is None:
        if not relative:
            raise ValueError(
                f"{where}: p must be given for schedule {schedule!r} with relative=False (it is the rate every "
                "dropout layer gets), got None; or pass relative=True to scale each layer's own rate"
            )
        p = 1.0
    p = check_probability(where, "p", p)
    total_steps = check_positive_int(where, "total_steps", total_steps)
    try:
        return make_schedule(schedule, p, total_steps=total_steps, **options)
    except (TypeError, ValueError) as exc:
        # the same message under the caller's name: the user called DropoutSchedule, not make_schedule
        raise type(exc)(str(exc).replace("make_schedule:", f"{where}:", 1)) from None


@dataclasses.dataclass
class _ConfigTarget:
    name: str
    config: Any
    key: str
    base: float


class ModelRates:
    """Every dropout rate of ``model`` (module attributes and config keys), set from ``schedule(step)``.

    Args:
        where: the caller's name for error messages.
        model: the model, changed in place.
        schedule: ``step -> value``: the rate (``relative=False``) or a factor in ``[0, 1]`` on each
            rate's value when this object was built (``relative=True``).
        relative: see ``schedule``.
        select: ``(name, module) -> bool`` choosing the modules (default: None: :func:`is_rate_module`).
        configs: also set the dropout keys of the model's configs (default: True).

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
        >>> rates = ModelRates("f", net, lambda step: 0.1 * step, relative=False)
        >>> rates.step(2), net[1].p
        (0.2, 0.2)
    """

    def __init__(
        self,
        where: str,
        model: nn.Module,
        schedule: Schedule,
        *,
        relative: bool,
        select: Callable[[str, nn.Module], bool] | None = None,
        configs: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"{where}: model must be an nn.Module, got {type(model).__name__}")
        relative = check_bool(where, "relative", relative)
        configs = check_bool(where, "configs", configs)
        select = is_rate_module if select is None else select
        if not callable(select):
            raise TypeError(f"{where}: select must be a callable (name, module) -> bool, got {type(select).__name__}")
        self.where = where
        self.relative = relative
        chosen = [(n, m) for n, m in model.named_modules() if select(n, m)]
        declared = {a for _, m in chosen for a in getattr(m, "stochastic_rate_attributes", ())}
        attrs = tuple(dict.fromkeys((*RATE_ATTRIBUTES, "attn_p", *sorted(declared))))
        self.config_targets: list[_ConfigTarget] = []
        if configs:
            for i, config in enumerate(_configs(model)):
                prefix = "config" if i == 0 else f"config[{type(config).__name__}]"
                for key, value in config_rate_keys(config).items():
                    self.config_targets.append(_ConfigTarget(f"{prefix}.{key}", config, key, value))
        chosen_ids = {id(m) for _, m in chosen}
        try:
            self.modules: DropoutScheduler | None = DropoutScheduler(
                model, schedule, select=lambda n, m: id(m) in chosen_ids, relative=relative, attrs=attrs
            )
        except ValueError:
            self.modules = None
        if self.modules is None and not self.config_targets:
            raise ValueError(
                f"{where}: model must have at least one dropout layer (nn.Dropout, dropkit, DropPath, an attention "
                f"module with a float dropout rate) or a dropout key in its config, got none in {type(model).__name__}; "
                "add dropout with dropkit.surgery.insert_dropout or build the model with a rate"
            )
        if relative and all(b == 0.0 for b in self._bases()):
            raise ValueError(
                f"{where}: relative=True scales each layer's own rate, but every dropout rate of "
                f"{type(model).__name__} is 0, so the schedule would change nothing; pass relative=False and p"
            )
        self.schedule = schedule
        self.rate: float | None = None
        self.history: list[tuple[int, float]] = []

    def _bases(self) -> list[float]:
        mods = [t.base for t in self.modules.targets] if self.modules is not None else []
        return mods + [t.base for t in self.config_targets]

    @property
    def names(self) -> list[str]:
        """``"<module>.<attr>"`` and ``"config.<key>"`` names of every rate set."""
        mods = self.modules.names if self.modules is not None else []
        return mods + [t.name for t in self.config_targets]

    @property
    def rates(self) -> dict[str, float]:
        """The current value of every rate, read back from the modules and configs."""
        out = dict(self.modules.rates) if self.modules is not None else {}
        out.update({t.name: float(getattr(t.config, t.key)) for t in self.config_targets})
        return out

    def step(self, step: int) -> float:
        """Set every rate for ``step`` (``>= 0``); return the rate in effect (the mean over the module rates,
        over rates built > 0 when relative; over config rates when the model has no dropout module)."""
        step = check_positive_int(self.where, "step", step, minimum=0)
        value = check_probability(self.where, "schedule(step)", self.schedule(step))
        for t in self.config_targets:
            setattr(t.config, t.key, t.base * value if self.relative else value)
        if self.modules is not None:
            rate = self.modules.step(step)  # calls the schedule again: schedules are pure functions of step
        else:
            active = [t for t in self.config_targets if t.base > 0] if self.relative else self.config_targets
            rate = sum(float(getattr(t.config, t.key)) for t in active) / len(active) if active else 0.0
        self.rate = rate
        self.history.append((step, rate))
        return rate

    def restore(self) -> None:
        """Put back every rate as it was when this object was built."""
        if self.modules is not None:
            for t in self.modules.targets:
                setattr(t.module, t.attr, t.base)
        for t in self.config_targets:
            setattr(t.config, t.key, t.base)


class ScheduleSpec:
    """The validated arguments of a schedule callback; :meth:`build` turns them into :class:`ModelRates`.

    Arguments are those of :class:`dropkit.integrations.lightning.DropoutSchedule` (checked here, at
    construction, so a wrong name fails before training starts), ``log_name`` included: the key the
    callback logs the rate under, or None (default: None here; the callbacks default to ``"dropout_rate"``).

    Example:
        >>> from torch import nn
        >>> spec = ScheduleSpec("f", "late", 0.2, cutoff=0.5)
        >>> rates = spec.build(nn.Sequential(nn.Dropout(0.5)), total_steps=4)
        >>> [rates.step(t) for t in range(4)]
        [0.0, 0.0, 0.2, 0.2]
    """

    def __init__(
        self,
        where: str,
        schedule: str | Schedule = "linear",
        p: float | None = None,
        *,
        relative: bool = False,
        total_steps: int | None = None,
        cutoff: float | int | None = None,
        start_p: float = 0.0,
        linear: bool = False,
        gamma: float | None = None,
        select: Callable[[str, nn.Module], bool] | None = None,
        configs: bool = True,
        log_name: str | None = None,
    ) -> None:
        if isinstance(schedule, str):
            check_choice(where, "schedule", schedule, SCHEDULE_NAMES)
        elif not callable(schedule):
            raise TypeError(f"{where}: schedule must be a schedule name or a callable step -> rate, got {type(schedule).__name__}")
        self.where = where
        self.schedule = schedule
        self.relative = check_bool(where, "relative", relative)
        self.p = None if p is None else check_probability(where, "p", p)
        self.total_steps = None if total_steps is None else check_positive_int(where, "total_steps", total_steps)
        self.options: dict[str, Any] = {}
        if cutoff is not None:
            self.options["cutoff"] = cutoff
        if start_p != 0.0:
            self.options["start_p"] = check_probability(where, "start_p", start_p)
        if check_bool(where, "linear", linear):
            self.options["linear"] = True
        if gamma is not None:
            self.options["gamma"] = gamma
        if select is not None and not callable(select):
            raise TypeError(f"{where}: select must be a callable (name, module) -> bool, got {type(select).__name__}")
        self.select = select
        self.configs = check_bool(where, "configs", configs)
        if log_name is not None and (not isinstance(log_name, str) or not log_name):
            raise TypeError(f"{where}: log_name must be a non-empty str or None, got {log_name!r}")
        self.log_name = log_name
        # the checks that need no model (p required or forbidden, options only for names, cutoff's type),
        # against the run's length when known, else against one long enough for a whole-step cutoff
        placeholder = self.total_steps
        if placeholder is None:
            whole = isinstance(cutoff, (int, float)) and not isinstance(cutoff, bool) and cutoff >= 1
            placeholder = int(cutoff) if whole and float(cutoff).is_integer() else 1
        resolve_schedule(where, schedule, self.p, relative=self.relative, total_steps=placeholder, **self.options)

    def build(self, model: nn.Module, total_steps: int | None = None) -> ModelRates:
        """The :class:`ModelRates` of ``model``; ``total_steps`` is used when none was given at construction."""
        total = self.total_steps if self.total_steps is not None else total_steps
        if total is None and isinstance(self.schedule, str):
            raise ValueError(f"{self.where}: total_steps must be given for schedule {self.schedule!r}, got None")
        fn = resolve_schedule(self.where, self.schedule, self.p, relative=self.relative, total_steps=total, **self.options)
        return ModelRates(self.where, model, fn, relative=self.relative, select=self.select, configs=self.configs)

    def __repr__(self) -> str:
        return f"{self.where}(schedule={self.schedule!r}, p={self.p!r}, relative={self.relative})"
