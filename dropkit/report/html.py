"""A self-contained HTML page: inline CSS, figures embedded as base64 PNG, no script, no external URL."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["page", "figure", "table", "key_values", "escape"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.k,th.k{text-align:left}figure{margin:1em 0}img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}p.note{color:#666;font-style:italic}code{background:#f4f4f4;padding:0 3px}
"""


def escape(value: Any) -> str:
    """``value`` as text safe inside HTML (quotes escaped too)."""
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """A float with 4 decimals in [1e-3, 1e6) (accuracies, rates, seconds), else 3 significant digits
    (an L2 strength of 2.5e-05 must not print as 0.0000, a learning rate of 1e+30 not as 31 digits)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        magnitude = abs(value)
        if magnitude == 0.0 or 1e-3 <= magnitude < 1000:
            return f"{value:.4f}"
        if 1000 <= magnitude < 1e6:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def figure(png: Path, caption: str, alt: str) -> str:
    """An ``<img>`` holding ``png`` as a base64 data URL, with a caption."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(caption)} (files: <code>{escape(png.name)}</code>, "
        f"<code>{escape(png.with_suffix('.svg').name)}</code>)</figcaption></figure>"
    )


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, text_columns: Sequence[str] = ()) -> str:
    """An HTML table of ``columns`` of ``rows``; floats as :func:`_fmt` writes them, text columns left-aligned."""
    head = "".join(f'<th class="{"k" if c in text_columns else ""}">{escape(c)}</th>' for c in columns)
    body = []
    for r in rows:
        cells = "".join(
            f'<td class="{"k" if c in text_columns else ""}">{escape(_fmt(r.get(c)))}</td>' for c in columns
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def key_values(data: Mapping[str, Any]) -> str:
    """A two-column table of ``data``."""
    rows = "".join(
        f'<tr><th class="k">{escape(k)}</th><td class="k">{escape(_fmt(v) if not isinstance(v, (list, dict)) else v)}</td></tr>'
        for k, v in data.items()
    )
    return f"<table><tbody>{rows}</tbody></table>"


def page(title: str, intro: str, sections: Sequence[tuple[str, str]]) -> str:
    """The whole page: ``sections`` are (heading, inner HTML) pairs."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1><p>{intro}</p>",
    ]
    for heading, inner in sections:
        parts.append(f"<section><h2>{escape(heading)}</h2>{inner}</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
