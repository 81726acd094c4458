"""The best-fit grid spectrum: the χ² minimum, found from a poor start."""

import numpy as np
import pytest

from atmoscope.statistics import GridInterpolator, best_grid_fit, fit_quality
from atmoscope.synthetic import synthetic_grid
from tests.helpers import SMALL_NODES


@pytest.fixture(scope="module")
def interp():
    return GridInterpolator().fit(synthetic_grid(SMALL_NODES))


def test_the_best_fit_finds_the_chi2_minimum_from_a_poor_start(interp):
    truth = np.array([np.mean(interp.bounds_[p]) for p in interp.params_])
    truth += 0.13 * np.array([hi - lo for lo, hi in interp.bounds_.values()])  # off the nodes
    model = interp(truth[None])[0]
    observed = 3e-20 * model  # at Earth: a flux scale to find as well
    sigma = 0.01 * observed
    usable = np.ones(len(model), dtype=bool)
    start = np.array([interp.bounds_[p][0] for p in interp.params_])  # a corner of the grid
    theta, best, scale = best_grid_fit(interp, observed, sigma, usable, start)
    q = fit_quality(observed, sigma, best, scale="fit", n_params=len(theta))
    assert q.reduced_chi2 < 1e-3  # noiseless: the minimum is the truth's χ² of 0
    assert scale == pytest.approx(3e-20, rel=1e-3)
    span = np.array([hi - lo for lo, hi in interp.bounds_.values()])
    np.testing.assert_allclose(theta, truth, atol=0.01 * span.max())


def test_the_best_fit_survives_absurd_numbers(interp):
    model = interp.grid_.flux[5]
    observed, sigma = model.copy(), 0.01 * model
    observed[3], sigma[7] = 1e300, 1e-300
    theta, best, scale = best_grid_fit(interp, observed, sigma, np.ones(len(model), bool),
                                       interp.grid_.parameters[interp.params_].to_numpy()[0])
    assert np.all(np.isfinite(theta)) and np.all(np.isfinite(best))


def test_the_best_fit_does_not_depend_on_the_errors_overall_scale(interp):
    """χ²'s minimum does not move when every error is scaled alike, up to S/N 1e24 (the
    search's float32 arithmetic works in units of the largest weight)."""
    truth = np.array([np.mean(interp.bounds_[p]) for p in interp.params_])
    truth += 0.11 * np.array([hi - lo for lo, hi in interp.bounds_.values()])
    model = interp(truth[None])[0]
    rng = np.random.default_rng(4)
    observed = 2e-18 * model * (1 + 0.02 * rng.standard_normal(len(model)))
    sigma = 0.02 * 2e-18 * model
    usable = np.ones(len(model), dtype=bool)
    start = np.array([interp.bounds_[p][0] for p in interp.params_])
    want, _, _ = best_grid_fit(interp, observed, sigma, usable, start)
    span = np.array([hi - lo for lo, hi in interp.bounds_.values()])
    for factor in (1e-22, 1e-5, 1e3):  # to where a search stops (a gain under 1e-4 of χ²)
        theta, _, _ = best_grid_fit(interp, observed, factor * sigma, usable, start)
        np.testing.assert_allclose(theta, want, rtol=0, atol=1e-3 * span.max())


def test_spectra_searched_in_blocks_get_what_one_block_gives(interp, monkeypatch):
    """A batch is searched a block at a time; the block a spectrum falls in does not
    change its answer (beyond the search's stopping tolerance)."""
    from atmoscope.statistics import best_grid_fits, grid_fit

    rng = np.random.default_rng(2)
    lo = np.array([interp.bounds_[p][0] for p in interp.params_])
    span = np.array([hi - lo for lo, hi in interp.bounds_.values()])
    truths = lo + (0.2 + 0.6 * rng.random((5, len(lo)))) * span
    model = interp(truths)
    observed = model * (1 + 0.02 * rng.standard_normal(model.shape))
    sigma, usable = 0.02 * model, np.ones(model.shape, dtype=bool)
    starts = lo + 0.5 * span
    together = best_grid_fits(interp, observed, sigma, usable, np.tile(starts, (5, 1)))
    monkeypatch.setattr(grid_fit, "_BLOCK", 2)
    blocks = best_grid_fits(interp, observed, sigma, usable, np.tile(starts, (5, 1)))
    np.testing.assert_allclose(blocks[0], together[0], rtol=1e-4)
    np.testing.assert_allclose(blocks[2], together[2], rtol=1e-4)
    assert best_grid_fits(interp, observed[:0], sigma[:0], usable[:0], starts[None, :0])[0].shape \
        == (0, len(lo))


def test_chi2_keeps_its_digits_when_the_fit_is_far_closer_than_the_noise(interp):
    """The search's χ² (Σ w o² − s Σ w o m, one pass fewer) falls back to the sum itself
    where that difference would have lost its digits: a model within 1e-8 of the data."""
    from atmoscope.statistics.grid_fit import _Problem

    model = interp.grid_.flux[7]
    rng = np.random.default_rng(1)
    for snr in (1e2, 1e6, 1e8):
        sigma = model / snr
        observed = 4e-19 * model * (1 + rng.standard_normal(len(model)) / snr)
        sigma = 4e-19 * sigma
        problem = _Problem(interp, observed[None], sigma[None], np.ones((1, len(model)), bool))
        _, chi2, _ = problem.fit(model[None], np.array([0]))
        best = np.sum(observed * model / sigma ** 2) / np.sum(model ** 2 / sigma ** 2)
        want = np.sum(((observed - best * model) / sigma) ** 2)
        assert chi2[0] == pytest.approx(want, rel=1e-6)
