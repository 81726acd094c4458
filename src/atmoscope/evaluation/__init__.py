"""Evaluation: regression reports, calibration of uncertainties, and the baselines
(χ² grid fit, random forest). Estimators are scored through their interface
(``predict``, ``sample``; :mod:`atmoscope.models`). Synthetic surveys (many noisy spectra
with known parameters, in one file) test a catalog end to end.

The noise that test spectra get is in :mod:`atmoscope.data.noise`.
"""

from atmoscope.evaluation.baselines import Chi2GridFit, RandomForestBaseline, spectral_features
from atmoscope.evaluation.calibration import calibrate_estimator, coverage_report
from atmoscope.evaluation.metrics import regression_metrics
from atmoscope.evaluation.mock_survey import RANDOM_BLOCK, synthetic_survey
from atmoscope.evaluation.report import (
    evaluate_estimator,
    evaluate_on_grid,
    evaluate_predictor,
    format_report,
)

__all__ = [
    "RANDOM_BLOCK",
    "Chi2GridFit",
    "RandomForestBaseline",
    "calibrate_estimator",
    "coverage_report",
    "evaluate_estimator",
    "evaluate_on_grid",
    "evaluate_predictor",
    "format_report",
    "regression_metrics",
    "spectral_features",
    "synthetic_survey",
]
