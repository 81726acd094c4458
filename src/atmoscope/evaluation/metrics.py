"""Scores for parameter predictions, and noise for test spectra.

These are the yardsticks every model in atmoscope is measured with, so they
take plain arrays and return plain Python numbers (JSON-serialisable).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import r2_score

__all__ = ["add_noise", "log_uniform_snr", "noisy_observation", "regression_metrics"]


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per-target accuracy of predicted parameters.

    Args:
        y_true: true values, shape ``(n, k)`` (or ``(n,)`` for one target).
        y_pred: predicted values, same shape as ``y_true``.
        names: the ``k`` target names, in column order.

    Returns:
        ``{name: {"rmse", "mae", "r2", "bias", "ae68", "ae95", "n"}}`` where
        ``bias`` is the mean of ``pred - true``, ``ae68``/``ae95`` are the
        68th/95th percentiles (linear interpolation) of ``|pred - true|``,
        ``r2`` is :func:`sklearn.metrics.r2_score` (true values first) and ``n``
        the number of rows (an ``int``); every other value is a Python float.

    Raises:
        ValueError: on mismatched shapes, a wrong number of names, no rows or
            non-finite values.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim == 1:
        y_true = y_true[:, None]
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    names = list(names)
    if y_true.shape != y_pred.shape or y_true.ndim != 2:
        raise ValueError(
            f"y_true {y_true.shape} and y_pred {y_pred.shape} must have one shape (n, k)"
        )
    if y_true.shape[1] != len(names):
        raise ValueError(f"{len(names)} names for {y_true.shape[1]} target columns")
    if y_true.shape[0] == 0:
        raise ValueError("no rows to score")
    if not (np.all(np.isfinite(y_true)) and np.all(np.isfinite(y_pred))):
        raise ValueError("y_true and y_pred must be finite")

    result: dict[str, dict[str, float]] = {}
    for j, name in enumerate(names):
        err = y_pred[:, j] - y_true[:, j]
        abs_err = np.abs(err)
        # r2 of one row is undefined (sklearn warns and returns nan); keep nan.
        r2 = float(r2_score(y_true[:, j], y_pred[:, j])) if len(err) > 1 else float("nan")
        result[name] = {
            "rmse": float(np.sqrt(np.mean(err**2))),
            "mae": float(np.mean(abs_err)),
            "r2": r2,
            "bias": float(np.mean(err)),
            "ae68": float(np.percentile(abs_err, 68)),
            "ae95": float(np.percentile(abs_err, 95)),
            "n": int(len(err)),
        }
    return result


def add_noise(flux: np.ndarray, snr: float | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Spectra with Gaussian noise at a constant signal-to-noise ratio per pixel.

    Each pixel gets independent Gaussian noise of standard deviation
    ``flux / snr``, i.e. the same S/N in every pixel (constant fractional
    error), not a constant absolute error.

    Noisy values at or below zero (only likely at S/N ≲ 3) are replaced by a
    floor of ``1e-3 ×`` the smallest flux of that spectrum (its row), so that
    ``log10`` of the result stays finite; this biases such pixels upwards.

    Args:
        flux: noiseless positive fluxes, shape ``(n_spectra, n_wavelengths)``
            (or one spectrum, shape ``(n_wavelengths,)``).
        snr: signal-to-noise ratio per pixel, > 0: a scalar, or an array that
            broadcasts against ``flux`` (e.g. ``(n_spectra, 1)`` for one S/N per
            spectrum).
        rng: the random generator, e.g. ``np.random.default_rng(seed)``; the
            same seed gives the same noise.

    Returns:
        A new array of the shape of ``flux``; ``flux`` is not modified.

    Raises:
        ValueError: if ``snr`` is not positive and finite or ``flux`` is not
            positive and finite.
    """
    flux = np.asarray(flux, dtype=np.float64)
    snr = np.asarray(snr, dtype=np.float64)
    if not np.all(np.isfinite(snr) & (snr > 0)):
        raise ValueError("snr must be positive and finite")
    if not np.all(np.isfinite(flux) & (flux > 0)):
        raise ValueError("flux must be positive and finite")
    noisy = flux + rng.standard_normal(flux.shape) * (flux / snr)
    floor = np.broadcast_to(flux.min(axis=-1, keepdims=True) * 1e-3, flux.shape)
    bad = noisy <= 0
    noisy[bad] = floor[bad]
    return noisy


def noisy_observation(flux: np.ndarray, snr: float | np.ndarray, rng: np.random.Generator,
                      profile: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Observe noiseless spectra: Gaussian noise of σ = flux · profile / S/N per pixel.

    Args:
        flux: noiseless positive spectra ``(n, n_wavelengths)``.
        snr: S/N per spectrum (scalar or ``(n, 1)``); with a profile, the S/N of the
            median pixel.
        rng: the random generator.
        profile: relative-error shape per pixel (median 1), or None for constant S/N.

    Returns:
        ``(observed, error)``. The quoted error is ``|observed| · profile / S/N``: what
        an observer's noise model gives from the data, so it tells the S/N and the
        profile but nothing about the noiseless spectrum.
    """
    snr = np.asarray(snr, dtype=np.float64)
    scale = snr if profile is None else snr / np.asarray(profile, dtype=np.float64)
    observed = add_noise(flux, scale, rng)
    return observed, np.abs(observed) / scale


def log_uniform_snr(low: float, high: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` signal-to-noise ratios drawn log-uniformly in ``[low, high]``, shape ``(n, 1)``."""
    return np.exp(rng.uniform(np.log(low), np.log(high), size=(n, 1)))
