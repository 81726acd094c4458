"""The vectorised rebinning gives SpectRes's numbers (Carnall 2017), for any bins."""

import warnings

import numpy as np
import pytest

from atmoscope.observed.rebin import rebin

spectres = pytest.importorskip("spectres").spectres


@pytest.mark.parametrize("seed", range(40))
def test_rebin_equals_spectres(seed):
    rng = np.random.default_rng(seed)
    old = np.unique(rng.uniform(0.8, 2.6, rng.integers(3, 600)))
    new = np.linspace(rng.uniform(0.5, 1.2), rng.uniform(2.0, 3.0), rng.integers(3, 400))
    if seed % 4 == 0:  # finer target than source: new bins inside single old bins
        new = np.linspace(old[1], old[-2], 3 * old.size)
    flux = rng.normal(1, 0.3, (3, old.size))
    error = np.abs(rng.normal(0.1, 0.02, (3, old.size)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want_flux, want_error = spectres(new, old, flux, error, fill=np.nan, verbose=False)
    got_flux, got_error = rebin(new, old, flux, error)
    np.testing.assert_array_equal(np.isnan(got_flux), np.isnan(want_flux))
    np.testing.assert_allclose(got_flux, want_flux, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_error, want_error, rtol=1e-10)
    only_flux, none = rebin(new, old, flux[0])
    assert none is None and np.allclose(only_flux, want_flux[0], equal_nan=True)


def test_rebin_conserves_the_integrated_flux():
    old = np.linspace(1.0, 2.0, 501)
    flux = 1.0 + np.sin(7 * old) ** 2
    new = np.linspace(1.1, 1.9, 80)
    got, _ = rebin(new, old, flux)
    width_new, width_old = np.gradient(new), np.gradient(old)
    inside = (old > new[0] - width_new[0] / 2) & (old < new[-1] + width_new[-1] / 2)
    assert np.sum(got * width_new) == pytest.approx(np.sum((flux * width_old)[inside]), rel=2e-3)
