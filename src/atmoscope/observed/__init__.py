"""Observed spectra: reading, cleaning, unit conversion, resampling, flux scaling.

The path from a real file to a model's input (TelescopeML's Predictor stage)::

    spec = read_spectrum("GJ570D_spex_prism.csv")      # raw values, units attached
    spec, report = clean_spectrum(spec)                # masked, counted, nothing lost
    on_grid = resample(to_fnu(spec), grid_wavelengths)  # flux-conserving, errors kept

A file format of one's own is one decorated function returning a
:class:`SpectrumTable` (see :mod:`atmoscope.observed.formats`)::

    @register_spectrum_reader(".spec")
    def read_spec(path):
        return SpectrumTable.from_frame(parse(path), units={"wave": "nm"})
"""

from atmoscope.errors import SpectrumError
from atmoscope.observed.cleaning import CleaningReport, clean_spectrum
from atmoscope.observed.conversion import (
    best_scale,
    implied_radius,
    resample,
    scale_to_surface,
    to_flambda,
    to_fnu,
)
from atmoscope.observed.formats import (
    SPECTRUM_READERS,
    SpectrumTable,
    register_spectrum_reader,
)
from atmoscope.observed.readers import read_spectrum
from atmoscope.observed.spectrum import ObservedSpectrum
from atmoscope.observed.units import flux_kind, parse_unit

__all__ = [
    "CleaningReport",
    "ObservedSpectrum",
    "SPECTRUM_READERS",
    "SpectrumError",
    "SpectrumTable",
    "best_scale",
    "clean_spectrum",
    "flux_kind",
    "implied_radius",
    "parse_unit",
    "read_spectrum",
    "register_spectrum_reader",
    "resample",
    "scale_to_surface",
    "to_flambda",
    "to_fnu",
]
