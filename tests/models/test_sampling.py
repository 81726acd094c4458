"""The one path from spectrum and errors to network input; Monte-Carlo draws."""

import numpy as np
import pytest

from atmoscope.models.sampling import network_flux
from atmoscope.training import TrainConfig
from atmoscope.workflows import train_bundle


def test_point_models_sample_by_monte_carlo_over_the_errors(small_split):
    grid, split = small_split
    bundle, _ = train_bundle(grid, split, TrainConfig(model="resmlp", epochs=1), None,
                             progress=False, snrs=())
    assert bundle.kind == "point" and bundle.uncertainty == "monte_carlo"
    samples = bundle.sample(grid.flux[:2], grid.flux[:2] / 10, 50, seed=0)
    assert samples.shape == (2, 50, 4) and np.all(samples.std(axis=1) > 0)
    # row i's draws depend only on (seed, i): the same spectrum alone gives the same
    np.testing.assert_allclose(bundle.sample(grid.flux[:1], grid.flux[:1] / 10, 50, seed=0),
                               samples[:1])
    # without errors, every draw is the estimate of the spectrum itself (the network's own
    # samples); the systematic floor fitted after training then spreads them
    still = bundle.sample(grid.flux[:1], None, 5, floor=False)
    np.testing.assert_allclose(still[0], np.repeat(bundle.predict(grid.flux[:1]), 5, axis=0))
    spread = bundle.sample(grid.flux[:1], None, 50)[0].std(axis=0)
    np.testing.assert_array_equal(spread > 0, bundle.floor > 0)


def test_faint_pixels_are_kept_and_only_non_positive_ones_filled():
    wl = np.linspace(1.0, 2.0, 6)
    flux = np.array([1.0, 1e-6, -0.1, 1e-3, np.nan, 2.0])
    usable = np.array([True, True, True, True, False, True])
    out = network_flux(flux, usable, wl)[0]
    # deep-band pixels far below the peak carry the temperature: untouched
    assert out[1] == 1e-6 and out[3] == 1e-3 and out[0] == 1.0 and out[5] == 2.0
    # the negative and the missing pixel: log-linear interpolation between neighbours
    assert out[2] == pytest.approx(10 ** np.interp(wl[2], wl[[1, 3]], np.log10([1e-6, 1e-3])))
    assert out[4] == pytest.approx(10 ** np.interp(wl[4], wl[[3, 5]], np.log10([1e-3, 2.0])))
