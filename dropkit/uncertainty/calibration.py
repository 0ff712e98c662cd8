"""Calibration: expected calibration error (ECE), reliability-diagram data and its plot.

Naeini, Cooper, Hauskrecht 2015, "Obtaining Well Calibrated Probabilities Using Bayesian Binning",
AAAI, https://ojs.aaai.org/index.php/AAAI/article/view/9602; Guo, Pleiss, Sun, Weinberger 2017,
"On Calibration of Modern Neural Networks", https://arxiv.org/abs/1706.04599 (top-label ECE with equal-width
confidence bins, the variant used here).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from dropkit._validation import check_positive_int
from dropkit.uncertainty._inputs import as_class_probs, as_targets

__all__ = ["ReliabilityDiagram", "reliability_diagram", "expected_calibration_error", "plot_reliability_diagram"]


@dataclass
class ReliabilityDiagram:
    """Per-bin statistics of top-label confidence vs accuracy.

    Attributes:
        bin_edges: ``n_bins + 1`` edges in ``[0, 1]``; bin ``b`` holds confidences in ``(edge_b, edge_b+1]``
            (the first bin also holds 0).
        confidence: mean confidence per bin (NaN for an empty bin).
        accuracy: accuracy per bin (NaN for an empty bin).
        count: samples per bin.
        ece: ``sum_b count_b / N * |accuracy_b - confidence_b|``.
    """

    bin_edges: Tensor
    confidence: Tensor
    accuracy: Tensor
    count: Tensor
    ece: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready lists (NaN for empty bins becomes None)."""
        def clean(t: Tensor) -> list[Any]:
            return [None if v != v else float(v) for v in t.tolist()]

        return {"bin_edges": self.bin_edges.tolist(), "confidence": clean(self.confidence),
                "accuracy": clean(self.accuracy), "count": [int(c) for c in self.count.tolist()], "ece": self.ece}


def reliability_diagram(probs: Any, target: Any, n_bins: int = 15) -> ReliabilityDiagram:
    """Bin predictions by top-label confidence and compare each bin's confidence with its accuracy.

    Args:
        probs: class probabilities ``(N, C)`` or a classification :class:`~dropkit.uncertainty.MCPrediction`.
        target: class indices ``(N,)``.
        n_bins: equal-width bins on ``[0, 1]`` (default: 15).

    Example:
        >>> import torch
        >>> d = reliability_diagram(torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]), torch.tensor([0, 1, 1]), n_bins=2)
        >>> d.count.tolist(), round(d.ece, 4)
        ([0, 3], 0.1333)
    """
    where = "reliability_diagram"
    n_bins = check_positive_int(where, "n_bins", n_bins)
    p = as_class_probs(where, probs)
    y = as_targets(where, target, p.shape[0], p.shape[1])
    conf, pred = p.max(1)
    correct = (pred == y).double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    idx = (torch.bucketize(conf, edges[1:-1], right=False)).clamp(0, n_bins - 1)
    count = torch.bincount(idx, minlength=n_bins)
    sum_conf = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, idx, conf)
    sum_acc = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, idx, correct)
    nonzero = count.clamp_min(1).double()
    mean_conf = torch.where(count > 0, sum_conf / nonzero, torch.nan)
    mean_acc = torch.where(count > 0, sum_acc / nonzero, torch.nan)
    n = max(p.shape[0], 1)
    ece = float((sum_acc - sum_conf).abs().sum() / n)
    return ReliabilityDiagram(edges, mean_conf, mean_acc, count, ece)


def expected_calibration_error(probs: Any, target: Any, n_bins: int = 15) -> float:
    """Top-label ECE with ``n_bins`` equal-width confidence bins (0 is perfectly calibrated).

    Example:
        >>> import torch
        >>> expected_calibration_error(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
        0.0
    """
    return reliability_diagram(probs, target, n_bins).ece


def plot_reliability_diagram(
    diagram: ReliabilityDiagram,
    *,
    ax: Any = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Any:
    """Draw accuracy per confidence bin against the diagonal, with the gap shaded; return the Axes.

    Args:
        diagram: from :func:`reliability_diagram`.
        ax: a matplotlib Axes to draw on (default: None, a new figure).
        path: save the figure there (PNG, SVG, ... by extension), written atomically (default: None).
        title: axes title (default: None, ``"ECE = ..."``).

    Example:
        >>> import torch, tempfile, pathlib
        >>> d = reliability_diagram(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0]), n_bins=5)
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "rel.png"
        >>> _ = plot_reliability_diagram(d, path=out)
        >>> out.exists()
        True
    """
    import matplotlib

    if ax is None and path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from dropkit._io import atomic_path

    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4, 4))
    edges = diagram.bin_edges.numpy()
    width = edges[1:] - edges[:-1]
    acc = torch.nan_to_num(diagram.accuracy, nan=0.0).numpy()
    conf = torch.nan_to_num(diagram.confidence, nan=0.0).numpy()
    ax.bar(edges[:-1], acc, width=width, align="edge", edgecolor="black", label="accuracy")
    ax.bar(edges[:-1], conf - acc, bottom=acc, width=width, align="edge", color="red", alpha=0.3, label="gap")
    ax.plot([0, 1], [0, 1], "k--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title if title is not None else f"ECE = {diagram.ece:.4f}")
    ax.legend(loc="upper left")
    if path is not None:
        suffix = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
        with atomic_path(path) as tmp:
            ax.figure.savefig(tmp, format=suffix, bbox_inches="tight")
        if own:
            plt.close(ax.figure)
    return ax
