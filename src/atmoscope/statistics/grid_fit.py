"""The best-fit model spectrum of the grid: the χ² minimum near a network's estimate.

A network's estimate is not the χ² minimum: under noise it scatters by its own
uncertainty, while the data may constrain the parameters far more tightly (a T dwarf
at S/N 30 pins Teff to a few K). χ² evaluated at the estimate then says "poor fit" of a
model that fits. The fit statistics of a prediction are therefore those of the best
fit: the interpolated grid spectrum, with its analytic flux scale, minimising χ² over
the parameters within the grid's range, so that ``poor_fit`` means that no model in the
grid fits — the model is not the object — rather than that the network missed.

The search runs on many spectra at once (a catalog's chunk, in blocks): Levenberg–Marquardt
(Press et al., *Numerical Recipes* §15.5) on the parameters scaled to the unit cube,
the flux scale profiled out analytically, Jacobians those of the interpolated grid
(:meth:`~atmoscope.statistics.GridInterpolator.with_gradient`), from two starts per
spectrum — the estimate and the best node (by χ²
over every node at once: a global start the estimate may miss) — the better end kept.
Every spectrum's search is independent of the others in its batch.
"""

from __future__ import annotations

import numpy as np

__all__ = ["best_grid_fit", "best_grid_fits"]

#: Levenberg–Marquardt: iterations at most, and the damping that ends a search
_MAX_ITER = 40
_MAX_DAMPING = 1e4
#: a step gaining less than this fraction of χ² ends a search
_MIN_GAIN = 1e-4
#: spectra searched together: enough that NumPy's per-call cost is spread thin, few enough
#: that a step's arrays (~20 kB a search) stay in cache (a sixth faster than 1,024 at once)
_BLOCK = 512


def best_grid_fit(interpolator, observed: np.ndarray, sigma: np.ndarray, usable: np.ndarray,
                  start: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The grid parameters whose interpolated spectrum, best scaled, minimises χ² (one
    spectrum; :func:`best_grid_fits` for many).

    Args:
        interpolator: a fitted :class:`~atmoscope.statistics.GridInterpolator`.
        observed, sigma: the spectrum and its 1σ errors on the grid's wavelengths.
        usable: pixels to use.
        start: where to start, in ``interpolator.params_`` order (e.g. the estimate).

    Returns:
        ``(parameters, model, scale)``: the best parameters (``params_`` order), the
        unscaled model spectrum there and the best-fit scale.
    """
    theta, model, scale = best_grid_fits(interpolator, observed[None], sigma[None],
                                         usable[None], np.asarray(start)[None])
    return theta[0], model[0], float(scale[0])


class _Problem:
    """χ² of model spectra against a batch of observations, each in units of its own
    peak with weights capped: no overflow from absurd fluxes or errors."""

    def __init__(self, interpolator, observed, sigma, usable):
        self.interp = interpolator
        with np.errstate(invalid="ignore", over="ignore"):
            peak = np.max(np.where(usable, np.abs(observed), 0.0), axis=1)
        self.peak = np.where(np.isfinite(peak) & (peak > 0), peak, 1.0)
        self.o = np.where(usable, observed, 0.0) / self.peak[:, None]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            self.w = np.where(usable, 1.0 / np.maximum(sigma / self.peak[:, None], 1e-100) ** 2,
                              0.0)
        # the weights in units of each row's largest, for a step's float32 normal equations
        # (a step does not depend on their scale, and any S/N stays finite there)
        self.w_step = self.w / np.maximum(self.w.max(axis=1, keepdims=True), 1e-300)
        with np.errstate(invalid="ignore", over="ignore"):
            self.ow = self.o * self.w
            self.oow = np.einsum("ij,ij->i", self.o, self.ow)  # Σ w o²: χ² of a zero model
        self.lo, self.span = interpolator._offset, interpolator._span  # params_ order

    def theta(self, u):
        return self.lo + np.clip(u, 0.0, 1.0) * self.span

    def model_gradient(self, u, hint=None):
        """Unscaled interpolated spectra at unit-cube points ``u`` (NaN outside the hull),
        their derivatives ``(n, k, L)`` in unit-cube coordinates (the interpolator's own),
        and the simplex of each point (``hint``: the simplices of points nearby, e.g. the
        last step's)."""
        return self.interp._with_gradient(self.theta(u), hint)

    def fit(self, m, rows):
        """Best scale and χ² of model rows ``m`` against observations ``rows``, each model in
        units of its own peak (also returned: the scale of the normalised model)."""
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            norm = np.max(np.abs(m), axis=-1, keepdims=True)
            mn = m / norm
            num = np.einsum("ij,ij->i", mn, self.ow[rows])
            scale = num / np.einsum("ij,ij->i", mn * mn, self.w[rows])
            # Σ w (o − s m)² at the best s is Σ w o² − s Σ w o m: one pass less, but where
            # the fit is far closer than the noise (S/N ≳ 10⁴) that difference has lost its
            # digits, and the sum is taken as it is
            chi2 = self.oow[rows] - scale * num
            close = ~(chi2 > 1e-9 * self.oow[rows])
            if close.any():
                near = rows[close]
                chi2[close] = (((self.o[near] - scale[close, None] * mn[close]) ** 2)
                               * self.w[near]).sum(axis=-1)
        return scale, np.where(np.isfinite(chi2), chi2, np.inf), norm[:, 0]

    def best_nodes(self, params_order) -> np.ndarray:
        """Unit-cube position of each observation's best node (χ² over every node)."""
        grid = self.interp.grid_
        nodes = grid.flux / np.max(np.abs(grid.flux), axis=1, keepdims=True)
        ow, w = self.o * self.w, self.w
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            num = ow @ nodes.T
            den = w @ (nodes * nodes).T
            chi2 = (self.o * ow).sum(axis=1)[:, None] - num * num / den
        chi2 = np.where(np.isfinite(chi2), chi2, np.inf)
        best = grid.parameters[params_order].to_numpy(float)[np.argmin(chi2, axis=1)]
        return (best - self.lo) / np.where(self.span > 0, self.span, 1.0)


def _levenberg_marquardt(problem: _Problem, u: np.ndarray, rows: np.ndarray):
    """Minimise χ² from unit-cube starts ``u`` (one per entry of ``rows``, the observation
    each fits); returns the end points, their χ² and model spectra. One evaluation of the
    grid (with its derivatives) per iteration: the trial point, the next base if better."""
    d = u.shape[1]
    given = np.clip(u, 0.0, 1.0)
    # a hair inside the cube: a start on a node or facet is ambiguous between simplices
    u = 0.5 + (given - 0.5) * (1.0 - 1e-6)
    moved = np.zeros(len(u), dtype=bool)
    m, g, simplex = problem.model_gradient(u)
    scale, chi2, _ = problem.fit(m, rows)
    damping = np.full(len(u), 1e-2)
    active = np.isfinite(chi2) & np.any(problem.span > 0)
    for _ in range(_MAX_ITER):
        idx = np.flatnonzero(active)
        if not idx.size:
            break
        ra = rows[idx]
        gi = g[idx]
        if not np.isfinite(gi).all():  # a regular grid's difference stepping outside
            gi = np.nan_to_num(gi)
        norm = np.max(np.abs(m[idx]), axis=1)
        mn = m[idx] / norm[:, None]
        a = scale[idx]
        w, o = problem.w_step[ra], problem.o[ra]
        # the normal equations of the parameters and the scale (its coupling with the
        # shape), which is then profiled again at the trial point: J^T W J and J^T W r
        # from products of the derivatives, never the Jacobian itself (L × k, per
        # spectrum); in float32, with the model's peak divided out and the weights in
        # units of their largest (w_step: a step depends on neither)
        with np.errstate(invalid="ignore", over="ignore"):
            resid = o - a[:, None] * mn
            gw = gi * (w / norm[:, None]).astype(np.float32)[:, None, :]
            pair = np.empty((len(idx), mn.shape[1], 2), dtype=np.float32)
            pair[..., 0], pair[..., 1] = mn, resid
            shape_part = np.matmul(gw, pair)
            hess = np.empty((len(idx), d + 1, d + 1))
            hess[:, :d, :d] = np.matmul(gw, gi.transpose(0, 2, 1)) * (a * a / norm)[:, None,
                                                                                     None]
            hess[:, :d, d] = hess[:, d, :d] = shape_part[..., 0] * a[:, None]
            hess[:, d, d] = (w * mn * mn).sum(axis=1)
            grad = np.concatenate([shape_part[..., 1] * a[:, None],
                                   (w * mn * resid).sum(axis=1)[:, None]], axis=1)
            diag = np.maximum(np.einsum("sii->si", hess), 1e-12)
            lhs = hess + damping[idx, None, None] * np.einsum("si,ij->sij", diag,
                                                              np.eye(d + 1))
        ok = np.all(np.isfinite(lhs), axis=(1, 2)) & np.all(np.isfinite(grad), axis=1)
        delta = np.zeros((len(idx), d + 1))
        if ok.any():
            try:
                delta[ok] = np.linalg.solve(lhs[ok], grad[ok][..., None])[..., 0]
            except np.linalg.LinAlgError:
                delta[ok] = grad[ok] / np.einsum("sii->si", lhs[ok])
        trial = np.clip(u[idx] + delta[:, :d], 0.0, 1.0)
        t_m, t_g, t_simplex = problem.model_gradient(
            trial, None if simplex is None else simplex[idx])
        t_scale, t_chi2, _ = problem.fit(t_m, ra)
        better = t_chi2 < chi2[idx]
        gain = np.where(better, chi2[idx] - t_chi2, 0.0)
        step = np.max(np.abs(trial - u[idx]), axis=1)
        keep = idx[better]
        moved[keep] = True
        u[keep], chi2[keep], scale[keep] = trial[better], t_chi2[better], t_scale[better]
        m[keep], g[keep] = t_m[better], t_g[better]
        if simplex is not None:
            simplex[keep] = t_simplex[better]
        damping[idx] = np.where(better, damping[idx] / 3.0, damping[idx] * 10.0)
        # converged: a step that gains next to nothing (Δχ² ≤ 1e-4 χ²: far below the
        # Δχ² = 1 of one standard deviation for a fit near its degrees of freedom, and
        # relative for a poor one, whose errors are inflated by √(reduced χ²)), or a
        # proposed move below 1e-5 of the range (an accepted one, or a rejected one: the
        # damping has shrunk it)
        done = ((better & (gain <= _MIN_GAIN * (1.0 + chi2[idx]))) | (step < 1e-5)
                | (damping[idx] > _MAX_DAMPING) | ~ok)
        active[idx[done]] = False
    u[~moved] = given[~moved]  # a start no step improved on is the answer as given
    return u, chi2, m


def best_grid_fits(interpolator, observed: np.ndarray, sigma: np.ndarray, usable: np.ndarray,
                   start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`best_grid_fit` for a batch: arrays ``(n, L)`` and starts ``(n, k)``.

    Returns:
        ``(parameters (n, k), model (n, L), scale (n,))``; a spectrum whose starts both
        lie outside the grid's hull keeps its start (clipped to the range).
    """
    observed, sigma = np.asarray(observed, float), np.asarray(sigma, float)
    usable, start = np.asarray(usable, bool), np.asarray(start, float)
    parts = [_best_fits(interpolator, *(a[i:i + _BLOCK] for a in (observed, sigma, usable,
                                                                    start)))
             for i in range(0, len(observed), _BLOCK)]
    if not parts:
        return (np.zeros((0, len(interpolator.params_))), np.zeros((0, observed.shape[-1])),
                np.zeros(0))
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def _best_fits(interpolator, observed, sigma, usable, start):
    """:func:`best_grid_fits` of one block of spectra."""
    problem = _Problem(interpolator, observed, sigma, usable)
    n = len(problem.o)
    unit = np.where(problem.span > 0, problem.span, 1.0)
    starts = np.clip((start - problem.lo) / unit, 0.0, 1.0)
    rows = np.arange(n)
    u, chi2, models = _levenberg_marquardt(
        problem, np.concatenate([starts, problem.best_nodes(interpolator.params_)]),
        np.concatenate([rows, rows]))
    second = chi2[n:] < chi2[:n]
    best = np.where(second[:, None], u[n:], u[:n])
    model = np.where(second[:, None], models[n:], models[:n])
    norm_scale, _, norm = problem.fit(model, rows)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        scale = norm_scale * problem.peak / norm
    return problem.theta(best), model, scale
