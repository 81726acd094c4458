"""Data: reading, validating and describing training grids (TelescopeML's DataMaster)."""

from atmoscope.data.grid import SpectralGrid
from atmoscope.data.io import DuplicateSpectraWarning, read_grid, write_grid
from atmoscope.data.telescopeml_grid import (
    TELESCOPEML_NODES,
    TELESCOPEML_TARGETS,
    telescopeml_wavelengths,
)

__all__ = [
    "DuplicateSpectraWarning",
    "SpectralGrid",
    "TELESCOPEML_NODES",
    "TELESCOPEML_TARGETS",
    "read_grid",
    "telescopeml_wavelengths",
    "write_grid",
]
