"""``build_report(folder)``: an HTML page and PNG/SVG figures for a run, compare or sweep folder.

The report folder (default ``<folder>/report/``) holds ``index.html`` (self-contained: figures inline as
base64 PNG, no script, no external URL) and each figure as ``.png`` and ``.svg``:

- ``curves``: train vs test accuracy and loss over steps, one colour per rate (mean over seeds);
- ``rates``: test accuracy and generalisation gap against p, mean over seeds with a 95 % t interval;
- ``heatmap``: mean test accuracy over p × λ (L2), when both are swept;

then a table of the best configurations, every run, and the run metadata (``env.json``). The folder is
built next to its destination and renamed into place: a reader never sees half a report.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dropkit.plotting import plot_learning_curves
from dropkit.report import html
from dropkit.report.figures import mean_curve, plot_heatmap, plot_rate_effect, series_label
from dropkit.report.sources import ReportSource, RunRecord, load_source
from dropkit.report.tables import aggregate_runs, rank_rows, run_rows, varied_keys
from dropkit.sweep.history import read_invocations
from dropkit.train.model_keys import applies_to

__all__ = ["build_report"]

log = logging.getLogger("dropkit.report")

_MAX_CURVES = 8
_MAX_RUN_ROWS = 300


def _matches(row: dict[str, Any], agg_row: dict[str, Any], keys: Sequence[str]) -> bool:
    return all(row.get(k) == agg_row.get(k) for k in keys)


def _distinct(rows: Sequence[dict[str, Any]], key: str) -> list[Any]:
    out: list[Any] = []
    for r in rows:
        if r.get(key) not in out:
            out.append(r.get(key))
    return out


def _curves(
    records: Sequence[RunRecord], rows: Sequence[dict[str, Any]], agg: Sequence[dict[str, Any]], group: Sequence[str], metric: str
) -> dict[str, list[dict[str, Any]]]:
    """label -> mean metrics rows; one curve per rate (its best configuration when other keys vary)."""
    by_label = {r.label: r for r in records}
    chosen: list[dict[str, Any]] = []
    if "p" in group:
        for p in sorted(v for v in _distinct(agg, "p") if v is not None):
            candidates = [a for a in agg if a.get("p") == p]
            chosen.append(rank_rows(candidates, f"{metric}_mean")[0])
    else:
        chosen = rank_rows(list(agg), f"{metric}_mean")[:_MAX_CURVES]
    if len(chosen) > _MAX_CURVES:  # keep the extremes and an even spread in between
        step = (len(chosen) - 1) / (_MAX_CURVES - 1)
        chosen = [chosen[round(i * step)] for i in range(_MAX_CURVES)]
    out: dict[str, list[dict[str, Any]]] = {}
    for a in chosen:
        members = [by_label[r["label"]] for r in rows if r["status"] == "completed" and _matches(r, a, group)]
        curve = mean_curve([m.metrics for m in members if m.metrics])
        if not curve:
            continue
        label = series_label(a, ["p"] + [k for k in group if k != "p"]) if "p" in group else series_label(a, group)
        if len(members) > 1:
            label += f" (mean of {len(members)})"
        out[label] = curve
    if not out:  # a single run, or nothing completed yet: plot whatever metrics exist
        for r in records[:_MAX_CURVES]:
            if r.metrics:
                out[r.label] = r.metrics
    return out


def _overview(src: ReportSource, rows: Sequence[dict[str, Any]], group: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    first = next((r.config for r in src.records if r.config), {})
    info: dict[str, Any] = {
        "kind": src.kind,
        "folder": str(src.folder.resolve()),
        "runs": len(rows),
        "status": ", ".join(f"{n} {s}" for s, n in counts.items()),
        "dataset": first.get("dataset"),
        "model": first.get("model"),
        "swept keys": ", ".join(group + (["seed"] if len({r.get("seed") for r in rows if r.get("seed") is not None}) > 1 else [])) or "none",
    }
    if src.kind == "sweep":
        for key in ("description", "executor", "wall_time", "trial_time_sum"):
            if src.index.get(key) not in (None, ""):
                info[f"sweep {key.replace('_', ' ')}" + (" (s)" if "time" in key else "")] = src.index[key]
        invocations = read_invocations(src.index)
        if invocations:  # the wall time above is the sweep's: the invocations that ran trials, summed
            working = sum(1 for r in invocations if r.get("ran"))
            info["sweep invocations"] = f"{len(invocations)} ({working} ran trials; see Invocations)"
    if src.kind == "run":
        s = src.records[0].summary
        for key in ("steps", "step", "wall_time", "parameters", "best_test_acc", "best_step"):
            if key in s:
                info[key] = s[key]
    resume = _resume_hint(src, counts)
    if resume:
        info["resume with"] = resume
    return html.key_values(info)


def _invocations_table(src: ReportSource) -> str:
    rows = [{"#": i + 1, **r} for i, r in enumerate(read_invocations(src.index))]
    note = ('<p class="note">Each <code>dropkit sweep</code> on this folder, oldest first; one that finds every '
            "trial finished runs none and only rebuilds the tables.</p>")
    cols = ["#", "started", "wall_time", "ran", "skipped", "failed", "executor"]
    return note + html.table(rows, cols, text_columns=["started", "executor"])


def _resume_hint(src: ReportSource, counts: dict[str, int]) -> str | None:
    """The command that finishes an interrupted run, compare or sweep (None when nothing is interrupted)."""
    folder = shlex.quote(str(src.folder))
    if src.kind == "run" and counts.get("interrupted"):
        return f"dropkit train --resume --out {folder}"
    if src.kind == "compare" and (src.index.get("status") == "interrupted" or counts.get("interrupted")):
        return f"dropkit compare --resume --out {folder}"
    if src.kind == "sweep" and (src.index.get("status") == "interrupted" or counts.get("interrupted")):
        return f"dropkit sweep {shlex.quote(str(src.folder / 'sweep.yaml'))} --out {folder}"
    return None


def _metadata(src: ReportSource) -> str:
    envs = [r.env for r in src.records if r.env]
    if not envs:
        return '<p class="note">No env.json found.</p>'
    env = dict(envs[0])
    if isinstance(env.get("command"), list):
        env["command"] = " ".join(map(str, env["command"]))
    parts = [html.key_values(env)]
    for key in ("hostname", "torch", "git_sha", "device"):
        values = sorted({str(e.get(key)) for e in envs})
        if len(values) > 1:
            parts.append(f'<p class="note">runs differ in {html.escape(key)}: {html.escape(", ".join(values))}</p>')
    return "".join(parts)


def _config_table(src: ReportSource, varied: Sequence[str]) -> str:
    if not src.records:
        return ""
    first = next((r.config for r in src.records if r.config), {})
    models = {r.config.get("model") for r in src.records if r.config}
    # Keys of other models (an MLP run's CNN and transformer keys) describe nothing here: left out.
    cfg = {
        k: v
        for k, v in first.items()
        if k not in varied and k != "name" and any(applies_to(k, m) for m in models)
    }
    note = "" if src.kind == "run" else '<p class="note">Keys shared by every run (swept keys are in the tables above).</p>'
    return note + html.key_values({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in cfg.items()})


def build_report(folder: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Write the report of a run, compare or sweep ``folder``; return the path of ``index.html``.

    Args:
        folder: a run folder (``config.yaml``), a compare folder (``compare.json``) or a sweep folder
            (``trials.json``); the kind is detected.
        out: the report folder (default ``<folder>/report``); replaced as a whole.

    Example:
        >>> from dropkit.report import build_report  # doctest: +SKIP
        >>> build_report("runs/sweeps/mnist1d-rates")  # doctest: +SKIP
        PosixPath('runs/sweeps/mnist1d-rates/report/index.html')
    """
    src = load_source(folder)
    if not src.records:
        raise ValueError(f"report: {str(src.folder)!r} holds no runs yet, got an empty {src.kind} folder")
    out = Path(out) if out is not None else src.folder / "report"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        _write(src, tmp)
        _readable(tmp)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "index.html"


def _readable(folder: Path) -> None:
    """Give the report the usual permissions (temporary files are created private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for path in folder.iterdir():
        os.chmod(path, 0o666 & ~umask)


def _swap_into_place(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.parent / f".{out.name}-old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write(src: ReportSource, folder: Path) -> None:
    rows = run_rows(src.records)
    lm = bool(rows) and all("test_bpc" in r for r in rows)  # language models: val loss, not accuracy
    metric = str(src.index.get("metric") or ("test_loss" if lm else "test_acc"))
    varied = varied_keys(src.records, src.index.get("varied") or ["p"])
    group = [k for k in varied if k != "seed"]
    agg = aggregate_runs(rows, varied)
    title_what = {"run": "run", "compare": "comparison", "sweep": "sweep"}[src.kind]
    name = src.index.get("name") or src.folder.resolve().name
    first = next((r.config for r in src.records if r.config), {})  # pending trials have no config yet
    sections: list[tuple[str, str]] = [("Overview", _overview(src, rows, group))]

    curves = _curves(src.records, rows, agg, group, metric)
    if curves:
        what = f"{first.get('model')} on {first.get('dataset')}"
        plot_learning_curves(curves, folder / "curves.png", title=f"{what}: train (dashed) vs test (solid)")
        plot_learning_curves(curves, folder / "curves.svg", title=f"{what}: train (dashed) vs test (solid)")
        caption = "Train (dashed, eval mode on a fixed train subset) vs test (solid) accuracy and loss"
        if "p" in group:
            caption += "; one colour per rate p, mean over seeds, the best setting of the other swept keys"
        sections.append(("Learning curves", html.figure(folder / "curves.png", caption, "learning curves")))
    else:
        sections.append(("Learning curves", '<p class="note">No metrics yet.</p>'))

    rates = _distinct(agg, "p") if "p" in group and not lm else []  # p is not a language model's rate
    if len(rates) >= 2:
        others = [k for k in group if k != "p"]
        plot_rate_effect(agg, folder / "rates", x="p", series_keys=others, title=f"{name}: mean over seeds, 95% t interval")
        sections.append(
            (
                "Test accuracy and generalisation gap against p",
                html.figure(folder / "rates.png", "Mean over seeds; bars: 95% Student-t interval, cut at what the metric can be (none for a single seed)", "accuracy and gap against p"),
            )
        )
    else:
        sections.append(("Test accuracy and generalisation gap against p", '<p class="note">Not applicable: p takes a single value here.</p>'))

    if "p" in group and "l2" in group and len(_distinct(agg, "p")) >= 2 and len(_distinct(agg, "l2")) >= 2:
        plot_heatmap(agg, folder / "heatmap", rows_key="p", cols_key="l2", value=f"{metric}_mean" if metric != "gap" else "test_acc_mean")
        sections.append(("p × λ (L2) heat map", html.figure(folder / "heatmap.png", "Mean over seeds (best over any other swept key)", "p by l2 heat map")))
    else:
        sections.append(("p × λ (L2) heat map", '<p class="note">Not applicable: needs runs over at least two values of both p and l2.</p>'))

    best = rank_rows(agg, f"{metric}_mean")[:10]
    cols = list(group) + ["n", f"{metric}_mean", f"{metric}_ci_low", f"{metric}_ci_high"]
    shown_cols = ("test_loss_mean", "train_loss_mean", "wall_time_mean") if lm else (
        "test_acc_mean", "train_acc_mean", "gap_mean", "best_test_acc_mean", "wall_time_mean")
    cols += [c for c in shown_cols if c not in cols]
    sections.append(
        (
            f"Best configurations by {metric}",
            '<p class="note">Mean over the completed seeds; ci: 95% Student-t interval, cut at what the metric can be.</p>'
            + html.table(best, cols, text_columns=list(group)),
        )
    )
    run_cols = ["label", "status"] + list(varied) + (
        ["train_loss", "test_loss", "test_bpc", "best_test_loss", "wall_time"] if lm
        else ["train_acc", "test_acc", "gap", "best_test_acc", "wall_time"])
    shown = rows[:_MAX_RUN_ROWS]
    more = f'<p class="note">{len(rows) - len(shown)} more runs in results.csv.</p>' if len(rows) > len(shown) else ""
    sections.append(("Runs", html.table(shown, run_cols, text_columns=["label", "status"] + list(varied)) + more))
    if src.kind == "sweep" and read_invocations(src.index):
        sections.append(("Invocations", _invocations_table(src)))
    sections.append(("Configuration", _config_table(src, varied)))
    sections.append(("Run metadata (env.json)", _metadata(src)))
    intro = (
        f"A dropkit {title_what} report of <code>{html.escape(src.folder.resolve())}</code>. "
        "p is the probability of dropping a unit. Accuracies are measured in eval mode (no dropout)."
    )
    text = html.page(f"dropkit report: {name}", intro, sections)
    (folder / "index.html").write_text(text)
