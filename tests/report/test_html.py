"""Numbers in the report's tables: distinct values stay distinct and readable."""

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
