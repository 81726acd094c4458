"""Model spectra between the grid nodes.

:class:`GridInterpolator` evaluates a grid's model spectrum at any parameter
vector inside the grid, for χ² fits, posterior sampling or checking what a
network predicts against the models themselves.

* A **full-factorial** grid (every combination of the parameter nodes present,
  like TelescopeML's training set) is interpolated multilinearly on its
  rectangular lattice (:class:`scipy.interpolate.RegularGridInterpolator`).
* An **irregular** grid (some combinations missing, like Sonora Bobcat, where
  C/O varies only at [M/H] = 0 and [M/H] only at C/O = 1) is triangulated
  (Delaunay) in parameter space scaled to unit range per axis, and
  interpolated linearly inside the simplex of nodes that contains the point
  (:class:`scipy.interpolate.LinearNDInterpolator`).

Both interpolate log10 flux by default, so that spectra which change by orders
of magnitude between nodes are interpolated geometrically, and both reproduce
the node spectra exactly at the nodes. Neither extrapolates: a point outside
the grid's parameter range (or, for an irregular grid, outside the convex hull
of its nodes) is a :class:`~atmoscope.errors.ConfigError`.

Like a scikit-learn estimator, :class:`GridInterpolator` stores its settings in
``__init__`` and does the work in :meth:`~GridInterpolator.fit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.interpolate import LinearNDInterpolator, RegularGridInterpolator
from scipy.spatial import QhullError
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

from atmoscope.data.grid import SpectralGrid
from atmoscope.errors import ConfigError, GridError, check_fitted, first_line

__all__ = ["GridInterpolator"]

#: times a walk may pass through a cluster of Qhull's flat simplices before scipy's search
#: takes over (it may be going round)
_TUNNELS = 4


def _format_point(names: Sequence[str], values: np.ndarray) -> str:
    return ", ".join(f"{n}={v:g}" for n, v in zip(names, values, strict=True))


class GridInterpolator:
    """Interpolate a grid's model spectrum at any parameter vector inside the grid.

    Args:
        params: names of the parameters to interpolate over, in the order that
            array input to :meth:`__call__` uses; default every parameter of
            the grid (targets first). Parameters whose value is the same in
            every row are dropped (there is nothing to interpolate along).
            Every parameter that varies in the grid must be included, or
            spectra at the same parameter vector would be ambiguous.
        log_flux: interpolate log10 flux (default; needs positive flux) rather
            than flux itself.

    :meth:`fit` sets the attributes below.

    Attributes:
        grid_: the grid fitted to.
        params_: the parameters interpolated over, in order (constant ones
            removed).
        ignored_params_: the grid's parameters that are constant, with their
            value; :meth:`__call__` ignores them.
        is_regular_: whether the nodes form a full-factorial grid
            (multilinear interpolation) rather than an irregular one
            (linear interpolation on a Delaunay triangulation).
        nodes_: each parameter's sorted node values.
        bounds_: each parameter's ``(min, max)``.
        n_nodes_: number of distinct parameter vectors (spectra) used.
        wavelength_: the grid's wavelengths (ascending); the columns of the
            returned flux.

    Example:
        >>> interp = GridInterpolator().fit(grid)
        >>> flux = interp({"gravity": 5.0, "temperature": 1050.0,
        ...                "c_o_ratio": 1.0, "metallicity": 0.0})
    """

    def __init__(self, params: Sequence[str] | None = None, log_flux: bool = True) -> None:
        self.params = params
        self.log_flux = log_flux

    # --- fitting -------------------------------------------------------------------
    def fit(self, grid: SpectralGrid) -> GridInterpolator:
        """Build the interpolator over the grid's nodes.

        Args:
            grid: the model grid.

        Returns:
            ``self``, with the attributes listed in the class docstring set.

        Raises:
            ConfigError: unknown or repeated parameter names, or rows that share a
                parameter vector but differ in flux because ``params`` leaves out a
                varying parameter.
            GridError: no varying parameter, rows that share every parameter but
                differ in flux, non-positive flux with ``log_flux=True``, or an
                irregular grid whose nodes cannot be triangulated.
        """
        requested = self._requested_params(grid)
        unique = grid.unique_values()
        self.ignored_params_ = {p: float(unique[p][0]) for p in grid.parameters.columns
                                if unique[p].size == 1}
        self.params_ = [p for p in requested if unique[p].size > 1]
        if not self.params_:
            raise GridError("the grid has no varying parameter to interpolate over")
        self.nodes_ = {p: unique[p] for p in self.params_}
        self.bounds_ = {p: (float(v[0]), float(v[-1])) for p, v in self.nodes_.items()}
        # each parameter's (lo, hi), and the range's units: where the triangulation is
        # built, and what searches step in
        self._range = np.array([self.bounds_[p] for p in self.params_])
        self._offset, self._span = self._range[:, 0], self._range[:, 1] - self._range[:, 0]
        self.wavelength_ = grid.wavelength
        points, values = self._node_values(grid)
        self.n_nodes_ = int(points.shape[0])
        n_full = int(np.prod([v.size for v in self.nodes_.values()]))
        self.is_regular_ = self.n_nodes_ == n_full
        if self.is_regular_:
            self._interpolator = self._regular_interpolator(points, values)
        else:
            self._interpolator = self._irregular_interpolator(points, values)
        self.grid_ = grid
        return self

    def _requested_params(self, grid: SpectralGrid) -> list[str]:
        """The parameters asked for (all the grid's by default), checked."""
        columns = list(grid.parameters.columns)
        if self.params is None:
            return columns
        requested = [self.params] if isinstance(self.params, str) else list(self.params)
        unknown = [p for p in requested if p not in columns]
        if unknown:
            raise ConfigError(f"unknown parameter(s) {unknown}; the grid has {columns}")
        if len(set(requested)) != len(requested):
            raise ConfigError(f"parameters listed twice in {requested}")
        return requested

    def _node_values(self, grid: SpectralGrid) -> tuple[np.ndarray, np.ndarray]:
        """The distinct parameter vectors ``(n_nodes, k)`` and their (log) flux."""
        flux = grid.flux
        if self.log_flux:
            if not np.all(flux > 0):
                raise GridError(
                    "log_flux=True needs positive flux; the grid has zero flux "
                    "(use log_flux=False)"
                )
            values = np.log10(flux)
        else:
            values = flux
        points = grid.parameters[self.params_].to_numpy(dtype=np.float64) + 0.0
        unique_points, first, inverse = np.unique(
            points, axis=0, return_index=True, return_inverse=True
        )
        inverse = inverse.reshape(-1)
        if unique_points.shape[0] < points.shape[0]:
            # repeated nodes are merged, but only when their spectra agree
            differs = np.any(flux != flux[first][inverse], axis=1)
            if np.any(differs):
                row = int(np.flatnonzero(differs)[0])
                # a grid with clashing duplicates, or a varying parameter left out
                error = GridError if self.params is None else ConfigError
                raise error(
                    f"rows {int(first[inverse[row]])} and {row} share parameters "
                    f"({_format_point(self.params_, points[row])}) but differ in flux; "
                    f"interpolate over every varying parameter or select a sub-grid"
                )
        return unique_points, values[first]

    def _regular_interpolator(self, points: np.ndarray, values: np.ndarray
                              ) -> RegularGridInterpolator:
        """Multilinear interpolation on the full-factorial lattice."""
        axes = tuple(self.nodes_[p] for p in self.params_)
        index = tuple(np.searchsorted(axis, points[:, j]) for j, axis in enumerate(axes))
        cube = np.empty(tuple(a.size for a in axes) + (values.shape[1],))
        cube[index] = values
        return RegularGridInterpolator(axes, cube, method="linear", bounds_error=True)

    def _irregular_interpolator(self, points: np.ndarray, values: np.ndarray
                                ) -> LinearNDInterpolator:
        """Linear interpolation on a Delaunay triangulation in unit-scaled parameters."""
        try:
            interpolator = LinearNDInterpolator(self._scale(points), values, fill_value=np.nan)
        except (QhullError, ValueError) as exc:
            raise GridError(
                f"cannot triangulate the irregular grid over {self.params_} "
                f"(its nodes may lie in a lower-dimensional subspace): {first_line(exc)}"
            ) from exc
        # The barycentric transforms are computed lazily, one tiny LAPACK call
        # per simplex; a multi-threaded BLAS on a busy machine can take seconds
        # over them (spinning threads), so compute them now on one thread.
        with threadpool_limits(limits=1, user_api="blas"):
            _ = interpolator.tri.transform
        return interpolator

    def _scale(self, x: np.ndarray) -> np.ndarray:
        return (x - self._offset) / self._span

    def _check_fitted(self) -> None:
        check_fitted(self, "grid_")

    # --- evaluation ----------------------------------------------------------------
    def _as_points(self, params) -> np.ndarray:
        """Parameter vectors as an ``(n, k)`` array in the order of :attr:`params_`."""
        if isinstance(params, pd.Series):
            params = params.to_dict()
        if isinstance(params, Mapping | pd.DataFrame):
            missing = [p for p in self.params_ if p not in params]
            if missing:
                raise ConfigError(
                    f"missing parameter(s) {missing}; the interpolator needs {self.params_}"
                )
            try:
                cols = [np.atleast_1d(np.asarray(params[p], dtype=np.float64))
                        for p in self.params_]
                cols = np.broadcast_arrays(*cols)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"parameter values must be numbers: {exc}") from exc
            if cols[0].ndim != 1:
                raise ConfigError("each parameter must be a scalar or a 1-D array")
            points = np.column_stack(cols)
        else:
            try:
                points = np.asarray(params, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"parameter values must be numbers: {exc}") from exc
            if points.ndim == 1:
                points = points[None, :]
            if points.ndim != 2 or points.shape[1] != len(self.params_):
                raise ConfigError(
                    f"parameter array must have shape (n, {len(self.params_)}) "
                    f"with columns {self.params_}, got shape {np.shape(params)}"
                )
        bad = ~np.isfinite(points)
        if np.any(bad):
            row, col = np.argwhere(bad)[0]
            raise ConfigError(
                f"non-finite {self.params_[col]} ({points[row, col]}) in parameter row {row}"
            )
        return points + 0.0

    def _check_inside(self, points: np.ndarray) -> None:
        for j, p in enumerate(self.params_):
            lo, hi = self.bounds_[p]
            outside = (points[:, j] < lo) | (points[:, j] > hi)
            if np.any(outside):
                value = points[np.flatnonzero(outside)[0], j]
                raise ConfigError(
                    f"{p} = {value:g} is outside the grid's range {lo:g}–{hi:g}"
                )

    def contains(self, params) -> np.ndarray:
        """Whether each parameter vector can be interpolated: inside every parameter's
        range and, for an irregular grid, inside the convex hull of the nodes (tested
        against the hull's facets at once: locating each point's simplex, as
        interpolating does, costs ~50 µs a point in 4-D)."""
        self._check_fitted()
        points = self._as_points(params)
        inside = np.all((points >= self._range[:, 0]) & (points <= self._range[:, 1]), axis=1)
        if not self.is_regular_ and inside.any():
            facets = self._hull_facets
            x = self._scale(points[inside])
            inside[inside] = np.max(x @ facets[:, :-1].T + facets[:, -1], axis=1) <= 1e-9
        return inside

    @cached_property
    def _hull_facets(self) -> np.ndarray:
        """The convex hull's facets ``(n, k + 1)``: normal and offset, outward (unit-scaled
        parameters)."""
        from scipy.spatial import ConvexHull

        return ConvexHull(self._interpolator.tri.points).equations

    def __call__(self, params, outside: str = "raise") -> np.ndarray:
        """Interpolated model spectra.

        Args:
            params: parameter vectors: a mapping or DataFrame with (at least)
                the columns :attr:`params_` (scalars or 1-D arrays that
                broadcast; other keys are ignored), or an array of shape
                ``(n, k)`` (or ``(k,)``) in the order of :attr:`params_`.
            outside: ``"raise"`` for a point that cannot be interpolated, or
                ``"nan"`` to return a row of NaN for it.

        Returns:
            Flux of shape ``(n, n_wavelengths)`` in the grid's flux unit, on
            :attr:`wavelength_`.

        Raises:
            ConfigError: before :meth:`fit`; missing or non-finite parameters, a
                wrong array shape, an unknown ``outside``, or a point outside the
                grid's range (naming the parameter, its value and the range) or,
                for an irregular grid, outside the convex hull of its nodes.
        """
        self._check_fitted()
        if outside not in ("raise", "nan"):
            raise ConfigError(f"outside must be 'raise' or 'nan', not {outside!r}")
        points = self._as_points(params)
        if outside == "raise":
            self._check_inside(points)
            in_range = np.ones(len(points), dtype=bool)
        else:
            in_range = np.all((points >= self._range[:, 0]) & (points <= self._range[:, 1]),
                              axis=1)
        values = np.full((len(points), len(self.wavelength_)), np.nan)
        if in_range.any():
            inner = points[in_range]
            values[in_range] = np.atleast_2d(self._interpolator(
                inner if self.is_regular_ else self._scale(inner)))
        hull = np.isnan(values).any(axis=1) & in_range  # irregular: outside the hull
        if outside == "raise" and np.any(hull):
            row = int(np.flatnonzero(hull)[0])
            raise ConfigError(
                f"({_format_point(self.params_, points[row])}) lies outside the convex "
                f"hull of the irregular grid's nodes (each value is within range, but "
                f"this combination is not covered)"
            )
        return 10.0**values if self.log_flux else values

    def with_gradient(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Interpolated spectra and their derivatives with respect to the parameters.

        Args:
            params: ``(n, k)`` points in the order of :attr:`params_`.

        Returns:
            ``flux (n, L)`` as :meth:`__call__` with ``outside="nan"`` and ``d flux /
            d params`` ``(n, k, L)`` (NaN outside). An irregular grid's derivatives are
            exact (linear inside each simplex), so one evaluation serves a Newton step;
            a regular grid's are forward differences.
        """
        self._check_fitted()
        flux, grad, _ = self._with_gradient(self._as_points(params))
        return flux, grad.astype(np.float64) / self._span[None, :, None]

    def _with_gradient(self, points: np.ndarray, hint: np.ndarray | None = None):
        """:meth:`with_gradient` of checked ``points``, with the derivatives in float32 (they
        set a search's steps, not its values) and with respect to the parameters in units
        of the grid's range, ``(θ − lo) / (hi − lo)`` (what a search over the grid steps
        in), also returning each point's simplex (−1 outside; None for a regular grid).
        ``hint``: simplices from an earlier call (−1: none), where each point's search
        starts (a Levenberg–Marquardt step seldom leaves its simplex)."""
        k = len(self.params_)
        if self.is_regular_:
            flux = self(points, outside="nan")
            grad = np.full((len(points), k, flux.shape[1]), np.nan)
            span, hi = self._span, self._range[:, 1]
            for j in range(k):
                step = np.where(points[:, j] + 1e-4 * span[j] <= hi[j], 1e-4, -1e-4)
                moved = points.copy()
                moved[:, j] += step * span[j]
                grad[:, j] = (self(moved, outside="nan") - flux) / step[:, None]
            return flux, grad.astype(np.float32), None
        tri, node_values = self._interpolator.tri, self._interpolator.values
        x = self._scale(points)
        simplex = np.full(len(x), -1)
        inner = np.flatnonzero(self.contains(points))  # the hull's facets: the rest at once
        if inner.size:
            simplex[inner] = self._walk(x[inner], None if hint is None
                                        else np.asarray(hint)[inner])
        inside = simplex >= 0
        # linear in each simplex: the value at its last vertex plus the slopes times the
        # way from there; the slopes are the derivatives (scaled coordinates: the range's
        # units)
        found = simplex[inside]
        slopes = self._simplex_slopes[found]
        away = (x[inside] - tri.transform[found, k]).astype(np.float32)
        found_values = (node_values[tri.simplices[found, k]]
                        + np.matmul(away[:, None, :], slopes)[:, 0])
        if inside.all():
            values, grad = found_values, slopes
        else:  # NaN outside
            values = np.full((len(points), node_values.shape[1]), np.nan)
            grad = np.full((len(points), k, node_values.shape[1]), np.nan, dtype=np.float32)
            values[inside], grad[inside] = found_values, slopes
        if not self.log_flux:
            return values, grad, simplex
        flux = np.exp(values * np.log(10.0))
        grad *= (np.log(10.0) * flux).astype(np.float32)[:, None]
        return flux, grad, simplex

    @cached_property
    def _simplex_slopes(self) -> np.ndarray:
        """Each simplex's derivatives of the interpolated values in scaled coordinates,
        ``(n_simplices, k, L)`` float32 (NaN for Qhull's flat simplices, never located):
        computed once, they spare every evaluation the nodes' differences."""
        tri, node_values = self._interpolator.tri, self._interpolator.values
        k = len(self.params_)
        slopes = np.empty((len(tri.simplices), k, node_values.shape[1]), dtype=np.float32)
        for i in range(0, len(slopes), 256):  # a few MB at a time
            nodes = node_values[tri.simplices[i:i + 256]]
            slopes[i:i + 256] = np.matmul(tri.transform[i:i + 256, :k].transpose(0, 2, 1),
                                          nodes[:, :k] - nodes[:, k:])
        return slopes

    @cached_property
    def _flat_exits(self) -> np.ndarray:
        """For each of Qhull's flat simplices (co-spherical nodes of a regular cell,
        triangulated with zero volume), the proper simplices around its cluster of flat
        ones, ``(n_simplices, C)`` padded with −1 (rows of proper simplices all −1): a
        walk that enters the cluster leaves it by one of them."""
        tri = self._interpolator.tri
        flat = np.isnan(tri.transform).any(axis=(1, 2))
        exits: dict[int, list[int]] = {}
        for seed in np.flatnonzero(flat):
            if seed in exits:
                continue
            cluster, border, queue = {int(seed)}, set(), [int(seed)]
            while queue:
                for neighbour in tri.neighbors[queue.pop()]:
                    if neighbour < 0 or neighbour in cluster:
                        continue
                    if flat[neighbour]:
                        cluster.add(int(neighbour))
                        queue.append(int(neighbour))
                    else:
                        border.add(int(neighbour))
            for member in cluster:
                exits[member] = sorted(border)
        table = np.full((len(flat), max(map(len, exits.values()), default=0)), -1)
        for member, border in exits.items():
            table[member, :len(border)] = border
        return table

    @cached_property
    def _node_tree(self):
        """A k-d tree of the scaled nodes: where a walk without a start begins."""
        from scipy.spatial import cKDTree

        return cKDTree(self._interpolator.tri.points)

    def _walk(self, x: np.ndarray, start: np.ndarray | None, max_steps: int = 64) -> np.ndarray:
        """The simplex holding each point ``x`` (scaled, inside the hull), by a visibility
        walk (Devillers, Pion & Teillaud 2002) from ``start`` (−1 or None: from a simplex
        of the nearest node), every point a step at a time together: across the facet
        opposite the most negative barycentric coordinate, until none is negative. A few
        steps from nearby, where scipy's one-point-at-a-time search costs ~50 µs a point
        in 4-D. A flat simplex (no barycentric coordinates) is left at once for the
        proper simplex around its flat cluster nearest to holding the point
        (:attr:`_flat_exits`). Walks that come back to flat clusters more than
        :data:`_TUNNELS` times, or are unfinished after ``max_steps``, go to scipy's
        search."""
        tri, k = self._interpolator.tri, x.shape[1]
        simplex = np.full(len(x), -1) if start is None else np.array(start, dtype=np.int64)
        fresh = np.flatnonzero(simplex < 0)
        if fresh.size:
            simplex[fresh] = tri.vertex_to_simplex[self._node_tree.query(x[fresh])[1]]
        todo, stuck = np.arange(len(x)), []
        tunnelled = np.zeros(len(x), dtype=np.int64)
        for _ in range(max_steps):
            t = tri.transform[simplex[todo]]
            c = np.einsum("mij,mj->mi", t[:, :k], x[todo] - t[:, k])
            bary = np.concatenate([c, 1.0 - c.sum(axis=1, keepdims=True)], axis=1)
            flat = np.isnan(bary).any(axis=1)
            # out of a flat cluster a few times; a walk that keeps coming back to one
            # (going round) goes to scipy
            through = todo[flat]
            stuck.append(through[tunnelled[through] >= _TUNNELS])
            through = through[tunnelled[through] < _TUNNELS]
            if through.size:
                simplex[through] = self._leave_flat(x[through], simplex[through])
                tunnelled[through] += 1
            worst = np.argmin(np.where(flat[:, None], 0.0, bary), axis=1)
            out = ~flat & (bary[np.arange(len(todo)), worst] < -1e-12)
            step = todo[out]
            simplex[step] = tri.neighbors[simplex[step], worst[out]]
            todo = np.concatenate([step, through])
            off = simplex[todo] < 0  # across the hull (a point on it, to rounding)
            stuck.append(todo[off])
            todo = todo[~off]
            if not todo.size:
                break
        # rounding at the hull, walks going round: scipy's search
        lost = np.concatenate([todo, *stuck])
        if lost.size:
            simplex[lost] = tri.find_simplex(x[lost])
        return simplex

    def _leave_flat(self, x: np.ndarray, flat: np.ndarray) -> np.ndarray:
        """For points ``x`` in flat simplices ``flat``, the exit (:attr:`_flat_exits`)
        whose smallest barycentric coordinate of the point is largest: the one that holds
        it, if any does."""
        tri, k = self._interpolator.tri, x.shape[1]
        exits = self._flat_exits[flat]
        t = tri.transform[np.maximum(exits, 0)]
        c = np.matmul(t[..., :k, :], (x[:, None, :] - t[..., k, :])[..., None])[..., 0]
        score = np.minimum(c.min(axis=2), 1.0 - c.sum(axis=2))
        score = np.where(exits >= 0, score, -np.inf)
        return exits[np.arange(len(x)), np.argmax(score, axis=1)]  # −1: none (to scipy)

    def __repr__(self) -> str:
        if not hasattr(self, "grid_"):
            return f"GridInterpolator(params={self.params!r}, log_flux={self.log_flux})"
        kind = "regular" if self.is_regular_ else "irregular"
        return (
            f"GridInterpolator({kind}, {self.n_nodes_} nodes over {self.params_}, "
            f"log_flux={self.log_flux})"
        )
