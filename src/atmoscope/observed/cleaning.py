"""Cleaning an observed spectrum: every rule masks (or flags) and is counted.

Nothing usable is thrown away: masked pixels stay in the arrays, so a later
step, a plot or a person can still see them. Only rows that hold nothing (no
flux, no error) or cannot be placed (no valid wavelength) are dropped.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from atmoscope.errors import SpectrumError
from atmoscope.observed.spectrum import ObservedSpectrum

__all__ = ["CleaningReport", "clean_spectrum"]

# Report field → how summary() describes it.
_LABELS = {
    "dropped_empty": "empty rows dropped",
    "dropped_bad_wavelength": "rows without a valid wavelength dropped",
    "non_increasing": "out-of-order wavelength steps (sorted)",
    "duplicate_wavelength": "duplicate wavelengths masked",
    "nonfinite_flux": "NaN/inf flux masked",
    "bad_error": "NaN/inf/zero/negative errors masked",
    "low_snr": "pixels below min_snr masked",
    "negative_flux": "negative fluxes kept (flagged)",
}


@dataclass(frozen=True)
class CleaningReport:
    """What :func:`clean_spectrum` did, rule by rule.

    Each count is the number of pixels the rule hit; a pixel can be hit by
    several rules (a NaN flux with a NaN error counts in both), so the counts
    need not add up to ``n_input - n_good``.

    Attributes:
        source: the spectrum's file, if known.
        n_input: rows in the input.
        n_output: pixels in the output (``n_input`` less the dropped rows).
        n_good: usable pixels in the output.
        dropped_empty: rows with neither flux nor error (NaN), dropped.
        dropped_bad_wavelength: rows with a NaN, infinite or non-positive
            wavelength (and some data), dropped: they cannot be placed.
        non_increasing: steps where the wavelength did not increase; the
            pixels were sorted.
        duplicate_wavelength: pixels masked because another pixel has the same
            wavelength (the first usable one of each group is kept).
        nonfinite_flux: NaN or infinite flux, masked.
        bad_error: NaN, infinite, zero or negative error, masked.
        low_snr: pixels whose flux/error is below ``min_snr``, masked.
        negative_flux: negative (finite) flux, kept and flagged.
        min_snr: the threshold used, or ``None``.
    """

    source: str | None
    n_input: int
    n_output: int
    n_good: int
    dropped_empty: int = 0
    dropped_bad_wavelength: int = 0
    non_increasing: int = 0
    duplicate_wavelength: int = 0
    nonfinite_flux: int = 0
    bad_error: int = 0
    low_snr: int = 0
    negative_flux: int = 0
    min_snr: float | None = None

    def as_dict(self) -> dict:
        """The report as a JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # flat: no asdict copy

    def summary(self) -> str:
        """One line: rows in, pixels out, usable pixels, and each rule that fired."""
        name = Path(self.source).name if self.source else "spectrum"
        fired = [f"{getattr(self, key)} {label}" for key, label in _LABELS.items()
                 if getattr(self, key)]
        return (
            f"{name}: {self.n_input} rows → {self.n_output} pixels, {self.n_good} usable; "
            + ("; ".join(fired) if fired else "nothing to clean")
        )


@dataclass
class _Pixels:
    """The plain arrays a cleaning step works on (values in the spectrum's units)."""

    wave: np.ndarray
    flux: np.ndarray
    error: np.ndarray | None
    mask: np.ndarray

    @classmethod
    def of(cls, spec: ObservedSpectrum) -> _Pixels:
        error = None if spec.error is None else spec.error.value
        return cls(spec.wavelength.value, spec.flux.value, error, spec.mask.copy())

    def take(self, index: np.ndarray) -> None:
        """Keep the pixels ``index`` selects (a boolean mask or an order), in that order."""
        self.wave, self.flux, self.mask = self.wave[index], self.flux[index], self.mask[index]
        self.error = None if self.error is None else self.error[index]

    def spectrum(self, like: ObservedSpectrum, meta: dict) -> ObservedSpectrum:
        """The pixels as a spectrum in the units of ``like``."""
        unit = like.flux.unit
        return ObservedSpectrum(
            wavelength=self.wave * like.wavelength.unit,
            flux=self.flux * unit,
            error=None if self.error is None else self.error * unit,
            mask=self.mask,
            meta=meta,
        )


def _check_min_snr(spec: ObservedSpectrum, min_snr) -> None:
    if min_snr is None:
        return
    if not isinstance(min_snr, numbers.Real):
        raise SpectrumError(f"min_snr must be a number, not {min_snr!r}")
    if spec.error is None:
        raise SpectrumError(
            f"{spec._name()}: min_snr={min_snr} needs errors; the spectrum has none"
        )


def _drop_unplaceable(pixels: _Pixels) -> dict[str, int]:
    """Rule 1: drop rows holding nothing (no flux, no error) or no valid wavelength."""
    error = pixels.error
    empty = np.isnan(pixels.flux) & (np.isnan(error) if error is not None else True)
    bad_wave = ~np.isfinite(pixels.wave) | (pixels.wave <= 0)
    pixels.take(~(empty | bad_wave))
    return {
        "dropped_empty": int(np.count_nonzero(empty)),
        "dropped_bad_wavelength": int(np.count_nonzero(bad_wave & ~empty)),
    }


def _sort_by_wavelength(pixels: _Pixels) -> int:
    """Rule 2: sort by wavelength; returns the number of non-increasing steps."""
    steps = int(np.count_nonzero(np.diff(pixels.wave) <= 0))
    if steps:
        pixels.take(np.argsort(pixels.wave, kind="stable"))  # stable: the file's order in a tie
    return steps


def _mask_bad_values(pixels: _Pixels) -> dict[str, int]:
    """Rules 3 and 4: mask NaN/inf flux, and NaN/inf/zero/negative errors."""
    nonfinite = ~np.isfinite(pixels.flux)
    counts = {"nonfinite_flux": int(np.count_nonzero(nonfinite))}
    pixels.mask &= ~nonfinite
    if pixels.error is not None:
        with np.errstate(invalid="ignore"):
            bad_error = ~np.isfinite(pixels.error) | (pixels.error <= 0)
        counts["bad_error"] = int(np.count_nonzero(bad_error))
        pixels.mask &= ~bad_error
    return counts


def _mask_duplicates(pixels: _Pixels) -> int:
    """Rule 5: mask all but one pixel of each wavelength (the first usable one kept)."""
    wave, mask = pixels.wave, pixels.mask
    duplicate = np.zeros(wave.size, dtype=bool)
    if np.any(np.diff(wave) == 0):
        _, starts, sizes = np.unique(wave, return_index=True, return_counts=True)
        for start, size in zip(starts[sizes > 1], sizes[sizes > 1], strict=True):
            group = np.arange(start, start + size)
            usable = group[mask[group]]
            keeper = usable[0] if usable.size else group[0]
            duplicate[group[group != keeper]] = True
    pixels.mask &= ~duplicate
    return int(np.count_nonzero(duplicate))


def _mask_low_snr(pixels: _Pixels, min_snr: float) -> int:
    """Rule 6: mask pixels whose flux/error is below ``min_snr``."""
    error = pixels.error
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.isfinite(error) & (error > 0) & (pixels.flux / error < min_snr)
    pixels.mask &= ~low
    return int(np.count_nonzero(low))


def clean_spectrum(
    spec: ObservedSpectrum, *, min_snr: float | None = None
) -> tuple[ObservedSpectrum, CleaningReport]:
    """Mask what cannot be used, keep everything else, and count each rule.

    Rules, in order:

    1. rows with no flux and no error (both NaN, or NaN flux and no error
       column) are dropped, as are rows without a finite positive wavelength;
    2. pixels are sorted by wavelength if they were not;
    3. NaN or infinite flux → masked;
    4. NaN, infinite, zero or negative error → masked (e.g. GJ 570D's ``-inf``);
    5. repeated wavelengths → all but one masked (the first usable one kept);
    6. with ``min_snr``, flux/error below it → masked;
    7. negative flux → **kept**, only flagged (``meta['negative_flux']``).

    Negative fluxes are real: at low signal, noise scatters the measured flux
    around the true one, both ways. Dropping or clipping the negative side
    alone would bias faint pixels (and band depths) upwards and shrink their
    scatter. For the same reason ``min_snr`` is a biased cut, off by default:
    it removes the low pixels of faint regions preferentially.

    Args:
        spec: the spectrum, as read.
        min_snr: mask pixels with flux/error below this (needs errors).

    Returns:
        The cleaned spectrum (wavelengths ascending; ``mask`` True where usable,
        the input mask respected; ``meta['cleaning']`` the report as a dict,
        ``meta['negative_flux']`` a boolean array) and the report.

    Raises:
        SpectrumError: ``min_snr`` given for a spectrum without errors.
    """
    _check_min_snr(spec, min_snr)
    pixels = _Pixels.of(spec)
    n_input = pixels.wave.size
    counts = _drop_unplaceable(pixels)
    counts["non_increasing"] = _sort_by_wavelength(pixels)
    counts.update(_mask_bad_values(pixels))
    counts["duplicate_wavelength"] = _mask_duplicates(pixels)
    if min_snr is not None:
        counts["low_snr"] = _mask_low_snr(pixels, min_snr)
    with np.errstate(invalid="ignore"):
        negative = np.isfinite(pixels.flux) & (pixels.flux < 0)
    counts["negative_flux"] = int(np.count_nonzero(negative))

    report = CleaningReport(
        source=spec.meta.get("source"),
        n_input=n_input,
        n_output=int(pixels.wave.size),
        n_good=int(np.count_nonzero(pixels.mask)),
        min_snr=min_snr,
        **counts,
    )
    meta = dict(spec.meta, cleaning=report.as_dict(), negative_flux=negative)
    return pixels.spectrum(spec, meta), report
