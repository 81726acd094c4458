"""Prediction on observed spectra (TelescopeML's Predictor).

Names are imported on first use: a catalog's own process (which plans the chunks and
writes the table while worker processes predict) never imports the networks.
"""

__all__ = ["CatalogWorker", "Checkpoint", "ModelChoice", "Prediction", "Predictor", "Prepared",
           "as_estimator", "catalog_format", "distance_for", "occlusion_sensitivity",
           "plan_chunks", "predict_catalog", "read_distances", "run_catalog", "spectrum_files",
           "write_catalog"]

_MODULES = {
    "atmoscope.prediction.catalog": ("catalog_format", "distance_for", "predict_catalog",
                                     "read_distances", "write_catalog"),
    "atmoscope.prediction.choice": ("ModelChoice",),
    "atmoscope.prediction.engine": ("CatalogWorker", "Checkpoint", "plan_chunks",
                                    "run_catalog"),
    "atmoscope.prediction.predictor": ("Prediction", "Predictor", "Prepared", "as_estimator"),
    "atmoscope.prediction.sensitivity": ("occlusion_sensitivity",),
    "atmoscope.observed.readers": ("spectrum_files",),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # once found, a plain attribute
        return value
    raise AttributeError(f"module 'atmoscope.prediction' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
