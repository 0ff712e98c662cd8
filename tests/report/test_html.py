"""Numbers in the report: table cells keep distinct values distinct, error bars stay in range."""

from __future__ import annotations

import re

from dropkit.report import html


def _cells(fragment: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", fragment)


def test_small_and_huge_floats_keep_their_digits() -> None:
    values = [0.0, 0.9056, 1e-3, 3e-4, 2.5e-4, 1e-5, -1.97e-4, 1234.5, 2.5e6, 1e30, float("inf"), float("nan"), None, 7]
    cells = _cells(html.table([{"v": v} for v in values], ["v"]))
    assert cells == ["0.0000", "0.9056", "0.0010", "0.0003", "0.00025", "1e-05", "-0.000197", "1234.5", "2.5e+06",
                     "1e+30", "inf", "", "", "7"]
    # L2 strengths or learning rates that differ must not print alike (as 0.0000 or 0.0003 did).
    lrs = [1e-5, 2e-5, 2.5e-4, 3e-4]
    assert len(set(_cells(html.table([{"lr": v} for v in lrs], ["lr"])))) == len(lrs)


def test_key_values_format_like_tables_and_escape_text() -> None:
    cells = _cells(html.key_values({"l2": 1e-5, "p": 0.5, "name": "<b>x</b>", "hidden": [32, 64]}))
    assert cells == ["1e-05", "0.5000", "&lt;b&gt;x&lt;/b&gt;", "[32, 64]"]


def test_error_bars_stop_at_the_metric_range() -> None:
    import numpy as np

    from dropkit.report.figures import METRIC_RANGES, error_bars

    mean = np.array([0.90, 0.50, 0.70])
    low = np.array([0.7751, 0.40, np.nan])  # n = 2 seeds: the t interval passes 1.0
    high = np.array([1.0221, 0.60, np.nan])
    err = error_bars(mean, low, high, METRIC_RANGES["test_acc"])
    np.testing.assert_allclose(err, [[0.1249, 0.10, 0.0], [0.10, 0.10, 0.0]], atol=1e-12)
    assert (mean + err[1]).max() <= 1.0 and (mean - err[0]).min() >= 0.0
