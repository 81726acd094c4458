"""Units of observed spectra: the spellings real files use, read as astropy units.

``A`` means Ångström here, never Ampère; ``'normalized'`` and its kin mean a
normalised, dimensionless spectrum.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache
from pathlib import Path

import astropy.units as u

from atmoscope.errors import SpectrumError

__all__ = [
    "F_LAMBDA_CGS",
    "F_NU_CGS",
    "flux_kind",
    "is_flux_density",
    "parse_column_unit",
    "parse_unit",
]

F_LAMBDA_CGS = u.erg / u.s / u.cm**2 / u.AA
F_NU_CGS = u.erg / u.s / u.cm**2 / u.Hz

# Spellings seen in real headers that astropy's parser does not take, keyed by
# the lower-cased text with spaces, '*' and '^' removed.
_UNIT_ALIASES = {
    "um": u.um, "micron": u.um, "microns": u.um, "µm": u.um, "μm": u.um, "mum": u.um,
    "micrometer": u.um, "micrometers": u.um, "micrometre": u.um, "micrometres": u.um,
    "nm": u.nm, "nanometer": u.nm, "nanometers": u.nm,
    "a": u.AA, "aa": u.AA, "å": u.AA, "angstrom": u.AA, "angstroms": u.AA, "ang": u.AA,
    "ergss-1cm-2a-1": F_LAMBDA_CGS, "ergs-1cm-2a-1": F_LAMBDA_CGS, "ergcm-2s-1a-1": F_LAMBDA_CGS,
    "ergscm-2s-1a-1": F_LAMBDA_CGS, "erg/s/cm2/a": F_LAMBDA_CGS, "ergs/s/cm2/a": F_LAMBDA_CGS,
    "erg/cm2/s/a": F_LAMBDA_CGS, "flam": F_LAMBDA_CGS,
    "ergss-1cm-2hz-1": F_NU_CGS, "ergs-1cm-2hz-1": F_NU_CGS, "erg/s/cm2/hz": F_NU_CGS,
    "erg/cm2/s/hz": F_NU_CGS, "fnu": F_NU_CGS,
    "wm-2um-1": u.W / u.m**2 / u.um, "w/m2/um": u.W / u.m**2 / u.um,
    "wm-2micron-1": u.W / u.m**2 / u.um, "wm-2nm-1": u.W / u.m**2 / u.nm,
}
# Flux "units" that mean a normalised, unitless spectrum.
_DIMENSIONLESS = {
    "normalized", "normalised", "norm", "arbitrary", "arb", "arbitraryunits", "relative",
    "dimensionless", "none", "unitless", "1",
}


def parse_unit(text: str | u.UnitBase | None) -> u.UnitBase | None:
    """A unit from a header, column or command-line spelling.

    Takes astropy's spellings plus the ones real files use: ``'Micron'``,
    ``'ergs s-1 cm-2 A-1'``, ``'ergss-1cm-2A-1'``, ``'Wm-2um-1'``,
    ``'normalized'``... ``A`` means Ångström here, never Ampère.

    Args:
        text: the spelling, an astropy unit, or ``None``.

    Returns:
        The unit; ``None`` for ``None`` or a blank string (the file does not
        say); ``u.dimensionless_unscaled`` for a normalised spectrum.

    Raises:
        SpectrumError: when the text is not a unit.
    """
    if text is None or isinstance(text, u.UnitBase):
        return text
    return _parse_text(str(text).strip())


@lru_cache(maxsize=1024)
def _parse_text(raw: str) -> u.UnitBase | None:
    """:func:`parse_unit` of a stripped spelling, once per spelling (astropy's parser takes
    a millisecond, and a catalog's files repeat a handful of spellings)."""
    if not raw:
        return None
    key = re.sub(r"[\s*^]", "", raw).lower()
    if key in _UNIT_ALIASES:
        return _UNIT_ALIASES[key]
    if key in _DIMENSIONLESS:
        return u.dimensionless_unscaled
    spelled = re.sub(r"\bergs\b", "erg", raw)
    spelled = re.sub(r"\bmicrons?\b", "micron", spelled, flags=re.I)
    spelled = re.sub(r"(?<![A-Za-z])(A|Å|AA|Angstroms)(?![A-Za-z])", "Angstrom", spelled)
    spelled = spelled.replace("µ", "u").replace("μ", "u")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", u.UnitsWarning)  # e.g. "multiple slashes"
            return u.Unit(spelled, parse_strict="raise")
    except (ValueError, TypeError):
        raise SpectrumError(f"'{raw}' is not a unit astropy understands") from None


def parse_column_unit(path: Path | str, column: str, text, where: str) -> u.UnitBase | None:
    """A column's unit as a file (or the caller) spells it, with an error naming both.

    Args:
        path: the file, named in the error.
        column: the column, named in the error.
        text: the spelling (see :func:`parse_unit`).
        where: where the spelling came from (``'TUNIT'``, ``'ECSV'``, ``'given'``...).

    Returns:
        The unit, or ``None`` when ``text`` is blank.

    Raises:
        SpectrumError: the spelling is not a unit.
    """
    try:
        return parse_unit(text)
    except SpectrumError:
        raise SpectrumError(
            f"{path}: column '{column}': {where} unit {str(text).strip()!r} is not understood; "
            "pass wave_unit/flux_unit"
        ) from None


_DENSITIES = (
    F_LAMBDA_CGS,
    F_NU_CGS,
    u.photon / u.s / u.cm**2 / u.AA,
    u.photon / u.s / u.cm**2 / u.Hz,
)


def flux_kind(unit) -> str | None:
    """``"fnu"`` for a flux density per unit frequency, ``"flambda"`` per unit wavelength,
    else (or for None) None."""
    if unit is None:
        return None
    unit = u.Unit(unit)
    return ("fnu" if unit.is_equivalent(F_NU_CGS) else
            "flambda" if unit.is_equivalent(F_LAMBDA_CGS) else None)


def is_flux_density(unit: u.UnitBase) -> bool:
    """Whether ``unit`` is an F_lambda or F_nu unit (energy or photons), or dimensionless."""
    return unit == u.dimensionless_unscaled or any(unit.is_equivalent(d) for d in _DENSITIES)
