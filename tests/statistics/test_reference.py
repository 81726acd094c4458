"""The reference posterior by MCMC."""

import numpy as np

from atmoscope.data.noise import noisy_observation
from atmoscope.statistics.reference import log_likelihood, reference_posterior
from atmoscope.synthetic import synthetic_spectra
from atmoscope.training.augment import OffNodeSampler


def test_reference_posterior_recovers_the_truth(small_split):
    grid, split = small_split
    model = OffNodeSampler().fit(grid, np.concatenate([split.train, split.val]))
    truth = np.array([4.75, 1030.0, 1.2, 0.1])  # between nodes
    flux = synthetic_spectra(truth, grid.wavelength)
    observed, error = noisy_observation(flux, 50.0, np.random.default_rng(0))
    # the likelihood: higher at the truth than away from it; -inf outside the prior
    logl = log_likelihood(np.array([truth, truth * [1, 1.1, 1, 1], [5.0, 3000, 1, 0]]),
                          observed[0], error[0], model)
    assert logl[0] > logl[1] and logl[2] == -np.inf
    samples = reference_posterior(observed[0], error[0], model, n_steps=1500, burn=500, seed=0)
    assert samples.shape == (200 * 32, 4)
    mean, std = samples.mean(0), samples.std(0)
    assert np.all(np.abs(mean - truth) < 4 * std)
    # the widths are the Cramér-Rao bound of this model: for σ = F / S/N the Fisher
    # information is (S/N² + 2) Gᵀ G with G = ∂ log F / ∂θ (the 2 from σ's own θ-dependence)
    steps = np.array([1e-3, 0.1, 1e-3, 1e-3])
    g = np.stack([(np.log(synthetic_spectra(truth + d, grid.wavelength)[0])
                   - np.log(synthetic_spectra(truth - d, grid.wavelength)[0])) / (2 * h)
                  for d, h in zip(np.diag(steps), steps, strict=True)], axis=1)
    bound = np.sqrt(np.diag(np.linalg.inv((50.0**2 + 2) * g.T @ g)))
    np.testing.assert_allclose(std, bound, rtol=0.3)
