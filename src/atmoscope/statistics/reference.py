"""A classical posterior to check learned ones against: MCMC on the model grid.

:func:`reference_posterior` samples p(θ | spectrum) with emcee's affine-invariant
ensemble sampler (Foreman-Mackey et al. 2013) under the prior, forward model and
noise model a posterior network is trained on (:mod:`atmoscope.training.augment`,
:mod:`atmoscope.data.noise`):

* prior: uniform over the training nodes' range (and convex hull), i.e. where a
  fitted :class:`~atmoscope.training.augment.OffNodeSampler` draws;
* forward model: the same sampler's spectra — the analytic generator, or the grid
  interpolated in log10 flux;
* likelihood: independent Gaussian pixels with σ_i(θ) = F_i(θ) · ρ_i, where
  ρ_i = error_i / |observed_i| is the observation's relative error (the S/N and
  noise profile it was made with). Unlike a fixed-σ χ², this is the true noise
  model of the noisy grid spectra.

On the embedded grid the two methods then target the same posterior exactly. On an
interpolated grid the networks also learn the mismatch augmentation (interpolation
residuals), which this likelihood leaves out: there the reference is the narrower,
interpolation-trusting posterior.

The sampler is passed in as any :class:`ForwardModel` (in practice a fitted
``OffNodeSampler``), so this module depends on no layer above statistics.

Needs the optional ``emcee`` package (``pip install atmoscope[reference]``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from atmoscope.errors import ConfigError

__all__ = ["ForwardModel", "log_likelihood", "reference_posterior"]


class ForwardModel(Protocol):
    """Prior and forward model of the reference sampler: what a fitted
    :class:`~atmoscope.training.augment.OffNodeSampler` provides."""

    def spectra(self, theta: np.ndarray, outside: str = "raise") -> np.ndarray:
        """Model spectra ``(m, n_wavelengths)`` at parameter vectors ``(m, k)``; with
        ``outside="nan"`` a row of NaN outside the prior."""

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` parameter vectors drawn from the prior, and their spectra."""


def log_likelihood(theta: np.ndarray, observed: np.ndarray, error: np.ndarray,
                   model: ForwardModel) -> np.ndarray:
    """Log-likelihood (up to a constant) of parameter vectors under the noise model.

    Args:
        theta: parameter vectors ``(m, k)`` (or one, ``(k,)``), ``grid.targets`` order.
        observed, error: the spectrum and its 1σ errors on the grid's wavelengths.
        model: prior and forward model (see module doc).

    Returns:
        ``(m,)`` log-likelihoods, −inf outside the prior.
    """
    flux = model.spectra(np.atleast_2d(theta), outside="nan")  # NaN outside the prior
    sigma = flux * (np.abs(error) / np.abs(observed))
    out = -0.5 * np.sum(((observed - flux) / sigma) ** 2, axis=1) - np.sum(np.log(sigma), axis=1)
    return np.where(np.isnan(out), -np.inf, out)


def reference_posterior(observed: np.ndarray, error: np.ndarray, model: ForwardModel, *,
                        n_walkers: int = 32, n_steps: int = 3000, burn: int = 1000,
                        thin: int = 5, seed: int = 0) -> np.ndarray:
    """Posterior samples of one noisy spectrum by MCMC.

    Args:
        observed, error: the spectrum and its 1σ errors on the grid's wavelengths.
        model: prior and forward model (see module doc).
        n_walkers, n_steps, burn, thin: the ensemble sampler's walkers, steps per
            walker, steps discarded as burn-in, and thinning.
        seed: seed of the start and of the sampler.

    Returns:
        ``((n_steps − burn) // thin · n_walkers, k)`` samples, ``grid.targets`` order.
        The walkers start at the ``n_walkers`` best of 4,096 prior draws (no network
        involved).

    Raises:
        ConfigError: when emcee is not installed (the `reference` extra).
        ConfigError: for ``burn`` not below ``n_steps``, or a non-positive count.
    """
    try:
        import emcee
    except ImportError:
        raise ConfigError("the reference sampler needs emcee: pip install "
                             "'atmoscope[reference]'") from None
    if min(n_walkers, n_steps, thin) < 1 or not 0 <= burn < n_steps:
        raise ConfigError(f"need n_walkers, n_steps, thin >= 1 and 0 <= burn < n_steps, got "
                          f"{n_walkers}, {n_steps}, {thin} and burn {burn}")
    rng = np.random.default_rng(seed)
    observed, error = np.asarray(observed, float), np.asarray(error, float)
    candidates, _ = model.draw(4096, rng)
    logl = log_likelihood(candidates, observed, error, model)
    start = candidates[np.argsort(logl)[::-1][:n_walkers]]
    sampler = emcee.EnsembleSampler(
        n_walkers, start.shape[1], log_likelihood, args=(observed, error, model),
        vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()  # emcee's own generator
    sampler.run_mcmc(start, n_steps, progress=False)
    return sampler.get_chain(discard=burn, thin=thin, flat=True)
