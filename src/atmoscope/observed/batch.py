"""Cleaning, unit conversion and resampling of a whole :class:`SpectrumBatch` at once.

Row for row, each gives what the single-spectrum function gives (to float rounding)::

    clean_batch(batch)             clean_spectrum(batch.spectrum(i))
    convert_batch(batch, "fnu")    to_fnu(batch.spectrum(i))
    resample_batch(batch, wave)    resample(batch.spectrum(i), wave)

so ``resample_batch(convert_batch(clean_batch(batch)[0], "fnu"), wave).spectrum(i)`` is
``resample(to_fnu(clean_spectrum(batch.spectrum(i))[0]), wave)``: the same arrays, the
same counts, the same error messages.

The work is numpy on ``(n, L)`` arrays. With shared wavelengths, sorting and the duplicate
and bad-wavelength checks look at the wavelengths once; resampling rebins
(:func:`~atmoscope.observed.rebin.rebin`) once per group of rows that share their usable
pixels (one call for a clean survey), on their 2-D flux. Rows with per-row wavelengths,
or with bad pixels of their own, form groups of their own and cost what the single path
costs.

Where :func:`~atmoscope.observed.clean_spectrum` drops pixels, :func:`clean_batch` marks
them in :attr:`SpectrumBatch.dropped` (the arrays keep one length): ``spectrum(i)`` leaves
them out and :func:`resample_batch` ignores them. A row that cannot be resampled does not
stop the batch: its message is in ``meta['errors'][i]`` and its row is NaN, masked.
"""

from __future__ import annotations

import numbers
from dataclasses import fields, replace

import astropy.units as u
import numpy as np

from atmoscope.errors import ConfigError, SpectrumError
from atmoscope.observed.cleaning import CleaningReport
from atmoscope.observed.conversion import (
    _check_coverage,
    _overlaps_usable,
    _target_wavelengths,
    _usable_pixels,
    flux_factor,
)
from atmoscope.observed.rebin import bin_edges, rebin
from atmoscope.observed.survey import SpectrumBatch
from atmoscope.observed.units import F_LAMBDA_CGS, F_NU_CGS

__all__ = ["clean_batch", "convert_batch", "resample_batch"]

# Stands for a row's name in a message made once for a group of rows.
_NAME = "\x00row\x00"


def _name(batch: SpectrumBatch) -> str:
    return batch.source or "batch"


def _default_mask(wave: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """ObservedSpectrum's default: pixels with a finite wavelength and flux."""
    return np.isfinite(wave) & np.isfinite(flux)


# --- cleaning -----------------------------------------------------------------------------
def _steps(wave: np.ndarray, kept: np.ndarray, bad_wave: np.ndarray) -> np.ndarray:
    """Per row, the steps between consecutive kept pixels where the wavelength does not
    increase (what clean_spectrum counts after dropping)."""
    n, length = kept.shape
    if wave.ndim == 1 and np.all(np.diff(wave[~bad_wave]) > 0):
        return np.zeros(n, dtype=np.int64)  # every subset of an increasing grid increases
    waves = np.broadcast_to(wave, kept.shape)
    index = np.where(kept, np.arange(length), -1)
    previous = np.maximum.accumulate(index, axis=1)[:, :-1]  # last kept pixel before j
    earlier = np.take_along_axis(waves, np.maximum(previous, 0), axis=1)
    step = kept[:, 1:] & (previous >= 0) & (waves[:, 1:] <= earlier)
    return np.count_nonzero(step, axis=1)


def _duplicates(wave: np.ndarray, kept: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Kept pixels that repeat another kept pixel's wavelength: all but the first usable
    one (else the first) of each group. ``wave`` must be sorted (per row)."""
    n, length = kept.shape
    waves = np.broadcast_to(wave, kept.shape)
    same = (wave[1:] == wave[:-1]) if wave.ndim == 1 else (waves[:, 1:] == waves[:, :-1])
    if not np.any(same):
        return np.zeros(kept.shape, dtype=bool)
    starts = np.ones(kept.shape, dtype=bool)
    starts[:, 1:] = ~same
    # the keeper has the lowest priority of its group: usable first, then kept, in order
    column = np.arange(length)
    priority = np.where(kept & mask, column, np.where(kept, length + column, 3 * length))
    flat_starts = np.flatnonzero(starts.ravel())
    lowest = np.minimum.reduceat(priority.ravel(), flat_starts)
    group = np.cumsum(starts.ravel()) - 1
    return kept & (priority != lowest[group].reshape(n, length))


def clean_batch(batch: SpectrumBatch, *, min_snr: float | None = None
                ) -> tuple[SpectrumBatch, list[CleaningReport]]:
    """:func:`~atmoscope.observed.clean_spectrum` for every row at once.

    The same rules, in the same order, with the same counts per row; pixels that
    ``clean_spectrum`` drops are marked in :attr:`SpectrumBatch.dropped` instead.

    Args:
        batch: the spectra, as read.
        min_snr: mask pixels with flux/error below this (needs errors).

    Returns:
        The cleaned batch (wavelengths sorted; ``mask`` True where usable, the input mask
        respected; ``meta['cleaning']`` the reports' fields as per-row arrays,
        ``meta['negative_flux']`` an ``(n, L)`` boolean array) and one
        :class:`~atmoscope.observed.CleaningReport` per row (``source`` ``"<file>#<id>"``).

    Raises:
        SpectrumError: ``min_snr`` not a number, or given for spectra without errors.
    """
    if min_snr is not None:
        if not isinstance(min_snr, numbers.Real):
            raise SpectrumError(f"min_snr must be a number, not {min_snr!r}")
        if batch.error is None:
            raise SpectrumError(f"{_name(batch)}: min_snr={min_snr} needs errors; the "
                                "spectra have none")
    n, length = batch.flux.shape
    wave, flux = batch.wavelength.value, batch.flux.value
    error = None if batch.error is None else batch.error.value
    mask = _default_mask(wave, flux) if batch.mask is None else batch.mask.copy()
    present = np.ones((n, length), dtype=bool) if batch.dropped is None else ~batch.dropped

    # 1. rows holding nothing, or with no valid wavelength, are dropped
    empty = np.isnan(flux) if error is None else np.isnan(flux) & np.isnan(error)
    empty &= present
    with np.errstate(invalid="ignore"):
        bad_wave = ~np.isfinite(wave) | (wave <= 0)
    kept = present & ~empty & ~bad_wave
    counts = {
        "n_input": np.count_nonzero(present, axis=1),
        "dropped_empty": np.count_nonzero(empty, axis=1),
        "dropped_bad_wavelength": np.count_nonzero(bad_wave & present & ~empty, axis=1),
    }
    # 2. sorted by wavelength; a stable sort of all pixels keeps the kept ones in the order
    # a stable sort of the kept ones alone gives
    counts["non_increasing"] = _steps(wave, kept, bad_wave)
    if counts["non_increasing"].any():
        if wave.ndim == 1:
            order = np.argsort(wave, kind="stable")
            wave = wave[order]
            flux, mask, kept, present = (a[:, order] for a in (flux, mask, kept, present))
            error = None if error is None else error[:, order]
        else:
            order = np.argsort(wave, axis=1, kind="stable")
            wave, flux, mask, kept, present = (np.take_along_axis(a, order, axis=1)
                                               for a in (wave, flux, mask, kept, present))
            error = None if error is None else np.take_along_axis(error, order, axis=1)
    # 3. and 4. NaN/inf flux; NaN/inf/zero/negative errors
    nonfinite = ~np.isfinite(flux)
    counts["nonfinite_flux"] = np.count_nonzero(nonfinite & kept, axis=1)
    mask &= ~nonfinite
    counts["bad_error"] = np.zeros(n, dtype=np.int64)
    if error is not None:
        with np.errstate(invalid="ignore"):
            bad_error = ~np.isfinite(error) | (error <= 0)
        counts["bad_error"] = np.count_nonzero(bad_error & kept, axis=1)
        mask &= ~bad_error
    # 5. repeated wavelengths
    duplicate = _duplicates(wave, kept, mask)
    counts["duplicate_wavelength"] = np.count_nonzero(duplicate, axis=1)
    mask &= ~duplicate
    # 6. low S/N
    counts["low_snr"] = np.zeros(n, dtype=np.int64)
    if min_snr is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            low = np.isfinite(error) & (error > 0) & (flux / error < min_snr)
        counts["low_snr"] = np.count_nonzero(low & kept, axis=1)
        mask &= ~low
    # 7. negative flux: kept, flagged
    with np.errstate(invalid="ignore"):
        negative = np.isfinite(flux) & (flux < 0) & kept
    counts["negative_flux"] = np.count_nonzero(negative, axis=1)
    mask &= kept
    counts["n_output"] = np.count_nonzero(kept, axis=1)
    counts["n_good"] = np.count_nonzero(mask, axis=1)

    sources = [batch.row_source(i) for i in range(n)]
    table = {"source": sources, **{k: np.asarray(v, dtype=np.int64) for k, v in counts.items()},
             "min_snr": min_snr}
    table = {f.name: table[f.name] for f in fields(CleaningReport)}  # the report's order
    columns = {k: v.tolist() for k, v in table.items() if isinstance(v, np.ndarray)}
    names = list(columns)
    reports = [CleaningReport(source=source, min_snr=min_snr,
                              **dict(zip(names, values, strict=True)))
               for source, *values in zip(sources, *columns.values(), strict=True)]
    cleaned = replace(
        batch,
        wavelength=u.Quantity(wave, batch.wavelength.unit, copy=None),
        flux=u.Quantity(flux, batch.flux.unit, copy=None),
        error=None if error is None else u.Quantity(error, batch.flux.unit, copy=None),
        mask=mask,
        dropped=None if kept.all() else ~kept,
        meta=dict(batch.meta, cleaning=table, negative_flux=negative),
    )
    return cleaned, reports


# --- F_lambda ⇄ F_nu ----------------------------------------------------------------------
_KINDS = {"fnu": ("F_nu", F_NU_CGS), "flambda": ("F_lambda", F_LAMBDA_CGS)}


def convert_batch(batch: SpectrumBatch, kind: str, unit: str | u.UnitBase | None = None
                  ) -> SpectrumBatch:
    """:func:`~atmoscope.observed.to_fnu` or :func:`~atmoscope.observed.to_flambda` for
    every row at once: flux and errors times the same per-pixel factor.

    Args:
        batch: spectra in F_lambda or F_nu units.
        kind: ``"fnu"`` or ``"flambda"``.
        unit: the target unit (default erg s⁻¹ cm⁻² Hz⁻¹, or erg s⁻¹ cm⁻² Å⁻¹).

    Returns:
        A new batch, same wavelengths, mask and meta.

    Raises:
        ConfigError: ``kind`` neither ``"fnu"`` nor ``"flambda"``.
        SpectrumError: dimensionless flux, or ``unit`` not of the kind.
    """
    if kind not in _KINDS:
        raise ConfigError(f"kind must be 'fnu' or 'flambda', not {kind!r}")
    label, reference = _KINDS[kind]
    unit = reference if unit is None else unit
    unit, factor = flux_factor(_name(batch), batch.flux.unit, batch.wavelength, unit, label,
                               reference)
    return replace(
        batch,
        flux=u.Quantity(batch.flux.value * factor, unit, copy=None),
        error=None if batch.error is None else u.Quantity(batch.error.value * factor, unit,
                                                          copy=None),
    )


# --- resampling ---------------------------------------------------------------------------
class _Row:
    """What :func:`~atmoscope.observed.conversion._usable_pixels` reads of a spectrum (its
    mask, meta and name), without building one."""

    __slots__ = ("mask", "meta", "name")

    def __init__(self, mask: np.ndarray, meta: dict, name: str) -> None:
        self.mask, self.meta, self.name = mask, meta, name

    def _name(self) -> str:
        return self.name


def _groups(keys: np.ndarray, rows: np.ndarray) -> list[np.ndarray]:
    """``rows`` split into groups of equal ``keys`` rows (bytes), in row order."""
    if rows.size == 0:
        return []
    keys = np.ascontiguousarray(keys)
    keys = keys.view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    cuts = np.flatnonzero(np.diff(inverse[order])) + 1
    return np.split(rows[order], cuts)


def resample_batch(batch: SpectrumBatch, new_wavelength: u.Quantity, *,
                   allow_partial: bool = False) -> SpectrumBatch:
    """:func:`~atmoscope.observed.resample` for every row at once.

    Rows that share their usable pixels (and wavelengths) are resampled by one
    :func:`~atmoscope.observed.rebin.rebin` call on their 2-D flux; the gap masking, the
    coverage check and the counts are those of ``resample``, row by row. Rows already on
    ``new_wavelength`` with every pixel usable are copied (as ``resample`` does).

    Args:
        batch: spectra, usable pixels in ascending order (as :func:`clean_batch` returns
            them).
        new_wavelength: strictly increasing target wavelengths (any length unit).
        allow_partial: mask target pixels a spectrum does not cover instead of failing it.

    Returns:
        The batch on ``new_wavelength`` (shared, in its unit), flux in the original unit.
        ``meta`` holds per-row ``uncovered``, ``gap_masked`` and ``resampled_from``
        (int arrays; ``-1`` for a failed row) and ``errors``: ``None``, or the message
        ``resample`` raises for that row (then all NaN, masked). An error already in
        ``meta['errors']`` stays.

    Raises:
        SpectrumError: target wavelengths not strictly increasing or without a length unit
            (for the whole batch).
    """
    new = _target_wavelengths(new_wavelength)
    target = new.value
    n, length = batch.flux.shape
    size = target.size
    wave = batch.wavelength.to_value(new.unit)
    waves = np.broadcast_to(wave, (n, length))
    flux = batch.flux.value
    error = None if batch.error is None else batch.error.value
    present = None if batch.dropped is None else ~batch.dropped
    default_mask = _default_mask(waves, flux)
    mask = default_mask if batch.mask is None else batch.mask
    finite = default_mask if present is None else default_mask & present
    usable = mask & finite
    if error is not None:
        with np.errstate(invalid="ignore"):
            usable = usable & np.isfinite(error) & (error > 0)
    n_usable = np.count_nonzero(usable, axis=1)

    new_flux = np.full((n, size), np.nan)
    new_error = None if error is None else np.full((n, size), np.nan)
    new_mask = np.zeros((n, size), dtype=bool)
    uncovered = np.full(n, -1, dtype=np.int64)
    gap_masked = np.full(n, -1, dtype=np.int64)
    resampled_from = (np.full(n, length, dtype=np.int64) if present is None
                      else np.count_nonzero(present, axis=1))
    errors = list(batch.meta.get("errors") or [None] * n)
    columns = {"columns": batch.meta["columns"]} if "columns" in batch.meta else {}

    def pixels(i: int, name: str):
        """Row i as resample sees it: its present pixels, and a stand-in for the spectrum."""
        keep = slice(None) if present is None else present[i]
        row = _Row(mask[i][keep], columns, name)
        return row, waves[i][keep], flux[i][keep], None if error is None else error[i][keep]

    failed = np.array([e is not None for e in errors], dtype=bool)
    for i in np.flatnonzero((n_usable < 2) & ~failed):  # resample's own message, per row
        try:
            _usable_pixels(*pixels(i, batch.row_source(i)))
        except SpectrumError as exc:
            errors[i] = str(exc)

    rows = np.flatnonzero((n_usable >= 2) & ~failed)
    keys = [np.packbits(usable[rows], axis=1)]
    if present is not None:
        keys.append(np.packbits(present[rows], axis=1))
    if wave.ndim == 2:
        keys.append(np.ascontiguousarray(wave[rows]).view(np.uint8).reshape(rows.size,
                                                                            8 * length))
    target_edges = bin_edges(target)
    for members in _groups(np.concatenate(keys, axis=1), rows):
        first = members[0]
        row = pixels(first, _NAME)
        good = np.flatnonzero(usable[first])
        w_good = waves[first][good]
        try:
            _usable_pixels(*row)  # the group's checks; raises for wavelengths out of order
            source_edges = bin_edges(w_good)
            if not allow_partial:
                _check_coverage(_NAME, source_edges, target_edges, new.unit)
        except SpectrumError as exc:
            for i in members:
                errors[i] = str(exc).replace(_NAME, batch.row_source(i))
            continue
        if good.size == length and length == size and np.array_equal(waves[first], target):
            # already on the target grid, every pixel usable: the identity, as in resample
            new_flux[members] = flux[members]
            if error is not None:
                new_error[members] = error[members]
            new_mask[members] = True
            uncovered[members] = gap_masked[members] = 0
            continue
        group_flux, group_error = rebin(
            target, w_good, flux[np.ix_(members, good)],
            None if error is None else error[np.ix_(members, good)])
        covered = np.isfinite(group_flux)
        gap = covered & ~_overlaps_usable(row[1], w_good, source_edges, target_edges)
        group_flux[gap] = np.nan
        if group_error is not None:
            group_error[gap] = np.nan
            new_error[members] = group_error
        new_flux[members] = group_flux
        new_mask[members] = covered & ~gap
        uncovered[members] = np.count_nonzero(~covered, axis=1)
        gap_masked[members] = np.count_nonzero(gap, axis=1)

    failed = np.array([e is not None for e in errors], dtype=bool)
    uncovered[failed] = gap_masked[failed] = -1
    meta = dict(batch.meta, uncovered=uncovered, gap_masked=gap_masked,
                resampled_from=resampled_from, errors=errors)
    meta.pop("negative_flux", None)  # per-pixel flags of the old grid no longer apply
    unit = batch.flux.unit
    return SpectrumBatch(
        ids=batch.ids, rows=batch.rows, wavelength=new,
        flux=u.Quantity(new_flux, unit, copy=None),
        error=None if new_error is None else u.Quantity(new_error, unit, copy=None),
        mask=new_mask, source=batch.source, truths=batch.truths, meta=meta,
    )
