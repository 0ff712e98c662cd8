"""``evaluate_uncertainty``: a trained classifier, deterministic pass vs MC dropout, in distribution, under
shift and against an OOD set; what ``dropkit uncertainty RUN_DIR`` runs and writes.

Gal & Ghahramani 2016, https://arxiv.org/abs/1506.02142 (MC dropout); Ovadia et al. 2019,
https://arxiv.org/abs/1906.02530 (evaluation under shift: accuracy, NLL, Brier, ECE against shift strength,
OOD detection from predictive entropy). The deterministic pass is the model in eval mode (dropout off,
weights as trained: the usual "weight scaling" approximation). Entropies and mutual information are in nats.

Files written to ``out`` (each atomically):

- ``metrics.json``: settings, one entry per condition (``none``, ``noise`` sigma, ``rotate`` degrees) with
  ``deterministic`` and ``mc`` scores, the OOD AUROC / AUPR, reliability-diagram data, timings;
- ``reliability.png`` (deterministic vs MC, in distribution), ``ood_entropy.png`` (entropy and mutual
  information histograms, in vs out), ``shift.png`` (accuracy, NLL, ECE against shift strength).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dropkit._validation import check_non_negative, check_positive_int
from dropkit.data import ArrayDataset
from dropkit.surgery.stochastic import has_stochastic_layer
from dropkit.uncertainty.calibration import expected_calibration_error, plot_reliability_diagram, reliability_diagram
from dropkit.uncertainty.mc_predict import mc_predict
from dropkit.uncertainty.ood import ood_detection
from dropkit.uncertainty.scores import brier_score, nll
from dropkit.evaluation.shift import OODSet, add_gaussian_noise, is_image_shape, rotate_images

__all__ = ["Predictions", "predict", "score", "evaluate_uncertainty", "write_plots", "format_table",
           "summary_rows"]

log = logging.getLogger("dropkit")

N_BINS = 15


class Predictions:
    """Class probabilities of one input set with their entropy (and, for MC, the mutual information)."""

    def __init__(self, probs: Tensor, entropy: Tensor, mutual_information: Tensor | None, seconds: float) -> None:
        self.probs = probs
        self.entropy = entropy
        self.mutual_information = mutual_information
        self.seconds = seconds


def _entropy(p: Tensor) -> Tensor:
    p = p.double()
    return -(p * p.clamp_min(1e-30).log()).sum(-1)


def predict(model: nn.Module, x: Tensor, *, samples: int | None, batch_size: int = 500, seed: int = 0) -> Predictions:
    """Deterministic (``samples=None``: eval mode, one pass) or MC-dropout (``samples`` = T) predictions.

    The input is split into batches of ``batch_size`` rows; MC batch ``i`` uses ``seed + i`` so the result
    does not depend on the global RNG.
    """
    t0 = time.perf_counter()
    probs, ent, mi = [], [], []
    was_training = model.training
    model.eval()
    try:
        for i, start in enumerate(range(0, x.shape[0], batch_size)):
            xb = x[start : start + batch_size]
            if samples is None:
                with torch.no_grad():
                    p = torch.softmax(model(xb).double(), -1)
                probs.append(p)
                ent.append(_entropy(p))
            else:
                pred = mc_predict(model, xb, samples, seed=seed + i)
                probs.append(pred.mean.double())
                ent.append(pred.entropy.double())
                mi.append(pred.mutual_information.double())
    finally:
        model.train(was_training)
    return Predictions(torch.cat(probs), torch.cat(ent), torch.cat(mi) if mi else None, time.perf_counter() - t0)


def score(pred: Predictions, y: Tensor) -> dict[str, float]:
    """Accuracy, NLL (nats), Brier (summed over classes), top-label ECE (15 bins), mean entropy (and MI)."""
    p = pred.probs
    out = {
        "accuracy": float((p.argmax(1) == y).double().mean()),
        "nll": nll(p, y),
        "brier": brier_score(p, y),
        "ece": expected_calibration_error(p, y, N_BINS),
        "mean_entropy": float(pred.entropy.mean()),
    }
    if pred.mutual_information is not None:
        out["mean_mutual_information"] = float(pred.mutual_information.mean())
    out["seconds"] = pred.seconds
    return out


def _check_levels(where: str, name: str, values: Sequence[float], *, non_negative: bool) -> list[float]:
    out = []
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise ValueError(f"{where}: {name} must be finite numbers, got {v!r}")
        out.append(check_non_negative(where, name, v) if non_negative else float(v))
    return sorted(set(out))


def evaluate_uncertainty(
    model: nn.Module,
    data: ArrayDataset,
    *,
    samples: int = 50,
    noise: Sequence[float] = (),
    rotate: Sequence[float] = (),
    ood: OODSet | None = None,
    batch_size: int = 500,
    seed: int = 0,
    max_samples: int | None = None,
) -> dict[str, Any]:
    """Score the deterministic pass and MC dropout (T = ``samples``) on ``data``'s test split and under shift.

    Args:
        model: a trained classifier returning logits ``(N, C)``; must contain a stochastic layer.
        data: the run's dataset; its test split is evaluated.
        samples: T, MC-dropout passes, ``>= 1`` (default: 50).
        noise: standard deviations of additive Gaussian noise (input units; images clipped to [0, 1])
            (default: none).
        rotate: rotation angles in degrees, images only; ignored with an entry in ``skipped`` for 1-D
            signals (default: none).
        ood: an OOD set (:func:`~dropkit.evaluation.shift.load_ood`) (default: None, no OOD scores).
        batch_size: rows per forward call (default: 500).
        seed: seeds the MC masks and the noise (default: 0).
        max_samples: evaluate only the first ``max_samples`` test rows (default: None, all). The OOD set
            is cut to at most as many rows as the test set.

    Returns:
        The content of ``metrics.json`` (see the module docstring), with the raw in/out entropies under the
        private key ``"_arrays"`` for plotting (not written).
    """
    where = "uncertainty"
    samples = check_positive_int(where, "samples", samples)
    batch_size = check_positive_int(where, "batch_size", batch_size)
    seed = check_positive_int(where, "seed", seed, minimum=0)
    if max_samples is not None:
        max_samples = check_positive_int(where, "max_samples", max_samples)
    noise = _check_levels(where, "noise", noise, non_negative=True)
    rotate = _check_levels(where, "rotate", rotate, non_negative=False)
    if not has_stochastic_layer(model):
        raise ValueError(f"{where}: the model has no dropout or other stochastic layer with a rate > 0, so MC dropout "
                         "has nothing to sample (every pass would equal the deterministic one); train with p > 0")
    image = is_image_shape(tuple(data.input_shape))
    skipped: list[str] = []
    if rotate and not image:
        skipped.append(f"rotate: the inputs are 1-D signals {tuple(data.input_shape)}, not images; rotation skipped")
        log.warning("%s", skipped[-1])
        rotate = []
    x, y = data.test_x, data.test_y
    if max_samples is not None:
        x, y = x[:max_samples], y[:max_samples]
    gen = torch.Generator().manual_seed(seed)

    conditions: list[dict[str, Any]] = []
    arrays: dict[str, Tensor] = {}
    reliability: dict[str, Any] = {}

    def run_condition(shift: str, level: float, xs: Tensor) -> None:
        t0 = time.perf_counter()
        det = predict(model, xs, samples=None, batch_size=batch_size, seed=seed)
        mc = predict(model, xs, samples=samples, batch_size=batch_size, seed=seed)
        conditions.append({"shift": shift, "level": level, "deterministic": score(det, y), "mc": score(mc, y)})
        log.info("%-6s %6g  acc %.4f / %.4f  nll %.4f / %.4f  (det / MC, %.1f s)", shift, level,
                 conditions[-1]["deterministic"]["accuracy"], conditions[-1]["mc"]["accuracy"],
                 conditions[-1]["deterministic"]["nll"], conditions[-1]["mc"]["nll"], time.perf_counter() - t0)
        if shift == "none":
            for name, pred in (("deterministic", det), ("mc", mc)):
                reliability[name] = reliability_diagram(pred.probs, y, N_BINS)
            arrays.update(det_entropy_in=det.entropy, mc_entropy_in=mc.entropy, mc_mi_in=mc.mutual_information)

    run_condition("none", 0.0, x)
    for sigma in noise:
        if sigma > 0:
            run_condition("noise", sigma, add_gaussian_noise(x, sigma, generator=gen, clip=(0.0, 1.0) if image else None))
    for deg in rotate:
        if deg % 360 != 0:
            run_condition("rotate", deg, rotate_images(x, deg))

    ood_result = None
    if ood is not None:
        if tuple(ood.x.shape[1:]) != tuple(data.input_shape):
            raise ValueError(f"{where}: OOD inputs must have the run's input shape {tuple(data.input_shape)}, got "
                             f"{tuple(ood.x.shape[1:])}")
        xo = ood.x[: x.shape[0]]  # at most as many OOD rows as test rows
        det = predict(model, xo, samples=None, batch_size=batch_size, seed=seed)
        mc = predict(model, xo, samples=samples, batch_size=batch_size, seed=seed + 1_000_003)
        arrays.update(det_entropy_out=det.entropy, mc_entropy_out=mc.entropy, mc_mi_out=mc.mutual_information)
        ood_result = {
            "dataset": ood.name,
            "description": ood.description,
            "n_in": int(x.shape[0]),
            "n_out": int(xo.shape[0]),
            "deterministic": {"entropy": ood_detection(arrays["det_entropy_in"], det.entropy),
                              "mean_entropy_out": float(det.entropy.mean()), "seconds": det.seconds},
            "mc": {"entropy": ood_detection(arrays["mc_entropy_in"], mc.entropy),
                   "mutual_information": ood_detection(arrays["mc_mi_in"], mc.mutual_information),
                   "mean_entropy_out": float(mc.entropy.mean()),
                   "mean_mutual_information_out": float(mc.mutual_information.mean()), "seconds": mc.seconds},
        }
    return {
        "samples": samples,
        "seed": seed,
        "batch_size": batch_size,
        "n_test": int(x.shape[0]),
        "conditions": conditions,
        "ood": ood_result,
        "skipped": skipped,
        "reliability": {k: v.as_dict() for k, v in reliability.items()},
        "_arrays": arrays,
    }


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    from dropkit._io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", dpi=110)
    plt.close(fig)


def write_plots(result: dict[str, Any], out: Path, *, title: str = "") -> list[str]:
    """Draw ``reliability.png``, ``ood_entropy.png`` (with an OOD set) and ``shift.png`` (with shifts) in
    ``out``; return the file names written."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from dropkit.uncertainty.calibration import ReliabilityDiagram

    written = []
    out.mkdir(parents=True, exist_ok=True)
    t = result["samples"]
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    for ax, key, label in zip(axes, ("deterministic", "mc"), ("deterministic pass", f"MC dropout, T = {t}")):
        d = result["reliability"][key]
        diag = ReliabilityDiagram(torch.tensor(d["bin_edges"]), torch.tensor([math.nan if v is None else v for v in d["confidence"]]),
                                  torch.tensor([math.nan if v is None else v for v in d["accuracy"]]),
                                  torch.tensor(d["count"]), d["ece"])
        plot_reliability_diagram(diag, ax=ax, title=f"{label}: ECE = {d['ece']:.4f}")
    fig.suptitle(f"{title} in distribution".strip())
    _save(fig, out / "reliability.png")
    written.append("reliability.png")

    arrays = result.get("_arrays", {})
    if result.get("ood") is not None and "det_entropy_out" in arrays:
        name = result["ood"]["dataset"]
        panels = [("det_entropy", "entropy, deterministic", result["ood"]["deterministic"]["entropy"]),
                  ("mc_entropy", f"predictive entropy, MC T = {t}", result["ood"]["mc"]["entropy"]),
                  ("mc_mi", "mutual information (BALD)", result["ood"]["mc"]["mutual_information"])]
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for ax, (key, label, auc) in zip(axes, panels):
            a, b = arrays[f"{key}_in"].numpy(), arrays[f"{key}_out"].numpy()
            lo, hi = min(float(a.min()), float(b.min())), max(float(a.max()), float(b.max()))
            hi = max(hi, lo + 1e-6)
            bins = [lo + (hi - lo) * i / 40 for i in range(41)]
            ax.hist(a, bins=bins, alpha=0.6, density=True, label="in distribution (test)")
            ax.hist(b, bins=bins, alpha=0.6, density=True, label=f"OOD: {name}")
            ax.set_xlabel(f"{label} (nats)")
            ax.set_title(f"AUROC {auc['auroc']:.3f}")
        axes[0].set_ylabel("density")
        axes[0].legend(fontsize=8)
        fig.suptitle(f"{title} in vs out of distribution".strip(), y=1.03)
        _save(fig, out / "ood_entropy.png")
        written.append("ood_entropy.png")

    clean = next(c for c in result["conditions"] if c["shift"] == "none")
    kinds = [k for k in ("noise", "rotate") if any(c["shift"] == k for c in result["conditions"])]
    if kinds:
        metrics = (("accuracy", "accuracy"), ("nll", "NLL (nats)"), ("ece", "ECE"))
        fig, axes = plt.subplots(len(kinds), 3, figsize=(12, 3.4 * len(kinds)), squeeze=False)
        for row, kind in zip(axes, kinds):
            rows = [clean] + [c for c in result["conditions"] if c["shift"] == kind]
            levels = [c["level"] for c in rows]
            for ax, (key, label) in zip(row, metrics):
                for mode, style in (("deterministic", "o-"), ("mc", "s--")):
                    ax.plot(levels, [c[mode][key] for c in rows], style,
                            label="deterministic" if mode == "deterministic" else f"MC, T = {t}")
                ax.set_xlabel("noise sigma" if kind == "noise" else "rotation (degrees)")
                ax.set_ylabel(label)
                ax.grid(alpha=0.3)
            row[0].legend(fontsize=8)
        fig.suptitle(f"{title} under shift".strip())
        _save(fig, out / "shift.png")
        written.append("shift.png")
    return written


def format_table(result: dict[str, Any]) -> str:
    """The compact table ``dropkit uncertainty`` prints: one row per condition, deterministic | MC."""
    t = result["samples"]
    head = f"{'condition':<16}{'acc':>15}{'NLL':>17}{'Brier':>17}{'ECE':>17}"
    lines = [head, f"{'':<16}" + f"{'det':>8}{'MC':>7}" + "".join(f"{'det':>9}{'MC':>8}" for _ in range(3)),
             "-" * len(head)]
    for c in result["conditions"]:
        name = "clean" if c["shift"] == "none" else f"{c['shift']} {c['level']:g}"
        d, m = c["deterministic"], c["mc"]
        cells = f"{d['accuracy']:>8.4f}{m['accuracy']:>7.4f}"
        cells += "".join(f"{d[k]:>9.4f}{m[k]:>8.4f}" for k in ("nll", "brier", "ece"))
        lines.append(f"{name:<16}{cells}")
    lines.append(f"(MC: T = {t} passes; NLL in nats; ECE with {N_BINS} bins; n = {result['n_test']})")
    o = result.get("ood")
    if o is not None:
        lines.append(f"OOD {o['dataset']} ({o['n_in']} in / {o['n_out']} out): AUROC entropy det "
                     f"{o['deterministic']['entropy']['auroc']:.4f}, MC {o['mc']['entropy']['auroc']:.4f}, "
                     f"MC mutual information {o['mc']['mutual_information']['auroc']:.4f}")
    for s in result.get("skipped", []):
        lines.append(f"skipped: {s}")
    return "\n".join(lines)


def summary_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat rows of a ``metrics.json`` (one per condition and mode) for tables, e.g. in ``dropkit report``.

    Example:
        >>> doc = {"conditions": [{"shift": "none", "level": 0.0, "deterministic": {"accuracy": 0.9, "nll": 0.3},
        ...                        "mc": {"accuracy": 0.91, "nll": 0.25}}]}
        >>> [(r["condition"], r["mode"], r["nll"]) for r in summary_rows(doc)]
        [('clean', 'deterministic', 0.3), ('clean', 'mc', 0.25)]
    """
    rows = []
    for c in doc["conditions"]:
        name = "clean" if c["shift"] == "none" else f"{c['shift']} {c['level']:g}"
        for mode in ("deterministic", "mc"):
            rows.append({"condition": name, "mode": mode, **{k: v for k, v in c[mode].items() if k != "seconds"}})
    return rows
