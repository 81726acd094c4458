"""Reading observed spectra: CSV, ECSV, whitespace text and FITS (SpeX Prism Library).

One entry point, :func:`read_spectrum`, which finds the wavelength, flux and
error columns (by name, or the first three), works out their units and returns
an :class:`~atmoscope.observed.ObservedSpectrum` holding the file's values
unchanged: cleaning is a separate, counted step
(:func:`~atmoscope.observed.clean_spectrum`).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd

from atmoscope.observed.spectrum import ObservedSpectrum, SpectrumError

__all__ = ["read_spectrum", "parse_unit"]

_FITS_SUFFIXES = (".fits", ".fit", ".fts")
_COMPRESSION = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}

#: Wavelengths that look like µm; outside this range the unit must be given.
MICRON_RANGE = (0.3, 30.0)

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


# --- units ---------------------------------------------------------------------
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
    raw = str(text).strip()
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


_DENSITIES = (
    F_LAMBDA_CGS,
    F_NU_CGS,
    u.photon / u.s / u.cm**2 / u.AA,
    u.photon / u.s / u.cm**2 / u.Hz,
)


def _is_flux_density(unit: u.UnitBase) -> bool:
    return unit == u.dimensionless_unscaled or any(unit.is_equivalent(d) for d in _DENSITIES)


# --- tables ----------------------------------------------------------------------
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


def _open_text(path: Path):
    opener = _COMPRESSION.get(path.suffix.lower(), open)
    return opener(path, "rt", encoding="utf-8", errors="replace")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return token.strip().lower() in {"", "nan", "na", "null", "none"}
    return True


def _sniff(path: Path, sep: str | None) -> tuple[bool, list[str] | None, bool]:
    """(has header line, names from the last comment line, is ECSV)."""
    comments: list[str] = []
    with _open_text(path) as handle:
        for line in handle:
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("#"):
                if "%ECSV" in stripped and not comments:
                    return False, None, True
                comments.append(stripped.lstrip("#").strip())
                continue
            tokens = stripped.split(sep) if sep else stripped.split()
            if not all(_is_number(t) for t in tokens):
                return True, None, False
            # No header line: a commented one just above the data may name the columns.
            if comments:
                last = comments[-1]
                names = [t.strip() for t in (last.split(sep) if sep else last.split())]
                if len(names) == len(tokens) and not all(_is_number(t) for t in names):
                    return False, names, False
            return False, None, False
    raise SpectrumError(f"{path}: file is empty (no data rows)")


def _read_delimited(path: Path) -> tuple[list[str], dict, dict, dict]:
    """Columns of a CSV, ECSV or whitespace-separated text file."""
    name = path.name.lower()
    for suffix in _COMPRESSION:
        name = name.removesuffix(suffix)
    sep = "," if name.endswith(".csv") else None
    has_header, names, is_ecsv = _sniff(path, sep)
    if is_ecsv or name.endswith(".ecsv"):
        return _read_ecsv(path)
    try:
        frame = pd.read_csv(
            path,
            sep=sep if sep else r"\s+",
            comment="#",
            header=0 if has_header else None,
            names=None if has_header else names,
            skip_blank_lines=True,
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        raise SpectrumError(f"{path}: file is empty (no data rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpectrumError(f"{path}: not a readable table ({first})") from None
    if names is None and not has_header:
        frame.columns = [f"col{i}" for i in range(frame.shape[1])]
    columns = [str(c).strip() for c in frame.columns]
    data = {c: frame.iloc[:, i] for i, c in enumerate(columns)}
    return columns, data, {}, {"format": "csv" if sep else "text"}


def _read_ecsv(path: Path) -> tuple[list[str], dict, dict, dict]:
    from astropy.table import Table

    try:
        with warnings.catch_warnings():
            # Style warnings ("multiple slashes"); the unit is re-read below anyway.
            warnings.simplefilter("ignore", u.UnitsWarning)
            table = Table.read(path, format="ascii.ecsv")
    except Exception as exc:  # astropy raises many types for a malformed file
        raise SpectrumError(f"{path}: not a readable ECSV file ({exc})") from None
    columns = list(table.colnames)
    data, units = {}, {}
    for name in columns:
        column = table[name]
        # Re-read the unit text: astropy takes a hand-written 'erg/s/cm2/A' as per Ampère.
        text = None if column.unit is None else column.unit.to_string()
        units[name] = _parse_file_unit(path, name, text, "ECSV")
        if hasattr(column, "filled") and column.dtype.kind == "f":
            column = column.filled(np.nan)  # masked (missing) values → NaN
        data[name] = pd.Series(np.asarray(column))
    meta = {k: v for k, v in table.meta.items() if isinstance(v, str | int | float | bool)}
    name = next((meta[k] for k in ("object", "OBJECT", "name", "target") if k in meta), None)
    return columns, data, units, {"format": "ecsv", "header": meta, "object": name}


# --- FITS ------------------------------------------------------------------------
_IMAGE_ROWS = ("wavelength", "flux", "error")


def _header_dict(header) -> dict:
    out = {}
    for key, value in header.items():
        # Skip history, comments and SpeX's '#####' banner lines (not keywords).
        if key in ("HISTORY", "COMMENT") or not re.fullmatch(r"[A-Za-z0-9_\-. ]+", key or ""):
            continue
        if isinstance(value, str | int | float | bool):
            out[key] = value
    return out


def _read_fits(path: Path) -> tuple[list[str], dict, dict, dict]:
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            # SpeX headers carry '####' banner cards that astropy warns about.
            warnings.filterwarnings("ignore", module=r"astropy\.io\.fits")
            with fits.open(path, memmap=False) as hdul:
                for index, hdu in enumerate(hdul):
                    if hdu.data is None:
                        continue
                    if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
                        return _fits_table(path, hdu, index)
                    return _fits_image(path, hdu, index)
    except SpectrumError:
        raise
    except (OSError, EOFError, ValueError) as exc:
        raise SpectrumError(f"{path}: not a readable FITS file ({exc})") from None
    raise SpectrumError(f"{path}: no HDU holds any data")


def _fits_meta(hdu, index: int) -> dict:
    header = _header_dict(hdu.header)
    name = header.get("OBJECT") or header.get("OBJNAME")
    return {
        "format": "fits",
        "hdu": index,
        "header": header,
        "object": str(name).strip() if name else None,
    }


def _fits_image(path: Path, hdu, index: int) -> tuple[list[str], dict, dict, dict]:
    data = np.asarray(hdu.data, dtype=np.float64)
    meta = _fits_meta(hdu, index)
    if data.ndim == 2 and data.shape[1] in (2, 3, 4) and data.shape[0] > data.shape[1]:
        # A few SpeX Prism Library files store (N, 3) instead of (3, N).
        data = data.T
        meta["transposed"] = True
    if data.ndim != 2 or data.shape[0] not in (2, 3, 4) or data.shape[1] <= data.shape[0]:
        several = f", {data.shape[0]} spectra (apertures or orders)" if data.ndim == 3 else ""
        raise SpectrumError(
            f"{path}: HDU {index}: image of shape {data.shape}{several} is not one spectrum "
            "(expected rows wavelength, flux[, error] of shape (2, N) or (3, N))"
        )
    columns = [
        _IMAGE_ROWS[i] if i < len(_IMAGE_ROWS) else f"row{i}" for i in range(data.shape[0])
    ]
    # Only Spextool's XUNITS/YUNITS: BUNIT or CUNIT1 would describe every value
    # of the image or its pixel axis, not one row of it.
    flux_unit = _parse_file_unit(path, "flux", hdu.header.get("YUNITS"), "YUNITS")
    units = {
        "wavelength": _parse_file_unit(path, "wavelength", hdu.header.get("XUNITS"), "XUNITS"),
        "flux": flux_unit,
        "error": flux_unit,
    }
    return columns, {c: pd.Series(row) for c, row in zip(columns, data, strict=True)}, units, meta


def _fits_table(path: Path, hdu, index: int) -> tuple[list[str], dict, dict, dict]:
    columns = [str(c) for c in hdu.columns.names]
    data, units = {}, {}
    table = hdu.data
    # One row of array-valued columns is a common layout for a single spectrum.
    vector = len(table) == 1 and any(np.ndim(table[c][0]) == 1 for c in columns)
    for column in hdu.columns:
        values = np.asarray(table[column.name][0] if vector else table[column.name])
        if values.dtype.kind in "fiu":
            values = values.astype(np.float64)  # FITS is big-endian; pandas wants native
        data[column.name] = pd.Series(values)
        units[column.name] = _parse_file_unit(path, column.name, column.unit, "TUNIT")
    return columns, data, units, _fits_meta(hdu, index)


def _parse_file_unit(path: Path, column: str, text, where: str) -> u.UnitBase | None:
    try:
        return parse_unit(text)
    except SpectrumError:
        raise SpectrumError(
            f"{path}: column '{column}': {where} unit {str(text).strip()!r} is not understood; "
            "pass wave_unit/flux_unit"
        ) from None


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
    given = _parse_file_unit(path, name, given, "given") if given is not None else None
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


def read_spectrum(
    path: str | Path,
    *,
    wave_col: str | int | None = None,
    flux_col: str | int | None = None,
    err_col: str | int | None = None,
    wave_unit: str | u.UnitBase | None = None,
    flux_unit: str | u.UnitBase | None = None,
) -> ObservedSpectrum:
    """Read an observed spectrum from a table or FITS file.

    Formats (``.gz``, ``.bz2``, ``.xz`` compression allowed):

    * CSV (``.csv``), with a header line or none;
    * ECSV (``.ecsv``, or a file starting ``# %ECSV``), units read from it;
    * whitespace-separated text (any other name), column names from a header
      line or a commented line just above the data;
    * FITS (``.fits``, ``.fit``, ``.fts``): the first HDU holding data, either a
      table (units from ``TUNITn``) or an image of shape ``(2, N)``, ``(3, N)``
      or ``(4, N)`` whose rows are wavelength, flux, noise, as in the SpeX Prism
      Library (units from ``XUNITS``/``YUNITS``; ``(N, 3)`` is transposed).

    Columns are found by name — wavelength: ``wl``, ``wave``, ``wavelength``,
    ``lambda``...; flux: ``flux``, ``F_lambda``, ``signal``...; error: ``err``,
    ``error``, ``unc``, ``uncertainty``, ``noise``, ``sigma``... — else the first
    three columns are wavelength, flux and error. Give any of them by name or
    0-based index to override.

    Units: the file's (ECSV, FITS, ``wl_um`` or ``wave (nm)`` in a name) come
    first. Otherwise the wavelength is µm when every value lies in 0.3–30,
    else ``wave_unit`` is required; the flux is erg s⁻¹ cm⁻² Å⁻¹ when its
    column is named F_lambda (``F_lambda``, ``flam``...), else
    **dimensionless** (treated as a normalised spectrum, which
    :func:`~atmoscope.observed.to_fnu` refuses) unless ``flux_unit`` says.
    Errors share the flux unit.

    Values are returned as in the file (NaN, negative flux, bad errors
    included); only a descending file is reversed. Clean with
    :func:`~atmoscope.observed.clean_spectrum`.

    Args:
        path: the file.
        wave_col, flux_col, err_col: column name or 0-based index (image rows for
            a FITS image).
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
    if not path.is_file():
        raise SpectrumError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise SpectrumError(f"{path}: file is empty")
    name = path.name.lower()
    stem = name
    for suffix in _COMPRESSION:
        stem = stem.removesuffix(suffix)
    reader = _read_fits if stem.endswith(_FITS_SUFFIXES) else _read_delimited
    columns, data, file_units, meta = reader(path)
    if len(set(columns)) != len(columns):
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        raise SpectrumError(f"{path}: duplicate column name(s) {', '.join(duplicated)}")

    chosen = _choose_columns(path, columns, wave_col, flux_col, err_col)
    names = {role: (columns[i] if i is not None else None) for role, i in chosen.items()}
    n_rows = len(data[names["wavelength"]])
    if n_rows < 2:
        raise SpectrumError(f"{path}: {n_rows} data row(s); a spectrum needs at least 2")
    values = {
        role: _numeric(path, col, data[col]) for role, col in names.items() if col is not None
    }

    wave_name, flux_name = names["wavelength"], names["flux"]
    unit_w, wave_from = _declared_unit(path, wave_name, "wavelength", file_units, wave_unit)
    wavelength = values["wavelength"]
    if unit_w is None:
        finite = wavelength[np.isfinite(wavelength) & (wavelength > 0)]
        if finite.size == 0:
            raise SpectrumError(f"{path}: column '{wave_name}' has no positive finite wavelength")
        lo, hi = float(finite.min()), float(finite.max())
        if not (MICRON_RANGE[0] <= lo and hi <= MICRON_RANGE[1]):
            raise SpectrumError(
                f"{path}: column '{wave_name}': wavelengths {lo:g}–{hi:g} do not look like µm "
                f"({MICRON_RANGE[0]:g}–{MICRON_RANGE[1]:g}); give the unit with "
                "wave_unit= (--wave-unit), e.g. 'nm' or 'Angstrom'"
            )
        unit_w, wave_from = u.um, "guessed"
    if unit_w.physical_type != "length":
        raise SpectrumError(f"{path}: column '{wave_name}': unit '{unit_w}' is not a length")

    unit_f, flux_from = _declared_unit(path, flux_name, "flux", file_units, flux_unit)
    if unit_f is None:
        if _says_f_lambda(flux_name):
            unit_f, flux_from = F_LAMBDA_CGS, "column name"
        else:
            unit_f, flux_from = u.dimensionless_unscaled, "assumed"
    if not _is_flux_density(unit_f):
        raise SpectrumError(
            f"{path}: column '{flux_name}': unit '{unit_f}' is not a flux density "
            "(F_lambda or F_nu) nor dimensionless"
        )

    error = None
    if names["error"] is not None:
        err_name = names["error"]
        unit_e = file_units.get(err_name)
        unit_e = unit_f if unit_e is None else unit_e
        if not unit_e.is_equivalent(unit_f):
            raise SpectrumError(
                f"{path}: column '{err_name}': error unit '{unit_e}' does not match "
                f"flux unit '{unit_f}'"
            )
        error = (values["error"] * unit_e).to(unit_f)

    flux = values["flux"]
    meta.update(
        source=str(path),
        columns=names,
        n_rows=n_rows,
        wave_unit_from=wave_from,
        flux_unit_from=flux_from,
    )
    meta.setdefault("object", None)
    finite = np.isfinite(wavelength)
    if finite.sum() > 1 and np.all(np.diff(wavelength[finite]) < 0):
        # A descending file (TelescopeML writes them) is the same spectrum reversed.
        wavelength, flux = wavelength[::-1], flux[::-1]
        error = None if error is None else error[::-1]
        meta["reversed"] = True
    return ObservedSpectrum(
        wavelength=wavelength * unit_w, flux=flux * unit_f, error=error, meta=meta
    )
