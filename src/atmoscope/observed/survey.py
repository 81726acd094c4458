"""Survey files: many spectra in one file, read in chunks of bounded memory.

A survey file holds one spectrum per row. :func:`read_survey` reads it in chunks of
``chunk_size`` rows (a :class:`SpectrumBatch` each: 2-D flux, error and mask arrays, one
row per spectrum), so a file of millions of spectra never has to fit in memory;
:func:`read_survey_rows` reads one slice, for workers that each take their own.
:func:`write_survey` and :class:`SurveyWriter` write them.

Layout, Parquet (``.parquet``, ``.pq``; the format for large files)::

    id          string         the object's name (optional: the row number otherwise)
    flux        list<double>   one array per row
    error       list<double>   1-sigma errors, optional
    wavelength  list<double>   optional: per-row wavelengths
    <truth>     double         optional known parameters (temperature, gravity, ...)

    key-value metadata "atmoscope_survey" (JSON):
        {"format_version": 1,
         "wavelength": [...],           # shared wavelengths, when there is no column
         "wavelength_unit": "um",       # absent: µm if the values lie in 0.3–30
         "flux_unit": "erg / (s cm2 Hz)",  # absent: dimensionless (errors share it)
         "truths": ["gravity", ...],    # absent: every scalar numeric column
         "meta": {...}}                 # free-form (the writer's ``meta``)

Column names are matched case-insensitively. The writer stores one row group per chunk,
zstd-compressed with the byte-stream-split encoding of the floats (about 28 % smaller
than plain for noisy spectra, and read as fast).

Layout, FITS (``.fits``, ``.fit``, ``.fts``, optionally ``.gz``)::

    HDU "SPECTRA"     binary table, one row per spectrum:
                      ID (string), FLUX, ERROR (optional), WAVELENGTH (optional):
                      fixed-length double arrays, units in TUNITn; truth columns: scalars.
                      Header cards TRUTHS (comma-separated truth column names; absent:
                      every scalar numeric column) and ATMOMETA (the ``meta`` as JSON).
    HDU "WAVELENGTH"  image (1-D, unit in BUNIT): the shared wavelengths, when the table
                      has no WAVELENGTH column.

An uncompressed FITS file is memory-mapped, so a chunk reads only its rows; a ``.gz``
one is decompressed whole. FITS files are written in memory (all chunks held until
:meth:`SurveyWriter.close`): use Parquet for large surveys.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd

from atmoscope._atomic import atomic_path
from atmoscope.errors import ConfigError, SpectrumError, first_line
from atmoscope.observed.readers import _flux_unit, _wavelength_unit
from atmoscope.observed.spectrum import ObservedSpectrum
from atmoscope.observed.units import parse_column_unit, parse_unit

__all__ = [
    "METADATA_KEY",
    "ROW_META_KEYS",
    "SpectrumBatch",
    "SurveyWriter",
    "is_survey_file",
    "read_survey",
    "read_survey_rows",
    "survey_length",
    "write_survey",
]

#: Key of the Parquet key-value metadata that holds a survey's wavelengths, units and truths.
METADATA_KEY = "atmoscope_survey"
#: Keys of :attr:`SpectrumBatch.meta` that hold one value per row (an array, a list, or a
#: dict of arrays); :meth:`SpectrumBatch.spectrum` gives row ``i`` its own value of each.
ROW_META_KEYS = ("cleaning", "negative_flux", "uncovered", "gap_masked", "resampled_from",
                 "errors")
# Batch-level meta that each row's spectrum carries too (as read_spectrum's meta has it).
_SPECTRUM_META = ("format", "columns", "wave_unit_from", "flux_unit_from", "reversed")

_PARQUET = (".parquet", ".pq")
_FITS = (".fits", ".fit", ".fts")
_FORMAT_VERSION = 1
# The survey's own columns (matched case-insensitively); a truth column cannot take a name.
_RESERVED = {"id", "flux", "error", "wavelength"}
# Parquet list offsets are int32: one list array holds fewer values than this.
_MAX_LIST_VALUES = 2**31 - 1


def _format_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_PARQUET):
        return "parquet"
    if name.removesuffix(".gz").endswith(_FITS):
        return "fits"
    return None


def _float_array(value, what: str, source: str) -> u.Quantity:
    try:
        return u.Quantity(value, dtype=np.float64, copy=None)
    except (TypeError, ValueError) as exc:
        raise SpectrumError(f"{source or 'batch'}: {what} must be numbers ({exc})") from None


def _bool_array(value, shape: tuple[int, int], what: str, source: str) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=bool)
    if array.shape != shape:
        raise SpectrumError(f"{source or 'batch'}: {what} of shape {array.shape}, "
                            f"expected {shape}")
    return array


# --- the batch ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SpectrumBatch:
    """Many spectra on arrays of one length: a chunk of a survey file.

    Args:
        ids: one name per row (the file's ``id`` column, or the row number).
        rows: the rows' numbers in the file (0-based), int64.
        wavelength: wavelengths with a length unit: shape ``(L,)`` shared by every row, or
            ``(n, L)`` one row each.
        flux: flux densities, shape ``(n, L)``, a Quantity (a plain array is
            dimensionless).
        error: 1-sigma errors in the unit of ``flux``, shape ``(n, L)``, or ``None``.
        mask: ``True`` for a usable pixel, shape ``(n, L)``; ``None``: every pixel with a
            finite wavelength and flux (as :class:`ObservedSpectrum` has it).
        source: the file.
        truths: known parameters, one row per spectrum (``None``: the file has none).
        meta: batch-level information (``format``, ``columns``, ``wave_unit_from``,
            ``flux_unit_from``, ``survey``: the file's own ``meta``) and, under
            :data:`ROW_META_KEYS`, what cleaning and resampling recorded per row.
        dropped: pixels that :func:`~atmoscope.observed.clean_batch` dropped (where
            :func:`~atmoscope.observed.clean_spectrum` removes them from a single
            spectrum), shape ``(n, L)``, or ``None``: :meth:`spectrum` leaves them out and
            resampling ignores them.

    The arrays are not copied (a chunk of a big file is big): treat them as read-only.
    """

    ids: list[str]
    rows: np.ndarray
    wavelength: u.Quantity
    flux: u.Quantity
    error: u.Quantity | None = None
    mask: np.ndarray | None = None
    source: str = ""
    truths: pd.DataFrame | None = None
    meta: dict = field(default_factory=dict)
    dropped: np.ndarray | None = None

    def __post_init__(self) -> None:
        source = str(self.source or "")
        ids = [str(i) for i in self.ids]
        n = len(ids)
        rows = np.asarray(self.rows, dtype=np.int64)
        if rows.shape != (n,):
            raise SpectrumError(f"{source or 'batch'}: {rows.size} row numbers for {n} ids")
        wavelength = _float_array(self.wavelength, "wavelength", source)
        if wavelength.unit.physical_type != "length":
            raise SpectrumError(f"{source or 'batch'}: wavelength unit '{wavelength.unit}' "
                                "is not a length")
        flux = _float_array(self.flux, "flux", source)
        if flux.ndim != 2 or flux.shape[0] != n:
            raise SpectrumError(f"{source or 'batch'}: flux of shape {flux.shape} for {n} rows")
        if wavelength.shape not in ((flux.shape[1],), flux.shape):
            raise SpectrumError(f"{source or 'batch'}: wavelength of shape {wavelength.shape} "
                                f"for flux of shape {flux.shape}")
        error = None
        if self.error is not None:
            error = _float_array(self.error, "error", source)
            if error.shape != flux.shape:
                raise SpectrumError(f"{source or 'batch'}: error of shape {error.shape} for "
                                    f"flux of shape {flux.shape}")
            if error.unit != flux.unit:
                try:
                    error = error.to(flux.unit)
                except u.UnitConversionError:
                    raise SpectrumError(f"{source or 'batch'}: error unit '{error.unit}' does "
                                        f"not match flux unit '{flux.unit}'") from None
        truths = self.truths
        if truths is not None:
            truths = pd.DataFrame(truths).reset_index(drop=True)
            if len(truths) != n:
                raise SpectrumError(f"{source or 'batch'}: {len(truths)} truth rows for {n} "
                                    "spectra")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "wavelength", wavelength)
        object.__setattr__(self, "flux", flux)
        object.__setattr__(self, "error", error)
        object.__setattr__(self, "mask", _bool_array(self.mask, flux.shape, "mask", source))
        object.__setattr__(self, "dropped",
                           _bool_array(self.dropped, flux.shape, "dropped", source))
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "truths", truths)
        object.__setattr__(self, "meta", dict(self.meta))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_pixels(self) -> int:
        """Pixels per row (``L``), present or dropped."""
        return int(self.flux.shape[1])

    @property
    def shared_wavelength(self) -> bool:
        """Whether every row has the same wavelengths (``wavelength`` of shape ``(L,)``)."""
        return self.wavelength.ndim == 1

    def row_source(self, i: int) -> str:
        """Row ``i``'s name in messages and reports: ``"<file>#<id>"``."""
        return f"{self.source}#{self.ids[i]}"

    @cached_property
    def _truth_rows(self) -> list[dict]:
        """Each row's truths as plain Python values (pandas row by row is slow)."""
        return [{k: _plain(v) for k, v in row.items()}
                for row in self.truths.to_dict("records")]

    def _row_meta(self, i: int, present) -> dict:
        meta = {key: self.meta[key] for key in _SPECTRUM_META if key in self.meta}
        meta.update(source=self.row_source(i), object=self.ids[i], row=int(self.rows[i]))
        if self.truths is not None:
            meta["truths"] = dict(self._truth_rows[i])
        for key in ROW_META_KEYS:
            if key not in self.meta or self.meta[key] is None:
                continue
            value = self.meta[key]
            if isinstance(value, Mapping):  # a dict of per-row arrays (cleaning counts)
                meta[key] = {k: _plain(v[i]) if isinstance(v, np.ndarray | list) else v
                             for k, v in value.items()}
            elif isinstance(value, np.ndarray) and value.ndim == 2:  # per pixel
                meta[key] = value[i] if present is None else value[i][present]
            else:
                meta[key] = _plain(value[i])
        return meta

    def spectrum(self, i: int) -> ObservedSpectrum:
        """Row ``i`` as one :class:`ObservedSpectrum` (its dropped pixels left out).

        Its ``meta`` holds ``source`` (``"<file>#<id>"``), ``object`` (the id), ``row``,
        ``truths`` (a dict, if any), the batch's ``format``, ``columns`` and unit sources,
        and row ``i``'s value of each :data:`ROW_META_KEYS` entry present.

        Raises:
            IndexError: ``i`` out of range.
        """
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"row {i} of a batch of {n}")
        i = i % n
        present = None if self.dropped is None else ~self.dropped[i]
        keep = slice(None) if present is None else present
        wave = self.wavelength if self.shared_wavelength else self.wavelength[i]
        return ObservedSpectrum._from_checked(
            wave[keep], self.flux[i][keep], None if self.error is None else self.error[i][keep],
            None if self.mask is None else self.mask[i][keep], self._row_meta(i, present))

    def __repr__(self) -> str:
        rows = (f"rows {self.rows[0]}–{self.rows[-1]}" if len(self) else "no rows")
        return (f"SpectrumBatch({self.source!r}, {len(self)} spectra × {self.n_pixels} pixels, "
                f"{rows}, {'shared' if self.shared_wavelength else 'per-row'} wavelengths)")


def _plain(value):
    """A numpy scalar as a Python one (JSON-ready meta)."""
    return value.item() if isinstance(value, np.generic) else value


# --- the file's layout --------------------------------------------------------------------
@dataclass
class _Layout:
    """What a survey file holds, read from its footer or headers (no data)."""

    path: Path
    format: str
    n_rows: int
    flux: str
    id: str | None = None
    error: str | None = None
    wave_column: str | None = None
    wavelength: np.ndarray | None = None  # shared, as stored
    truths: list[str] = field(default_factory=list)
    units: dict = field(default_factory=dict)  # column → unit the file states
    meta: dict = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [c for c in (self.id, self.flux, self.error, self.wave_column) if c] + self.truths


def _check_file(path: Path) -> str:
    kind = _format_of(path)
    if kind is None:
        raise SpectrumError(f"{path}: not a survey file name (.parquet, .pq, .fits, .fit, "
                            ".fts, or .fits.gz)")
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "no such file"
        raise SpectrumError(f"{path}: {what}")
    if path.stat().st_size == 0:
        raise SpectrumError(f"{path}: file is empty")
    return kind


def _by_lower(names: Sequence[str]) -> dict[str, str]:
    return {str(n).lower(): str(n) for n in names}


def _shared_wavelength(path: Path, values, where: str) -> np.ndarray:
    try:
        wavelength = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise SpectrumError(f"{path}: {where}: wavelengths must be numbers") from None
    if wavelength.ndim != 1 or wavelength.size < 2:
        raise SpectrumError(f"{path}: {where}: wavelengths must be a list of at least 2 "
                            f"numbers, got shape {wavelength.shape}")
    return wavelength


def _parquet_layout(path: Path, pf) -> _Layout:
    schema = pf.schema_arrow
    raw = (schema.metadata or {}).get(METADATA_KEY.encode())
    try:
        meta = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise SpectrumError(f"{path}: metadata '{METADATA_KEY}' is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise SpectrumError(f"{path}: metadata '{METADATA_KEY}' is not a JSON object")
    names = _by_lower(schema.names)
    if "flux" not in names:
        raise SpectrumError(f"{path}: no 'flux' column; columns: {', '.join(schema.names)}")
    layout = _Layout(path, "parquet", pf.metadata.num_rows, flux=names["flux"],
                     id=names.get("id"), error=names.get("error"),
                     wave_column=names.get("wavelength"), meta=meta)
    for name in (layout.flux, layout.error, layout.wave_column):
        if name is not None:
            _check_list_type(path, name, schema.field(name).type)
    if layout.wave_column is None:
        if "wavelength" not in meta:
            raise SpectrumError(f"{path}: no wavelengths: neither a 'wavelength' column nor "
                                f"'wavelength' in the '{METADATA_KEY}' metadata")
        layout.wavelength = _shared_wavelength(path, meta["wavelength"],
                                               f"metadata '{METADATA_KEY}'")
    wave_name = layout.wave_column or "wavelength"
    for role, name in (("wavelength", wave_name), ("flux", layout.flux),
                       ("error", layout.error)):
        text = meta.get(f"{role}_unit")
        if name is not None and text is not None:
            layout.units[name] = parse_column_unit(path, name, text, "metadata")
    reserved = {c for c in (layout.id, layout.flux, layout.error, layout.wave_column) if c}
    if "truths" in meta:
        truths = meta["truths"]
        if not isinstance(truths, list):
            raise SpectrumError(f"{path}: metadata 'truths' must be a list of column names")
        missing = [t for t in truths if str(t) not in schema.names]
        if missing:
            raise SpectrumError(f"{path}: truth column(s) {missing} named in the metadata are "
                                "missing")
        layout.truths = [str(t) for t in truths]
    else:
        layout.truths = [n for n in schema.names if n not in reserved
                         and _numeric_scalar(schema.field(n).type)]
    for name in layout.truths:
        if not _numeric_scalar(schema.field(name).type):
            raise SpectrumError(f"{path}: truth column '{name}' holds "
                                f"{schema.field(name).type}, not numbers")
    return layout


def _numeric_scalar(arrow_type) -> bool:
    import pyarrow as pa

    return pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type)


def _check_list_type(path: Path, name: str, arrow_type) -> None:
    import pyarrow as pa

    if not (pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)
            or pa.types.is_fixed_size_list(arrow_type)):
        raise SpectrumError(f"{path}: column '{name}' holds {arrow_type}, not one array of "
                            "numbers per row")
    if not _numeric_scalar(arrow_type.value_type):
        raise SpectrumError(f"{path}: column '{name}' holds arrays of {arrow_type.value_type}, "
                            "not numbers")


@contextmanager
def _quiet_fits() -> Iterator[None]:
    """Read FITS headers without astropy's warnings about odd cards (SpeX's banner lines);
    a block, never held across a ``yield`` to the caller."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"astropy\.io\.fits")
        yield


def _fits_open(path: Path):
    from astropy.io import fits

    try:
        # memory-mapped: a chunk reads only its rows (a .gz file cannot be mapped)
        return fits.open(path, memmap=not path.name.lower().endswith(".gz"),
                         lazy_load_hdus=True)
    except (OSError, EOFError, ValueError) as exc:
        raise SpectrumError(f"{path}: not a readable FITS file ({first_line(exc)})") from None


def _fits_hdu(hdul, name: str):
    for hdu in hdul:
        if str(hdu.header.get("EXTNAME", "")).strip().upper() == name:
            return hdu
    return None


def _fits_array_columns(hdu) -> dict[str, object]:
    return {c.name.lower(): c for c in hdu.columns}


def _fits_repeat(column) -> tuple[str, int]:
    """The column's type letter and values per row (``P``/``Q``: variable length)."""
    fmt = column.format
    return fmt.format if hasattr(fmt, "format") else str(fmt)[-1], int(getattr(fmt, "repeat", 1))


def _fits_layout(path: Path, hdul) -> _Layout:
    from astropy.io import fits

    hdu = _fits_hdu(hdul, "SPECTRA")
    if not isinstance(hdu, fits.BinTableHDU):
        raise SpectrumError(f"{path}: no binary table HDU 'SPECTRA' (a survey FITS file holds "
                            "its spectra there, one row each)")
    columns = _fits_array_columns(hdu)
    if "flux" not in columns:
        raise SpectrumError(f"{path}: HDU 'SPECTRA' has no 'FLUX' column; columns: "
                            f"{', '.join(c.name for c in hdu.columns)}")
    header = hdu.header
    try:
        meta = json.loads(header.get("ATMOMETA", "{}"))
    except ValueError as exc:
        raise SpectrumError(f"{path}: header card ATMOMETA is not JSON ({exc})") from None
    layout = _Layout(path, "fits", int(header.get("NAXIS2", 0)), flux=columns["flux"].name,
                     id=columns["id"].name if "id" in columns else None,
                     error=columns["error"].name if "error" in columns else None,
                     wave_column=columns["wavelength"].name if "wavelength" in columns else None,
                     meta={"meta": meta} if meta else {})
    length = None
    for name in (layout.flux, layout.error, layout.wave_column):
        if name is None:
            continue
        letter, repeat = _fits_repeat(hdu.columns[name])
        if letter in "PQ":
            raise SpectrumError(f"{path}: column '{name}' holds variable-length arrays; "
                                "a survey needs fixed-length ones")
        if letter not in "BIJKED":
            raise SpectrumError(f"{path}: column '{name}' (TFORM {hdu.columns[name].format}) "
                                "does not hold numbers")
        if length is not None and repeat != length:
            raise SpectrumError(f"{path}: column '{name}' holds {repeat} values per row, "
                                f"'{layout.flux}' {length}")
        length = repeat
        if hdu.columns[name].unit:
            layout.units[name] = parse_column_unit(path, name, hdu.columns[name].unit, "TUNIT")
    if layout.wave_column is None:
        wave_hdu = _fits_hdu(hdul, "WAVELENGTH")
        if wave_hdu is None or wave_hdu.data is None:
            raise SpectrumError(f"{path}: no wavelengths: neither a 'WAVELENGTH' column in "
                                "'SPECTRA' nor a 'WAVELENGTH' HDU")
        if isinstance(wave_hdu, fits.BinTableHDU | fits.TableHDU):
            values, unit = wave_hdu.data.field(0), wave_hdu.columns[0].unit
        else:
            values, unit = wave_hdu.data, wave_hdu.header.get("BUNIT")
        layout.wavelength = _shared_wavelength(path, np.ravel(values), "HDU 'WAVELENGTH'")
        if layout.wavelength.size != length:
            raise SpectrumError(f"{path}: HDU 'WAVELENGTH' holds {layout.wavelength.size} "
                                f"wavelengths, column '{layout.flux}' {length} values per row")
        if unit:
            layout.units["WAVELENGTH"] = parse_column_unit(path, "WAVELENGTH", unit, "BUNIT")
    reserved = {c.lower() for c in (layout.id, layout.flux, layout.error, layout.wave_column)
                if c}
    scalar = [c.name for c in hdu.columns if c.name.lower() not in reserved
              and _fits_repeat(c)[0] in "BIJKED" and _fits_repeat(c)[1] == 1]
    if "TRUTHS" in header:
        named = [t.strip() for t in str(header["TRUTHS"]).split(",") if t.strip()]
        by_lower = _by_lower(scalar)
        missing = [t for t in named if t.lower() not in by_lower]
        if missing:
            raise SpectrumError(f"{path}: truth column(s) {missing} named in TRUTHS are "
                                "missing or not numbers")
        layout.truths = [by_lower[t.lower()] for t in named]
    else:
        layout.truths = scalar
    return layout


def _open_layout(path: Path) -> _Layout:
    kind = _check_file(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several unrelated types
            raise SpectrumError(f"{path}: not a readable Parquet file ({first_line(exc)})"
                                ) from None
        with pf:
            return _parquet_layout(path, pf)
    with _quiet_fits(), _fits_open(path) as hdul:
        return _fits_layout(path, hdul)


def survey_length(path: str | Path) -> int:
    """The number of spectra (rows) in a survey file, read from its footer or header.

    Raises:
        SpectrumError: not a readable survey file.
    """
    return _open_layout(Path(path)).n_rows


def is_survey_file(path: str | Path) -> bool:
    """Whether ``path`` is a survey file: a Parquet or FITS file (by its name) holding an
    array ``flux`` column in the layout of this module. Reads only the Parquet schema or
    the FITS headers; never raises (an unreadable file is not a survey file)."""
    path = Path(path)
    kind = _format_of(path)
    if kind is None or not path.is_file():
        return False
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
            names = _by_lower(schema.names)
            if "flux" not in names:
                return False
            _check_list_type(path, names["flux"], schema.field(names["flux"]).type)
            return True
        from astropy.io import fits

        with _quiet_fits(), _fits_open(path) as hdul:
            hdu = _fits_hdu(hdul, "SPECTRA")
            if not isinstance(hdu, fits.BinTableHDU):
                return False
            column = _fits_array_columns(hdu).get("flux")
            return column is not None and _fits_repeat(column)[1] > 1
    except Exception:  # noqa: BLE001 — any failure to read means "not a survey file"
        return False


# --- units --------------------------------------------------------------------------------
@dataclass
class _Units:
    flux: u.UnitBase
    flux_from: str
    error_factor: float
    wave: u.UnitBase | None  # None: guessed per chunk (per-row wavelengths without a unit)
    wave_from: str | None
    given_wave: object


def _resolve_units(layout: _Layout, flux_unit, wave_unit) -> _Units:
    path = layout.path
    flux, flux_from = _flux_unit(path, layout.flux, layout.units, flux_unit)
    factor = 1.0
    error_unit = layout.units.get(layout.error) if layout.error else None
    if error_unit is not None and error_unit != flux:
        if not error_unit.is_equivalent(flux):
            raise SpectrumError(f"{path}: column '{layout.error}': error unit '{error_unit}' "
                                f"does not match flux unit '{flux}'")
        factor = float((1.0 * error_unit).to_value(flux))
    wave, wave_from = None, None
    if layout.wavelength is not None:
        name = "WAVELENGTH" if layout.format == "fits" else "wavelength"
        wave, wave_from = _wavelength_unit(path, name, layout.wavelength, layout.units,
                                           wave_unit)
    return _Units(flux, flux_from, factor, wave, wave_from, wave_unit)


def _ascending_rows(wave: np.ndarray) -> np.ndarray:
    """Rows whose finite wavelengths all descend (read_spectrum reverses such a file)."""
    finite = np.isfinite(wave)
    flip = np.zeros(wave.shape[0], dtype=bool)
    whole = finite.all(axis=1)
    if wave.shape[1] > 1:
        flip[whole] = np.all(np.diff(wave[whole], axis=1) < 0, axis=1)
    for r in np.flatnonzero(~whole):  # rows with gaps: rare, one at a time
        w = wave[r][finite[r]]
        flip[r] = w.size > 1 and bool(np.all(np.diff(w) < 0))
    return flip


def _make_batch(layout: _Layout, units: _Units, row0: int, ids: list[str], flux: np.ndarray,
                error: np.ndarray | None, wave_rows: np.ndarray | None,
                truths: pd.DataFrame | None) -> SpectrumBatch:
    path = layout.path
    n = flux.shape[0]
    meta = {"format": layout.format, "survey": layout.meta.get("meta", {}),
            "columns": {"wavelength": layout.wave_column or (
                "WAVELENGTH" if layout.format == "fits" else "wavelength"),
                        "flux": layout.flux, "error": layout.error}}
    if error is not None and units.error_factor != 1.0:
        error = error * units.error_factor
    if wave_rows is None:
        wave, wave_unit, wave_from = layout.wavelength, units.wave, units.wave_from
        finite = wave[np.isfinite(wave)]
        if finite.size > 1 and np.all(np.diff(finite) < 0):
            wave, flux = wave[::-1], flux[:, ::-1]
            error = None if error is None else error[:, ::-1]
            meta["reversed"] = True
    else:
        wave = wave_rows
        wave_unit, wave_from = units.wave, units.wave_from
        if wave_unit is None:
            wave_unit, wave_from = _wavelength_unit(path, layout.wave_column, wave.ravel(),
                                                    layout.units, units.given_wave)
        flip = _ascending_rows(wave)
        if flip.any():
            wave, flux = wave.copy(), flux.copy()
            wave[flip], flux[flip] = wave[flip, ::-1], flux[flip, ::-1]
            if error is not None:
                error = error.copy()
                error[flip] = error[flip, ::-1]
            meta["reversed"] = True
    meta.update(wave_unit_from=wave_from, flux_unit_from=units.flux_from)
    return SpectrumBatch(
        ids=ids, rows=np.arange(row0, row0 + n, dtype=np.int64),
        wavelength=u.Quantity(wave, wave_unit, copy=None),
        flux=u.Quantity(flux, units.flux, copy=None),
        error=None if error is None else u.Quantity(error, units.flux, copy=None),
        source=str(path), truths=truths, meta=meta,
    )


def _empty_batch(layout: _Layout, units: _Units, start: int) -> SpectrumBatch:
    length = 0 if layout.wavelength is None else layout.wavelength.size
    wave = layout.wavelength if layout.wavelength is not None else np.empty((0, 0))
    truths = pd.DataFrame({t: np.empty(0) for t in layout.truths}) if layout.truths else None
    return SpectrumBatch(
        ids=[], rows=np.empty(0, dtype=np.int64),
        wavelength=u.Quantity(wave, units.wave or u.um),
        flux=u.Quantity(np.empty((0, length)), units.flux),
        error=None if layout.error is None else u.Quantity(np.empty((0, length)), units.flux),
        source=str(layout.path), truths=truths,
        meta={"format": layout.format, "survey": layout.meta.get("meta", {})},
    )


# --- reading Parquet ------------------------------------------------------------------------
def _row_name(ids: list[str], r: int, row0: int) -> str:
    return f"row {row0 + r} (id {ids[r]!r})"


def _list_values(path: Path, name: str, column, ids: list[str], row0: int,
                 length: int | None, of: str) -> np.ndarray:
    """An Arrow list column as an ``(n, length)`` float64 array; a null row is all NaN."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(array)
    lengths = pc.list_value_length(array)
    null = lengths.is_null().to_numpy(zero_copy_only=False)
    lengths = pc.fill_null(lengths, 0).to_numpy(zero_copy_only=False)
    if length is None:
        valid = np.flatnonzero(~null)
        length = int(lengths[valid[0]]) if valid.size else 0
    bad = np.flatnonzero(~null & (lengths != length))
    if bad.size:
        r = int(bad[0])
        raise SpectrumError(f"{path}: column '{name}', {_row_name(ids, r, row0)}: "
                            f"{lengths[r]} values for {length} {of}")
    values = array.flatten()
    if values.type != pa.float64():
        values = values.cast(pa.float64())
    flat = values.to_numpy(zero_copy_only=False)
    if not null.any():
        return flat.reshape(n, length)
    out = np.full((n, length), np.nan)
    out[~null] = flat.reshape(-1, length)
    return out


def _ids_of(layout: _Layout, table, row0: int) -> list[str]:
    n = table.num_rows
    if layout.id is None:
        return [str(row0 + r) for r in range(n)]
    ids = table.column(layout.id).to_pylist()
    return [str(row0 + r) if v is None else str(v) for r, v in enumerate(ids)]


def _parquet_batch(layout: _Layout, units: _Units, table, row0: int) -> SpectrumBatch:
    path = layout.path
    ids = _ids_of(layout, table, row0)
    wave_rows = None
    if layout.wave_column is not None:
        wave_rows = _list_values(path, layout.wave_column, table.column(layout.wave_column),
                                 ids, row0, None, "wavelengths (its first row's)")
        length = wave_rows.shape[1]
    else:
        length = layout.wavelength.size
    flux = _list_values(path, layout.flux, table.column(layout.flux), ids, row0, length,
                        "wavelengths")
    error = None
    if layout.error is not None:
        error = _list_values(path, layout.error, table.column(layout.error), ids, row0,
                             length, "wavelengths")
    truths = None
    if layout.truths:
        truths = pd.DataFrame({t: table.column(t).to_numpy().astype(np.float64)
                               for t in layout.truths})
    return _make_batch(layout, units, row0, ids, flux, error, wave_rows, truths)


def _parquet_chunks(layout: _Layout, units: _Units, chunk_size: int, start: int,
                    stop: int) -> Iterator[SpectrumBatch]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # No pre-buffering: it would read every requested row group ahead (memory growing with
    # the file); a buffered stream reads each column chunk a megabyte at a time instead.
    with pq.ParquetFile(layout.path, pre_buffer=False, buffer_size=1 << 20) as pf:
        sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        groups = [i for i, size in enumerate(sizes)
                  if size and offsets[i] < stop and offsets[i + 1] > start]
        if not groups:
            return
        position, row0 = int(offsets[groups[0]]), start
        pending: list = []
        have = 0
        # iter_batches streams within a row group: memory stays about chunk_size rows
        # (plus one batch) even for a file written as one huge row group.
        for record in pf.iter_batches(batch_size=chunk_size, row_groups=groups,
                                      columns=layout.columns):
            lo, hi = max(start - position, 0), min(stop - position, record.num_rows)
            position += record.num_rows
            if hi > lo:
                pending.append(record.slice(lo, hi - lo))
                have += hi - lo
            while have >= chunk_size:
                table = pa.Table.from_batches(pending)
                yield _parquet_batch(layout, units, table.slice(0, chunk_size), row0)
                row0 += chunk_size
                have -= chunk_size
                pending = table.slice(chunk_size).to_batches()
            if position >= stop:
                break
        if have:
            yield _parquet_batch(layout, units, pa.Table.from_batches(pending), row0)


# --- reading FITS ---------------------------------------------------------------------------
def _fits_values(path: Path, name: str, records, n: int) -> np.ndarray:
    try:
        values = np.array(records.field(name), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpectrumError(f"{path}: column '{name}': not numbers ({first_line(exc)})"
                            ) from None
    return values.reshape(n, -1)


def _fits_chunks(layout: _Layout, units: _Units, chunk_size: int, start: int,
                 stop: int) -> Iterator[SpectrumBatch]:
    path = layout.path
    with _quiet_fits():
        hdul = _fits_open(path)
    with hdul:
        with _quiet_fits():
            data = _fits_hdu(hdul, "SPECTRA").data
        for row0 in range(start, stop, chunk_size):
            records = data[row0:min(row0 + chunk_size, stop)]  # a view of the memory map
            n = len(records)
            if layout.id is None:
                ids = [str(row0 + r) for r in range(n)]
            else:
                ids = [str(v).strip() for v in records.field(layout.id)]
            flux = _fits_values(path, layout.flux, records, n)
            error = None if layout.error is None else _fits_values(path, layout.error,
                                                                   records, n)
            wave_rows = None
            if layout.wave_column is not None:
                wave_rows = _fits_values(path, layout.wave_column, records, n)
            truths = None
            if layout.truths:
                truths = pd.DataFrame({t: np.array(records.field(t), dtype=np.float64)
                                       for t in layout.truths})
            yield _make_batch(layout, units, row0, ids, flux, error, wave_rows, truths)


# --- reading, public ------------------------------------------------------------------------
def _check_range(path: Path, n_rows: int, start, stop) -> tuple[int, int]:
    stop = n_rows if stop is None else stop
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ConfigError(f"{name} must be a row number, not {value!r}")
    if not 0 <= start <= stop:
        raise ConfigError(f"{path}: need 0 <= start <= stop, got start={start}, stop={stop}")
    return int(start), int(min(stop, n_rows))


def read_survey(
    path: str | Path,
    *,
    chunk_size: int = 4096,
    start: int = 0,
    stop: int | None = None,
    flux_unit: str | u.UnitBase | None = None,
    wave_unit: str | u.UnitBase | None = None,
) -> Iterator[SpectrumBatch]:
    """Read a survey file in chunks of ``chunk_size`` rows, in the file's order.

    The file's layout and units are checked at the call (errors raise there); the rows are
    read as the chunks are asked for, so memory holds about one chunk. Values are kept as
    in the file, except that descending wavelengths are reversed (as
    :func:`~atmoscope.observed.read_spectrum` does) and errors are converted to the flux
    unit.

    Args:
        path: a ``.parquet``/``.pq`` or ``.fits``/``.fit``/``.fts`` (optionally ``.gz``)
            file in the layout of :mod:`atmoscope.observed.survey`.
        chunk_size: rows per batch (the last may have fewer).
        start, stop: the rows to read, ``start`` included, ``stop`` excluded (``None``: to
            the end; a ``stop`` beyond the end is the end, as in a slice).
        flux_unit, wave_unit: units of the values when the file does not give them (a
            clash with the file's is an error). Without either: dimensionless flux, and µm
            for wavelengths that lie in 0.3–30.

    Returns:
        An iterator of :class:`SpectrumBatch`.

    Raises:
        SpectrumError: a missing or unreadable file, no ``flux`` column, no wavelengths,
            columns that are not arrays of numbers, unknown or clashing units (at the
            call); a row whose array length differs from the wavelengths' (when its chunk
            is read). The message names the file, the column and the row.
        ConfigError: a ``chunk_size`` below 1, or ``start``/``stop`` out of order.
    """
    path = Path(path)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer) \
            or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    layout = _open_layout(path)
    units = _resolve_units(layout, flux_unit, wave_unit)
    start, stop = _check_range(path, layout.n_rows, start, stop)
    chunks = _parquet_chunks if layout.format == "parquet" else _fits_chunks
    return chunks(layout, units, int(chunk_size), start, stop)


def read_survey_rows(path: str | Path, start: int, stop: int, *,
                     flux_unit: str | u.UnitBase | None = None,
                     wave_unit: str | u.UnitBase | None = None) -> SpectrumBatch:
    """Rows ``start`` to ``stop`` (excluded) of a survey file as one batch: what a worker
    reads when each takes its own slice. Arguments and errors as :func:`read_survey`; an
    empty range gives an empty batch."""
    path = Path(path)
    layout = _open_layout(path)
    units = _resolve_units(layout, flux_unit, wave_unit)
    start, stop = _check_range(path, layout.n_rows, start, stop)
    if stop == start:
        return _empty_batch(layout, units, start)
    chunks = _parquet_chunks if layout.format == "parquet" else _fits_chunks
    return next(iter(chunks(layout, units, stop - start, start, stop)))


# --- writing --------------------------------------------------------------------------------
def _unit_text(unit) -> str | None:
    return None if unit is None else u.Unit(unit).to_string()


def _values_in(value, unit, what: str) -> np.ndarray:
    """Plain float64 values, a Quantity converted to ``unit`` (None: dimensionless)."""
    if isinstance(value, u.Quantity):
        try:
            value = value.to_value(unit if unit is not None else u.dimensionless_unscaled)
        except u.UnitConversionError:
            raise ConfigError(f"{what} in '{value.unit}' cannot be written in "
                              f"'{unit or 'dimensionless'}'") from None
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be numbers ({exc})") from None


class SurveyWriter:
    """Write a survey file chunk by chunk; the format follows the extension.

    The file is written under a temporary name beside it and renamed when the writer is
    closed without error, so no half-written survey is ever left; an error (or leaving a
    ``with`` block by an exception) removes the temporary file. Parquet is written as it
    goes, one row group per :meth:`write`; FITS is held in memory and written at
    :meth:`close`.

    Args:
        path: the file: ``.parquet``/``.pq``, or ``.fits``/``.fit``/``.fts`` (``.gz``:
            gzip-compressed).
        wavelength: the shared wavelengths, ``(L,)`` (a Quantity, or plain values in
            ``wave_unit``); ``None``: each :meth:`write` gives per-row wavelengths.
        flux_unit: the unit of the flux and errors (``None``: dimensionless). Quantity
            input is converted to it.
        truths_names: the truth columns, in order (``None``: those of the first chunk's
            ``truths``).
        wave_unit: the unit of plain ``wavelength`` values (``None``: a Quantity's unit, or
            none recorded: µm is then assumed by the reader for values in 0.3–30).
        meta: free-form JSON-ready information stored in the file.
        compression: Parquet compression codec (default zstd).

    Example:
        >>> with SurveyWriter("survey.parquet", wave, "erg / (s cm2 Hz)",
        ...                   truths_names=["temperature"]) as writer:  # doctest: +SKIP
        ...     for ids, flux, error, truths in chunks:
        ...         writer.write(ids, flux, error, truths)
    """

    def __init__(self, path: str | Path, wavelength=None, flux_unit=None, *,
                 truths_names: Sequence[str] | None = None, wave_unit=None,
                 meta: Mapping | None = None, compression: str = "zstd") -> None:
        self.path = Path(path)
        self.format = _format_of(self.path)
        if self.format is None:
            raise ConfigError(f"{self.path}: a survey file must end in .parquet, .pq, .fits, "
                              ".fit, .fts or .fits.gz")
        self.flux_unit = None if flux_unit is None else parse_unit(flux_unit)
        if isinstance(wavelength, u.Quantity) and wave_unit is None:
            wave_unit = wavelength.unit
        self.wave_unit = None if wave_unit is None else parse_unit(wave_unit)
        self.wavelength = None
        if wavelength is not None:
            self.wavelength = _values_in(wavelength, self.wave_unit, "wavelength")
            if self.wavelength.ndim != 1 or self.wavelength.size < 2:
                raise ConfigError(f"shared wavelengths must be 1-D with at least 2 values, "
                                  f"got shape {self.wavelength.shape}")
        self.truths_names = None if truths_names is None else [str(t) for t in truths_names]
        self.meta = dict(meta or {})
        self.compression = compression
        self.n_written = 0
        self._has_error: bool | None = None
        self._length: int | None = None if self.wavelength is None else self.wavelength.size
        self._writer = None
        self._parts: list[dict] = []  # FITS: the chunks, until close
        self._stack = ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        self._closed = False

    # --- context manager ---------------------------------------------------------------
    def __enter__(self) -> SurveyWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def abort(self) -> None:
        """Give up: close and remove the temporary file; the target is left as it was."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def close(self) -> Path:
        """Finish the file and rename it into place.

        Returns:
            The path written.
        """
        if self._closed:
            return self.path
        try:
            if self.format == "parquet":
                if self._writer is None:
                    self._open_parquet(has_error=False, per_row_wave=self.wavelength is None)
                self._writer.close()
            else:
                self._write_fits()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._stack.close()  # renames the temporary file into place
        return self.path

    # --- chunks ------------------------------------------------------------------------
    def write(self, ids: Sequence, flux, error=None, truths=None, *, wavelength=None) -> None:
        """Append a chunk of spectra.

        Args:
            ids: one name per row.
            flux: ``(n, L)`` flux densities (a Quantity is converted to the writer's unit).
            error: ``(n, L)`` 1-sigma errors, or ``None``; every chunk gives them or none.
            truths: the chunk's known parameters: a DataFrame or a mapping name → ``(n,)``
                values, with at least the columns ``truths_names``.
            wavelength: ``(n, L)`` per-row wavelengths, only when the writer has no shared
                ones (then required).

        Raises:
            ConfigError: shapes that do not agree, a missing truth column, errors or
                wavelengths given in one chunk and not another, a closed writer.
        """
        if self._closed:
            raise ConfigError(f"{self.path}: the survey writer is closed")
        try:
            chunk = self._chunk(ids, flux, error, truths, wavelength)
            if chunk["n"] == 0:
                return
            if self.format == "parquet":
                self._write_parquet(chunk)
            else:
                self._parts.append(chunk)
        except BaseException:
            self.abort()
            raise
        self.n_written += chunk["n"]

    def _chunk(self, ids, flux, error, truths, wavelength) -> dict:
        ids = [str(i) for i in ids]
        n = len(ids)
        flux = _values_in(flux, self.flux_unit, "flux")
        if flux.ndim != 2 or flux.shape[0] != n:
            raise ConfigError(f"flux of shape {flux.shape} for {n} ids (expected (n, L))")
        if self.wavelength is None:
            if wavelength is None:
                raise ConfigError("this survey has per-row wavelengths: give wavelength=")
            wavelength = _values_in(wavelength, self.wave_unit, "wavelength")
            if wavelength.shape != flux.shape:
                raise ConfigError(f"wavelength of shape {wavelength.shape} for flux of shape "
                                  f"{flux.shape}")
        elif wavelength is not None:
            raise ConfigError("this survey has shared wavelengths: do not give wavelength=")
        if self._length is None:
            self._length = flux.shape[1]
        if flux.shape[1] != self._length:
            raise ConfigError(f"flux rows of {flux.shape[1]} values for {self._length} "
                              "wavelengths")
        if error is not None:
            error = _values_in(error, self.flux_unit, "error")
            if error.shape != flux.shape:
                raise ConfigError(f"error of shape {error.shape} for flux of shape "
                                  f"{flux.shape}")
        if self._has_error is None:
            self._has_error = error is not None
        elif self._has_error != (error is not None):
            raise ConfigError("every chunk must give errors, or none")
        if self.truths_names is None:
            self.truths_names = [] if truths is None else [str(c) for c in truths.keys()]
        clash = [t for t in self.truths_names if t.lower() in _RESERVED]
        if clash or len({t.lower() for t in self.truths_names}) < len(self.truths_names):
            raise ConfigError(f"truth names {self.truths_names} repeat a name or use one of "
                              f"the survey's own columns ({', '.join(sorted(_RESERVED))})")
        columns = {}
        for name in self.truths_names:
            if truths is None or name not in truths:
                raise ConfigError(f"the chunk's truths lack column '{name}'")
            values = _values_in(np.asarray(truths[name]), None, f"truth '{name}'")
            if values.shape != (n,):
                raise ConfigError(f"truth '{name}' of shape {values.shape} for {n} ids")
            columns[name] = values
        return {"n": n, "ids": ids, "flux": flux, "error": error, "truths": columns,
                "wavelength": wavelength}

    def _metadata(self) -> dict:
        meta = {"format_version": _FORMAT_VERSION}
        if self.wavelength is not None:
            meta["wavelength"] = self.wavelength.tolist()
        if self.wave_unit is not None:
            meta["wavelength_unit"] = _unit_text(self.wave_unit)
        if self.flux_unit is not None:
            meta["flux_unit"] = _unit_text(self.flux_unit)
        meta["truths"] = list(self.truths_names or [])
        meta["meta"] = self.meta
        return meta

    # --- Parquet -----------------------------------------------------------------------
    def _open_parquet(self, has_error: bool, per_row_wave: bool) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        values = pa.list_(pa.float64())
        fields = [pa.field("id", pa.string()), pa.field("flux", values)]
        if has_error:
            fields.append(pa.field("error", values))
        if per_row_wave:
            fields.append(pa.field("wavelength", values))
        fields += [pa.field(t, pa.float64()) for t in self.truths_names or []]
        lists = [f.name for f in fields if f.type == values]
        try:
            metadata = {METADATA_KEY: json.dumps(self._metadata())}
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"meta is not JSON-ready ({exc})") from None
        self._schema = pa.schema(fields, metadata=metadata)
        self._writer = pq.ParquetWriter(
            self._tmp, self._schema, compression=self.compression, use_dictionary=False,
            write_statistics=["id", *(self.truths_names or [])],
            # floats split into byte planes compress well (the exponents repeat)
            use_byte_stream_split=[f"{name}.list.element" for name in lists],
        )

    def _write_parquet(self, chunk: dict) -> None:
        import pyarrow as pa

        if self._writer is None:
            self._open_parquet(self._has_error, self.wavelength is None)
        n, length = chunk["flux"].shape
        step = max(1, _MAX_LIST_VALUES // max(length, 1))  # int32 list offsets
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            arrays = [pa.array(chunk["ids"][lo:hi], pa.string()),
                      _list_array(chunk["flux"][lo:hi])]
            if self._has_error:
                arrays.append(_list_array(chunk["error"][lo:hi]))
            if self.wavelength is None:
                arrays.append(_list_array(chunk["wavelength"][lo:hi]))
            arrays += [pa.array(chunk["truths"][t][lo:hi]) for t in self.truths_names]
            table = pa.Table.from_arrays(arrays, schema=self._schema)
            self._writer.write_table(table, row_group_size=hi - lo)

    # --- FITS --------------------------------------------------------------------------
    def _write_fits(self) -> None:
        import gzip

        from astropy.io import fits

        parts = self._parts
        length = self._length or 0
        ids = [i for p in parts for i in p["ids"]]

        def stacked(key: str) -> np.ndarray:
            return (np.concatenate([p[key] for p in parts]) if parts
                    else np.empty((0, length)))

        width = max([len(i.encode()) for i in ids] + [1])
        flux_unit = _unit_text(self.flux_unit)
        columns = [fits.Column(name="ID", format=f"{width}A", array=np.array(ids, dtype=str)),
                   fits.Column(name="FLUX", format=f"{length}D", unit=flux_unit,
                               array=stacked("flux"))]
        if self._has_error:
            columns.append(fits.Column(name="ERROR", format=f"{length}D", unit=flux_unit,
                                       array=stacked("error")))
        if self.wavelength is None:
            columns.append(fits.Column(name="WAVELENGTH", format=f"{length}D",
                                       unit=_unit_text(self.wave_unit),
                                       array=stacked("wavelength")))
        for name in self.truths_names or []:
            values = (np.concatenate([p["truths"][name] for p in parts]) if parts
                      else np.empty(0))
            columns.append(fits.Column(name=name, format="D", array=values))
        table = fits.BinTableHDU.from_columns(columns, name="SPECTRA")
        table.header["TRUTHS"] = ",".join(self.truths_names or [])
        try:
            table.header["ATMOMETA"] = json.dumps(self.meta)  # long strings: CONTINUE cards
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"meta is not JSON-ready ({exc})") from None
        hdus = [fits.PrimaryHDU(), table]
        if self.wavelength is not None:
            image = fits.ImageHDU(self.wavelength, name="WAVELENGTH")
            if self.wave_unit is not None:
                image.header["BUNIT"] = _unit_text(self.wave_unit)
            hdus.append(image)
        hdul = fits.HDUList(hdus)
        if self.path.name.lower().endswith(".gz"):
            with gzip.open(self._tmp, "wb") as stream:
                hdul.writeto(stream)
        else:
            hdul.writeto(self._tmp, overwrite=True)


def _list_array(values: np.ndarray):
    """An ``(n, L)`` array as an Arrow ``list<double>`` array (no copy of the values)."""
    import pyarrow as pa

    n, length = values.shape
    offsets = np.arange(0, (n + 1) * length, length, dtype=np.int32) if length else \
        np.zeros(n + 1, dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets),
                                    pa.array(np.ascontiguousarray(values).ravel()))


def write_survey(path: str | Path, ids: Sequence, wavelength, flux, error=None, truths=None,
                 *, meta: Mapping | None = None) -> Path:
    """Write small in-memory data as a survey file (one chunk; :class:`SurveyWriter` for
    more).

    Args:
        path: ``.parquet``/``.pq`` or ``.fits``/``.fit``/``.fts`` (optionally ``.gz``).
        ids: one name per row.
        wavelength: ``(L,)`` shared or ``(n, L)`` per-row wavelengths (a Quantity, or plain
            values: then no unit is recorded and readers take µm for values in 0.3–30).
        flux: ``(n, L)``; a Quantity's unit is recorded (plain values: dimensionless).
        error: ``(n, L)`` 1-sigma errors, or ``None``.
        truths: known parameters: a DataFrame or mapping name → ``(n,)`` values.
        meta: free-form JSON-ready information.

    Returns:
        The path written.

    Raises:
        ConfigError: shapes that do not agree, or a name that is no survey format.
    """
    flux_unit = flux.unit if isinstance(flux, u.Quantity) else None
    per_row = np.ndim(wavelength) == 2
    wave_unit = wavelength.unit if isinstance(wavelength, u.Quantity) else None
    truths_names = None if truths is None else [str(c) for c in truths.keys()]
    with SurveyWriter(path, None if per_row else wavelength, flux_unit,
                      truths_names=truths_names, wave_unit=wave_unit, meta=meta) as writer:
        writer.write(ids, flux, error, truths, wavelength=wavelength if per_row else None)
    return Path(path)
