"""``clean_spectrum``: bad pixels are masked and counted, nothing is lost."""

import astropy.units as u
import numpy as np
import pytest

from atmoscope.errors import SpectrumError
from atmoscope.observed import CleaningReport, ObservedSpectrum, clean_spectrum, read_spectrum
from tests.observed.helpers import FLAM, _spectrum


def test_gj570d_cleaning_counts_inf_errors_and_negative_flux(observed):
    path = observed / "GJ570D_spex_prism.csv"
    raw = np.genfromtxt(path, delimiter=",", skip_header=1)
    n_neginf = int(np.isneginf(raw[:, 2]).sum())
    n_negative = int((raw[:, 1] < 0).sum())
    assert (n_neginf, n_negative) == (79, 79)

    spec, report = clean_spectrum(read_spectrum(path))
    assert isinstance(report, CleaningReport)
    assert report.bad_error == n_neginf
    assert report.negative_flux == n_negative
    assert report.nonfinite_flux == 0 and report.dropped_empty == 0
    assert (report.n_input, report.n_output, report.n_good) == (560, 560, 481)
    # Masked pixels stay; negative fluxes are neither dropped nor clipped.
    assert spec.n_pixels == 560 and spec.good == 481
    np.testing.assert_array_equal(spec.flux.value, raw[:, 1])
    np.testing.assert_array_equal(spec.meta["negative_flux"], raw[:, 1] < 0)
    # In this file every -inf error sits on a negative flux (a defect to know about).
    np.testing.assert_array_equal(~spec.mask, np.isneginf(raw[:, 2]))
    assert report.as_dict()["bad_error"] == 79
    line = report.summary()
    assert "\n" not in line and "GJ570D_spex_prism.csv" in line and "79" in line


def test_wolf1130c_empty_rows_are_dropped(observed):
    spec, report = clean_spectrum(
        read_spectrum(observed / "JWST-NIRSPEC-PRISM_Wolf1130C_Burgasser2025.csv")
    )
    assert report.dropped_empty == 146
    assert (report.n_input, report.n_output, report.n_good) == (1001, 855, 855)
    assert spec.n_pixels == 855 and np.all(np.isfinite(spec.flux.value))


def test_cleaning_sorts_masks_duplicates_and_min_snr():
    spec = ObservedSpectrum(
        wavelength=[1.2, 1.0, 1.1, 1.1, np.nan, 1.3, 1.4] * u.um,
        flux=[4.0, 1.0, np.nan, 3.0, 5.0, np.inf, -1.0] * FLAM,
        error=[0.1, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1] * FLAM,
    )
    cleaned, report = clean_spectrum(spec, min_snr=3)
    assert report.dropped_bad_wavelength == 1
    assert report.non_increasing == 2  # 1.2→1.0 and 1.1→1.1
    assert list(cleaned.wavelength.value) == [1.0, 1.1, 1.1, 1.2, 1.3, 1.4]
    # Of the two 1.1 µm pixels the NaN one is masked anyway; the usable one is kept.
    assert report.duplicate_wavelength == 1
    assert list(cleaned.mask) == [False, False, True, True, False, False]
    assert (report.bad_error, report.nonfinite_flux, report.negative_flux) == (1, 2, 1)
    assert report.low_snr == 1  # the negative flux: min_snr is a biased cut
    assert cleaned.flux.value[-1] == -1.0
    with pytest.raises(SpectrumError, match="min_snr"):
        clean_spectrum(_spectrum(error=False), min_snr=5)
    with pytest.raises(SpectrumError, match="min_snr must be a number, not '3'"):
        clean_spectrum(_spectrum(), min_snr="3")
