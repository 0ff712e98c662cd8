"""The aggregate's 95 % t interval: computed as Student's t, its ends cut at what the metric can be."""

from __future__ import annotations

import math

import pytest
import scipy.stats

from dropkit.report.tables import aggregate_runs
from dropkit.sweep.aggregate import METRIC_RANGES, aggregate


def _rows(**metrics: list[float]) -> list[dict]:
    n = len(next(iter(metrics.values())))
    return [{"status": "completed", "p": 0.1, "seed": s, **{k: v[s] for k, v in metrics.items()}} for s in range(n)]


def test_an_interval_past_the_metrics_range_is_cut_there() -> None:
    # Two seeds: the t interval is 12.7 standard errors wide and passes 1 for an accuracy near 0.98.
    values = [0.97, 0.99]
    raw_low, raw_high = scipy.stats.t.interval(0.95, df=1, loc=0.98, scale=scipy.stats.sem(values))
    assert raw_high > 1.0 > raw_low > 0.0
    rows = _rows(test_acc=values, train_acc=[1.0, 0.98], gap=[0.03, -0.01], train_loss=[0.01, 0.2], wall_time=[1.0, 9.0])
    (agg,) = aggregate(rows, ["p"])
    assert agg["test_acc_ci_high"] == 1.0 and agg["test_acc_ci_low"] == pytest.approx(raw_low, rel=1e-12)
    assert agg["test_acc_mean"] == pytest.approx(0.98) and agg["test_acc_std"] == pytest.approx(0.02 / math.sqrt(2))
    assert agg["train_acc_ci_high"] == 1.0
    assert agg["train_loss_ci_low"] == 0.0 and agg["wall_time_ci_low"] == 0.0
    assert -1.0 <= agg["gap_ci_low"] < agg["gap_ci_high"] <= 1.0


def test_no_interval_of_a_report_table_lies_outside_its_metrics_range() -> None:
    rows = _rows(test_acc=[0.5, 0.999], best_test_acc=[0.999, 0.2], train_acc=[0.001, 0.999], gap=[-0.99, 0.99],
                 test_loss=[0.001, 3.0], train_loss=[0.0, 2.0], wall_time=[0.1, 50.0])
    (agg,) = aggregate_runs(rows, ["p", "seed"])
    for metric, (lowest, highest) in METRIC_RANGES.items():
        assert lowest <= agg[f"{metric}_ci_low"] <= agg[f"{metric}_mean"] <= agg[f"{metric}_ci_high"] <= highest, metric


def test_a_single_seed_has_no_interval() -> None:
    (agg,) = aggregate(_rows(test_acc=[0.9]), ["p"], metrics=("test_acc",))
    assert math.isnan(agg["test_acc_ci_low"]) and math.isnan(agg["test_acc_ci_high"]) and agg["test_acc_mean"] == 0.9
