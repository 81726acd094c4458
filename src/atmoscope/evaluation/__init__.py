"""Evaluation: scores and the baselines (χ² grid fit, random forest).

The noise that test spectra get is in :mod:`atmoscope.data.noise`.
"""

from atmoscope.evaluation.baselines import Chi2GridFit, RandomForestBaseline, spectral_features
from atmoscope.evaluation.metrics import regression_metrics
from atmoscope.evaluation.report import evaluate_predictor, format_report

__all__ = [
    "Chi2GridFit",
    "RandomForestBaseline",
    "evaluate_predictor",
    "format_report",
    "regression_metrics",
    "spectral_features",
]
