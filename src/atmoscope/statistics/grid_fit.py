"""The best-fit model spectrum of the grid: the χ² minimum near a network's estimate.

A network's estimate is not the χ² minimum: under noise it scatters by its own
uncertainty, while the data may constrain the parameters far more tightly (a T dwarf
at S/N 30 pins Teff to a few K). χ² evaluated at the estimate then says "poor fit" of a
model that fits. The fit statistics of a prediction are therefore those of the best
fit: the interpolated grid spectrum, with its analytic flux scale, minimising χ² over
the parameters (Powell's method within the grid's range, from the estimate and from
the best node, the better end kept), so that ``poor_fit`` means that no model in the
grid fits — the model is not the object — rather than that the network missed.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize

__all__ = ["best_grid_fit"]

#: χ² given to parameters outside the hull (above any real χ² in the scaled units)
_OUTSIDE = 1e30


def best_grid_fit(interpolator, observed: np.ndarray, sigma: np.ndarray, usable: np.ndarray,
                  start: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The grid parameters whose interpolated spectrum, best scaled, minimises χ².

    Args:
        interpolator: a fitted :class:`~atmoscope.statistics.GridInterpolator`.
        observed, sigma: the spectrum and its 1σ errors on the grid's wavelengths.
        usable: pixels to use.
        start: where to start, in ``interpolator.params_`` order (e.g. the estimate).

    Returns:
        ``(parameters, model, scale)``: the best parameters (``params_`` order), the
        unscaled model spectrum there and the best-fit scale.
    """
    # in units of the data's peak, weights capped: no overflow from absurd fluxes or errors
    o = observed[usable]
    peak = float(np.max(np.abs(o), initial=0.0))
    peak = peak if np.isfinite(peak) and peak > 0 else 1.0
    o = o / peak
    w = 1.0 / np.maximum(sigma[usable] / peak, 1e-100) ** 2
    params = interpolator.params_
    lo = np.array([interpolator.bounds_[p][0] for p in params])
    span = np.array([interpolator.bounds_[p][1] for p in params]) - lo

    def spectrum(u):
        theta = lo + np.clip(u, 0.0, 1.0) * span
        return theta, interpolator(theta[None], outside="nan")[0]

    def fit(m):
        """Best scale and χ² of model rows ``m`` (each in units of its own peak)."""
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            m = m / np.max(np.abs(m), axis=-1, keepdims=True)
            scale = (m * (o * w)).sum(axis=-1) / (m * m * w).sum(axis=-1)
            return scale, (((o - scale[..., None] * m) ** 2) * w).sum(axis=-1)

    best = {"chi2": np.inf, "u": None}

    def chi2(u):
        _, m = spectrum(u)
        m = m[usable]
        if not np.all(np.isfinite(m)):  # outside the hull of an irregular grid
            return _OUTSIDE
        value = float(fit(m)[1])
        if value < best["chi2"]:  # kept here: the optimiser may end on a penalised point
            best["chi2"], best["u"] = value, np.clip(u, 0.0, 1.0)
        return value if np.isfinite(value) else _OUTSIDE

    unit = np.where(span > 0, span, 1.0)
    starts = [(np.clip(start, lo, lo + span) - lo) / unit]
    # the best node, by χ² over every node at once: a global start the estimate may miss
    grid = interpolator.grid_
    node_chi2 = fit(grid.flux[:, usable])[1]
    if np.isfinite(node_chi2).any():
        node = grid.parameters[params].to_numpy(float)[np.nanargmin(
            np.where(np.isfinite(node_chi2), node_chi2, np.nan))]
        starts.append((node - lo) / unit)
    for u0 in starts:
        if chi2(u0) < _OUTSIDE:
            # the line search's arithmetic on the penalty overflows harmlessly
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                minimize(chi2, u0, method="Powell", bounds=[(0.0, 1.0)] * len(params),
                         options={"xtol": 1e-4, "ftol": 1e-7, "maxfev": 600})
    theta, model = spectrum(starts[0] if best["u"] is None else best["u"])
    m = model[usable]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return theta, model, float(fit(m)[0] * peak / np.max(np.abs(m)))
