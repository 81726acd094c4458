"""Reading and writing training grids (TelescopeML's CSV layout, compressed CSV, Parquet).

The layout, as in TelescopeML's training file: one spectrum per row, parameter
columns (``gravity, temperature, c_o_ratio, metallicity`` or others), then one
flux column per wavelength, the column name being the wavelength. Columns whose
names parse as numbers are wavelengths; every other column is a parameter.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd

from atmoscope.data.grid import SpectralGrid
from atmoscope.errors import GridError

__all__ = [
    "DEFAULT_REQUIRED",
    "DuplicateSpectraWarning",
    "read_grid",
    "write_grid",
]

#: Columns every brown-dwarf grid must have unless ``targets`` names others.
DEFAULT_REQUIRED = ("gravity", "temperature")

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".csv.zst")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_METADATA_KEY = b"atmoscope"
# pandas names a written-out index column "Unnamed: 0"; it is not a parameter.
_INDEX_COLUMN = re.compile(r"^Unnamed: \d+$")


class DuplicateSpectraWarning(UserWarning):
    """The grid holds identical spectra (see :meth:`SpectralGrid.duplicate_groups`)."""


def _format_of(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    supported = ", ".join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)
    raise GridError(f"{path}: unknown grid format (file name must end in one of {supported})")


def _as_wavelength(name: object) -> float | None:
    try:
        return float(str(name).strip())
    except ValueError:
        return None


def _read_table(path: Path, fmt: str) -> tuple[pd.DataFrame, dict]:
    """The raw table and any atmoscope metadata stored with it."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several unrelated types
            raise GridError(f"{path}: not a readable Parquet file ({exc})") from None
        raw = (table.schema.metadata or {}).get(_METADATA_KEY)
        return table.to_pandas(), (json.loads(raw) if raw else {})
    try:
        return pd.read_csv(path, low_memory=False), {}
    except pd.errors.EmptyDataError:
        raise GridError(f"{path}: file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise GridError(f"{path}: not a readable CSV file ({exc})") from None


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
            f"non-finite value {float(values[row, col])!r} ({bad_rows.size} such value(s) in total)"
        )
    return values


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
            ``.parquet`` file in TelescopeML's layout; wavelengths may be in
            ascending or descending order.
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
    """
    path = Path(path)
    fmt = _format_of(path)
    if not path.is_file():
        raise GridError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise GridError(f"{path}: file is empty")
    table, meta = _read_table(path, fmt)
    table = table.loc[:, [not _INDEX_COLUMN.match(str(c)) for c in table.columns]]

    wave_cols = [c for c in table.columns if _as_wavelength(c) is not None]
    param_cols = [str(c) for c in table.columns if _as_wavelength(c) is None]
    if not wave_cols:
        raise GridError(f"{path}: no flux columns (no column is named by a wavelength)")
    if len(table) == 0:
        raise GridError(f"{path}: no spectra (the file has a header but no rows)")

    targets = tuple(targets) if targets is not None else tuple(meta.get("targets", ()))
    required = targets or DEFAULT_REQUIRED
    missing = [t for t in required if t not in param_cols]
    if missing:
        raise GridError(
            f"{path}: missing target column(s) {', '.join(repr(m) for m in missing)} "
            f"(parameter columns present: {', '.join(param_cols) or 'none'})"
        )
    if not targets:
        targets = tuple(param_cols)

    wavelength = np.array([_as_wavelength(c) for c in wave_cols])
    for name, value in zip(wave_cols, wavelength, strict=True):
        if not np.isfinite(value) or value <= 0:
            raise GridError(f"{path}: column '{name}': wavelength {value} is not positive")
    unique, counts = np.unique(wavelength, return_counts=True)
    if np.any(counts > 1):
        dup = unique[counts > 1][0]
        names = [str(c) for c, w in zip(wave_cols, wavelength, strict=True) if w == dup]
        raise GridError(f"{path}: duplicate wavelength {dup:g} in columns {names}")

    params = _numeric_block(path, table[param_cols], "parameter")
    flux = _numeric_block(path, table[wave_cols], "flux")
    negative = np.argwhere(flux < 0)
    if negative.size:
        row, col = negative[0]
        raise GridError(
            f"{path}: flux column '{wave_cols[col]}', row {row + 1}: negative flux "
            f"{float(flux[row, col])!r} ({len(negative)} negative value(s) in total)"
        )

    order = np.argsort(wavelength)
    grid = SpectralGrid(
        wavelength=wavelength[order],
        flux=flux[:, order],
        parameters=pd.DataFrame(params, columns=param_cols),
        targets=targets,
        wavelength_unit=u.Unit(wavelength_unit or meta.get("wavelength_unit", "um")),
        flux_unit=flux_unit or meta.get("flux_unit"),
        source=str(path),
    )
    n_dup = grid.n_duplicate_spectra
    if n_dup and drop_duplicates is None:
        warnings.warn(
            f"{path}: {n_dup} spectra repeat the flux of another spectrum "
            f"({len(grid.duplicate_groups())} groups); pass drop_duplicates to remove them",
            DuplicateSpectraWarning,
            stacklevel=2,
        )
    elif drop_duplicates is not None:
        grid = grid.drop_duplicates(keep=drop_duplicates)
    return grid


def write_grid(grid: SpectralGrid, path: str | Path, *, descending: bool = True) -> Path:
    """Write a grid in TelescopeML's layout; the format follows the extension.

    ``.csv`` (optionally compressed, e.g. ``.csv.bz2``) stores 7 significant
    digits per flux; ``.parquet`` stores exact float64 values and records
    units and targets, so :func:`read_grid` restores them.

    The file is written under a temporary name and renamed, so a failure
    never leaves a partial grid behind.

    Returns:
        The path written.
    """
    path = Path(path)
    fmt = _format_of(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = grid.to_frame(descending=descending)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        if fmt == "csv":
            # Compression is inferred from the final name, not the temporary one.
            compression = {"gz": "gzip", "bz2": "bz2", "xz": "xz", "zip": "zip", "zst": "zstd"}
            suffix = path.name.rsplit(".", 1)[-1].lower()
            frame.to_csv(
                tmp, index=False, float_format="%.7g", compression=compression.get(suffix)
            )
        else:
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
            pq.write_table(table, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
