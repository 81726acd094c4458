"""Flux-conserving rebinning, vectorised: SpectRes (Carnall 2017) without its loop.

SpectRes gives each new bin the overlap-weighted mean of the old bins it covers and
the matching combination of their errors, looping in Python over the new bins (≈30 ms
for a SpeX spectrum onto a 442-pixel grid: most of a catalog's time). Here the same sums
come from cumulative sums at the bin edges, for any number of spectra at once:

    F_j = Σ_i o_ij f_i / Σ_i o_ij,    σ_j = √(Σ_i (o_ij σ_i)²) / Σ_i o_ij

with ``o_ij`` the overlap of new bin ``j`` and old bin ``i``. Bins are those SpectRes
draws (edges midway between neighbouring wavelengths, the end bins mirrored); a new
bin not wholly inside the old range gets ``fill``. Results equal SpectRes's to
rounding (a test).
"""

from __future__ import annotations

import numpy as np

__all__ = ["bin_edges", "rebin"]


def bin_edges(centres: np.ndarray) -> np.ndarray:
    """Bin edges as SpectRes draws them: midpoints, the end bins mirrored."""
    edges = np.empty(centres.size + 1)
    edges[1:-1] = 0.5 * (centres[1:] + centres[:-1])
    edges[0] = centres[0] - 0.5 * (centres[1] - centres[0])
    edges[-1] = centres[-1] + 0.5 * (centres[-1] - centres[-2])
    return edges


def rebin(new_wavelength: np.ndarray, wavelength: np.ndarray, flux: np.ndarray,
          error: np.ndarray | None = None, fill: float = np.nan
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """Resample spectra onto ``new_wavelength``, flux conserved, errors propagated.

    Args:
        new_wavelength: ``(M,)`` increasing target wavelengths.
        wavelength: ``(N,)`` increasing source wavelengths (at least 2).
        flux: ``(..., N)``: one spectrum or many on the same source wavelengths.
        error: 1σ errors, the shape of ``flux``, or None.
        fill: value of new bins not wholly inside the source range.

    Returns:
        ``(flux (..., M), error (..., M) or None)``.
    """
    new_edges, old_edges = bin_edges(new_wavelength), bin_edges(wavelength)
    widths = np.diff(old_edges)
    lo, hi = new_edges[:-1], new_edges[1:]
    covered = (lo >= old_edges[0]) & (hi <= old_edges[-1])
    # the old bins holding each new bin's ends (SpectRes's `start` and `stop`)
    start = np.clip(np.searchsorted(old_edges, lo, side="right") - 1, 0, widths.size - 1)
    stop = np.clip(np.searchsorted(old_edges, hi, side="left") - 1, 0, widths.size - 1)
    single = start == stop
    head = old_edges[start + 1] - lo  # overlap with the first old bin
    tail = hi - old_edges[stop]  # and with the last
    total = np.where(single, 1.0, head + tail + _between(widths, start, stop))

    def combine(values: np.ndarray, power: int) -> np.ndarray:
        """Σ over each new bin of (overlap × value)^power, from cumulative sums."""
        inner = np.cumsum((widths * values) ** power, axis=-1)
        inner = np.concatenate([np.zeros(values.shape[:-1] + (1,)), inner], axis=-1)
        between = inner[..., stop] - inner[..., np.minimum(start + 1, stop)]
        return ((head * values[..., start]) ** power + (tail * values[..., stop]) ** power
                + between)

    flux = np.asarray(flux, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        new_flux = np.where(single, flux[..., start], combine(flux, 1) / total)
        new_flux = np.where(covered, new_flux, fill)
        new_error = None
        if error is not None:
            error = np.asarray(error, dtype=np.float64)
            new_error = np.where(single, error[..., start], np.sqrt(combine(error, 2)) / total)
            new_error = np.where(covered, new_error, fill)
    return new_flux, new_error


def _between(widths: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Total width of the old bins strictly between ``start`` and ``stop``."""
    cumulative = np.concatenate([[0.0], np.cumsum(widths)])
    return cumulative[stop] - cumulative[np.minimum(start + 1, stop)]
