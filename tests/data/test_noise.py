"""The noise model: scatter, floors, S/N draws, quoted errors and noise profiles."""

import numpy as np
import pytest

import atmoscope
from atmoscope.data.noise import add_noise, log_uniform_snr, noise_profile, noisy_observation
from atmoscope.errors import ConfigError, SpectrumError
from atmoscope.synthetic import synthetic_grid
from tests.helpers import SMALL_NODES as SMALL


def test_add_noise_scatter_and_reproducibility():
    flux = atmoscope.synthetic_grid(
        {"gravity": [4.0, 5.0], "temperature": [500, 1000, 2000],
         "c_o_ratio": [1.0], "metallicity": [0.0, 0.5]}
    ).flux
    big = np.tile(flux, (50, 1))  # 600 × 104 pixels for a tight estimate
    snr = 20.0
    noisy = add_noise(big, snr, np.random.default_rng(1))
    assert noisy.shape == big.shape and noisy is not big
    ratio = (noisy - big) / big
    assert np.std(ratio) == pytest.approx(1 / snr, rel=0.05)
    assert abs(np.mean(ratio)) < 0.1 / snr
    again = add_noise(big, snr, np.random.default_rng(1))
    np.testing.assert_array_equal(noisy, again)
    assert not np.array_equal(noisy, add_noise(big, snr, np.random.default_rng(2)))


def test_add_noise_floor_keeps_log_finite():
    flux = np.array([[1.0, 2.0, 4.0], [10.0, 20.0, 40.0]])
    noisy = add_noise(np.tile(flux, (200, 1)), 0.5, np.random.default_rng(0))
    assert np.all(noisy > 0) and np.all(np.isfinite(np.log10(noisy)))
    floors = np.tile([[1e-3], [1e-2]], (200, 1))
    clipped = noisy <= 1.0001 * floors  # noise never lands exactly on the floor otherwise
    assert clipped.any()
    np.testing.assert_allclose(noisy[clipped], np.broadcast_to(floors, noisy.shape)[clipped])
    with pytest.raises(ConfigError, match="snr must be positive and finite"):
        add_noise(flux, 0.0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="flux must be positive and finite"):
        add_noise(-flux, 10.0, np.random.default_rng(0))


def test_log_uniform_snr_range():
    snr = log_uniform_snr(5.0, 100.0, 20_000, np.random.default_rng(0))
    assert snr.shape == (20_000, 1) and snr.min() >= 5.0 and snr.max() <= 100.0
    # log-uniform: the geometric midpoint sqrt(5 · 100) ≈ 22.4 splits the draws in half
    assert np.mean(snr < np.sqrt(500.0)) == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(log_uniform_snr(20.0, 20.0, 3, np.random.default_rng(0)),
                               np.full((3, 1), 20.0), rtol=1e-15)
    with pytest.raises(ConfigError, match="0 < low <= high"):
        log_uniform_snr(100.0, 5.0, 3, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="0 < low <= high"):
        log_uniform_snr(0.0, 5.0, 3, np.random.default_rng(0))


def test_noisy_observation_quotes_errors_from_the_data():
    flux = synthetic_grid(SMALL).flux[:5]
    snr = np.array([[5.0], [10.0], [20.0], [50.0], [100.0]])
    observed, error = noisy_observation(flux, snr, np.random.default_rng(0))
    # quoted error = |observed| / S/N: it carries the S/N, not the noiseless spectrum
    np.testing.assert_allclose(error / np.abs(observed), np.broadcast_to(1 / snr, flux.shape))
    # the noise itself has σ = flux / S/N (checked on many draws of one spectrum)
    many = np.repeat(flux[:1], 4000, axis=0)
    obs, _ = noisy_observation(many, 20.0, np.random.default_rng(1))
    np.testing.assert_allclose(np.std(obs / many - 1, axis=0), 1 / 20, rtol=0.08)
    again, _ = noisy_observation(flux, snr, np.random.default_rng(0))
    np.testing.assert_array_equal(again, observed)


def test_heteroscedastic_noise_follows_the_profile():
    flux = np.ones((6000, 4))
    profile = noise_profile(np.array([1.0, 2.0, 4.0, 8.0]), np.array([0.1, 0.2, 1.2, 0.8]))
    np.testing.assert_allclose(profile, [1.0, 1.0, 3.0, 1.0])  # relative error / its median
    obs, error = noisy_observation(flux, 10.0, np.random.default_rng(0), profile)
    np.testing.assert_allclose(np.std(obs, axis=0), profile / 10, rtol=0.05)
    np.testing.assert_allclose(error / np.abs(obs), np.broadcast_to(profile / 10, obs.shape))
    with pytest.raises(SpectrumError, match="no pixel has a finite positive error/flux"):
        noise_profile(np.ones(3), np.zeros(3))
    # non-finite ratios take the median
    np.testing.assert_allclose(noise_profile(np.array([1.0, 0.0, 1.0]),
                                             np.array([0.1, 0.1, 0.3])), [0.5, 1.0, 1.5])


def test_random_gaps_cut_ends_and_stretches_from_a_fraction_of_spectra():
    from atmoscope.data.noise import random_gaps

    mask = random_gaps(4000, 200, np.random.default_rng(0), fraction=0.5, max_missing=0.6)
    gapped = ~mask.all(axis=1)
    assert 0.45 < gapped.mean() < 0.55
    missing = (~mask[gapped]).mean(axis=1)
    assert missing.min() >= 0.02 - 1e-9 and missing.max() <= 0.6 + 1e-9
    assert (~mask[gapped, 0]).any() and (~mask[gapped, -1]).any()  # ends are cut
    interior = gapped & mask[:, 0] & mask[:, -1]
    assert interior.sum() > 500  # and so are interior stretches
    assert random_gaps(10, 50, np.random.default_rng(0), fraction=0.0).all()
