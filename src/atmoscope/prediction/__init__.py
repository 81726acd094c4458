"""Prediction on observed spectra (TelescopeML's Predictor)."""

from atmoscope.prediction.catalog import (
    catalog_format,
    distance_for,
    predict_catalog,
    read_distances,
    write_catalog,
)
from atmoscope.prediction.choice import ModelChoice
from atmoscope.prediction.predictor import Prediction, Predictor, as_estimator, spectrum_files
from atmoscope.prediction.sensitivity import occlusion_sensitivity

__all__ = ["ModelChoice", "Prediction", "Predictor", "as_estimator", "catalog_format",
           "distance_for", "occlusion_sensitivity", "predict_catalog", "read_distances",
           "spectrum_files", "write_catalog"]
