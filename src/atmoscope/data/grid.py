"""The training grid: model spectra on one wavelength grid, with their parameters.

A :class:`SpectralGrid` is what every later stage consumes (splitting, scaling,
training, χ² fitting), whatever file format it came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import astropy.units as u
import numpy as np
import pandas as pd

from atmoscope.errors import ConfigError, GridError

__all__ = ["SpectralGrid"]


def _as_unit(value, what: str) -> u.UnitBase:
    try:
        return u.Unit(value)
    except (TypeError, ValueError):
        raise GridError(f"{what} unit {value!r} is not a unit astropy understands") from None


@dataclass(frozen=True, eq=False)
class SpectralGrid:
    """Model spectra sharing one wavelength grid, one row per parameter set.

    Args:
        wavelength: strictly increasing wavelengths, shape ``(n_wavelengths,)``.
        flux: flux densities, shape ``(n_spectra, n_wavelengths)``; column ``j``
            belongs to ``wavelength[j]``.
        parameters: one row per spectrum, one float column per parameter; the
            target columns come first, in the order of ``targets``.
        targets: names of the parameters a model learns to predict.
        wavelength_unit: unit of ``wavelength``.
        flux_unit: unit of ``flux``; ``None`` when the source does not say
            (real grids often carry an arbitrary constant unit).
        source: the file the grid was read from, if any.

    Arrays are stored read-only so that a grid and its :attr:`content_hash`
    cannot drift apart.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    parameters: pd.DataFrame
    targets: tuple[str, ...]
    wavelength_unit: u.UnitBase = u.um
    flux_unit: u.UnitBase | None = None
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        wavelength = np.array(self.wavelength, dtype=np.float64)
        flux = np.array(self.flux, dtype=np.float64)
        if wavelength.ndim != 1 or flux.ndim != 2 or flux.shape[1] != wavelength.size:
            raise GridError(
                f"flux of shape {flux.shape} does not match {wavelength.size} wavelengths"
            )
        if len(self.parameters) != flux.shape[0]:
            raise GridError(
                f"{len(self.parameters)} parameter rows for {flux.shape[0]} spectra"
            )
        if wavelength.size > 1 and not np.all(np.diff(wavelength) > 0):
            raise GridError("wavelengths must be strictly increasing")
        targets = tuple(self.targets)
        missing = [t for t in targets if t not in self.parameters.columns]
        if missing:
            raise GridError(f"target column(s) {missing} not among the parameters")
        order = list(targets) + [c for c in self.parameters.columns if c not in targets]
        try:
            parameters = self.parameters[order].astype(np.float64).reset_index(drop=True)
        except (TypeError, ValueError) as exc:
            raise GridError(f"parameters must be numbers ({exc})") from None
        wavelength.flags.writeable = False
        flux.flags.writeable = False
        object.__setattr__(self, "wavelength", wavelength)
        object.__setattr__(self, "flux", flux)
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "wavelength_unit", _as_unit(self.wavelength_unit, "wavelength"))
        if self.flux_unit is not None:
            object.__setattr__(self, "flux_unit", _as_unit(self.flux_unit, "flux"))

    # --- shape -------------------------------------------------------------------
    @property
    def n_spectra(self) -> int:
        """The number of spectra (rows of ``flux``)."""
        return self.flux.shape[0]

    @property
    def n_wavelengths(self) -> int:
        """The number of wavelengths (columns of ``flux``)."""
        return self.flux.shape[1]

    @property
    def wavelength_quantity(self) -> u.Quantity:
        """The wavelengths as an astropy Quantity."""
        return self.wavelength * self.wavelength_unit

    @property
    def target_values(self) -> np.ndarray:
        """Target parameters as an array of shape ``(n_spectra, n_targets)``."""
        return self.parameters[list(self.targets)].to_numpy()

    def unique_values(self) -> dict[str, np.ndarray]:
        """Each parameter's sorted distinct values (the grid nodes)."""
        # + 0.0 turns -0.0 (as written by some grids) into 0.0
        return {name: np.unique(col.to_numpy()) + 0.0 for name, col in self.parameters.items()}

    # --- identity ----------------------------------------------------------------
    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of wavelengths, fluxes, parameters and units.

        It depends on the values only, not on the file format or column order
        of the source, so a CSV and a Parquet copy of a grid hash the same.
        """
        h = hashlib.sha256(b"atmoscope-grid-v1\0")
        h.update(str(self.wavelength_unit).encode() + b"\0")
        h.update(str(self.flux_unit).encode() + b"\0")
        h.update(np.ascontiguousarray(self.wavelength, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(self.flux, dtype="<f8").tobytes())
        for name in self.parameters.columns:
            h.update(name.encode() + (b"\1" if name in self.targets else b"\0"))
            h.update(np.ascontiguousarray(self.parameters[name], dtype="<f8").tobytes())
        return h.hexdigest()

    # --- duplicate spectra ---------------------------------------------------------
    @cached_property
    def _flux_group(self) -> np.ndarray:
        """Index of each spectrum's group of bit-identical flux rows."""
        _, inverse = np.unique(self.flux, axis=0, return_inverse=True)
        return inverse.reshape(-1)

    def duplicate_groups(self) -> list[np.ndarray]:
        """Row indices of spectra whose flux is identical, one array per group.

        Only groups of two or more rows are returned. Such rows make the mapping
        spectrum → parameters ambiguous when their parameters differ (a known
        defect of TelescopeML's training file).
        """
        order = np.argsort(self._flux_group, kind="stable")
        sorted_groups = self._flux_group[order]
        starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
        groups = np.split(order, starts[1:])
        return [g for g in groups if g.size > 1]

    @property
    def n_repeated_parameters(self) -> int:
        """Spectra whose parameters repeat those of an earlier spectrum with a different
        flux: the same model twice, which a grid should not hold."""
        params = self.parameters.to_numpy()
        _, first, inverse = np.unique(params, axis=0, return_index=True, return_inverse=True)
        later = np.flatnonzero(first[inverse.reshape(-1)] != np.arange(self.n_spectra))
        return int(sum(not np.array_equal(self.flux[i], self.flux[first[inverse[i]]])
                       for i in later))

    @property
    def n_duplicate_spectra(self) -> int:
        """Spectra whose flux repeats that of an earlier spectrum."""
        return self.n_spectra - int(np.unique(self._flux_group).size)

    def drop_duplicates(self, keep: str = "first") -> SpectralGrid:
        """A grid without repeated spectra.

        Args:
            keep: ``"first"`` keeps the first row of each group of identical
                spectra; ``"none"`` drops every member of a group whose parameters
                differ, since which parameters belong to the spectrum cannot be
                known (a group of merely repeated rows still keeps one).

        Returns:
            A new grid (the same object when there is nothing to drop).

        Raises:
            ConfigError: ``keep`` is neither ``"first"`` nor ``"none"``.
        """
        if keep not in ("first", "none"):
            raise ConfigError(f"keep must be 'first' or 'none', not {keep!r}")
        groups = self.duplicate_groups()
        if not groups:
            return self
        params = self.parameters.to_numpy()

        def dropped(g: np.ndarray) -> np.ndarray:
            conflicting = not np.all(params[g] == params[g[0]])
            return g if keep == "none" and conflicting else g[1:]

        drop = np.concatenate([dropped(g) for g in groups])
        return self.select(np.setdiff1d(np.arange(self.n_spectra), drop))

    # --- derived grids --------------------------------------------------------------
    def select(self, rows: np.ndarray | list[int]) -> SpectralGrid:
        """A grid holding only the given rows (indices or a boolean mask)."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return SpectralGrid(
            wavelength=self.wavelength,
            flux=self.flux[rows],
            parameters=self.parameters.iloc[rows],
            targets=self.targets,
            wavelength_unit=self.wavelength_unit,
            flux_unit=self.flux_unit,
            source=self.source,
        )

    def crop(self, low: float, high: float) -> SpectralGrid:
        """A grid holding only the wavelengths in ``[low, high]`` (the grid's unit).

        Raises:
            ConfigError: a range that holds fewer than two of the grid's wavelengths.
        """
        keep = (self.wavelength >= low) & (self.wavelength <= high)
        if keep.sum() < 2:
            lo, hi = self.wavelength[0], self.wavelength[-1]
            raise ConfigError(f"wavelength range {low:g}–{high:g} {self.wavelength_unit} holds "
                              f"{int(keep.sum())} of the grid's wavelengths ({lo:.4g}–{hi:.4g})")
        if keep.all():
            return self
        return SpectralGrid(self.wavelength[keep], self.flux[:, keep], self.parameters,
                            self.targets, self.wavelength_unit, self.flux_unit, self.source)

    def with_targets(self, targets) -> SpectralGrid:
        """The same grid with other (or reordered) target columns."""
        if tuple(targets) == self.targets:
            return self
        return SpectralGrid(self.wavelength, self.flux, self.parameters, tuple(targets),
                            self.wavelength_unit, self.flux_unit, self.source)

    def to_frame(self, descending: bool = True) -> pd.DataFrame:
        """The grid as one table in TelescopeML's layout.

        Parameters first, then one flux column per wavelength named by the
        wavelength (shortest exact decimal), in descending order by default.
        """
        order = slice(None, None, -1) if descending else slice(None)
        names = [repr(float(w)) for w in self.wavelength[order]]
        fluxes = pd.DataFrame(self.flux[:, order], columns=names)
        return pd.concat([self.parameters, fluxes], axis=1)

    def summary(self) -> dict:
        """Plain-data description of the grid (what ``atmoscope grid info`` prints)."""
        groups = self.duplicate_groups()
        params = self.parameters.to_numpy()
        conflicting = sum(
            1 for g in groups if not np.all(params[g] == params[g[0]])
        )
        return {
            "source": self.source,
            "n_spectra": self.n_spectra,
            "n_wavelengths": self.n_wavelengths,
            "wavelength_unit": self.wavelength_unit.to_string(),
            "wavelength_range": [float(self.wavelength[0]), float(self.wavelength[-1])],
            "flux_unit": None if self.flux_unit is None else self.flux_unit.to_string(),
            "flux_range": [float(self.flux.min()), float(self.flux.max())],
            "targets": list(self.targets),
            "parameters": {k: v.tolist() for k, v in self.unique_values().items()},
            "duplicate_spectra": self.n_duplicate_spectra,
            "duplicate_groups": len(groups),
            "conflicting_duplicate_groups": conflicting,
            "repeated_parameters": self.n_repeated_parameters,
            "content_hash": self.content_hash,
        }

    def __repr__(self) -> str:
        lo, hi = self.wavelength[0], self.wavelength[-1]
        return (
            f"SpectralGrid({self.n_spectra} spectra × {self.n_wavelengths} wavelengths, "
            f"{lo:.4g}–{hi:.4g} {self.wavelength_unit}, targets={list(self.targets)})"
        )
