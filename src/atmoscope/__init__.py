"""atmoscope: atmospheric parameters of brown dwarfs from their spectra.

Machine-learning models trained on grids of model-atmosphere spectra, a
re-implementation and extension of TelescopeML (Gharib-Nezhad et al. 2024,
JOSS). The subpackages follow the workflow: :mod:`atmoscope.data` (grids),
:mod:`atmoscope.synthetic` (the embedded default grid), :mod:`atmoscope.fetch`
(reference data), :mod:`atmoscope.plots` and the ``atmoscope`` command line.
"""

from atmoscope._version import __version__
from atmoscope.data import SpectralGrid, read_grid, write_grid
from atmoscope.errors import AtmoscopeError, GridError
from atmoscope.synthetic import synthetic_grid, synthetic_spectra

__all__ = [
    "AtmoscopeError",
    "GridError",
    "SpectralGrid",
    "__version__",
    "read_grid",
    "synthetic_grid",
    "synthetic_spectra",
    "write_grid",
]
