"""Units, resampling and flux scaling for observed spectra.

* :func:`to_fnu`, :func:`to_flambda`: F_lambda ⇄ F_nu (astropy's
  ``spectral_density``), errors converted with the same per-pixel factor.
* :func:`resample`: flux-conserving resampling onto a model grid (SpectRes),
  errors propagated, masked pixels left out, incomplete coverage refused or
  masked.
* :func:`scale_to_surface`, :func:`best_scale`, :func:`implied_radius`: from flux
  at Earth to flux at the surface, with a fixed (d/R)² or a fitted scale.
"""

from __future__ import annotations

from functools import lru_cache

import astropy.units as u
import numpy as np

from atmoscope.errors import SpectrumError
from atmoscope.observed.rebin import bin_edges, rebin
from atmoscope.observed.spectrum import ObservedSpectrum
from atmoscope.observed.units import F_LAMBDA_CGS, F_NU_CGS, parse_unit

__all__ = [
    "best_scale",
    "implied_radius",
    "resample",
    "scale_to_surface",
    "to_flambda",
    "to_fnu",
]


# --- F_lambda ⇄ F_nu ---------------------------------------------------------------
def _convert_flux(
    spec: ObservedSpectrum, unit, kind: str, reference: u.UnitBase
) -> ObservedSpectrum:
    unit, factor = flux_factor(spec._name(), spec.flux.unit, spec.wavelength, unit, kind,
                               reference)
    return spec.replace(
        flux=spec.flux.value * factor * unit,
        error=None if spec.error is None else spec.error.value * factor * unit,
    )


def flux_factor(name: str, flux_unit: u.UnitBase, wavelength: u.Quantity, unit, kind: str,
                reference: u.UnitBase) -> tuple[u.UnitBase, np.ndarray]:
    """The target ``unit`` (checked to be of ``kind``, like ``reference``) and, per pixel,
    the factor that converts flux in ``flux_unit`` at ``wavelength`` to it (shared by one
    spectrum and a batch).

    Raises:
        SpectrumError: a target that is not a unit of the kind, dimensionless flux, or a
            flux unit that cannot be converted, naming ``name``.
    """
    try:
        unit = parse_unit(unit) if isinstance(unit, str) else u.Unit(unit)
    except (TypeError, ValueError):
        raise SpectrumError(f"target unit {unit!r} is not a unit") from None
    if not unit.is_equivalent(reference):
        raise SpectrumError(f"target unit '{unit}' is not an {kind} unit (like '{reference}')")
    if flux_unit.physical_type == "dimensionless":
        raise SpectrumError(
            f"{name}: flux is dimensionless (normalised or of unknown unit) and cannot "
            f"be converted to {kind}; read it with flux_unit= set"
        )
    # F_nu = F_lambda λ²/c is linear in the flux: convert a unit flux per pixel
    # and apply that factor to flux and error alike (a ratio flux_new/flux
    # would fail where the flux is zero).
    try:
        law = _power_law(flux_unit, wavelength.unit, unit)
        if law is None:
            factor = (np.ones(wavelength.shape) * flux_unit).to_value(
                unit, u.spectral_density(wavelength))
        else:
            factor = law[0] * wavelength.value ** law[1]
    except u.UnitConversionError:
        raise SpectrumError(
            f"{name}: flux unit '{flux_unit}' cannot be converted to '{unit}'"
        ) from None
    return unit, factor


@lru_cache(maxsize=256)
def _power_law(flux_unit: u.UnitBase, wave_unit: u.UnitBase,
               unit: u.UnitBase) -> tuple[float, int] | None:
    """``(C, p)`` such that a unit flux in ``flux_unit`` at wavelength λ (in ``wave_unit``)
    is ``C λ^p`` in ``unit``: every ``spectral_density`` conversion is such a power law
    (p = 0 within a kind, ±2 between F_lambda and F_nu, ±1 to photon flux), so astropy's
    equivalencies — milliseconds a call — run once per combination of units, not once
    a spectrum. None if three probes do not fit an integer power (astropy then converts
    every pixel)."""
    probe = np.array([1.0, 2.0, 3.0])
    values = (np.ones(3) * flux_unit).to_value(unit, u.spectral_density(probe * wave_unit))
    if not np.all(np.isfinite(values) & (values > 0)):
        return None
    power = round(float(np.log(values[1] / values[0]) / np.log(2.0)))
    law = float(values[0]), power
    return law if np.allclose(law[0] * probe ** power, values, rtol=1e-12, atol=0) else None


def to_fnu(spec: ObservedSpectrum, unit: str | u.UnitBase = F_NU_CGS) -> ObservedSpectrum:
    """The spectrum with its flux (and errors) per unit frequency.

    Args:
        spec: a spectrum in F_lambda or F_nu units.
        unit: an F_nu unit (default erg s⁻¹ cm⁻² Hz⁻¹; ``'Jy'``, ``'mJy'``...).

    Returns:
        A new spectrum, same wavelengths and mask.

    Raises:
        SpectrumError: dimensionless flux, or ``unit`` not an F_nu unit.
    """
    return _convert_flux(spec, unit, "F_nu", F_NU_CGS)


def to_flambda(spec: ObservedSpectrum, unit: str | u.UnitBase = F_LAMBDA_CGS) -> ObservedSpectrum:
    """The spectrum with its flux (and errors) per unit wavelength.

    Args:
        spec: a spectrum in F_lambda or F_nu units.
        unit: an F_lambda unit (default erg s⁻¹ cm⁻² Å⁻¹; ``'W m-2 um-1'``...).

    Returns:
        A new spectrum, same wavelengths and mask.

    Raises:
        SpectrumError: dimensionless flux, or ``unit`` not an F_lambda unit.
    """
    return _convert_flux(spec, unit, "F_lambda", F_LAMBDA_CGS)


# --- resampling -----------------------------------------------------------------------
def _span_um(lo: float, hi: float, unit: u.UnitBase) -> str:
    lo_um, hi_um = (np.array([lo, hi]) * unit).to_value(u.um)
    return f"{lo_um:.4f}–{hi_um:.4f} µm"


def _target_wavelengths(new_wavelength) -> u.Quantity:
    """The target wavelengths: at least 2, a length unit, finite, strictly increasing."""
    try:
        new = u.Quantity(new_wavelength, dtype=np.float64)
    except (TypeError, ValueError):
        new = None
    if new is None or new.ndim != 1 or new.size < 2 or new.unit.physical_type != "length":
        raise SpectrumError(
            "new_wavelength must be at least 2 wavelengths with a length unit, "
            f"got {new if new is not None else new_wavelength!r}"
        )
    if not (np.all(np.isfinite(new.value)) and np.all(np.diff(new.value) > 0)):
        raise SpectrumError("new_wavelength must be finite and strictly increasing")
    return new


def _usable_pixels(spec: ObservedSpectrum, wave, flux, error) -> np.ndarray:
    """Pixels that take part: unmasked, finite, with a finite positive error if any."""
    finite = np.isfinite(wave) & np.isfinite(flux)
    usable = spec.mask & finite
    if error is not None:
        with np.errstate(invalid="ignore"):
            good_error = np.isfinite(error) & (error > 0)
        if np.count_nonzero(finite) >= 2 and np.count_nonzero(finite & good_error) < 2:
            column = (spec.meta.get("columns") or {}).get("error") or "error"
            raise SpectrumError(f"{spec._name()}: error column '{column}' has no usable value "
                                "(all zero, negative or non-finite where the flux is finite); "
                                "fix it, or choose another with --err-col")
        usable &= good_error
    if np.count_nonzero(usable) < 2:
        raise SpectrumError(f"{spec._name()}: fewer than 2 usable pixels to resample "
                            f"({np.count_nonzero(usable)} of {len(usable)} with finite "
                            "wavelength and flux, not masked)")
    if not np.all(np.diff(wave[usable]) > 0):
        raise SpectrumError(
            f"{spec._name()}: usable wavelengths are not strictly increasing; "
            "run clean_spectrum first"
        )
    return usable


#: Target bins at the ends that may lie beyond the spectrum without ``allow_partial``
#: (masked, and counted as uncovered): a spectrum that stops within a pixel of the
#: model's range is not refused for it.
EDGE_TOLERANCE = 0.01


def _check_coverage(name: str, source_edges, target_edges, unit: u.UnitBase) -> None:
    """Refuse target bins beyond the spectrum's — more than :data:`EDGE_TOLERANCE` of
    them, at least one allowed — both ranges given in µm."""
    beyond = (np.count_nonzero(target_edges[:-1] < source_edges[0])
              + np.count_nonzero(target_edges[1:] > source_edges[-1]))
    if beyond > max(1, int(EDGE_TOLERANCE * (len(target_edges) - 1))):
        have = _span_um(source_edges[0], source_edges[-1], unit)
        want = _span_um(target_edges[0], target_edges[-1], unit)
        raise SpectrumError(
            f"{name}: the spectrum covers {have} but the model's pixels span {want}; "
            "rerun with --allow-partial to mask the uncovered pixels, or choose a model "
            "that the spectrum covers (atmoscope models)"
        )


def _overlaps_usable(wave, w_good, source_edges, target_edges) -> np.ndarray:
    """Whether each target bin overlaps the bin of a usable pixel.

    Pixel bins are drawn on the full pixel grid, usable or not, so a target bin
    lying wholly inside a stretch of unusable pixels (a gap) overlaps none.
    """
    pixels = np.unique(wave[np.isfinite(wave)])
    pixel_edges = bin_edges(pixels) if pixels.size > 1 else source_edges
    index = np.searchsorted(pixels, w_good)
    good_lo, good_hi = pixel_edges[index], pixel_edges[index + 1]
    last = np.searchsorted(good_lo, target_edges[1:], side="left") - 1
    return (last >= 0) & (good_hi[np.clip(last, 0, None)] > target_edges[:-1])


def resample(
    spec: ObservedSpectrum, new_wavelength: u.Quantity, *, allow_partial: bool = False
) -> ObservedSpectrum:
    """Flux-conserving resampling onto new wavelengths, errors propagated.

    As SpectRes (Carnall 2017; vectorised in :mod:`atmoscope.observed.rebin`): each new
    bin's flux is the width-weighted mean of the old bins it overlaps, so the integrated
    flux is kept; its error is the matching combination of the old errors (white noise
    averaged over k pixels shrinks by √k). Only usable pixels take part (``mask`` True, finite
    flux and, when there are errors, finite positive errors). Bins are those
    SpectRes draws: edges midway between neighbouring wavelengths.

    A new bin that lies wholly inside a stretch of unusable pixels (a gap) would
    otherwise get a value interpolated across the gap; it is masked and set to
    NaN instead, and counted in ``meta['gap_masked']``. A spectrum already on
    ``new_wavelength`` with every pixel usable is copied unchanged.

    Args:
        spec: the spectrum, usable pixels in ascending order (as
            :func:`~atmoscope.observed.clean_spectrum` returns them).
        new_wavelength: strictly increasing target wavelengths (any length unit),
            e.g. a model grid's.
        allow_partial: when the spectrum does not cover every target bin, mask the
            uncovered target pixels (NaN, ``mask`` False, counted in
            ``meta['uncovered']``) instead of raising.

    Returns:
        The spectrum on ``new_wavelength`` (in its unit), flux in the original
        unit.

    Raises:
        SpectrumError: target wavelengths not increasing, fewer than 2 usable
            pixels, or (without ``allow_partial``) a target bin beyond the
            spectrum, the message giving both ranges in µm.
    """
    new = _target_wavelengths(new_wavelength)
    target, name = new.value, spec._name()
    wave = spec.wavelength.to_value(new.unit)
    flux, error = spec.flux.value, None if spec.error is None else spec.error.value
    usable = _usable_pixels(spec, wave, flux, error)
    if usable.all() and wave.shape == target.shape and np.array_equal(wave, target):
        # Already on the target grid, every pixel usable: the identity (SpectRes would only
        # add rounding); resample_batch does the same, so both paths agree exactly.
        meta = dict(spec.meta, uncovered=0, gap_masked=0, resampled_from=spec.n_pixels)
        meta.pop("negative_flux", None)
        return ObservedSpectrum(wavelength=new, flux=flux * spec.flux.unit,
                                error=None if error is None else error * spec.flux.unit,
                                mask=np.ones(target.size, dtype=bool), meta=meta)
    w_good = wave[usable]
    source_edges, target_edges = bin_edges(w_good), bin_edges(target)
    if not allow_partial:
        _check_coverage(name, source_edges, target_edges, new.unit)

    new_flux, new_error = rebin(target, w_good, flux[usable],
                                None if error is None else error[usable])
    covered = np.isfinite(new_flux)
    gap = covered & ~_overlaps_usable(wave, w_good, source_edges, target_edges)
    new_flux[gap] = np.nan
    if new_error is not None:
        new_error[gap] = np.nan

    meta = dict(
        spec.meta,
        uncovered=int(np.count_nonzero(~covered)),
        gap_masked=int(np.count_nonzero(gap)),
        resampled_from=spec.n_pixels,
    )
    meta.pop("negative_flux", None)  # per-pixel flags of the old grid no longer apply
    return ObservedSpectrum(
        wavelength=new,
        flux=new_flux * spec.flux.unit,
        error=None if new_error is None else new_error * spec.flux.unit,
        mask=covered & ~gap,
        meta=meta,
    )


# --- flux scale -----------------------------------------------------------------------
def _positive(value, unit: u.UnitBase, what: str) -> u.Quantity:
    try:
        quantity = u.Quantity(value, unit)
    except (TypeError, ValueError):  # not a number, or a Quantity of another kind
        raise SpectrumError(f"{what} must be one positive finite number, got {value!r}") from None
    if not (np.isscalar(quantity.value) and np.isfinite(quantity.value) and quantity.value > 0):
        raise SpectrumError(f"{what} must be one positive finite number, got {value!r}")
    return quantity


def scale_to_surface(spec: ObservedSpectrum, distance_pc, radius_rjup) -> ObservedSpectrum:
    """Flux at Earth → flux at the object's surface: times (d/R)².

    This fixes the radius in advance, as TelescopeML does; :func:`best_scale`
    with :func:`implied_radius` lets the data say what it is instead.

    Args:
        spec: the observed spectrum (flux at Earth).
        distance_pc: distance, in parsec (or an astropy Quantity).
        radius_rjup: radius, in Jupiter radii (or an astropy Quantity).

    Returns:
        A new spectrum, flux and errors multiplied by (d/R)²;
        ``meta['surface_scale']`` records the factor, distance and radius.

    Raises:
        SpectrumError: distance or radius not positive.
    """
    distance = _positive(distance_pc, u.pc, "distance")
    radius = _positive(radius_rjup, u.R_jup, "radius")
    factor = float(((distance / radius).decompose()) ** 2)
    meta = dict(
        spec.meta,
        surface_scale={
            "factor": factor,
            "distance_pc": float(distance.to_value(u.pc)),
            "radius_rjup": float(radius.to_value(u.R_jup)),
        },
    )
    return spec.replace(
        flux=spec.flux * factor,
        error=None if spec.error is None else spec.error * factor,
        meta=meta,
    )


def best_scale(observed_flux, model_flux, error=None) -> float:
    """The scale ``a`` minimising χ² = Σ ((o − a·m)/σ)², in closed form.

    a = Σ(o·m/σ²) / Σ(m²/σ²). With ``o`` the flux at Earth and ``m`` the model's
    surface flux, a = (R/d)² and :func:`implied_radius` gives R. Fitting ``a``
    keeps the absolute flux level in the fit: TelescopeML instead scales the
    observation by an assumed (d/R)² and then normalises every spectrum, so
    the radius cancels out of its χ² and a wrong radius goes unnoticed.

    Pixels where any input is NaN/inf, or σ ≤ 0, are left out.

    Args:
        observed_flux: observed fluxes (array or Quantity).
        model_flux: model fluxes on the same wavelengths (array or Quantity in a
            unit convertible to the observed one).
        error: 1-σ errors of the observed fluxes; ``None`` weighs all pixels alike.

    Returns:
        The scale ``a`` (a float: observed unit per model unit when plain arrays
        are given).

    Raises:
        SpectrumError: shapes differ, units do not match, or no usable pixel.
    """
    o, m, s = _same_unit(observed_flux, model_flux, error)
    if s is None:
        s = np.ones_like(o)
    if not (o.shape == m.shape == s.shape):
        raise SpectrumError(
            f"observed {o.shape}, model {m.shape} and error {s.shape} must have the same shape"
        )
    with np.errstate(invalid="ignore"):
        use = np.isfinite(o) & np.isfinite(m) & np.isfinite(s) & (s > 0)
    weight = 1.0 / s[use] ** 2
    denominator = np.sum(m[use] ** 2 * weight)
    if not use.any():
        raise SpectrumError(f"no pixel where observed flux, model flux and error are all "
                            f"finite (error > 0) to fit the flux scale ({o.size} pixels)")
    if denominator <= 0:
        raise SpectrumError(f"the model flux is zero at all {np.count_nonzero(use)} usable "
                            "pixels: no flux scale can be fitted")
    return float(np.sum(o[use] * m[use] * weight) / denominator)


def _same_unit(observed, model, error):
    """Plain float arrays; with units, model and error converted to the observed unit."""
    arrays = [observed, model, error]
    if any(isinstance(a, u.Quantity) for a in arrays):
        unit = observed.unit if isinstance(observed, u.Quantity) else u.dimensionless_unscaled
        try:
            arrays = [None if a is None else u.Quantity(a, unit).to_value(unit) for a in arrays]
        except u.UnitConversionError as exc:
            raise SpectrumError(f"observed, model and error units do not match ({exc})") from None
    try:
        return [None if a is None else np.asarray(a, dtype=np.float64) for a in arrays]
    except (TypeError, ValueError) as exc:
        raise SpectrumError(f"observed, model and error must be numbers ({exc})") from None


def implied_radius(scale: float, distance_pc) -> u.Quantity:
    """The radius R = d·√a implied by a fitted scale ``a`` = (R/d)².

    Args:
        scale: ``a`` from :func:`best_scale`, observed flux at Earth over model
            surface flux (in the same flux unit).
        distance_pc: distance, in parsec (or an astropy Quantity).

    Returns:
        The radius as a Quantity in Jupiter radii.

    Raises:
        SpectrumError: ``scale`` or distance not positive.
    """
    a = _positive(scale, u.dimensionless_unscaled, "scale")
    distance = _positive(distance_pc, u.pc, "distance")
    return (distance * np.sqrt(a.value)).to(u.R_jup)
