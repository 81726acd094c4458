"""Are the uncertainties right? Coverage of credible intervals and rank statistics.

For held-out grid spectra with known parameters, made noisy at a random S/N, a
model's samples (Monte-Carlo draws over the errors × ensemble members, TelescopeML's
kind of uncertainty) give central intervals at each nominal level; the *empirical*
coverage is the fraction of spectra whose true value falls inside. Calibrated
uncertainties have empirical = nominal. Simulation-based-calibration ranks (Talts et
al. 2018) are the rank of the truth among the samples: uniform when calibrated,
∪-shaped when the intervals are too narrow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from atmoscope.data.grid import SpectralGrid
from atmoscope.evaluation.metrics import add_noise

__all__ = ["LEVELS", "calibrate_predictor", "central_coverage", "joint_coverage", "sbc_ranks"]

#: Nominal levels of the coverage curve.
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def central_coverage(samples: np.ndarray, truth: np.ndarray,
                     levels: Sequence[float] = LEVELS) -> np.ndarray:
    """Empirical coverage of central intervals.

    Args:
        samples: shape ``(n_spectra, n_samples, k)``.
        truth: shape ``(n_spectra, k)``.
        levels: nominal probabilities of the central intervals.

    Returns:
        ``(len(levels), k)``: fraction of spectra whose truth lies in the interval.
    """
    out = np.empty((len(levels), samples.shape[2]))
    for i, level in enumerate(levels):
        lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=1)
        out[i] = np.mean((truth >= lo) & (truth <= hi), axis=0)
    return out


def joint_coverage(samples: np.ndarray, truth: np.ndarray,
                   levels: Sequence[float] = LEVELS) -> np.ndarray:
    """Coverage of joint credible regions, taken as the Gaussian ellipsoids of the samples'
    mean and covariance (squared Mahalanobis distance below the χ²_k quantile)."""
    k = samples.shape[2]
    mean = samples.mean(axis=1)
    cov = np.einsum("nsi,nsj->nij", samples - mean[:, None], samples - mean[:, None]) / (
        samples.shape[1] - 1)
    cov += np.eye(k) * 1e-12 * np.trace(cov, axis1=1, axis2=2)[:, None, None]
    diff = truth - mean
    d2 = np.einsum("ni,nij,nj->n", diff, np.linalg.pinv(cov), diff)
    return np.array([np.mean(d2 <= stats.chi2.ppf(level, k)) for level in levels])


def sbc_ranks(samples: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rank of the truth among each spectrum's samples, shape ``(n_spectra, k)``."""
    return np.sum(samples < truth[:, None, :], axis=1)


def calibrate_predictor(
    predict: Callable[[np.ndarray], np.ndarray],
    grid: SpectralGrid,
    rows: np.ndarray,
    *,
    n_spectra: int = 500,
    n_draws: int = 100,
    snr_range: tuple[float, float] = (5.0, 100.0),
    seed: int = 0,
    n_members: int = 1,
) -> dict:
    """Coverage of Monte-Carlo (× ensemble) uncertainties on noisy held-out grid spectra.

    Each chosen spectrum gets Gaussian noise at an S/N drawn log-uniformly in
    ``snr_range`` (σ = flux / S/N per pixel); its errors are then taken as the noisy
    flux / S/N — what an observer would quote — and ``n_draws`` copies are drawn from
    them, as :class:`~atmoscope.prediction.Predictor` does for an observed spectrum.

    Args:
        predict: flux ``(m, n_wl)`` → samples ``(n_members * m, k)`` in physical units,
            members stacked one after another (each member predicts all ``m`` rows).
        grid: grid holding the spectra; ``rows``: which ones (held-out nodes).
        n_members: how many members ``predict`` stacks.

    Returns:
        ``{"levels", "coverage": {target: [...]}, "joint": [...], "coverage_68"/
        "coverage_95" per target, "ranks": (n, k) array, "n_spectra", "n_samples"}``.
    """
    rng = np.random.default_rng(seed)
    rows = rng.permutation(np.asarray(rows))[:n_spectra]
    flux, truth = grid.flux[rows], grid.target_values[rows]
    snr = np.exp(rng.uniform(*np.log(snr_range), size=(len(rows), 1)))
    observed = add_noise(flux, snr, rng)
    error = np.abs(observed) / snr
    draws = observed[:, None, :] + rng.standard_normal((len(rows), n_draws, flux.shape[1])) \
        * error[:, None, :]
    draws = np.where(draws > 0, draws, np.abs(observed)[:, None, :] * 1e-3)
    out = predict(draws.reshape(-1, flux.shape[1]))
    k = truth.shape[1]
    # (members · spectra · draws, k) → (spectra, members · draws, k)
    samples = out.reshape(n_members, len(rows), n_draws, k).transpose(1, 0, 2, 3).reshape(
        len(rows), n_members * n_draws, k)
    cov = central_coverage(samples, truth, LEVELS)
    c68 = central_coverage(samples, truth, [0.68])[0]
    c95 = central_coverage(samples, truth, [0.95])[0]
    names = list(grid.targets)
    return {
        "levels": list(LEVELS),
        "coverage": {n: cov[:, j].tolist() for j, n in enumerate(names)},
        "joint": joint_coverage(samples, truth, LEVELS).tolist(),
        "parameters": {n: {"coverage_68": float(c68[j]), "coverage_95": float(c95[j])}
                       for j, n in enumerate(names)},
        "ranks": sbc_ranks(samples, truth),
        "n_spectra": int(len(rows)),
        "n_samples": int(n_members * n_draws),
        "snr_range": list(snr_range),
    }
