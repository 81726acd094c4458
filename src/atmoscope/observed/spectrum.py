"""The observed spectrum: one object's flux density, its errors and a pixel mask.

Unlike a :class:`~atmoscope.data.SpectralGrid`, an observed spectrum carries
its own units (astropy), per-pixel errors and a mask, because real data come
with gaps, bad pixels and every unit under the sun.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import astropy.units as u
import numpy as np

from atmoscope.errors import SpectrumError

__all__ = ["ObservedSpectrum"]


def _as_quantity(value, name: str) -> u.Quantity:
    # A plain array means "no unit": dimensionless, e.g. a normalised spectrum.
    try:
        quantity = u.Quantity(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise SpectrumError(f"{name} must be numbers ({exc})") from None
    if quantity.ndim != 1:
        raise SpectrumError(f"{name} must be 1-D, got shape {quantity.shape}")
    return quantity


def _finite_pixels(wavelength: u.Quantity, flux: u.Quantity) -> np.ndarray:
    # the default mask: a finite wavelength and flux
    return np.isfinite(wavelength.value) & np.isfinite(flux.value)


@dataclass(frozen=True, eq=False)
class ObservedSpectrum:
    """One observed spectrum.

    Args:
        wavelength: wavelengths, a 1-D astropy Quantity with a length unit. A
            reader keeps the file's order (reversing a descending file);
            :func:`~atmoscope.observed.clean_spectrum` returns them ascending.
        flux: flux density per pixel, a Quantity (F_lambda, F_nu, or
            dimensionless for a normalised spectrum; a plain array counts as
            dimensionless).
        error: 1-sigma flux errors in the unit of ``flux``, or ``None``.
        mask: ``True`` for a usable pixel. Default: pixels with a finite
            wavelength and flux.
        meta: free-form information: ``source`` (the file), ``object`` (name, or
            ``None`` when unknown), ``columns`` used, ``header`` keys, and what
            cleaning or resampling recorded.

    Arrays are copied and stored read-only, so a spectrum never changes under
    the feet of anything derived from it; use :meth:`replace` for a new one.
    """

    wavelength: u.Quantity
    flux: u.Quantity
    error: u.Quantity | None = None
    mask: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        wavelength = _as_quantity(self.wavelength, "wavelength")
        if wavelength.unit.physical_type != "length":
            raise SpectrumError(
                f"wavelength unit '{wavelength.unit}' is not a length (expected µm, nm, Å...)"
            )
        flux = _as_quantity(self.flux, "flux")
        n = wavelength.size
        if flux.size != n:
            raise SpectrumError(f"{flux.size} flux values for {n} wavelengths")
        error = None
        if self.error is not None:
            error = _as_quantity(self.error, "error")
            if error.size != n:
                raise SpectrumError(f"{error.size} error values for {n} wavelengths")
            try:
                error = error.to(flux.unit)
            except u.UnitConversionError:
                raise SpectrumError(
                    f"error unit '{error.unit}' does not match flux unit '{flux.unit}'"
                ) from None
        if self.mask is None:
            mask = _finite_pixels(wavelength, flux)
        else:
            mask = np.array(self.mask, dtype=bool)
            if mask.shape != (n,):
                raise SpectrumError(f"mask of shape {mask.shape} for {n} wavelengths")
        for array in (wavelength, flux, error, mask):
            if array is not None:
                array.flags.writeable = False
        object.__setattr__(self, "wavelength", wavelength)
        object.__setattr__(self, "flux", flux)
        object.__setattr__(self, "error", error)
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "meta", dict(self.meta))

    @classmethod
    def _from_checked(cls, wavelength: u.Quantity, flux: u.Quantity, error: u.Quantity | None,
                      mask: np.ndarray | None, meta: dict) -> ObservedSpectrum:
        """A spectrum from 1-D float64 parts already checked together (a row of a
        :class:`~atmoscope.observed.SpectrumBatch`: a length unit, one shape, errors in
        the flux's unit), read-only views of them, neither copied nor checked again: a
        catalog makes thousands, and the checks cost more than the rest of a row."""
        if mask is None:
            mask = _finite_pixels(wavelength, flux)
        spectrum = object.__new__(cls)
        for name, array in (("wavelength", wavelength), ("flux", flux), ("error", error),
                            ("mask", mask)):
            if array is not None:
                array = array.view()  # its own flags: the batch's arrays stay as they are
                array.flags.writeable = False
            object.__setattr__(spectrum, name, array)
        object.__setattr__(spectrum, "meta", meta)
        return spectrum

    # --- summary -----------------------------------------------------------------
    @property
    def n_pixels(self) -> int:
        """Number of pixels, usable or not."""
        return int(self.wavelength.size)

    @property
    def good(self) -> int:
        """Number of usable pixels (``mask`` True)."""
        return int(np.count_nonzero(self.mask))

    @property
    def wavelength_range(self) -> tuple[u.Quantity, u.Quantity]:
        """``(min, max)`` of the usable pixels' wavelengths, in the spectrum's unit.

        Raises:
            SpectrumError: when no pixel is usable.
        """
        values = self.wavelength.value[self.mask & np.isfinite(self.wavelength.value)]
        if values.size == 0:
            raise SpectrumError(f"{self._name()}: no usable pixels")
        unit = self.wavelength.unit
        return values.min() * unit, values.max() * unit

    @property
    def is_fnu(self) -> bool:
        """Whether the flux is a density per unit frequency (F_nu)."""
        return self.flux.unit.is_equivalent(u.erg / u.s / u.cm**2 / u.Hz)

    @property
    def is_flambda(self) -> bool:
        """Whether the flux is a density per unit wavelength (F_lambda)."""
        return self.flux.unit.is_equivalent(u.erg / u.s / u.cm**2 / u.AA)

    def replace(self, **changes) -> ObservedSpectrum:
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)

    def _name(self) -> str:
        # errors name the file (a user finds it by its path), else the object
        return str(self.meta.get("source") or self.meta.get("object") or "spectrum")

    def __repr__(self) -> str:
        try:
            lo, hi = self.wavelength_range
            span = f"{lo.value:.4g}–{hi.value:.4g} {self.wavelength.unit}"
        except SpectrumError:
            span = "no usable pixels"
        unit = self.flux.unit.to_string() or "dimensionless"
        return (
            f"ObservedSpectrum({self._name()!r}, {self.n_pixels} pixels, {self.good} usable, "
            f"{span}, flux in {unit}, errors {'yes' if self.error is not None else 'no'})"
        )
