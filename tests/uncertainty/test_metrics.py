"""Metrics against hand-computed values and scikit-learn; task-mismatch errors; the reliability plot."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dropkit.uncertainty import (
    MCPrediction,
    aupr,
    auroc,
    brier_score,
    expected_calibration_error,
    gaussian_nll,
    mc_log_likelihood,
    nll,
    ood_detection,
    plot_reliability_diagram,
    reliability_diagram,
    rmse,
)

P = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.55, 0.35], [0.25, 0.25, 0.5], [0.9, 0.05, 0.05]])
Y = torch.tensor([0, 2, 2, 1])


def test_nll_and_brier_hand_computed() -> None:
    assert nll(P, Y) == pytest.approx(-(math.log(0.7) + math.log(0.35) + math.log(0.5) + math.log(0.05)) / 4)
    brier = ((0.3**2 + 0.2**2 + 0.1**2) + (0.1**2 + 0.55**2 + 0.65**2) + (0.25**2 + 0.25**2 + 0.5**2)
             + (0.9**2 + 0.95**2 + 0.05**2)) / 4
    assert brier_score(P, Y) == pytest.approx(brier)
    pred = MCPrediction("classification", 3, P)
    assert nll(pred, Y) == pytest.approx(nll(P, Y))


def test_ece_and_reliability_bins_hand_computed(tmp_path) -> None:
    # confidences 0.7, 0.55, 0.5, 0.9; correct: yes, no, yes, no; 5 bins of width 0.2
    d = reliability_diagram(P, Y, n_bins=5)
    assert d.count.tolist() == [0, 0, 2, 1, 1]  # 0.5 and 0.55 in (0.4, 0.6], 0.7 in (0.6, 0.8], 0.9 in (0.8, 1]
    assert d.accuracy[2].item() == pytest.approx(0.5) and d.confidence[2].item() == pytest.approx(0.525)
    ece = (2 * abs(0.5 - 0.525) + abs(1 - 0.7) + abs(0 - 0.9)) / 4
    assert d.ece == pytest.approx(ece) and expected_calibration_error(P, Y, n_bins=5) == pytest.approx(ece)
    assert math.isnan(d.accuracy[0].item()) and d.as_dict()["accuracy"][0] is None
    out = tmp_path / "reliability.png"
    ax = plot_reliability_diagram(d, path=out)
    assert out.stat().st_size > 1000 and ax.get_title().startswith("ECE = ")


def test_ece_bins_are_closed_on_the_right() -> None:
    # Bins are (a, b] as documented (the first also holds 0): a confidence on an edge belongs to the bin
    # below it. Edges of 4 bins (0.25, 0.5, 0.75) and these confidences are exact in binary.
    probs = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0], [0.75, 0.25, 0.0, 0.0],
                          [1.0, 0.0, 0.0, 0.0], [0.3, 0.3, 0.2, 0.2]])
    d = reliability_diagram(probs, torch.tensor([0, 0, 0, 0, 0]), n_bins=4)
    assert d.count.tolist() == [1, 2, 1, 1]  # 0.25 | 0.3, 0.5 | 0.75 | 1.0
    assert d.confidence.tolist() == pytest.approx([0.25, 0.4, 0.75, 1.0])


def test_auroc_aupr_match_sklearn_with_ties() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for trial in range(5):
        n = 200
        labels = rng.integers(0, 2, n)
        scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounding makes many ties
        assert auroc(scores, labels) == pytest.approx(metrics.roc_auc_score(labels, scores), abs=1e-12)
        assert aupr(scores, labels) == pytest.approx(metrics.average_precision_score(labels, scores), abs=1e-12)
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    r = ood_detection([0.1, 0.2, 0.3], [0.25, 0.5])
    assert r["auroc"] == pytest.approx(5 / 6)
    s = np.array([0.1, 0.2, 0.3, 0.25, 0.5])
    y = np.array([0, 0, 0, 1, 1])
    assert r["aupr_in"] == pytest.approx(metrics.average_precision_score(1 - y, -s))


def test_regression_scores() -> None:
    m, v, y = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 0.5, 2.0]), torch.tensor([0.5, 1.0, 0.0])
    ref = torch.nn.functional.gaussian_nll_loss(m, y, v, full=True, reduction="mean")
    assert gaussian_nll(m, v, y) == pytest.approx(ref.item())
    assert rmse(m, y) == pytest.approx(math.sqrt((0.25 + 0 + 4) / 3))
    samples = torch.tensor([[0.0, 1.0], [2.0, 1.0]])  # T = 2, N = 2
    target, tau = torch.tensor([1.0, 0.0]), 2.0

    def one(ys: list[float], t: float) -> float:
        dens = [math.exp(-tau / 2 * (t - s) ** 2) * math.sqrt(tau / (2 * math.pi)) for s in ys]
        return math.log(sum(dens) / len(dens))

    expected = (one([0.0, 2.0], 1.0) + one([1.0, 1.0], 0.0)) / 2
    assert mc_log_likelihood(samples, target, tau) == pytest.approx(expected)


def test_task_mismatch_and_bad_inputs() -> None:
    reg = MCPrediction("regression", 3, torch.zeros(4), variance=torch.ones(4))
    with pytest.raises(ValueError, match="needs a classification prediction, got task='regression'"):
        nll(reg, Y)
    with pytest.raises(ValueError, match="probs must be class probabilities of shape \\(N, C\\) with C >= 2, got shape \\(4,\\)"):
        expected_calibration_error(torch.rand(4), Y)
    with pytest.raises(ValueError, match="apply softmax to logits"):
        brier_score(torch.randn(4, 3) * 5, Y)
    with pytest.raises(ValueError, match="target must hold classes in \\[0, 2\\], got values in \\[0, 3\\]"):
        nll(P, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="target must be integer class indices"):
        nll(P, Y.float())
    with pytest.raises(ValueError, match="pass prediction.mean"):
        rmse(reg, torch.zeros(4))
    with pytest.raises(ValueError, match="same shape"):
        rmse(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="variance must be > 0"):
        gaussian_nll([0.0], [0.0], [0.0])
    with pytest.raises(ValueError, match="tau must be a finite number > 0, got -1"):
        mc_log_likelihood(torch.zeros(2, 3), torch.zeros(3), tau=-1.0)
    with pytest.raises(ValueError, match="samples must have shape \\(T, \\*target.shape\\) = \\(T, 3\\), got \\(3,\\)"):
        mc_log_likelihood(torch.zeros(3), torch.zeros(3), tau=1.0)
    with pytest.raises(ValueError, match="labels must contain both classes"):
        auroc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="n_bins must be an integer >= 1, got 0"):
        reliability_diagram(P, Y, n_bins=0)
