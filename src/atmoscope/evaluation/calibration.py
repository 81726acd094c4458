"""Are the uncertainties right? Coverage of credible intervals and rank statistics.

For held-out grid spectra with known parameters, made noisy at a random S/N, a
model's samples — from a learned posterior, or Monte-Carlo draws over the errors ×
ensemble members (TelescopeML's kind of uncertainty) — give central intervals at
each nominal level; the *empirical*
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
from atmoscope.evaluation.metrics import log_uniform_snr, noisy_observation

__all__ = ["LEVELS", "calibrate_predictor", "calibrate_sampler", "central_coverage",
           "coverage_report", "held_out_observations", "joint_coverage", "monte_carlo_sampler",
           "sbc_ranks"]

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


def held_out_observations(grid: SpectralGrid, rows: np.ndarray, *, n_spectra: int = 500,
                          snr_range: tuple[float, float] = (5.0, 100.0), seed: int = 0,
                          profile: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Noisy observations of up to ``n_spectra`` of the given (held-out) grid rows.

    Each gets Gaussian noise at an S/N drawn log-uniformly in ``snr_range`` (shaped by
    the relative-error ``profile``, if any), with the errors an observer would quote
    (:func:`~atmoscope.evaluation.metrics.noisy_observation`).

    Returns:
        ``{"rows", "observed", "error", "truth", "snr"}``.
    """
    rng = np.random.default_rng(seed)
    rows = rng.permutation(np.asarray(rows))[:n_spectra]
    snr = log_uniform_snr(*snr_range, len(rows), rng)
    observed, error = noisy_observation(grid.flux[rows], snr, rng, profile)
    return {"rows": rows, "observed": observed, "error": error,
            "truth": grid.target_values[rows], "snr": snr[:, 0]}


def monte_carlo_sampler(predict: Callable[..., np.ndarray], n_draws: int = 100,
                        n_members: int = 1, seed: int = 0, with_errors: bool = False
                        ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """TelescopeML's kind of uncertainty as a sampler: point predictions of
    ``n_draws`` noisy copies of each observation, drawn from its errors.

    Args:
        predict: flux ``(m, n_wl)`` (and, ``with_errors``, its errors) → ``(n_members · m,
            k)`` in physical units, members stacked one after another.

    Returns:
        ``sample(observed, error)`` → ``(n_spectra, n_members · n_draws, k)``.
    """

    def sample(observed: np.ndarray, error: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng([seed, 1])  # not the stream that made the observations
        n, n_wl = observed.shape
        draws = observed[:, None, :] + rng.standard_normal((n, n_draws, n_wl)) * error[:, None]
        draws = np.where(draws > 0, draws, np.abs(observed)[:, None, :] * 1e-3).reshape(-1, n_wl)
        out = predict(draws, np.repeat(error, n_draws, axis=0)) if with_errors else predict(draws)
        k = out.shape[1]
        # (members · spectra · draws, k) → (spectra, members · draws, k)
        return out.reshape(n_members, n, n_draws, k).transpose(1, 0, 2, 3).reshape(
            n, n_members * n_draws, k)

    return sample


def coverage_report(samples: np.ndarray, truth: np.ndarray, names: Sequence[str]) -> dict:
    """Coverage curves (per parameter and joint), coverage at 68 % and 95 %, SBC ranks
    and the 68 % interval widths of ``samples`` ``(n, s, k)`` against ``truth`` ``(n, k)``."""
    cov = central_coverage(samples, truth, LEVELS)
    c68, c95 = central_coverage(samples, truth, [0.68, 0.95])
    lo, hi = np.quantile(samples, [0.16, 0.84], axis=1)
    return {
        "levels": list(LEVELS),
        "coverage": {n: cov[:, j].tolist() for j, n in enumerate(names)},
        "joint": joint_coverage(samples, truth, LEVELS).tolist(),
        "parameters": {n: {"coverage_68": float(c68[j]), "coverage_95": float(c95[j]),
                           "median_width_68": float(np.median(hi[:, j] - lo[:, j]))}
                       for j, n in enumerate(names)},
        "ranks": sbc_ranks(samples, truth),
        "width68": hi - lo,
        "mean": samples.mean(axis=1),
        "n_spectra": int(len(truth)),
        "n_samples": int(samples.shape[1]),
    }


def calibrate_sampler(sample: Callable[[np.ndarray, np.ndarray], np.ndarray],
                      grid: SpectralGrid, rows: np.ndarray, *, n_spectra: int = 500,
                      snr_range: tuple[float, float] = (5.0, 100.0), seed: int = 0) -> dict:
    """Coverage of any sampler's uncertainties on noisy held-out grid spectra.

    Args:
        sample: ``(observed, error)`` ``(m, n_wl)`` each → samples ``(m, s, k)`` in
            physical units (a posterior, or :func:`monte_carlo_sampler`).
        grid: grid holding the spectra; ``rows``: which ones (held-out nodes).

    Returns:
        :func:`coverage_report` plus ``"snr_range"`` and per-spectrum ``"snr"``.
    """
    obs = held_out_observations(grid, rows, n_spectra=n_spectra, snr_range=snr_range,
                                seed=seed)
    report = coverage_report(sample(obs["observed"], obs["error"]), obs["truth"],
                             list(grid.targets))
    report.update(snr_range=list(snr_range), snr=obs["snr"])
    return report


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
    """Coverage of Monte-Carlo (× ensemble) uncertainties of a point predictor
    (:func:`calibrate_sampler` with :func:`monte_carlo_sampler`).

    Args:
        predict: flux ``(m, n_wl)`` → ``(n_members * m, k)`` in physical units,
            members stacked one after another (each member predicts all ``m`` rows).
        n_draws: Monte-Carlo draws per spectrum; ``n_members``: how many members
            ``predict`` stacks.
    """
    sampler = monte_carlo_sampler(predict, n_draws, n_members, seed=seed)
    return calibrate_sampler(sampler, grid, rows, n_spectra=n_spectra, snr_range=snr_range,
                             seed=seed)
