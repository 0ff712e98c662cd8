"""Learning curves: train vs test accuracy and loss over steps, one colour per run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dropkit._io import atomic_path  # noqa: E402

__all__ = ["plot_learning_curves"]


def plot_learning_curves(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Plot accuracy and loss against steps for each run and save to ``path`` (PNG or SVG), atomically.

    Language-model runs (rows with ``test_bpc``) show the validation loss instead of accuracy: the
    panels are cross-entropy in nats per character and bits per character, "val" for the held-out split.

    Args:
        runs: label -> metrics rows (as in ``metrics.jsonl``).
        path: output file; the format follows the suffix.
        title: figure title.

    Example:
        >>> import tempfile, pathlib
        >>> rows = [{"step": s, "train_acc": 0.5 + s / 20, "test_acc": 0.5 + s / 40,
        ...          "train_loss": 1 - s / 20, "test_loss": 1 - s / 40} for s in range(5)]
        >>> out = plot_learning_curves({"p=0.5": rows}, pathlib.Path(tempfile.mkdtemp()) / "c.png")
        >>> out.exists()
        True
    """
    path = Path(path)
    if runs and all(rows and all("test_bpc" in r for r in rows) for rows in runs.values()):
        return _plot_lm_curves(runs, path, title=title)
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, rows) in enumerate(runs.items()):
        color = colors[i % len(colors)]
        steps = [r["step"] for r in rows]
        ax_acc.plot(steps, [r["train_acc"] for r in rows], "--", color=color, label=f"{label} train")
        ax_acc.plot(steps, [r["test_acc"] for r in rows], "-", color=color, label=f"{label} test")
        ax_loss.plot(steps, [r["train_loss"] for r in rows], "--", color=color, label=f"{label} train")
        ax_loss.plot(steps, [r["test_loss"] for r in rows], "-", color=color, label=f"{label} test")
    ax_acc.set(xlabel="step", ylabel="accuracy (eval mode)", title="accuracy")
    ax_loss.set(xlabel="step", ylabel="cross-entropy", title="loss", yscale="log")
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)
    return path


def _plot_lm_curves(runs: Mapping[str, Sequence[Mapping[str, Any]]], path: Path, *, title: str | None) -> Path:
    """Language models: train vs validation loss (nats / character) and bits per character."""
    fig, (ax_loss, ax_bpc) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, rows) in enumerate(runs.items()):
        color = colors[i % len(colors)]
        steps = [r["step"] for r in rows]
        ax_loss.plot(steps, [r["train_loss"] for r in rows], "--", color=color, label=f"{label} train")
        ax_loss.plot(steps, [r["test_loss"] for r in rows], "-", color=color, label=f"{label} val")
        ax_bpc.plot(steps, [r["train_bpc"] for r in rows], "--", color=color, label=f"{label} train")
        ax_bpc.plot(steps, [r["test_bpc"] for r in rows], "-", color=color, label=f"{label} val")
    ax_loss.set(xlabel="step", ylabel="cross-entropy (nats / character, eval mode)", title="loss")
    ax_bpc.set(xlabel="step", ylabel="bits per character (eval mode)", title="bits per character")
    for ax in (ax_loss, ax_bpc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)
    return path
