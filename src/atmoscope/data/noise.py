"""The one noise model of atmoscope, used by training, evaluation and calibration alike.

Observed spectra are noisy; the grid's model spectra are not. Every noisy spectrum
atmoscope makes (training batches, the noisy regression report, calibration
observations) comes from these functions, so that the networks are trained on the
noise they are scored and calibrated with:

* :func:`add_noise`: Gaussian noise of σ = flux / S/N per pixel (constant fractional
  error), floored so that log10 stays finite;
* :func:`noisy_observation`: the same, optionally shaped per pixel by a relative-error
  *profile*, returned with the error an observer would quote;
* :func:`log_uniform_snr`: signal-to-noise ratios drawn log-uniformly in a range;
* :func:`noise_profile`: the relative-error profile of an observed spectrum (an
  instrument's error vector), median 1.
"""

from __future__ import annotations

import numpy as np

from atmoscope.errors import ConfigError, SpectrumError

__all__ = ["add_noise", "log_uniform_snr", "noise_profile", "noisy_observation", "random_gaps"]


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
        ConfigError: if ``snr`` is not positive and finite or ``flux`` is not
            positive and finite.
    """
    flux = np.asarray(flux, dtype=np.float64)
    snr = np.asarray(snr, dtype=np.float64)
    if not np.all(np.isfinite(snr) & (snr > 0)):
        raise ConfigError("snr must be positive and finite")
    if not np.all(np.isfinite(flux) & (flux > 0)):
        raise ConfigError("flux must be positive and finite")
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
        profile: relative-error shape per pixel (median 1, see :func:`noise_profile`),
            or None for constant S/N.

    Returns:
        ``(observed, error)``. The quoted error is ``|observed| · profile / S/N``: what
        an observer's noise model gives from the data, so it tells the S/N and the
        profile but nothing about the noiseless spectrum.

    Raises:
        ConfigError: as :func:`add_noise`.
    """
    snr = np.asarray(snr, dtype=np.float64)
    scale = snr if profile is None else snr / np.asarray(profile, dtype=np.float64)
    observed = add_noise(flux, scale, rng)
    return observed, np.abs(observed) / scale


def log_uniform_snr(low: float, high: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Signal-to-noise ratios drawn log-uniformly.

    Args:
        low, high: the range, ``0 < low ≤ high``.
        n: how many.
        rng: the random generator.

    Returns:
        ``(n, 1)`` S/N values in ``[low, high]`` (one per spectrum, broadcasting
        against ``(n, n_wavelengths)`` flux).

    Raises:
        ConfigError: if the range is not positive, finite and ordered.
    """
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
        raise ConfigError(f"S/N range must satisfy 0 < low <= high, not ({low}, {high})")
    return np.exp(rng.uniform(np.log(low), np.log(high), size=(n, 1)))


def noise_profile(flux: np.ndarray, error: np.ndarray) -> np.ndarray:
    """A relative-error profile from an observed spectrum's flux and error vectors.

    ``error / |flux|`` divided by its median, so that the median pixel has the
    nominal S/N and the others keep the instrument's shape (e.g. noisier band
    edges). Pixels without a finite, positive relative error take the median.

    Args:
        flux: the spectrum's flux on the model grid's wavelengths.
        error: its 1σ errors, same shape.

    Returns:
        The profile, same shape, median 1.

    Raises:
        SpectrumError: when no pixel has a finite, positive relative error.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(np.asarray(error, float)) / np.abs(np.asarray(flux, float))
    ok = np.isfinite(rel) & (rel > 0)
    if not ok.any():
        raise SpectrumError("noise profile: no pixel has a finite positive error/flux")
    rel = np.where(ok, rel, np.median(rel[ok]))
    return rel / np.median(rel)


def random_gaps(n_spectra: int, n_pixels: int, rng: np.random.Generator,
                fraction: float = 0.25, max_missing: float = 0.6) -> np.ndarray:
    """Data masks with random gaps, as partial coverage leaves them.

    A ``fraction`` of the spectra each lose a fraction of their pixels drawn uniformly
    in 2 %–``max_missing``: one end, both ends, or one to three interior stretches
    (equally often).

    Returns:
        ``(n_spectra, n_pixels)`` booleans, True where a pixel keeps its data.
    """
    mask = np.ones((n_spectra, n_pixels), dtype=bool)
    for i in np.flatnonzero(rng.random(n_spectra) < fraction):
        n_miss = max(1, int(round(rng.uniform(0.02, max_missing) * n_pixels)))
        kind = rng.integers(3)
        if kind == 0:  # one end
            if rng.random() < 0.5:
                mask[i, :n_miss] = False
            else:
                mask[i, n_pixels - n_miss:] = False
        elif kind == 1:  # both ends
            left = int(rng.integers(n_miss + 1))
            mask[i, :left] = False
            mask[i, n_pixels - (n_miss - left):] = False
        else:  # interior stretches
            for size in rng.multinomial(n_miss, np.full(k := int(rng.integers(1, 4)), 1 / k)):
                start = int(rng.integers(0, n_pixels - size + 1))
                mask[i, start:start + size] = False
    return mask
