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
        return _plot_panels(runs, path, _LANGUAGE_MODEL, held_out="val", title=title)
    return _plot_panels(runs, path, _CLASSIFICATION, held_out="test", title=title)


# The two panels of each kind: (metric, y label, panel title, y scale); rows hold train_<metric>, test_<metric>.
_Panel = tuple[str, str, str, "str | None"]
_CLASSIFICATION: tuple[_Panel, _Panel] = (
    ("acc", "accuracy (eval mode)", "accuracy", None),
    ("loss", "cross-entropy", "loss", "log"),
)
_LANGUAGE_MODEL: tuple[_Panel, _Panel] = (  # train vs validation loss (nats / character) and bits per character
    ("loss", "cross-entropy (nats / character, eval mode)", "loss", None),
    ("bpc", "bits per character (eval mode)", "bits per character", None),
)


def _plot_panels(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    path: Path,
    panels: tuple[_Panel, _Panel],
    *,
    held_out: str,
    title: str | None,
) -> Path:
    """Two panels side by side, train (dashed) and ``held_out`` (solid) per run, saved atomically to ``path``."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, rows) in enumerate(runs.items()):
        color = colors[i % len(colors)]
        steps = [r["step"] for r in rows]
        for ax, (metric, *_) in zip(axes, panels):
            ax.plot(steps, [r[f"train_{metric}"] for r in rows], "--", color=color, label=f"{label} train")
            ax.plot(steps, [r[f"test_{metric}"] for r in rows], "-", color=color, label=f"{label} {held_out}")
    for ax, (_, ylabel, panel_title, yscale) in zip(axes, panels):
        ax.set(xlabel="step", ylabel=ylabel, title=panel_title, **({"yscale": yscale} if yscale else {}))
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)
    return path
