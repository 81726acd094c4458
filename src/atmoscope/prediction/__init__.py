"""Prediction on observed spectra (TelescopeML's Predictor)."""

from atmoscope.prediction.catalog import (
    catalog_format,
    distance_for,
    predict_catalog,
    read_distances,
    write_catalog,
)
from atmoscope.prediction.choice import ModelChoice
from atmoscope.prediction.engine import CatalogWorker, Checkpoint, plan_chunks, run_catalog
from atmoscope.prediction.predictor import (
    Prediction,
    Predictor,
    Prepared,
    as_estimator,
    spectrum_files,
)
from atmoscope.prediction.sensitivity import occlusion_sensitivity

__all__ = ["CatalogWorker", "Checkpoint", "ModelChoice", "Prediction", "Predictor", "Prepared",
           "as_estimator", "catalog_format", "distance_for", "occlusion_sensitivity",
           "plan_chunks", "predict_catalog", "read_distances", "run_catalog", "spectrum_files",
           "write_catalog"]
