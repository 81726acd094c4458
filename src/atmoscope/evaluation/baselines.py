"""Reference models that every learned model in atmoscope has to beat.

* :class:`Chi2GridFit` — the classical method: the training spectrum of least
  χ², refined between grid nodes by a parabola through the χ² of neighbours.
* :class:`RandomForestBaseline` — a random forest on the spectra, the approach
  of HELA (Márquez-Neila et al. 2018, Nature Astronomy 2, 719).

Both follow scikit-learn's conventions: ``__init__`` only stores its arguments,
``fit`` learns from the *training* part of a :class:`SpectralGrid` and returns
``self``, learned attributes end in ``_``, and ``predict`` maps fluxes on the
training grid's wavelengths to target values in physical units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from atmoscope.data.grid import SpectralGrid
from atmoscope.errors import ConfigError, check_fitted

__all__ = ["Chi2GridFit", "RandomForestBaseline", "spectral_features"]

# Upper bound on the elements of one (batch × n_train) χ² block: 2**24 float64
# values = 128 MiB, so peak memory stays far below 2 GB for any grid size.
_BLOCK_ELEMENTS = 2**24
# rms log10-flux residual below which the best node counts as an exact match.
_EXACT_MATCH_DEX = 1e-12


def _log_flux(flux: np.ndarray, n_wavelengths: int | None = None) -> np.ndarray:
    """log10 of a ``(n, n_wl)`` (or ``(n_wl,)``) flux array, validated.

    Raises:
        ConfigError: a wrong shape, another number of wavelengths than
            ``n_wavelengths``, or flux that is not positive and finite.
    """
    flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
    if flux.ndim != 2:
        raise ConfigError(f"flux must have shape (n_spectra, n_wavelengths), not {flux.shape}")
    if n_wavelengths is not None and flux.shape[1] != n_wavelengths:
        raise ConfigError(
            f"flux has {flux.shape[1]} wavelengths, the model was fitted on {n_wavelengths}"
        )
    if not np.all(np.isfinite(flux) & (flux > 0)):
        raise ConfigError("flux must be positive and finite (its log10 is fitted)")
    return np.log10(flux)


def _check_fitted(model) -> None:
    check_fitted(model, "n_features_in_")


def _node_neighbours(
    parameters: pd.DataFrame, targets: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of each row's lower and upper neighbour along each target axis.

    A neighbour along target ``t`` has the same value of every other parameter
    (non-target ones such as ``fsed`` included) and the adjacent value of ``t``
    among the rows that exist, so irregular, non-factorial grids work too.

    Returns:
        ``(lower, upper)``, each of shape ``(n_rows, n_targets)``, ``-1`` where
        there is no neighbour. Rows repeating a parameter set share the
        neighbours of its first occurrence.
    """
    cols = list(parameters.columns)
    table = parameters.reset_index(drop=True).copy()
    table["_row"] = np.arange(len(table))
    first = table.drop_duplicates(subset=cols, keep="first")
    lower = np.full((len(table), len(targets)), -1, dtype=np.int64)
    upper = np.full_like(lower, -1)
    for j, name in enumerate(targets):
        others = [c for c in cols if c != name]
        ordered = first.sort_values(others + [name], kind="mergesort")
        rows = ordered["_row"]
        if others:
            rows = ordered.groupby(others, sort=False, dropna=False)["_row"]
        links = ordered[cols].assign(_lo=rows.shift(1).to_numpy(), _hi=rows.shift(-1).to_numpy())
        # A left merge keeps the order of `table`, so row i gets its own links.
        merged = table[cols].merge(links, on=cols, how="left", sort=False)
        lower[:, j] = merged["_lo"].fillna(-1).to_numpy(dtype=np.int64)
        upper[:, j] = merged["_hi"].fillna(-1).to_numpy(dtype=np.int64)
    return lower, upper


class Chi2GridFit:
    """Least-χ² fit of spectra to the nodes of a training grid, refined by parabolas.

    χ² is computed between log10 fluxes with equal weights in every pixel, i.e.
    assuming a constant *fractional* error (the same S/N in every pixel):
    ``χ² = Σ_λ (log10 F_obs − log10 F_model)²``, up to a constant factor.

    Prediction takes the training spectrum of least χ² (the best node), then
    refines each target separately: the best node's two neighbours along that
    target's axis (same values of all other parameters, adjacent values of this
    one among the training rows) and the best node give three χ² values; the
    vertex of the parabola through them, clipped to the neighbours' interval, is
    the estimate. Where a neighbour is missing, the parabola is not convex, or
    the best node matches to rounding (rms residual < 1e-12 dex), the node value
    is kept. χ² is not symmetric about its minimum in general, so the vertex can
    sit up to half a node spacing off even for a spectrum lying on a node.

    Args:
        scale_free: if True, each model spectrum gets its own best multiplicative
            flux scale (an analytic offset in log10 flux, the mean difference)
            before χ² is computed — for spectra of unknown distance and radius.
            χ² then only measures the spectral *shape*.
    """

    def __init__(self, scale_free: bool = False) -> None:
        self.scale_free = scale_free

    def fit(self, grid: SpectralGrid) -> Chi2GridFit:
        """Store the training spectra and their node neighbours.

        Args:
            grid: the training part of a grid only (held-out spectra must not be
                in it, or they are found exactly).

        Returns:
            ``self``, with ``wavelength_``, ``targets_``, ``log_flux_``
            (``(n_train, n_wl)``), ``target_values_`` (``(n_train, n_targets)``),
            ``lower_neighbour_`` and ``upper_neighbour_`` (row indices,
            ``(n_train, n_targets)``, ``-1`` for none) set.
        """
        self.wavelength_ = np.array(grid.wavelength)
        self.targets_ = tuple(grid.targets)
        self.n_features_in_ = grid.n_wavelengths
        self.log_flux_ = _log_flux(grid.flux)
        self.target_values_ = np.array(grid.target_values, dtype=np.float64)
        self.lower_neighbour_, self.upper_neighbour_ = _node_neighbours(
            grid.parameters, self.targets_
        )
        # Subtracting the mean training spectrum changes no distance but shrinks
        # the norms, so ||a||² + ||b||² − 2ab loses less to cancellation.
        self.log_flux_offset_ = self.log_flux_.mean(axis=0)
        self._reference = self._prepare(self.log_flux_)
        self._reference_sq = np.einsum("ij,ij->i", self._reference, self._reference)
        return self

    def _prepare(self, log_flux: np.ndarray) -> np.ndarray:
        shifted = log_flux - self.log_flux_offset_
        if self.scale_free:
            # Best offset c = mean(a − b) gives Σ(a − b − c)² = ||a_c − b_c||²
            # with row-centred a_c, b_c: the free scale costs nothing extra.
            shifted = shifted - shifted.mean(axis=1, keepdims=True)
        return shifted

    def _best_nodes(self, prepared: np.ndarray) -> np.ndarray:
        """Training row of least χ² for each prepared input spectrum."""
        n_train = self._reference.shape[0]
        batch = max(1, _BLOCK_ELEMENTS // n_train)
        best = np.empty(prepared.shape[0], dtype=np.int64)
        for start in range(0, prepared.shape[0], batch):
            block = prepared[start : start + batch]
            # ||a||² is the same for every training row, so it does not move the argmin.
            dist = block @ self._reference.T
            dist *= -2.0
            dist += self._reference_sq
            best[start : start + batch] = np.argmin(dist, axis=1)
        return best

    def predict(self, flux: np.ndarray, refine: bool = True) -> np.ndarray:
        """Target values of spectra on the training wavelengths.

        Args:
            flux: positive fluxes, shape ``(n, n_wl)`` (or ``(n_wl,)``), on
                ``wavelength_``.
            refine: if False, return the best node's values (no parabola).

        Returns:
            Array ``(n, n_targets)`` in the units of the training grid, columns
            in the order of ``targets_``.

        Raises:
            ConfigError: before :meth:`fit`, or for flux of the wrong shape or not
                positive and finite.
        """
        _check_fitted(self)
        prepared = self._prepare(_log_flux(flux, self.n_features_in_))
        best = self._best_nodes(prepared)
        values = self.target_values_[best].copy()
        if not refine:
            return values

        def chi2(rows: np.ndarray) -> np.ndarray:
            # Recomputed directly (n × 3 × n_wl, cheap) rather than taken from
            # the matmul, so the parabola sees exact differences.
            diff = prepared - self._reference[np.maximum(rows, 0)]
            return np.einsum("ij,ij->i", diff, diff)

        y1 = chi2(best)
        # An exact match (up to rounding in log10 and in the scale offset) is the
        # answer; a parabola through rounding noise would move it.
        matched = y1 <= self.n_features_in_ * _EXACT_MATCH_DEX**2
        for j in range(len(self.targets_)):
            lo, hi = self.lower_neighbour_[best, j], self.upper_neighbour_[best, j]
            ok = (lo >= 0) & (hi >= 0) & ~matched
            if not np.any(ok):
                continue
            x0 = self.target_values_[lo, j]
            x1 = values[:, j]
            x2 = self.target_values_[hi, j]
            y0, y2 = chi2(lo), chi2(hi)
            with np.errstate(divide="ignore", invalid="ignore"):
                # Newton form p(x) = y0 + d1 (x − x0) + c (x − x0)(x − x1);
                # its vertex is (x0 + x1)/2 − d1 / (2c), a minimum when c > 0.
                d1 = (y1 - y0) / (x1 - x0)
                c = ((y2 - y1) / (x2 - x1) - d1) / (x2 - x0)
                vertex = 0.5 * (x0 + x1) - d1 / (2.0 * c)
            ok &= np.isfinite(vertex) & (c > 0)
            values[ok, j] = np.clip(vertex[ok], x0[ok], x2[ok])
        return values


def spectral_features(flux: np.ndarray) -> np.ndarray:
    """Features for tree models: shape and level of the log10 spectrum.

    Args:
        flux: positive fluxes, shape ``(n, n_wl)``.

    Returns:
        Array ``(n, n_wl + 2)``: log10 flux standardised per spectrum (row
        z-score, the spectral shape), then each row's mean and standard
        deviation of log10 flux (its level and contrast), which the z-score
        removes but which carry temperature information.

    Raises:
        ConfigError: flux of the wrong shape or not positive and finite.
    """
    log_flux = _log_flux(flux)
    mean = log_flux.mean(axis=1, keepdims=True)
    std = log_flux.std(axis=1, keepdims=True)
    safe = np.where(std > 0, std, 1.0)  # a flat spectrum has no shape to scale
    return np.hstack([(log_flux - mean) / safe, mean, std])


class RandomForestBaseline:
    """Random-forest regression of all targets from the spectrum, after HELA.

    HELA (Márquez-Neila et al. 2018, Nature Astronomy 2, 719) retrieves
    exoplanet atmospheres with a random forest trained on model spectra; this is
    its brown-dwarf counterpart and the non-deep baseline of atmoscope. One
    multi-output :class:`~sklearn.ensemble.RandomForestRegressor` predicts all
    targets from :func:`spectral_features`. Targets are min-max scaled to [0, 1]
    for training (as HELA does), so that the forest's summed squared-error split
    criterion weighs them equally instead of being dominated by Teff in kelvin.

    Args:
        n_estimators: number of trees.
        max_features: features tried per split, as in scikit-learn (HELA uses
            ``"sqrt"``).
        random_state: seed of the forest, for reproducible fits.
        n_jobs: parallel jobs for fitting and prediction.
    """

    def __init__(
        self,
        n_estimators: int = 200,
        max_features: str | int | float | None = "sqrt",
        random_state: int | None = 0,
        n_jobs: int | None = 2,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, grid: SpectralGrid) -> RandomForestBaseline:
        """Train the forest on a (training) grid.

        Args:
            grid: the training spectra and their targets.

        Returns:
            ``self``, with ``forest_``, ``targets_``, ``wavelength_``,
            ``target_min_`` and ``target_range_`` set.
        """
        self.wavelength_ = np.array(grid.wavelength)
        self.targets_ = tuple(grid.targets)
        self.n_features_in_ = grid.n_wavelengths
        y = np.array(grid.target_values, dtype=np.float64)
        self.target_min_ = y.min(axis=0)
        span = y.max(axis=0) - self.target_min_
        self.target_range_ = np.where(span > 0, span, 1.0)  # a constant target stays constant
        self.forest_ = RandomForestRegressor(
            n_estimators=self.n_estimators,
            max_features=self.max_features,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )
        self.forest_.fit(spectral_features(grid.flux), (y - self.target_min_) / self.target_range_)
        return self

    def predict(self, flux: np.ndarray) -> np.ndarray:
        """Target values of spectra on the training wavelengths.

        Args:
            flux: positive fluxes, shape ``(n, n_wl)`` (or ``(n_wl,)``).

        Returns:
            Array ``(n, n_targets)`` in physical units, columns in the order of
            ``targets_``.

        Raises:
            ConfigError: before :meth:`fit`, or for flux of the wrong shape or not
                positive and finite.
        """
        _check_fitted(self)
        flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
        if flux.shape[-1] != self.n_features_in_:
            raise ConfigError(
                f"flux has {flux.shape[-1]} wavelengths, "
                f"the model was fitted on {self.n_features_in_}"
            )
        scaled = self.forest_.predict(spectral_features(flux))
        # One target comes back 1-D from scikit-learn.
        scaled = np.asarray(scaled).reshape(flux.shape[0], len(self.targets_))
        return scaled * self.target_range_ + self.target_min_
