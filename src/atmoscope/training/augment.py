"""Training spectra that look like observations: off-node parameters and model mismatch.

A grid holds noiseless spectra at a few hundred to a few tens of thousands of
parameter *nodes*. Observed spectra are noisy and lie between the nodes. A network
trained on the nodes alone learns a discrete prior (its posterior piles up on the
nodes it saw) and a noiseless likelihood. Three augmentations, drawn afresh for
every batch, fix that:

* noise: :func:`~atmoscope.data.noise.noisy_observation`, the one noise model that
  evaluation and calibration use too (Gaussian noise at a signal-to-noise ratio drawn
  per spectrum, optionally shaped per pixel by a relative-error *profile*, returned
  with the error an observer would quote).
* :class:`OffNodeSampler`: spectra at continuous parameter values, uniform over the
  training nodes' range — from the analytic generator when the grid is the embedded
  synthetic one, otherwise interpolated in log10 flux between the grid's nodes
  (:class:`~atmoscope.statistics.GridInterpolator`). Only the nodes it is fitted to
  are used, so held-out test nodes never leak into training.
* model mismatch: interpolated spectra are not the model's own. The
  :func:`interpolation_residuals` (each node minus its interpolation from its two
  neighbours along one axis) are samples of that error; adding a random one, at a
  random signed scale, to each training spectrum teaches a posterior network that the
  grid between its nodes is uncertain by that much, in the smooth, band-shaped way
  interpolation errs (white noise would not).

A fourth teaches a network with a mask input what a spectrum that does not cover
every pixel means: :func:`~atmoscope.data.noise.random_gaps` cuts an end, both ends
or one to three interior stretches out of a fraction of the spectra; the pixels are
filled as prediction fills them and the mask channel says so (the posterior then
widens as coverage shrinks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from atmoscope.data.grid import SpectralGrid
from atmoscope.errors import AtmoscopeError, ConfigError, GridError, check_fitted
from atmoscope.statistics.interpolation import GridInterpolator
from atmoscope.synthetic import PARAMETER_NAMES, synthetic_spectra

__all__ = ["OffNodeSampler", "interpolation_residuals", "is_synthetic"]

_SOURCES = ("auto", "simulator", "interpolate")


def interpolation_residuals(grid: SpectralGrid, rows: Sequence[int] | None = None
                            ) -> np.ndarray:
    """Leave-one-out errors of log-flux interpolation between the nodes.

    For every node with a neighbour on each side along a parameter axis (the other
    parameters equal), log10 of its flux minus the linear interpolation (in the
    parameter) of its two neighbours' log10 flux. This is the error of interpolating
    across a gap of two node spacings, as at a held-out node.

    Args:
        grid: the grid.
        rows: the nodes to use (default all; give the training rows so that held-out
            nodes never leak).

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

    Parameters are drawn uniformly in the box spanned by the nodes of every varying
    parameter; for an irregular grid (e.g. Sonora Bobcat, whose C/O varies only at
    solar metallicity), draws outside the convex hull of the nodes are rejected and
    drawn again, so the prior is uniform over the hull.

    Args:
        source: ``"simulator"`` (the embedded analytic generator, exact everywhere),
            ``"interpolate"`` (log-flux interpolation between the nodes) or ``"auto"``
            (the simulator when the grid is the embedded synthetic grid, else
            interpolation).

    Attributes (set by :meth:`fit`):
        source_: ``"simulator"`` or ``"interpolate"``, ``"auto"`` resolved.
        interpolator_: the fitted :class:`~atmoscope.statistics.GridInterpolator`
            over the nodes (None for the simulator).
        params_: the parameters drawn, in order.
        low_, high_: their ranges over the nodes.
        constant_: the parameters that do not vary, with their single value.
        targets_: the grid's targets: the column order of parameter vectors.
        wavelength_: the grid's wavelengths: the columns of the spectra.

    Example:
        >>> sampler = OffNodeSampler().fit(grid, split.train)
        >>> theta, flux = sampler.draw(256, np.random.default_rng(0))
    """

    def __init__(self, source: str = "auto") -> None:
        self.source = source

    def fit(self, grid: SpectralGrid, rows: Sequence[int] | None = None) -> OffNodeSampler:
        """Learn the prior's range and the forward model from the given nodes.

        Args:
            grid: the grid.
            rows: the nodes to use (default all; give the training rows so that
                held-out nodes never leak).

        Returns:
            ``self``, with the attributes listed in the class docstring set.

        Raises:
            ConfigError: an unknown ``source``, ``"simulator"`` for a grid that is not
                the embedded synthetic one, or grid parameters that vary but are not
                targets (or targets that are not grid parameters).
            GridError: nodes that cannot be interpolated (see
                :meth:`~atmoscope.statistics.GridInterpolator.fit`).
        """
        if self.source not in _SOURCES:
            raise ConfigError(f"unknown off-node source {self.source!r} "
                              "(auto, simulator or interpolate)")
        nodes = grid if rows is None else grid.select(np.sort(np.asarray(rows)))
        source = self.source
        if source != "interpolate":  # one check decides "auto" and guards "simulator"
            synthetic = is_synthetic(grid)
            if source == "simulator" and not synthetic:
                raise ConfigError("off-node source 'simulator' needs the embedded "
                                  "synthetic grid; use 'interpolate' for this grid")
            source = "simulator" if synthetic else "interpolate"
        params = nodes.parameters
        if source == "simulator":
            self.interpolator_ = None
            self.params_ = list(params.columns)
        else:
            self.interpolator_ = GridInterpolator().fit(nodes)
            self.params_ = list(self.interpolator_.params_)
        self.source_ = source
        self.targets_ = tuple(grid.targets)
        self.wavelength_ = grid.wavelength
        self._points(np.zeros((1, len(self.targets_))))  # every varying parameter a target
        self.low_ = params[self.params_].min().to_numpy(float)
        self.high_ = params[self.params_].max().to_numpy(float)
        # parameters that do not vary stay at their single value
        varying = [c for c in params.columns if params[c].nunique() > 1]
        self.constant_ = {c: float(params[c].iloc[0]) for c in params.columns
                          if c not in varying}
        missing = [t for t in self.targets_ if t not in self.params_ and t not in self.constant_]
        if missing:
            raise ConfigError(f"off-node sampler: targets {missing} are not grid parameters")
        return self

    def _check_fitted(self) -> None:
        check_fitted(self, "constant_", "fit(grid, rows)")

    def in_prior(self, theta: np.ndarray) -> np.ndarray:
        """Whether each parameter vector lies where :meth:`draw` draws.

        Args:
            theta: parameter vectors ``(m, k)`` (or one, ``(k,)``), :attr:`targets_` order.

        Returns:
            ``(m,)`` booleans: inside the nodes' box and, for interpolation, their
            convex hull.
        """
        self._check_fitted()
        points = self._points(np.atleast_2d(theta))
        inside = np.all((points >= self.low_) & (points <= self.high_), axis=1)
        if self.source_ == "interpolate" and inside.any():
            inside[inside] = self.interpolator_.contains(points[inside])
        return inside

    def spectra(self, theta: np.ndarray, outside: str = "raise") -> np.ndarray:
        """Model spectra at parameter vectors: the generator's, or the grid
        interpolated in log10 flux.

        Args:
            theta: parameter vectors ``(m, k)`` (or one, ``(k,)``), :attr:`targets_` order.
            outside: ``"raise"`` for a vector outside the prior, or ``"nan"`` to give
                it a row of NaN.

        Returns:
            ``(m, n_wavelengths)`` spectra on :attr:`wavelength_`, in the grid's unit.

        Raises:
            ConfigError: before :meth:`fit`, an unknown ``outside``, or (interpolating,
                ``outside="raise"``) a vector outside the nodes' range or hull.
        """
        self._check_fitted()
        if outside not in ("raise", "nan"):
            raise ConfigError(f"outside must be 'raise' or 'nan', not {outside!r}")
        points = self._points(np.atleast_2d(theta))
        if self.source_ == "interpolate":
            return self.interpolator_(points, outside=outside)
        if outside == "nan":
            flux = np.full((len(points), len(self.wavelength_)), np.nan)
            inside = self.in_prior(theta)
            if inside.any():
                flux[inside] = self.spectra(np.atleast_2d(theta)[inside])
            return flux
        values = {p: points[:, j] for j, p in enumerate(self.params_)}
        values.update({c: np.full(len(points), v) for c, v in self.constant_.items()})
        return synthetic_spectra({p: values[p] for p in PARAMETER_NAMES}, self.wavelength_)

    def _points(self, theta: np.ndarray) -> np.ndarray:
        """:attr:`targets_` order → :attr:`params_` order (every varying parameter must
        be a target)."""
        targets = list(self.targets_)
        missing = [p for p in self.params_ if p not in targets]
        if missing:
            raise ConfigError(f"parameters {missing} vary in the grid but are not targets")
        return theta[:, [targets.index(p) for p in self.params_]]

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Parameter vectors drawn from the prior, and their spectra.

        Args:
            n: how many, ≥ 1.
            rng: the random generator.

        Returns:
            ``(theta, flux)``: ``(n, k)`` parameter vectors (:attr:`targets_` order)
            and ``(n, n_wavelengths)`` spectra on :attr:`wavelength_`, in the grid's
            flux unit.

        Raises:
            ConfigError: before :meth:`fit`, or ``n`` < 1.
            GridError: when the nodes' hull is too thin to draw from.
        """
        self._check_fitted()
        if n < 1:
            raise ConfigError(f"off-node sampler: cannot draw {n} spectra")
        thetas, fluxes, have = [], [], 0
        for _ in range(1000):
            if have >= n:
                break
            points = rng.uniform(self.low_, self.high_,
                                 size=(max(2 * (n - have), 16), len(self.params_)))
            values = {p: points[:, j] for j, p in enumerate(self.params_)}
            values.update({c: np.full(len(points), v) for c, v in self.constant_.items()})
            theta = np.column_stack([values[t] for t in self.targets_])
            flux = self.spectra(theta, outside="nan")  # one pass: NaN outside the hull
            inside = ~np.isnan(flux[:, 0])
            thetas.append(theta[inside])
            fluxes.append(flux[inside])
            have += int(inside.sum())
        if have < n:
            raise GridError("off-node sampler: the nodes' convex hull is too thin to "
                            "draw parameters from")
        return np.concatenate(thetas)[:n], np.concatenate(fluxes)[:n]


def is_synthetic(grid: SpectralGrid) -> bool:
    """Whether ``grid`` holds the embedded analytic spectra (made here or read from a file
    written from them): checked on a few rows against the generator itself."""
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
