"""Training spectra that look like observations: noise and off-node parameters.

A grid holds noiseless spectra at a few hundred to a few tens of thousands of
parameter *nodes*. Observed spectra are noisy and lie between the nodes. A network
trained on the nodes alone learns a discrete prior (its posterior piles up on the
nodes it saw) and a noiseless likelihood. Three augmentations, drawn afresh for
every batch, fix that:

* :func:`~atmoscope.evaluation.metrics.noisy_observation`: Gaussian noise at a signal-to-noise ratio drawn per
  spectrum, optionally shaped per pixel by a relative-error *profile* (an
  instrument's error vector), returned with the error an observer would quote.
* :class:`OffNodeSampler`: spectra at continuous parameter values, uniform over the
  training nodes' range — from the analytic generator when the grid is the embedded
  synthetic one, otherwise interpolated in log10 flux between the grid's nodes
  (:class:`~atmoscope.statistics.GridInterpolator`). Only the nodes it is given are
  used, so held-out test nodes never leak into training.
* model mismatch: interpolated spectra are not the model's own. The
  :func:`interpolation_residuals` (each node minus its interpolation from its two
  neighbours along one axis) are samples of that error; adding a random one, at a
  random signed scale, to each training spectrum teaches a posterior network that the
  grid between its nodes is uncertain by that much, in the smooth, band-shaped way
  interpolation errs (white noise would not).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from atmoscope.data.grid import SpectralGrid
from atmoscope.errors import AtmoscopeError

__all__ = ["OffNodeSampler", "interpolation_residuals", "is_synthetic", "noise_profile"]


def noise_profile(flux: np.ndarray, error: np.ndarray) -> np.ndarray:
    """A relative-error profile from an observed spectrum's flux and error vectors on the
    model grid: ``(error / |flux|)`` divided by its median, so that the median pixel has
    the nominal S/N and the others keep the instrument's shape (e.g. noisier band edges).

    Raises:
        AtmoscopeError: when no pixel has a finite, positive relative error.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(np.asarray(error, float)) / np.abs(np.asarray(flux, float))
    ok = np.isfinite(rel) & (rel > 0)
    if not ok.any():
        raise AtmoscopeError("noise profile: no pixel has a finite positive error/flux")
    rel = np.where(ok, rel, np.median(rel[ok]))
    return rel / np.median(rel)


def interpolation_residuals(grid: SpectralGrid, rows: Sequence[int] | None = None
                            ) -> np.ndarray:
    """Leave-one-out errors of log-flux interpolation between the nodes.

    For every node with a neighbour on each side along a parameter axis (the other
    parameters equal), log10 of its flux minus the linear interpolation (in the
    parameter) of its two neighbours' log10 flux. This is the error of interpolating
    across a gap of two node spacings, as at a held-out node.

    Args:
        grid: the grid; ``rows``: the nodes to use (default all).

    Returns:
        ``(n_residuals, n_wavelengths)`` residuals in dex (empty when no node has
        neighbours on both sides).
    """
    nodes = grid if rows is None else grid.select(np.sort(np.asarray(rows)))
    params = nodes.parameters.reset_index(drop=True)
    keep = ~params.duplicated().to_numpy()  # repeated nodes would divide by zero
    params = params[keep].reset_index(drop=True)
    with np.errstate(divide="ignore"):
        logf = np.log10(nodes.flux[keep])
    varying = [c for c in params.columns if params[c].nunique() > 1]
    out = []
    for axis in varying:
        others = [c for c in varying if c != axis]
        groups = params.groupby(others).groups.values() if others else [params.index]
        for index in groups:
            index = np.asarray(index)
            index = index[np.argsort(params[axis].to_numpy()[index])]
            if len(index) < 3:
                continue
            a = params[axis].to_numpy()[index]
            w = ((a[1:-1] - a[:-2]) / (a[2:] - a[:-2]))[:, None]
            predicted = (1 - w) * logf[index[:-2]] + w * logf[index[2:]]
            out.append(logf[index[1:-1]] - predicted)
    out = np.concatenate(out) if out else np.zeros((0, grid.n_wavelengths))
    return out[np.all(np.isfinite(out), axis=1)]  # zero flux has no log


class OffNodeSampler:
    """Spectra at continuous parameter values within the range of the given nodes.

    Args:
        grid: the grid; ``rows``: the nodes it may use (default all; give the
            training rows so that held-out nodes never leak).
        source: ``"simulator"`` (the embedded analytic generator, exact everywhere),
            ``"interpolate"`` (log-flux interpolation between the nodes) or ``"auto"``
            (the simulator when ``grid`` is the embedded synthetic grid, else
            interpolation).

    Parameters are drawn uniformly in the box spanned by the nodes of every varying
    parameter; for an irregular grid (e.g. Sonora Bobcat, whose C/O varies only at
    solar metallicity), draws outside the convex hull of the nodes are rejected and
    drawn again, so the prior is uniform over the hull.
    """

    def __init__(self, grid: SpectralGrid, rows: Sequence[int] | None = None,
                 source: str = "auto") -> None:
        if source not in ("auto", "simulator", "interpolate"):
            raise AtmoscopeError(f"unknown off-node source {source!r} "
                                 "(auto, simulator or interpolate)")
        self.grid = grid
        self.rows = rows
        self.source = source
        nodes = grid if rows is None else grid.select(np.sort(np.asarray(rows)))
        if source == "auto":
            source = "simulator" if is_synthetic(grid) else "interpolate"
        self.source_ = source
        params = nodes.parameters
        varying = [c for c in params.columns if params[c].nunique() > 1]
        if source == "simulator":
            if not is_synthetic(grid):
                raise AtmoscopeError("off-node source 'simulator' needs the embedded "
                                     "synthetic grid; use 'interpolate' for this grid")
            self.params_ = list(params.columns)
        else:
            from atmoscope.statistics import GridInterpolator

            self.interpolator_ = GridInterpolator(nodes)
            self.params_ = list(self.interpolator_.params_)
        self._points(np.zeros((1, len(grid.targets))))  # every varying parameter a target
        self.low_ = params[self.params_].min().to_numpy(float)
        self.high_ = params[self.params_].max().to_numpy(float)
        # parameters that do not vary stay at their single value
        self.constant_ = {c: float(params[c].iloc[0]) for c in params.columns
                          if c not in varying}
        missing = [t for t in grid.targets if t not in self.params_ and t not in self.constant_]
        if missing:
            raise AtmoscopeError(f"off-node sampler: targets {missing} are not grid parameters")

    def in_prior(self, theta: np.ndarray) -> np.ndarray:
        """Whether each parameter vector (``grid.targets`` order) lies where :meth:`draw`
        draws: inside the nodes' box and, for interpolation, their convex hull."""
        points = self._points(np.atleast_2d(theta))
        inside = np.all((points >= self.low_) & (points <= self.high_), axis=1)
        if self.source_ == "interpolate" and inside.any():
            inside[inside] = self.interpolator_.contains(points[inside])
        return inside

    def spectra(self, theta: np.ndarray, outside: str = "raise") -> np.ndarray:
        """Model spectra at parameter vectors (``grid.targets`` order): the generator's,
        or the grid interpolated in log10 flux. A vector outside the prior raises, or
        with ``outside="nan"`` gets a row of NaN."""
        points = self._points(np.atleast_2d(theta))
        if self.source_ == "simulator":
            if outside == "nan":
                flux = np.full((len(points), self.grid.n_wavelengths), np.nan)
                inside = self.in_prior(theta)
                if inside.any():
                    flux[inside] = self.spectra(np.atleast_2d(theta)[inside])
                return flux
            from atmoscope.synthetic import PARAMETER_NAMES, synthetic_spectra

            values = {p: points[:, j] for j, p in enumerate(self.params_)}
            values.update({c: np.full(len(points), v) for c, v in self.constant_.items()})
            return synthetic_spectra({p: values[p] for p in PARAMETER_NAMES},
                                     self.grid.wavelength)
        return self.interpolator_(points, outside=outside)

    def _points(self, theta: np.ndarray) -> np.ndarray:
        """``grid.targets`` order → :attr:`params_` order (every varying parameter must be
        a target)."""
        targets = list(self.grid.targets)
        missing = [p for p in self.params_ if p not in targets]
        if missing:
            raise AtmoscopeError(f"parameters {missing} vary in the grid but are not targets")
        return theta[:, [targets.index(p) for p in self.params_]]

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` parameter vectors (columns in ``grid.targets`` order) and their spectra
        ``(n, n_wavelengths)`` on the grid's wavelengths and in its flux unit."""
        thetas, fluxes, have = [], [], 0
        for _ in range(1000):
            if have >= n:
                break
            points = rng.uniform(self.low_, self.high_,
                                 size=(max(2 * (n - have), 16), len(self.params_)))
            values = {p: points[:, j] for j, p in enumerate(self.params_)}
            values.update({c: np.full(len(points), v) for c, v in self.constant_.items()})
            theta = np.column_stack([values[t] for t in self.grid.targets])
            flux = self.spectra(theta, outside="nan")  # one pass: NaN outside the hull
            inside = ~np.isnan(flux[:, 0])
            thetas.append(theta[inside])
            fluxes.append(flux[inside])
            have += int(inside.sum())
        if have < n:
            raise AtmoscopeError("off-node sampler: the nodes' convex hull is too thin to "
                                 "draw parameters from")
        return np.concatenate(thetas)[:n], np.concatenate(fluxes)[:n]


def is_synthetic(grid: SpectralGrid) -> bool:
    """Whether ``grid`` holds the embedded analytic spectra (made here or read from a file
    written from them): checked on a few rows against the generator itself."""
    from atmoscope.synthetic import PARAMETER_NAMES, synthetic_spectra

    if grid.source == "atmoscope.synthetic":
        return True
    if not set(PARAMETER_NAMES) <= set(grid.parameters.columns):
        return False
    rows = np.linspace(0, grid.n_spectra - 1, min(5, grid.n_spectra)).astype(int)
    try:
        model = synthetic_spectra(grid.parameters.iloc[rows], grid.wavelength)
    except AtmoscopeError:
        return False
    return bool(np.allclose(model, grid.flux[rows], rtol=1e-4, atol=0))
