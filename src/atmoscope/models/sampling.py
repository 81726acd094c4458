"""From an observed spectrum and its errors to what a network reads, and Monte-Carlo draws.

One implementation, shared by prediction, calibration, evaluation and the benchmarks,
so that what ``calibrate`` measures is what ``predict`` reports:

* :func:`network_flux` — pixels without data, or at or below zero (noise in deep
  bands, which has no log), are filled by log-linear interpolation from their
  neighbours; every other pixel, however faint, is kept (band depths carry Teff).
* :func:`network_error` — the relative error σ/|F| of the usable pixels, median-smoothed
  over 5 pixels (the networks were trained on smooth relative errors; the scatter of
  σ/|F| in noisy data would otherwise be read as information), applied to the filled flux.
* :func:`monte_carlo_samples` — TelescopeML's uncertainty: a point estimator applied to
  noisy copies of each spectrum drawn from its errors.

Random numbers are seeded per spectrum (``default_rng([seed, row])``, the row key the
caller chooses), so a spectrum's samples do not depend on the batch it comes in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from atmoscope.errors import SpectrumError

__all__ = ["missing_fraction", "monte_carlo_samples", "network_error", "network_flux",
           "usable_pixels"]

#: draws predicted at once (spectra × draws), to bound memory.
_CHUNK = 65_536


def usable_pixels(flux: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Pixels with data: finite flux, and ``mask`` True (an observed spectrum's mask)."""
    finite = np.isfinite(flux)
    return finite if mask is None else finite & np.broadcast_to(mask, flux.shape)


def missing_fraction(usable: np.ndarray) -> np.ndarray:
    """Each spectrum's fraction of model pixels without data, from :func:`usable_pixels`."""
    return 1.0 - np.atleast_2d(usable).mean(axis=1)


def network_flux(flux: np.ndarray, usable: np.ndarray, wavelength: np.ndarray) -> np.ndarray:
    """``flux`` ``(n, L)`` with unusable or non-positive pixels filled by log-linear
    interpolation between their usable neighbours (NaN rows where none is usable)."""
    flux = np.array(flux, dtype=np.float64, ndmin=2)
    good = usable & (flux > 0)
    out = np.where(good, flux, np.nan)
    for i in np.flatnonzero(~good.all(axis=1)):  # only rows that need it
        ok = good[i]
        out[i] = 10 ** np.interp(wavelength, wavelength[ok], np.log10(flux[i, ok])) \
            if ok.any() else np.nan
    return out


def network_error(flux: np.ndarray, error: np.ndarray, usable: np.ndarray,
                  filled: np.ndarray) -> np.ndarray:
    """The errors a posterior network reads: each row's relative error over its usable
    pixels (others get the row's median), median-smoothed over 5 pixels, times the
    filled flux ``filled``.

    Raises:
        SpectrumError: a row with no pixel whose error is finite and positive.
    """
    from scipy.ndimage import median_filter

    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(error) / np.abs(np.where(flux != 0, flux, np.nan))
    ok = usable & np.isfinite(rel) & (rel > 0)
    empty = np.flatnonzero(~ok.any(axis=1))
    if len(empty):
        raise SpectrumError(f"spectrum {empty[0]}: no pixel has a usable flux error "
                            "(finite and positive, where the flux is)")
    median = np.nanmedian(np.where(ok, rel, np.nan), axis=1, keepdims=True)
    rel = median_filter(np.where(ok, rel, median), size=(1, 5), mode="nearest")
    return np.abs(filled) * rel


def monte_carlo_samples(point: Callable[[np.ndarray, np.ndarray | None], np.ndarray],
                        flux: np.ndarray, error: np.ndarray | None, n: int, seed: int,
                        usable: np.ndarray, wavelength: np.ndarray,
                        pass_errors: bool = False, rows: np.ndarray | None = None
                        ) -> np.ndarray:
    """Point estimates of ``n`` noisy copies of each spectrum (TelescopeML's Monte-Carlo).

    Args:
        point: ``(flux (m, L), error (m, L) or None) → (m, k)`` in physical units; it
            gets filled flux (:func:`network_flux`).
        flux, error: spectra ``(s, L)`` and their 1σ errors (None: no draws, every
            sample is the estimate of the spectrum itself).
        n: draws per spectrum; ``seed``: draws of row ``i`` from
            ``default_rng([seed, rows[i]])``.
        usable: ``(s, L)`` pixels with data (others get no noise and are filled).
        wavelength: the pixels' wavelengths, for the filling.
        pass_errors: hand each draw the errors of its spectrum (networks that read them).
        rows: each spectrum's random stream (default ``0, 1, …``).

    Returns:
        ``(s, n, k)`` samples.
    """
    s, length = flux.shape
    if error is None:
        estimate = point(network_flux(flux, usable, wavelength), None)
        return np.repeat(estimate[:, None], n, axis=1)
    sigma = np.where(usable, error, 0.0)
    keys = np.arange(s) if rows is None else rows
    rows_per_chunk = max(1, _CHUNK // max(n, 1))
    out = []
    for start in range(0, s, rows_per_chunk):
        rows = range(start, min(start + rows_per_chunk, s))
        draws = np.concatenate([
            flux[i] + np.random.default_rng([seed, int(keys[i])]).standard_normal((n, length))
            * sigma[i]
            for i in rows])
        draw_usable = np.repeat(usable[rows.start:rows.stop], n, axis=0)
        draw_error = np.repeat(error[rows.start:rows.stop], n, axis=0) if pass_errors else None
        estimate = point(network_flux(draws, draw_usable, wavelength), draw_error)
        out.append(estimate.reshape(len(rows), n, -1))
    return np.concatenate(out) if out else np.zeros((0, n, 0))
