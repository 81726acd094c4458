"""File formats of observed spectra: a registry of readers, one per format.

A reader takes a path and returns a :class:`SpectrumTable`: the file's columns
as they are, the units the file states and what it says about itself.
Everything after that (finding the wavelength, flux and error columns, units
the file does not give, order) is common to all formats and done by
:func:`~atmoscope.observed.read_spectrum`.

Built in (each also ``.gz``, ``.bz2`` or ``.xz`` compressed):

* ``.csv``: comma-separated, with a header line or none;
* ``.ecsv`` (or any text file starting ``# %ECSV``): units read from it;
* ``.fits``, ``.fit``, ``.fts``: the first HDU holding data, a table (units
  from ``TUNITn``) or a SpeX Prism Library image of rows wavelength, flux[,
  error] (units from ``XUNITS``/``YUNITS``);
* any other name: whitespace-separated text, column names from a header line
  or a commented line just above the data.

A new format is one decorated function::

    @register_spectrum_reader(".spec")
    def read_spec(path):
        frame = ...  # parse the file
        return SpectrumTable.from_frame(frame, units={"wave": u.nm})
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

import astropy.units as u
import numpy as np
import pandas as pd

from atmoscope._registry import SuffixRegistry
from atmoscope.errors import SpectrumError, first_line
from atmoscope.observed.units import parse_column_unit

__all__ = [
    "SPECTRUM_READERS",
    "SpectrumReader",
    "SpectrumTable",
    "read_csv_table",
    "read_ecsv_table",
    "read_fits_table",
    "read_text_table",
    "register_spectrum_reader",
    "spectrum_reader_for",
]

_COMPRESSION = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
# What a damaged compressed file raises while it is read (besides OSError).
_DECOMPRESSION_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error)


class SpectrumTable(NamedTuple):
    """The columns of a spectrum file, as a reader found them.

    Attributes:
        columns: column names, in the file's order (unique; image rows of a
            FITS image are named ``wavelength``, ``flux``, ``error``).
        data: column name → values (a pandas Series or anything
            ``pd.Series`` takes), all of one length.
        units: column name → unit the file states (``None`` or absent: the
            file does not say).
        meta: what the file says about itself: ``format`` (a short name),
            ``object`` (the target's name, if given), ``header``...
    """

    columns: list[str]
    data: Mapping[str, object]
    units: Mapping[str, u.UnitBase | None] | None = None
    meta: Mapping[str, object] | None = None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, units: Mapping | None = None,
                   meta: Mapping | None = None) -> SpectrumTable:
        """A table from a DataFrame, its column names turned into strings.

        Args:
            frame: one column per quantity, one row per pixel.
            units: column name → unit the file states.
            meta: what the file says about itself (see the class).

        Returns:
            The table.
        """
        columns = [str(c).strip() for c in frame.columns]
        data = {c: frame.iloc[:, i] for i, c in enumerate(columns)}
        return cls(columns, data, dict(units or {}), dict(meta or {}))


#: A reader: the file's path → its :class:`SpectrumTable`. It raises
#: :class:`~atmoscope.errors.SpectrumError` (naming the file) for a file it cannot read.
SpectrumReader = Callable[[Path], SpectrumTable]

#: File-name suffix (lower case, with its dot) → reader. Filled by
#: :func:`register_spectrum_reader`; a name no suffix matches is read as
#: whitespace-separated text.
SPECTRUM_READERS = SuffixRegistry("spectrum reader")


def register_spectrum_reader(*suffixes: str) -> Callable[[SpectrumReader], SpectrumReader]:
    """Decorator: the function reads spectrum files ending in ``suffixes`` (``".spec"``,
    ``".fits"``; see :meth:`~atmoscope._registry.SuffixRegistry.register`). A suffix matches
    the lower-cased file name as it is or without a ``.gz``, ``.bz2`` or ``.xz`` ending; the
    longest matching suffix wins."""
    return SPECTRUM_READERS.register(*suffixes)


def _without_compression(name: str) -> str:
    for suffix in _COMPRESSION:
        name = name.removesuffix(suffix)
    return name


def spectrum_reader_for(path: str | Path) -> SpectrumReader:
    """The registered reader for a file name (see :func:`register_spectrum_reader`).

    Args:
        path: the file (only its name is looked at).

    Returns:
        The reader of the longest registered suffix that the name, or the name
        without its compression ending, ends with; else the whitespace-text reader.
    """
    name = Path(path).name.lower()
    return SPECTRUM_READERS.match([name, _without_compression(name)]) or read_text_table


# --- delimited text ----------------------------------------------------------------
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



def _read_delimited(path: Path, sep: str | None) -> SpectrumTable:
    """Columns of a text table separated by ``sep`` (None: whitespace), or of ECSV."""
    try:
        has_header, names, is_ecsv = _sniff(path, sep)
    except _DECOMPRESSION_ERRORS as exc:
        raise SpectrumError(f"{path}: not a readable table ({first_line(exc)})") from None
    if is_ecsv:
        return read_ecsv_table(path)
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
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, zipfile.BadZipFile,
            *_DECOMPRESSION_ERRORS) as exc:
        # ValueError: pandas on two members of a zip, a name given twice, ...
        raise SpectrumError(f"{path}: not a readable table ({first_line(exc)})") from None
    if names is None and not has_header:
        frame.columns = [f"col{i}" for i in range(frame.shape[1])]
    return SpectrumTable.from_frame(frame, meta={"format": "csv" if sep else "text"})



@register_spectrum_reader(".csv")
def read_csv_table(path: Path) -> SpectrumTable:
    """A comma-separated table, with a header line or none (or ECSV, if it says so)."""
    return _read_delimited(path, ",")


@register_spectrum_reader(".txt", ".dat")
def read_text_table(path: Path) -> SpectrumTable:
    """A whitespace-separated table (or ECSV, if it says so); also any unregistered name."""
    return _read_delimited(path, None)


@register_spectrum_reader(".ecsv")
def read_ecsv_table(path: Path) -> SpectrumTable:
    """An ECSV table: column units and meta data read from its header."""
    from astropy.table import Table

    try:
        _sniff(path, None)  # an ECSV file of comments alone is empty, as for other text
    except _DECOMPRESSION_ERRORS as exc:
        raise SpectrumError(f"{path}: not a readable table ({first_line(exc)})") from None
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
        units[name] = parse_column_unit(path, name, text, "ECSV")
        if hasattr(column, "filled") and column.dtype.kind == "f":
            column = column.filled(np.nan)  # masked (missing) values → NaN
        data[name] = pd.Series(np.asarray(column))
    meta = {k: v for k, v in table.meta.items() if isinstance(v, str | int | float | bool)}
    name = next((meta[k] for k in ("object", "OBJECT", "name", "target") if k in meta), None)
    return SpectrumTable(columns, data, units, {"format": "ecsv", "header": meta, "object": name})


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


@register_spectrum_reader(".fits", ".fit", ".fts")
def read_fits_table(path: Path) -> SpectrumTable:
    """The first HDU holding data: a table (units from ``TUNITn``), or an image whose
    rows are wavelength, flux[, error] as in the SpeX Prism Library (units from
    ``XUNITS``/``YUNITS``; ``(N, 3)`` is transposed)."""
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
                        return _from_table_hdu(path, hdu, index)
                    return _from_image_hdu(path, hdu, index)
    except SpectrumError:
        raise
    except (OSError, EOFError, ValueError) as exc:
        raise SpectrumError(f"{path}: not a readable FITS file ({exc})") from None
    raise SpectrumError(f"{path}: no HDU holds any data")


class _LazyHeader(Mapping):
    """A FITS header's keyword values (:func:`_header_dict`), parsed on first use:
    astropy parses each card's value when asked, and the hundreds of cards of a SpeX
    header cost more than the spectrum they describe, which a catalog never reads.
    Pickles as the plain dict."""

    def __init__(self, header) -> None:
        self._header, self._values = header, None

    def _parsed(self) -> dict:
        if self._values is None:
            with warnings.catch_warnings():  # SpeX's '####' banner cards, as when read
                warnings.filterwarnings("ignore", module=r"astropy\.io\.fits")
                self._values, self._header = _header_dict(self._header), None
        return self._values

    def __getitem__(self, key):
        return self._parsed()[key]

    def __iter__(self):
        return iter(self._parsed())

    def __len__(self) -> int:
        return len(self._parsed())

    def __repr__(self) -> str:
        return repr(self._parsed())

    def __reduce__(self):
        return dict, (self._parsed(),)


def _fits_meta(hdu, index: int) -> dict:
    name = hdu.header.get("OBJECT") or hdu.header.get("OBJNAME")
    return {
        "format": "fits",
        "hdu": index,
        "header": _LazyHeader(hdu.header),
        "object": str(name).strip() if name else None,
    }


def _from_image_hdu(path: Path, hdu, index: int) -> SpectrumTable:
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
    flux_unit = parse_column_unit(path, "flux", hdu.header.get("YUNITS"), "YUNITS")
    units = {
        "wavelength": parse_column_unit(path, "wavelength", hdu.header.get("XUNITS"), "XUNITS"),
        "flux": flux_unit,
        "error": flux_unit,
    }
    data = {c: pd.Series(row) for c, row in zip(columns, data, strict=True)}
    return SpectrumTable(columns, data, units, meta)


def _from_table_hdu(path: Path, hdu, index: int) -> SpectrumTable:
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
        units[column.name] = parse_column_unit(path, column.name, column.unit, "TUNIT")
    return SpectrumTable(columns, data, units, _fits_meta(hdu, index))
