"""Prediction on observed spectra (TelescopeML's Predictor)."""

from atmoscope.prediction.catalog import predict_catalog, write_catalog
from atmoscope.prediction.predictor import Prediction, Predictor, as_estimator, spectrum_files
from atmoscope.prediction.sensitivity import occlusion_sensitivity

__all__ = ["Prediction", "Predictor", "as_estimator", "occlusion_sensitivity",
           "predict_catalog", "spectrum_files", "write_catalog"]
