"""A flux-density unit and a synthetic spectrum for the observed tests."""

import astropy.units as u
import numpy as np

from atmoscope.observed import ObservedSpectrum

FLAM = u.erg / u.s / u.cm**2 / u.AA


def _spectrum(n=400, lo=0.8, hi=2.6, *, error=True, seed=0, flux=None):
    wave = np.linspace(lo, hi, n)
    values = np.exp(-((wave - 1.3) / 0.4) ** 2) + 0.2 if flux is None else flux(wave)
    err = np.full(n, 0.01) if error else None
    return ObservedSpectrum(
        wavelength=wave * u.um,
        flux=values * FLAM,
        error=None if err is None else err * FLAM,
        meta={"source": "synthetic"},
    )
