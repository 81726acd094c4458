"""atmoscope: atmospheric parameters of brown dwarfs from their spectra.

Machine-learning models trained on grids of model-atmosphere spectra, a
re-implementation and extension of TelescopeML (Gharib-Nezhad et al. 2024,
JOSS). The subpackages follow the workflow:

* :mod:`atmoscope.data` — training grids: reading, validation, splits, preprocessing, noise;
* :mod:`atmoscope.synthetic` — the embedded analytic default grid;
* :mod:`atmoscope.observed` — reading, cleaning, converting and resampling observed spectra;
* :mod:`atmoscope.statistics` — grid interpolation, χ² and fit quality, reference sampler;
* :mod:`atmoscope.models` — architectures, their registry, model bundles and ensembles
  (one estimator interface: ``predict`` and ``sample``);
* :mod:`atmoscope.evaluation` — regression reports, calibration and baselines;
* :mod:`atmoscope.training` — the trainer and training-data augmentation;
* :mod:`atmoscope.prediction` — parameters with uncertainties, catalogs, sensitivity;
* :mod:`atmoscope.reporting` — figures and HTML reports;
* :mod:`atmoscope.workflows` — train → evaluate → bundle, the demo;
* :mod:`atmoscope.fetch` — reference data; and the ``atmoscope`` command line.

Names that need PyTorch (``load_model``, ``Predictor``) are imported on first use,
so ``import atmoscope`` stays light.
"""

from atmoscope._version import __version__
from atmoscope.data import SpectralGrid, read_grid, write_grid
from atmoscope.errors import AtmoscopeError, GridError
from atmoscope.synthetic import synthetic_grid, synthetic_spectra

__all__ = [
    "AtmoscopeError",
    "GridError",
    "Predictor",
    "SpectralGrid",
    "__version__",
    "load_model",
    "read_grid",
    "read_spectrum",
    "synthetic_grid",
    "synthetic_spectra",
    "write_grid",
]

_LAZY = {
    "load_model": "atmoscope.models.bundle",
    "Predictor": "atmoscope.prediction.predictor",
    "read_spectrum": "atmoscope.observed.readers",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'atmoscope' has no attribute {name!r}")
