"""Coverage and rank diagnostics: exact on known distributions, and `calibrate_estimator`."""

import numpy as np
import pytest

from atmoscope.data.splits import node_split
from atmoscope.evaluation.calibration import (
    LEVELS,
    calibrate_estimator,
    central_coverage,
    check_pass_chance,
    coverage_error,
    held_out_observations,
    joint_coverage,
    sbc_ranks,
)
from atmoscope.synthetic import synthetic_grid
from atmoscope.training import TrainConfig
from atmoscope.workflows import train_bundle
from tests.helpers import SMALL_NODES


def _gaussian_case(width: float, n=4000, s=400, k=2, seed=0):
    """Truth drawn from N(mu, 1); samples from N(mu, width²)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(n, k))
    truth = mu + rng.normal(size=(n, k))
    samples = mu[:, None, :] + width * rng.normal(size=(n, s, k))
    return samples, truth


def test_calibrated_samples_cover_at_nominal_rates():
    samples, truth = _gaussian_case(1.0)
    cov = central_coverage(samples, truth)
    np.testing.assert_allclose(cov, np.repeat(np.array(LEVELS)[:, None], 2, axis=1), atol=0.03)
    np.testing.assert_allclose(joint_coverage(samples, truth), LEVELS, atol=0.03)
    ranks = sbc_ranks(samples, truth)
    counts = np.histogram(ranks[:, 0], bins=10, range=(0, 400))[0]
    assert counts.min() > 0.75 * counts.mean()  # flat


def test_overconfident_samples_undercover():
    samples, truth = _gaussian_case(0.3)
    cov = central_coverage(samples, truth, [0.68, 0.95])
    # a central 68 % interval of width ±0.3σ covers 2Φ(0.3) − 1 ≈ 24 % of N(0,1)
    assert cov[0] == pytest.approx([0.24, 0.24], abs=0.03)
    ranks = sbc_ranks(samples, truth)
    edges = np.mean((ranks[:, 0] < 20) | (ranks[:, 0] > 380))
    assert edges > 0.5  # ∪-shaped rank histogram


def test_coverage_error_counts_nodes_not_observations():
    samples, truth = _gaussian_case(1.0, n=2000, s=200, k=1)
    # independent observations: the binomial error of 2,000
    se = coverage_error(samples, truth, np.arange(2000))
    assert se[0, 0] == pytest.approx(np.sqrt(0.68 * 0.32 / 2000), rel=0.15)
    # 40 nodes observed 50 times each, every observation of a node sharing its offset:
    # the error of 40 draws, not of 2,000
    rows = np.repeat(np.arange(40), 50)
    offset = np.random.default_rng(1).normal(size=40)[rows, None]
    se = coverage_error(samples - samples.mean(axis=1, keepdims=True), offset, rows)
    covered = np.abs(offset[::50, 0]) < 1
    assert se[0, 0] == pytest.approx(np.sqrt(covered.mean() * (1 - covered.mean()) / 40),
                                     rel=0.2)


def test_check_pass_chance_counts_nodes():
    samples, truth = _gaussian_case(0.5, n=2000, s=200, k=1)  # too narrow: rates shifted
    # 2,000 independent observations pin each rate to about ±1 point: ±5 always passes
    assert check_pass_chance(samples, truth, np.arange(2000)) == 1.0
    # 40 nodes observed 50 times each, sharing their offsets: over the nodes the 68 % rate
    # scatters by ±7.7 points and the 95 % one by ±6.5, so ±5 holds for both about a third
    # of the time
    rows = np.repeat(np.arange(40), 50)
    offset = np.random.default_rng(1).normal(size=40)[rows, None]
    chance = check_pass_chance(samples - samples.mean(axis=1, keepdims=True), offset, rows)
    assert 0.2 < chance < 0.6


class _Oracle:
    """An estimator that knows the true parameters of the observations it will get
    (``order``: their grid rows) and spreads them by a fixed amount."""

    uncertainty, sample_label, noise_profile = "monte_carlo", "Monte-Carlo draws", None

    def __init__(self, truth, order):
        self.truth, self.order, self.members = truth, order, [self]

    def sample(self, flux, error, n, seed=0, mask=None):
        spread = np.random.default_rng(seed).normal(size=(len(flux), n, 4))
        return self.truth[self.order[: len(flux)], None] + spread * [0.1, 20, 0.05, 0.05]


def test_calibrate_estimator_with_an_oracle():
    grid = synthetic_grid({"gravity": [4.5, 5.0], "temperature": [800.0, 900.0, 1000.0],
                           "c_o_ratio": [1.0], "metallicity": [0.0]})
    rows = np.arange(grid.n_spectra)
    # held_out_observations permutes the rows with the seed: the oracle follows it
    oracle = _Oracle(grid.target_values,
                     held_out_observations(grid, rows, n_spectra=6, seed=0)["rows"])
    report = calibrate_estimator(oracle, grid, rows, n_spectra=6, n_samples=50, seed=0)
    assert set(report["parameters"]["temperature"]) == {
        "coverage_68", "coverage_95", "coverage_68_se", "coverage_95_se", "median_width_68"}
    assert report["n_samples"] == 50 and report["ranks"].shape == (6, 4)
    assert report["method"] == "Monte-Carlo draws (1 model(s) × 50)"
    assert "monte_carlo" not in report  # already Monte-Carlo: nothing to compare with


@pytest.mark.parametrize("model", ["resmlp", "gaussian"])
def test_calibrate_measures_what_predict_reports(model, tmp_path):
    """The same observation, errors and seed: calibrate's samples are predict's samples."""
    import astropy.units as u

    from atmoscope.observed import ObservedSpectrum
    from atmoscope.prediction import Predictor

    grid = synthetic_grid(SMALL_NODES)
    split = node_split(grid, {"temperature": [900, 1200]})
    bundle, _ = train_bundle(grid, split, TrainConfig(model=model, epochs=2,
                                                      extra_features="none"),
                             None, progress=False, snrs=())
    report = calibrate_estimator(bundle, grid, split.test, n_spectra=5, n_samples=40, seed=7)
    obs = held_out_observations(grid, split.test, n_spectra=5, seed=7)
    unit = u.Unit(grid.flux_unit)
    spectrum = ObservedSpectrum(grid.wavelength * u.um, obs["observed"][0] * unit,
                                obs["error"][0] * unit)
    p = Predictor(bundle, grid=grid, n_samples=40, seed=7).predict(spectrum)
    np.testing.assert_allclose(p.samples.mean(axis=0), report["mean"][0], rtol=1e-6)
    lo, hi = np.quantile(p.samples, [0.16, 0.84], axis=0)
    np.testing.assert_allclose(hi - lo, report["width68"][0], rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(np.sum(p.samples < obs["truth"][0], axis=0),
                                  report["ranks"][0])
