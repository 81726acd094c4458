"""Reading an observed spectrum from any registered file format.

One entry point, :func:`read_spectrum`: the file's format reader
(:mod:`atmoscope.observed.formats`) gives its columns, then the wavelength,
flux and error columns are found (by name, or the first three) and their
units worked out. The spectrum holds the file's values unchanged: cleaning
is a separate, counted step (:func:`~atmoscope.observed.clean_spectrum`).

Also the names of spectrum files: patterns expanded (:func:`spectrum_files`), a file's
stem and the object a spectrum names (what catalogs call their rows).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd

from atmoscope.errors import ConfigError, SpectrumError
from atmoscope.observed.formats import SpectrumTable, spectrum_reader_for
from atmoscope.observed.spectrum import ObservedSpectrum
from atmoscope.observed.units import (
    F_LAMBDA_CGS,
    is_flux_density,
    parse_column_unit,
    parse_unit,
)

__all__ = ["MICRON_RANGE", "file_stem", "object_name", "read_spectrum", "spectrum_files"]

#: Wavelengths that look like µm; outside this range the unit must be given.
MICRON_RANGE = (0.3, 30.0)

# Words in column names, checked in this order (an error column's name often
# contains the flux's name too: F_lambda_err).
_ERROR_WORDS = {
    "err", "error", "errors", "unc", "uncertainty", "uncertainties", "noise", "sigma",
    "sig", "e", "std", "stddev", "fluxerr", "fluxerror", "eflux", "errflux", "dflux",
    "fluxunc", "flamerr", "fnuerr",
}
_FLUX_WORDS = {
    "flux", "f", "flam", "flambda", "fnu", "fl", "signal", "spec", "spectrum",
    "intensity", "fluxdensity", "flx",
}
_WAVE_WORDS = {
    "wl", "wave", "wavelength", "wavelengths", "lambda", "lam", "wav", "wavelen", "wvl",
    "w", "lambd",
}
_WAVE_UNIT_WORDS = {
    "um": u.um, "micron": u.um, "microns": u.um, "mum": u.um, "nm": u.nm,
    "a": u.AA, "aa": u.AA, "angstrom": u.AA, "angstroms": u.AA,
}
_FLUX_UNIT_WORDS = {"jy": u.Jy, "mjy": u.mJy, "ujy": u.uJy}


# --- column names ---------------------------------------------------------------
def _words(name: str) -> list[str]:
    return re.findall(r"[a-zμµå]+|\d+", str(name).lower())


def _compact(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _role_of(name: str) -> str | None:
    words = set(_words(name))
    compact = _compact(name)
    if words & _ERROR_WORDS or compact in _ERROR_WORDS or compact.endswith("err"):
        return "error"
    if words & _FLUX_WORDS or compact in _FLUX_WORDS:
        return "flux"
    if words & _WAVE_WORDS or compact in _WAVE_WORDS:
        return "wavelength"
    return None


def _says_f_lambda(name: str) -> bool:
    words = _words(name)
    pairs = {" ".join(words[i : i + 2]) for i in range(len(words) - 1)}
    return "f lambda" in pairs or bool({"flam", "flambda"} & set(words))


def _unit_in_name(name: str, role: str) -> u.UnitBase | None:
    """A unit written in a column name: ``wave (nm)``, ``flux [Jy]``, ``wl_um``."""
    bracket = re.search(r"[\(\[]([^\)\]]+)[\)\]]", str(name))
    if bracket:
        try:
            return parse_unit(bracket.group(1))
        except SpectrumError:
            return None
    words = _words(name)[1:]  # the first word is the quantity itself ("a" in "a_flux"...)
    table = _WAVE_UNIT_WORDS if role == "wavelength" else _FLUX_UNIT_WORDS
    for word in words:
        if word in table:
            return table[word]
    return None



# --- columns and units -----------------------------------------------------------
def _resolve(path: Path, columns: list[str], wanted, role: str) -> int:
    if isinstance(wanted, int | np.integer) and not isinstance(wanted, bool):
        if not -len(columns) <= wanted < len(columns):
            raise SpectrumError(
                f"{path}: {role} column index {wanted} is out of range "
                f"(the file has {len(columns)} columns: {', '.join(columns)})"
            )
        return int(wanted) % len(columns)
    if str(wanted) in columns:
        return columns.index(str(wanted))
    raise SpectrumError(
        f"{path}: no {role} column '{wanted}'; available columns: {', '.join(columns)}"
    )


def _choose_columns(path: Path, columns: list[str], wave_col, flux_col, err_col) -> dict:
    chosen: dict[str, int | None] = {}
    for role, wanted in (("wavelength", wave_col), ("flux", flux_col), ("error", err_col)):
        if wanted is not None:
            chosen[role] = _resolve(path, columns, wanted, role)
    guessed = False
    for i, name in enumerate(columns):
        role = _role_of(name)
        if role and role not in chosen and i not in chosen.values():
            chosen[role] = i
            guessed = True
    if "wavelength" not in chosen or "flux" not in chosen:
        # Unrecognised names: the first columns, in the order wavelength, flux, error.
        free = [i for i in range(min(3, len(columns))) if i not in chosen.values()]
        roles = ["wavelength", "flux"] + ([] if guessed or "error" in chosen else ["error"])
        for role in roles:
            if role not in chosen and free:
                chosen[role] = free.pop(0)
    if "wavelength" not in chosen or "flux" not in chosen:
        raise SpectrumError(
            f"{path}: needs a wavelength and a flux column; found only: {', '.join(columns)}"
        )
    chosen.setdefault("error", None)
    return chosen


def _numeric(path: Path, name: str, series: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    text = series.astype("string").str.strip()
    values = pd.to_numeric(text, errors="coerce")
    blank = text.isna() | text.str.lower().isin(["", "nan", "na", "null", "none"])
    bad = np.flatnonzero(values.isna().to_numpy() & ~blank.fillna(True).to_numpy())
    if bad.size:
        row = int(bad[0])
        raise SpectrumError(
            f"{path}: column '{name}', row {row + 1}: non-numeric value {series.iloc[row]!r}"
        )
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _settle_unit(path, name, role, from_file, given) -> u.UnitBase | None:
    """The file's unit, the caller's, or None; a clash between them is an error."""
    given = parse_column_unit(path, name, given, "given") if given is not None else None
    if from_file is not None and given is not None and from_file != given:
        raise SpectrumError(
            f"{path}: column '{name}': the file gives unit '{from_file}', "
            f"not the {role} unit '{given}' passed"
        )
    return from_file if from_file is not None else given


def _declared_unit(path, name, role, file_units, given) -> tuple[u.UnitBase | None, str]:
    """A column's unit from the file, else its name, else the caller; and where it came from."""
    from_file, source = file_units.get(name), "file"
    if from_file is None:
        from_file, source = _unit_in_name(name, role), "column name"
    unit = _settle_unit(path, name, role, from_file, given)
    return unit, (source if from_file is not None else "argument")


# --- reading -------------------------------------------------------------------------
def _as_series(path: Path, name: str, values) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    try:
        return pd.Series(np.asarray(values))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: column '{name}' from the reader is not 1-D ({exc})") from None


def _load_table(path: Path) -> SpectrumTable:
    """The file's columns from its format's reader; units as astropy units, names unique."""
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "no such file"
        raise SpectrumError(f"{path}: {what}")
    if path.stat().st_size == 0:
        raise SpectrumError(f"{path}: file is empty")
    reader = spectrum_reader_for(path)
    table = reader(path)
    if isinstance(table, pd.DataFrame):
        table = SpectrumTable.from_frame(table)
    if not isinstance(table, SpectrumTable):
        raise ConfigError(
            f"{path}: reader {getattr(reader, '__name__', reader)!r} returned "
            f"{type(table).__name__}, not a SpectrumTable"
        )
    columns = list(table.columns)
    if len(set(columns)) != len(columns):
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        raise SpectrumError(f"{path}: duplicate column name(s) {', '.join(duplicated)}")
    missing = [c for c in columns if c not in table.data]
    if missing:
        raise ConfigError(f"{path}: the reader lists column(s) {missing} but gives no values")
    data = {c: _as_series(path, c, table.data[c]) for c in columns}
    # A custom reader may spell units as text; built-in ones give astropy units already.
    units = {c: parse_column_unit(path, c, t, "file") for c, t in (table.units or {}).items()}
    return SpectrumTable(columns, data, units, dict(table.meta or {}))


def _wavelength_unit(path, name, wavelength, file_units, given) -> tuple[u.UnitBase, str]:
    """The wavelength unit and where it came from; µm when nothing says and the values fit."""
    unit, source = _declared_unit(path, name, "wavelength", file_units, given)
    if unit is None:
        finite = wavelength[np.isfinite(wavelength) & (wavelength > 0)]
        if finite.size == 0:
            raise SpectrumError(f"{path}: column '{name}' has no positive finite wavelength")
        lo, hi = float(finite.min()), float(finite.max())
        if not (MICRON_RANGE[0] <= lo and hi <= MICRON_RANGE[1]):
            raise SpectrumError(
                f"{path}: column '{name}': wavelengths {lo:g}–{hi:g} do not look like µm "
                f"({MICRON_RANGE[0]:g}–{MICRON_RANGE[1]:g}); give the unit with "
                "wave_unit= (--wave-unit), e.g. 'nm' or 'Angstrom'"
            )
        unit, source = u.um, "guessed"
    if unit.physical_type != "length":
        raise SpectrumError(f"{path}: column '{name}': unit '{unit}' is not a length")
    return unit, source


def _flux_unit(path, name, file_units, given) -> tuple[u.UnitBase, str]:
    """The flux unit and where it came from; F_lambda by column name, else dimensionless."""
    unit, source = _declared_unit(path, name, "flux", file_units, given)
    if unit is None:
        if _says_f_lambda(name):
            unit, source = F_LAMBDA_CGS, "column name"
        else:
            unit, source = u.dimensionless_unscaled, "assumed"
    if not is_flux_density(unit):
        raise SpectrumError(
            f"{path}: column '{name}': unit '{unit}' is not a flux density "
            "(F_lambda or F_nu) nor dimensionless"
        )
    return unit, source


def _error_quantity(path, name, values, file_units, flux_unit) -> u.Quantity | None:
    """The errors in the flux unit (they share it unless the file says otherwise)."""
    if name is None:
        return None
    unit = file_units.get(name)
    unit = flux_unit if unit is None else unit
    if not unit.is_equivalent(flux_unit):
        raise SpectrumError(
            f"{path}: column '{name}': error unit '{unit}' does not match "
            f"flux unit '{flux_unit}'"
        )
    return (values * unit).to(flux_unit)


def _ascending(wavelength, flux, error, meta: dict):
    """The arrays in ascending wavelength order: a descending file is reversed."""
    finite = np.isfinite(wavelength)
    if finite.sum() > 1 and np.all(np.diff(wavelength[finite]) < 0):
        # A descending file (TelescopeML writes them) is the same spectrum reversed.
        wavelength, flux = wavelength[::-1], flux[::-1]
        error = None if error is None else error[::-1]
        meta["reversed"] = True
    return wavelength, flux, error


def read_spectrum(
    path: str | Path,
    *,
    wave_col: str | int | None = None,
    flux_col: str | int | None = None,
    err_col: str | int | None = None,
    wave_unit: str | u.UnitBase | None = None,
    flux_unit: str | u.UnitBase | None = None,
) -> ObservedSpectrum:
    """Read an observed spectrum with the reader its file name calls for.

    Formats: :mod:`atmoscope.observed.formats` (CSV, ECSV, FITS, text; more can
    be registered). Columns are found by name (``wl``, ``wave``...; ``flux``,
    ``F_lambda``...; ``err``, ``unc``, ``sigma``...), else the first three are
    wavelength, flux, error. Units: the file's (ECSV, FITS, ``wl_um`` or
    ``wave (nm)`` in a name) first; else µm when every wavelength lies in
    0.3–30 (else ``wave_unit`` is required), erg s⁻¹ cm⁻² Å⁻¹ for a column
    named F_lambda, else **dimensionless** flux (normalised; ``to_fnu``
    refuses it) unless ``flux_unit`` says. Errors share the flux unit. Values
    are kept as in the file; only a descending file is reversed.

    Args:
        path: the file.
        wave_col, flux_col, err_col: column name or 0-based index (image rows for
            a FITS image), overriding the guess.
        wave_unit, flux_unit: units of the values when the file does not give
            them (astropy spelling, or e.g. ``'Micron'``, ``'ergs s-1 cm-2 A-1'``).

    Returns:
        The spectrum; ``meta`` holds ``source``, ``format``, ``object`` (or
        ``None``), ``columns`` (role → column name), ``n_rows``,
        ``wave_unit_from`` / ``flux_unit_from`` (``'file'``, ``'argument'``,
        ``'guessed'``, ``'column name'``, ``'assumed'``) and, for FITS, ``header``.

    Raises:
        SpectrumError: missing or unreadable file, unknown column (the available
            ones listed), non-numeric values, fewer than 2 rows, unknown or
            clashing units, wavelengths whose unit cannot be guessed.
    """
    path = Path(path)
    table = _load_table(path)
    chosen = _choose_columns(path, table.columns, wave_col, flux_col, err_col)
    names = {role: (table.columns[i] if i is not None else None) for role, i in chosen.items()}
    n_rows = len(table.data[names["wavelength"]])
    if n_rows < 2:
        raise SpectrumError(f"{path}: {n_rows} data row(s); a spectrum needs at least 2")
    values = {role: _numeric(path, col, table.data[col])
              for role, col in names.items() if col is not None}
    unit_w, wave_from = _wavelength_unit(
        path, names["wavelength"], values["wavelength"], table.units, wave_unit
    )
    unit_f, flux_from = _flux_unit(path, names["flux"], table.units, flux_unit)
    error = _error_quantity(path, names["error"], values.get("error"), table.units, unit_f)
    meta = table.meta
    meta.update(source=str(path), columns=names, n_rows=n_rows, wave_unit_from=wave_from,
                flux_unit_from=flux_from)
    meta.setdefault("object", None)
    wavelength, flux, error = _ascending(values["wavelength"], values["flux"], error, meta)
    return ObservedSpectrum(
        wavelength=wavelength * unit_w, flux=flux * unit_f, error=error, meta=meta
    )


# --- names of spectrum files -----------------------------------------------------------
def object_name(spectrum: ObservedSpectrum) -> str | None:
    """The object a spectrum's file names (FITS ``OBJECT``, ECSV ``object``), if any."""
    name = spectrum.meta.get("object")
    return str(name).strip() or None if name else None


def file_stem(path: str | Path) -> str:
    """A file's name without its format and compression suffixes (``x.fits.gz`` → ``x``)."""
    name = Path(path).name
    for suffix in (".gz", ".bz2", ".xz", ".zip"):
        name = name.removesuffix(suffix)
    return Path(name).stem


def spectrum_files(patterns: Sequence[str | Path]) -> list[Path]:
    """Expand files and glob patterns, keeping the given order, without repeats."""
    import glob

    seen, out = set(), []
    for pattern in map(str, patterns):
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise SpectrumError(f"no file matches {pattern!r}")
        for m in matches:
            if m not in seen:
                seen.add(m)
                out.append(Path(m))
    return out
