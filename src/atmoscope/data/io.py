"""Reading and writing training grids (TelescopeML's CSV layout, compressed CSV, Parquet).

The layout, as in TelescopeML's training file: one spectrum per row, parameter
columns (``gravity, temperature, c_o_ratio, metallicity`` or others), then one
flux column per wavelength, the column name being the wavelength. Columns whose
names parse as numbers are wavelengths; every other column is a parameter.

Each file format is a reader registered for its file-name suffixes; another
format is one decorated function returning that table::

    @register_grid_reader(".h5")
    def read_h5(path):
        return pd.read_hdf(path), {}
"""

from __future__ import annotations

import json
import lzma
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd

from atmoscope._atomic import atomic_path
from atmoscope._registry import SuffixRegistry
from atmoscope.data.grid import SpectralGrid
from atmoscope.data.telescopeml_grid import TELESCOPEML_FLUX_UNIT, is_telescopeml_layout
from atmoscope.errors import ConfigError, GridError, first_line

__all__ = [
    "AssumedUnitWarning",
    "DEFAULT_REQUIRED",
    "DuplicateSpectraWarning",
    "GRID_READERS",
    "GridReader",
    "read_grid",
    "register_grid_reader",
    "write_grid",
]

#: Columns every brown-dwarf grid must have unless ``targets`` names others.
DEFAULT_REQUIRED = ("gravity", "temperature")

# (no .csv.zst: pandas needs the optional zstandard package for it)
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_METADATA_KEY = b"atmoscope"
# pandas names a written-out index column "Unnamed: 0"; it is not a parameter.
_INDEX_COLUMN = re.compile(r"^Unnamed: \d+$")
_MANGLED = re.compile(r"^(.+)\.(\d+)$")
#: Wavelengths a grid may hold (µm): far-UV to far-infrared; beyond, a unit is wrong.
_PLAUSIBLE_UM = (0.05, 500.0)
#: Larger flux values are corrupt (no unit makes them physical).
_MAX_FLUX = 1e100
_DROP_CHOICES = (None, "first", "none")
# What pandas raises for a damaged or unreadable CSV file, compressed or not
# (ImportError: a compression whose package is not installed, e.g. zstandard).
_CSV_ERRORS = (
    UnicodeDecodeError, OSError, EOFError, ValueError, zipfile.BadZipFile, lzma.LZMAError,
    zlib.error, ImportError,
)


class AssumedUnitWarning(UserWarning):
    """A unit the file does not state was assumed (TelescopeML's layout is F_nu)."""


class DuplicateSpectraWarning(UserWarning):
    """The grid holds identical spectra (see :meth:`SpectralGrid.duplicate_groups`)."""


# --- format registry -------------------------------------------------------------------
#: A grid reader: the file's path → ``(table, metadata)``: the table in TelescopeML's
#: layout (parameter columns, then one flux column per wavelength, named by it) and
#: what the file records (``wavelength_unit``, ``flux_unit``, ``targets``), or ``{}``.
#: It raises :class:`~atmoscope.errors.GridError`, naming the file, when it cannot read it.
GridReader = Callable[[Path], "tuple[pd.DataFrame, dict]"]

#: File-name suffix (lower case, with its dot) → reader; see :func:`register_grid_reader`.
GRID_READERS = SuffixRegistry("grid reader")
# The same for writing: suffix → writer(grid, frame, temporary path, final path).
_GRID_WRITERS = SuffixRegistry("grid writer")


def register_grid_reader(*suffixes: str) -> Callable[[GridReader], GridReader]:
    """Decorator: the function reads grid files ending in ``suffixes`` (``".h5"``,
    ``".csv.gz"``; see :meth:`~atmoscope._registry.SuffixRegistry.register`). The longest
    matching suffix chooses the reader; what it returns is validated by :func:`read_grid`
    like any other grid."""
    return GRID_READERS.register(*suffixes)


def _lookup(registry: SuffixRegistry, path: Path):
    func = registry.match([path.name])
    if func is None:
        supported = ", ".join(registry)
        raise GridError(f"{path}: unknown grid format (file name must end in one of {supported})")
    return func



@register_grid_reader(*_CSV_SUFFIXES)
def _read_csv(path: Path) -> tuple[pd.DataFrame, dict]:
    """A CSV file, compressed as its name says (pandas infers it)."""
    try:
        return pd.read_csv(path, low_memory=False), {}
    except pd.errors.EmptyDataError:
        raise GridError(f"{path}: file is empty") from None
    except _CSV_ERRORS as exc:
        raise GridError(f"{path}: not a readable CSV file ({first_line(exc)})") from None


@register_grid_reader(*_PARQUET_SUFFIXES)
def _read_parquet(path: Path) -> tuple[pd.DataFrame, dict]:
    """A Parquet file, with the units and targets :func:`write_grid` records in it."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise GridError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None
    raw = (table.schema.metadata or {}).get(_METADATA_KEY)
    try:
        meta = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise GridError(f"{path}: corrupt atmoscope metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise GridError(f"{path}: corrupt atmoscope metadata (not a JSON object)")
    return table.to_pandas(), meta


def _as_wavelength(name: object) -> float | None:
    try:
        return float(str(name).strip())
    except ValueError:
        return None


def _numeric_block(path: Path, frame: pd.DataFrame, what: str) -> np.ndarray:
    """The frame as float64, or an error naming the first bad cell.

    Rows are reported as 1-based data rows (the header is not counted).
    """
    for name in frame.columns:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            values = pd.to_numeric(column, errors="coerce")
            bad = np.flatnonzero(values.isna().to_numpy() & column.notna().to_numpy())
            if bad.size:
                row = int(bad[0])
                raise GridError(
                    f"{path}: {what} column '{name}', row {row + 1}: "
                    f"non-numeric value {column.iloc[row]!r}"
                )
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    bad_rows, bad_cols = np.nonzero(~np.isfinite(values))
    if bad_rows.size:
        row, col = int(bad_rows[0]), int(bad_cols[0])
        raise GridError(
            f"{path}: {what} column '{frame.columns[col]}', row {row + 1}: "
            f"non-finite value {float(values[row, col])!r} "
            f"({bad_rows.size} such value(s) in total)"
        )
    return values


def _load_table(path: Path) -> tuple[pd.DataFrame, dict]:
    """The raw table from the file's registered reader, pandas' index column left out."""
    if path.is_dir():
        raise GridError(f"{path}: is a directory, not a grid file")
    reader = _lookup(GRID_READERS, path)
    if not path.is_file():
        raise GridError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise GridError(f"{path}: file is empty")
    result = reader(path)
    if isinstance(result, pd.DataFrame):
        result = (result, {})
    if not (isinstance(result, tuple) and len(result) == 2
            and isinstance(result[0], pd.DataFrame) and isinstance(result[1], dict)):
        raise ConfigError(
            f"{path}: grid reader {getattr(reader, '__name__', reader)!r} must return "
            "(DataFrame, dict)"
        )
    table, meta = result
    table = table.loc[:, [not _INDEX_COLUMN.match(str(c)) for c in table.columns]]
    return table, meta


def _split_columns(path: Path, table: pd.DataFrame) -> tuple[list, list[str]]:
    """(flux columns, named by wavelengths; parameter columns): every other column."""
    wave_cols = [c for c in table.columns if _as_wavelength(c) is not None]
    param_cols = [str(c) for c in table.columns if _as_wavelength(c) is None]
    names = {str(c) for c in table.columns}
    for name in param_cols:  # pandas renames a repeated header "x" to "x.1"
        repeated = _MANGLED.match(name)
        if repeated and repeated.group(1) in names:
            raise GridError(f"{path}: column '{repeated.group(1)}' appears more than once")
    if not wave_cols:
        raise GridError(f"{path}: no flux columns (no column is named by a wavelength)")
    if len(table) == 0:
        raise GridError(f"{path}: no spectra (the file has a header but no rows)")
    return wave_cols, param_cols


def _resolve_targets(path: Path, targets, meta: dict, param_cols: list[str]) -> tuple[str, ...]:
    """The target columns asked for, else recorded in the file, else every parameter."""
    if isinstance(targets, str):
        raise ConfigError(f"targets must be a list of column names, not the string {targets!r}")
    targets = tuple(targets) if targets is not None else tuple(meta.get("targets", ()))
    required = targets or DEFAULT_REQUIRED
    missing = [t for t in required if t not in param_cols]
    if missing:
        raise GridError(
            f"{path}: missing target column(s) {', '.join(repr(m) for m in missing)} "
            f"(parameter columns present: {', '.join(param_cols) or 'none'})"
        )
    return targets or tuple(param_cols)


def _wavelengths(path: Path, wave_cols: list) -> np.ndarray:
    """The flux columns' names as wavelengths: positive and distinct."""
    wavelength = np.array([_as_wavelength(c) for c in wave_cols])
    for name, value in zip(wave_cols, wavelength, strict=True):
        if not np.isfinite(value) or value <= 0:
            raise GridError(f"{path}: column '{name}': wavelength {value} is not positive")
    unique, counts = np.unique(wavelength, return_counts=True)
    if np.any(counts > 1):
        dup = unique[counts > 1][0]
        names = [str(c) for c, w in zip(wave_cols, wavelength, strict=True) if w == dup]
        raise GridError(f"{path}: duplicate wavelength {dup:g} in columns {names}")
    return wavelength


def _flux_block(path: Path, frame: pd.DataFrame) -> np.ndarray:
    """The flux columns as float64: finite and not negative."""
    flux = _numeric_block(path, frame, "flux")
    for bad, what in ((flux < 0, "negative flux"), (flux > _MAX_FLUX, "implausible flux")):
        found = np.argwhere(bad)
        if found.size:
            row, col = found[0]
            raise GridError(
                f"{path}: flux column '{frame.columns[col]}', row {row + 1}: {what} "
                f"{float(flux[row, col])!r} ({len(found)} such value(s) in total)"
            )
    return flux


def _check_wavelength_range(path: Path, wavelength) -> None:
    """Wavelengths outside far-UV to far-infrared mean a wrong unit (e.g. nm read as µm)."""
    if not wavelength.unit.is_equivalent(u.um):
        raise GridError(f"{path}: wavelength unit {wavelength.unit} is not a length")
    um = wavelength.to_value(u.um)
    lo, hi = _PLAUSIBLE_UM
    if um.min() < lo or um.max() > hi:
        raise GridError(f"{path}: wavelengths {um.min():.4g}–{um.max():.4g} µm lie outside "
                        f"{lo:g}–{hi:g} µm: are the column names in another unit? "
                        "(--wavelength-unit nm, AA, ...)")


def _check_parameters(path: Path, params: np.ndarray, names: list[str]) -> None:
    """Teff must be positive (log g, [M/H], ... may be any finite number)."""
    if "temperature" in names:
        j = names.index("temperature")
        bad = np.flatnonzero(params[:, j] <= 0)
        if bad.size:
            raise GridError(f"{path}: parameter column 'temperature', row {bad[0] + 1}: "
                            f"Teff {params[bad[0], j]:g} is not positive")


def _unit(path: Path, given, meta: dict, key: str, default: str | None = None):
    """A unit given by the caller, else recorded in the file, else ``default``."""
    text = given or meta.get(key, default)
    if text is None:
        return None
    try:
        return u.Unit(text)
    except (TypeError, ValueError):
        # The caller's argument is a bad setting; a bad recorded unit, a bad file.
        error, origin = ((ConfigError, f"--{key.replace('_', '-')}") if given
                         else (GridError, f"{key} recorded in the file"))
        raise error(f"{path}: {text!r} ({origin}) is not a unit astropy "
                    "understands") from None


def _handle_duplicates(grid: SpectralGrid, drop_duplicates: str | None) -> SpectralGrid:
    """Warn of identical spectra, or drop them as ``drop_duplicates`` says."""
    n_dup = grid.n_duplicate_spectra
    if n_dup and drop_duplicates is None:
        warnings.warn(
            f"{grid.source}: {n_dup} spectra repeat the flux of another spectrum "
            f"({len(grid.duplicate_groups())} groups); --drop-duplicates first|none removes them",
            DuplicateSpectraWarning,
            stacklevel=3,  # the caller of read_grid
        )
    elif drop_duplicates is not None:
        n = grid.n_spectra
        grid = grid.drop_duplicates(keep=drop_duplicates)
        if grid.n_spectra == 0:
            raise GridError(f"{grid.source}: all {n} spectra were dropped as duplicates with "
                            f"conflicting parameters (--drop-duplicates {drop_duplicates})")
    return grid


def read_grid(
    path: str | Path,
    targets: Sequence[str] | None = None,
    *,
    wavelength_unit: str | u.UnitBase | None = None,
    flux_unit: str | u.UnitBase | None = None,
    drop_duplicates: str | None = None,
) -> SpectralGrid:
    """Read and validate a training grid.

    Args:
        path: a ``.csv`` (optionally ``.gz``, ``.bz2``, ``.xz``, ``.zip``) or
            ``.parquet`` file in TelescopeML's layout, or a format added with
            :func:`register_grid_reader`; wavelengths may be in ascending or
            descending order.
        targets: the parameter columns to predict, in this order. Default: every
            non-wavelength column, which must include ``gravity`` and
            ``temperature``.
        wavelength_unit: unit of the wavelength column names (default µm, or
            what a Parquet file written by :func:`write_grid` records).
        flux_unit: unit of the flux (default: as recorded, else unknown).
        drop_duplicates: ``None`` keeps identical spectra (a
            :class:`DuplicateSpectraWarning` reports them); ``"first"`` keeps
            the first of each group; ``"none"`` drops every member of a group.

    Returns:
        The grid, wavelengths ascending, flux columns reordered to match.

    Raises:
        GridError: naming the file, column and value of the first problem.
        ConfigError: a bad ``targets``, unit or ``drop_duplicates`` argument.
    """
    path = Path(path)
    if drop_duplicates not in _DROP_CHOICES:
        raise ConfigError(
            f"drop_duplicates must be None, 'first' or 'none', not {drop_duplicates!r}"
        )
    table, meta = _load_table(path)
    wave_cols, param_cols = _split_columns(path, table)
    targets = _resolve_targets(path, targets, meta, param_cols)
    wavelength = _wavelengths(path, wave_cols)
    params = _numeric_block(path, table[param_cols], "parameter")
    _check_parameters(path, params, param_cols)
    flux = _flux_block(path, table[wave_cols])
    order = np.argsort(wavelength)
    wave_unit = _unit(path, wavelength_unit, meta, "wavelength_unit", "um")
    _check_wavelength_range(path, wavelength * wave_unit)
    stated = _unit(path, flux_unit, meta, "flux_unit")
    grid = SpectralGrid(
        wavelength=wavelength[order],
        flux=flux[:, order],
        parameters=pd.DataFrame(params, columns=param_cols),
        targets=targets,
        wavelength_unit=wave_unit,
        flux_unit=stated if stated is not None else _assumed_flux_unit(
            path, wavelength * wave_unit, param_cols),
        source=str(path),
    )
    return _handle_duplicates(grid, drop_duplicates)


def _assumed_flux_unit(path: Path, wavelength, param_cols: list[str]):
    """F_nu for a file in TelescopeML's layout (its training flux), else unknown."""
    if not is_telescopeml_layout(wavelength.to_value(u.um), param_cols):
        return None
    warnings.warn(f"{path}: no flux unit stated; TelescopeML's layout holds F_nu, so "
                  f"{TELESCOPEML_FLUX_UNIT} is assumed (--flux-unit to say otherwise)",
                  AssumedUnitWarning, stacklevel=3)
    return u.Unit(TELESCOPEML_FLUX_UNIT)


# --- writing ---------------------------------------------------------------------------
@_GRID_WRITERS.register(*_CSV_SUFFIXES)
def _write_csv(grid: SpectralGrid, frame: pd.DataFrame, tmp: Path, final: Path) -> None:
    # Compression is inferred from the final name, not the temporary one.
    compression = {"gz": "gzip", "bz2": "bz2", "xz": "xz", "zip": "zip"}
    suffix = final.name.rsplit(".", 1)[-1].lower()
    frame.to_csv(tmp, index=False, float_format="%.7g", compression=compression.get(suffix))


@_GRID_WRITERS.register(*_PARQUET_SUFFIXES)
def _write_parquet(grid: SpectralGrid, frame: pd.DataFrame, tmp: Path, final: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {
        "wavelength_unit": grid.wavelength_unit.to_string(),
        "flux_unit": None if grid.flux_unit is None else grid.flux_unit.to_string(),
        "targets": list(grid.targets),
    }
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), _METADATA_KEY: json.dumps(meta).encode()}
    )
    pq.write_table(table, tmp, compression="zstd")


def write_grid(grid: SpectralGrid, path: str | Path, *, descending: bool = True) -> Path:
    """Write a grid in TelescopeML's layout; the format follows the extension.

    ``.csv`` (optionally compressed, e.g. ``.csv.bz2``) stores 7 significant
    digits per flux; ``.parquet`` stores exact float64 values and records
    units and targets, so :func:`read_grid` restores them.

    The file is written under a temporary name and renamed, so a failure
    never leaves a partial grid behind.

    Returns:
        The path written.

    Raises:
        GridError: an unknown file extension.
    """
    path = Path(path)
    writer = _lookup(_GRID_WRITERS, path)
    frame = grid.to_frame(descending=descending)
    with atomic_path(path) as tmp:
        writer(grid, frame, tmp, path)
    return path
