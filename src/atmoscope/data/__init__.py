"""Data: reading, validating and describing training grids (TelescopeML's DataMaster),
the noise model of observations, and how targets are named."""

from atmoscope.data.grid import SpectralGrid
from atmoscope.data.io import (
    AssumedUnitWarning,
    DuplicateSpectraWarning,
    read_grid,
    register_grid_reader,
    write_grid,
)
from atmoscope.data.targets import TARGET_LABELS, target_label, target_labels
from atmoscope.data.telescopeml_grid import (
    TELESCOPEML_NODES,
    TELESCOPEML_TARGETS,
    telescopeml_wavelengths,
)

__all__ = [
    "AssumedUnitWarning",
    "DuplicateSpectraWarning",
    "SpectralGrid",
    "TARGET_LABELS",
    "TELESCOPEML_NODES",
    "TELESCOPEML_TARGETS",
    "read_grid",
    "register_grid_reader",
    "target_label",
    "target_labels",
    "telescopeml_wavelengths",
    "write_grid",
]
