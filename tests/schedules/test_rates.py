"""Time schedules: exact values, monotonicity, cutoff resolution, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dropkit.schedules import (
    SCHEDULE_NAMES,
    constant_rate,
    curriculum_rate,
    early_dropout_rate,
    late_dropout_rate,
    linear_rate,
    make_schedule,
    resolve_cutoff,
)


def test_constant_and_linear_exact_values():
    assert [constant_rate(t, 0.25) for t in (0, 7, 10**6)] == [0.25] * 3
    assert [linear_rate(t, 0.5, 10) for t in (0, 5, 10, 11)] == [0.0, 0.25, 0.5, 0.5]
    assert math.isclose(linear_rate(3, 0.1, 4, start_p=0.5), 0.2)  # a decreasing ramp


def test_early_matches_facebookresearch_drop_scheduler():
    # drop_scheduler(mode="early", schedule=...) = concat(early part, zeros), early part per numpy
    p, cutoff, total = 0.1, 7, 12
    const = np.concatenate([np.full(cutoff, p), np.zeros(total - cutoff)])
    lin = np.concatenate([np.linspace(p, 0, cutoff), np.zeros(total - cutoff)])
    assert np.allclose([early_dropout_rate(t, p, cutoff) for t in range(total)], const, atol=0, rtol=0)
    assert np.allclose([early_dropout_rate(t, p, cutoff, linear=True) for t in range(total)], lin, atol=1e-15)
    assert early_dropout_rate(0, p, 1, linear=True) == p  # linspace(p, 0, 1) == [p]


def test_late_exact_values():
    assert [late_dropout_rate(t, 0.3, 4) for t in (0, 3, 4, 100)] == [0.0, 0.0, 0.3, 0.3]


def test_curriculum_formula_and_monotone():
    p, gamma = 0.5, 0.01
    # retain probability of the paper: (1 - theta_bar) exp(-gamma t) + theta_bar with theta_bar = 1 - p
    for t in (0, 1, 50, 1000):
        theta = (1 - (1 - p)) * math.exp(-gamma * t) + (1 - p)
        assert math.isclose(curriculum_rate(t, p, gamma), 1 - theta, abs_tol=1e-12)
    values = [curriculum_rate(t, p, gamma) for t in range(0, 2000, 10)]
    assert values[0] == 0.0 and all(b > a for a, b in zip(values, values[1:])) and values[-1] < p


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_every_schedule_bounded_and_monotone_where_expected(name):
    s = make_schedule(name, 0.4, total_steps=100, cutoff=30)
    values = [s(t) for t in range(120)]
    assert all(0.0 <= v <= 0.4 for v in values)
    diffs = np.diff(values)
    if name in ("linear", "late", "curriculum"):
        assert (diffs >= 0).all()
    if name == "early":
        assert (diffs <= 0).all()


def test_make_schedule_resolves_cutoffs():
    assert make_schedule("early", 0.2, total_steps=1000, cutoff=0.25)(249) == 0.2
    assert make_schedule("early", 0.2, total_steps=1000, cutoff=0.25)(250) == 0.0
    assert make_schedule("late", 0.2, total_steps=1000, cutoff=300.0)(300) == 0.2
    assert make_schedule("linear", 0.2, total_steps=100)(50) == pytest.approx(0.1)
    assert make_schedule("curriculum", 0.2, total_steps=100)(100) == pytest.approx(0.2 * (1 - math.exp(-10)))
    assert resolve_cutoff("f", "cutoff", 1000, 1000) == 1000


def test_bad_inputs():
    with pytest.raises(ValueError, match="got -1"):
        early_dropout_rate(-1, 0.1, 5)
    with pytest.raises(ValueError, match="got -3"):
        make_schedule("late", 0.1, total_steps=10, cutoff=3)(-3)
    with pytest.raises(ValueError, match="got 'erly'.*did you mean 'early'"):
        make_schedule("erly", 0.1, total_steps=10, cutoff=3)
    with pytest.raises(ValueError, match="got 1500"):
        make_schedule("early", 0.1, total_steps=1000, cutoff=1500)
    with pytest.raises(ValueError, match="got 12.5"):
        make_schedule("late", 0.1, total_steps=1000, cutoff=12.5)
    with pytest.raises(ValueError, match="got 0"):
        make_schedule("late", 0.1, total_steps=1000, cutoff=0)
    with pytest.raises(ValueError, match="got None"):
        make_schedule("early", 0.1, total_steps=1000)
    with pytest.raises(ValueError, match="got 1.5"):
        make_schedule("constant", 1.5, total_steps=10)
    with pytest.raises(ValueError, match="got -0.1"):
        curriculum_rate(3, 0.5, -0.1)
