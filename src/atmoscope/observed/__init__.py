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

Many spectra in one file (a survey: Parquet or FITS, one spectrum per row) are read in
chunks of bounded memory and cleaned, converted and resampled a chunk at a time::

    for batch in read_survey("survey.parquet", chunk_size=4096):
        batch, reports = clean_batch(batch)
        on_grid = resample_batch(convert_batch(batch, "fnu"), grid_wavelengths)
"""

from atmoscope.errors import SpectrumError
from atmoscope.observed.batch import clean_batch, convert_batch, resample_batch
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
from atmoscope.observed.survey import (
    SpectrumBatch,
    SurveyWriter,
    is_survey_file,
    read_survey,
    read_survey_rows,
    survey_length,
    write_survey,
)
from atmoscope.observed.units import flux_kind, parse_unit

__all__ = [
    "CleaningReport",
    "ObservedSpectrum",
    "SPECTRUM_READERS",
    "SpectrumBatch",
    "SpectrumError",
    "SpectrumTable",
    "SurveyWriter",
    "best_scale",
    "clean_batch",
    "clean_spectrum",
    "convert_batch",
    "flux_kind",
    "implied_radius",
    "is_survey_file",
    "parse_unit",
    "read_spectrum",
    "read_survey",
    "read_survey_rows",
    "register_spectrum_reader",
    "resample",
    "resample_batch",
    "scale_to_surface",
    "survey_length",
    "to_flambda",
    "to_fnu",
    "write_survey",
]
