"""Observed spectra: reading, cleaning, unit conversion, resampling, flux scaling.

The path from a real file to a model's input (TelescopeML's Predictor stage)::

    spec = read_spectrum("GJ570D_spex_prism.csv")      # raw values, units attached
    spec, report = clean_spectrum(spec)                # masked, counted, nothing lost
    on_grid = resample(to_fnu(spec), grid_wavelengths)  # flux-conserving, errors kept
"""

from atmoscope.observed.cleaning import CleaningReport, clean_spectrum
from atmoscope.observed.conversion import (
    best_scale,
    implied_radius,
    resample,
    scale_to_surface,
    to_flambda,
    to_fnu,
)
from atmoscope.observed.readers import parse_unit, read_spectrum
from atmoscope.observed.spectrum import ObservedSpectrum, SpectrumError

__all__ = [
    "CleaningReport",
    "ObservedSpectrum",
    "SpectrumError",
    "best_scale",
    "clean_spectrum",
    "implied_radius",
    "parse_unit",
    "read_spectrum",
    "resample",
    "scale_to_surface",
    "to_flambda",
    "to_fnu",
]
