"""Prediction on observed spectra (TelescopeML's Predictor)."""

from atmoscope.prediction.catalog import predict_catalog
from atmoscope.prediction.predictor import (Prediction, Predictor, load_ensemble, sample_ensemble,
                                            spectrum_files)
from atmoscope.prediction.sensitivity import occlusion_sensitivity

__all__ = ["Prediction", "Predictor", "load_ensemble", "occlusion_sensitivity",
           "predict_catalog", "sample_ensemble", "spectrum_files"]
