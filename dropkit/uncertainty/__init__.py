"""Uncertainty from stochastic regularisers: MC-dropout prediction and the metrics that score it."""

from dropkit.surgery.mc_mode import mc_mode
from dropkit.uncertainty.calibration import (
    ReliabilityDiagram,
    expected_calibration_error,
    plot_reliability_diagram,
    reliability_diagram,
)
from dropkit.uncertainty.mc_predict import MCPrediction, mc_predict, split_deterministic_prefix
from dropkit.uncertainty.ood import aupr, auroc, ood_detection
from dropkit.uncertainty.scores import brier_score, gaussian_nll, mc_log_likelihood, nll, rmse

__all__ = [
    "MCPrediction",
    "ReliabilityDiagram",
    "aupr",
    "auroc",
    "brier_score",
    "expected_calibration_error",
    "gaussian_nll",
    "mc_log_likelihood",
    "mc_mode",
    "mc_predict",
    "nll",
    "ood_detection",
    "plot_reliability_diagram",
    "reliability_diagram",
    "rmse",
    "split_deterministic_prefix",
]
