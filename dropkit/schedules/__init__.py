"""Dropout-rate schedules over time (pure functions of the step) and over depth, and the scheduler
that applies them to a model. Rates are probabilities of **dropping**."""

from dropkit.schedules.depth import drop_path_rates
from dropkit.schedules.rates import (
    SCHEDULE_NAMES,
    constant_rate,
    curriculum_rate,
    early_dropout_rate,
    late_dropout_rate,
    linear_rate,
    make_schedule,
    resolve_cutoff,
)
from dropkit.schedules.scheduler import DropoutScheduler, is_dropout_module

__all__ = [
    "SCHEDULE_NAMES",
    "constant_rate",
    "linear_rate",
    "early_dropout_rate",
    "late_dropout_rate",
    "curriculum_rate",
    "resolve_cutoff",
    "make_schedule",
    "drop_path_rates",
    "DropoutScheduler",
    "is_dropout_module",
]
