"""Evaluation: scores, noise and the baselines (χ² grid fit, random forest)."""

from atmoscope.evaluation.baselines import Chi2GridFit, RandomForestBaseline, spectral_features
from atmoscope.evaluation.metrics import add_noise, regression_metrics
from atmoscope.evaluation.report import evaluate_predictor, format_report

__all__ = [
    "Chi2GridFit",
    "RandomForestBaseline",
    "add_noise",
    "evaluate_predictor",
    "format_report",
    "regression_metrics",
    "spectral_features",
]
