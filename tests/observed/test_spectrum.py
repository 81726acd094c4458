"""``ObservedSpectrum``: validation and helpers."""

import astropy.units as u
import pytest

from atmoscope.errors import SpectrumError
from atmoscope.observed import ObservedSpectrum, resample, to_fnu
from tests.observed.helpers import FLAM, _spectrum


def test_spectrum_validation_and_helpers():
    spec = _spectrum(n=10)
    assert (spec.n_pixels, spec.good) == (10, 10)
    assert spec.is_flambda and not spec.is_fnu
    assert not spec.flux.flags.writeable
    assert "10 pixels" in repr(spec)
    with pytest.raises(SpectrumError, match="not a length"):
        ObservedSpectrum(wavelength=[1.0, 2.0] * u.s, flux=[1.0, 1.0])
    with pytest.raises(SpectrumError, match="3 flux values for 2 wavelengths"):
        ObservedSpectrum(wavelength=[1.0, 2.0] * u.um, flux=[1.0, 1.0, 1.0])
    with pytest.raises(SpectrumError, match="error unit"):
        ObservedSpectrum(wavelength=[1.0, 2.0] * u.um, flux=[1.0, 1.0] * FLAM,
                         error=[1.0, 1.0] * u.um)
    with pytest.raises(SpectrumError, match="flux must be numbers"):
        ObservedSpectrum(wavelength=[1.0, 2.0] * u.um, flux=["a", "b"])
    with pytest.raises(SpectrumError, match="new_wavelength must be at least 2 wavelengths"):
        resample(spec, "1.0 um")
    with pytest.raises(SpectrumError, match="target unit .* is not a unit"):
        to_fnu(spec, object())
