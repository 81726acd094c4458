"""Catalog mode: many spectra, one row each (one per model with ``--model all``), a bad
file never stops the batch; tables written as CSV, Parquet, ECSV or FITS with units."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from atmoscope._atomic import atomic_path
from atmoscope._version import __version__
from atmoscope.data.targets import target_label
from atmoscope.errors import ConfigError, SpectrumError
from atmoscope.observed.readers import file_stem
from atmoscope.prediction.engine import (
    FILES_PER_CHUNK,
    ROWS_PER_CHUNK,
    Checkpoint,
    chunk_size,
    fingerprint,
    plan_chunks,
    run_catalog,
)

if TYPE_CHECKING:
    from atmoscope.prediction.predictor import Prediction, Predictor

__all__ = ["CATALOG_FORMATS", "catalog_format", "catalog_rows", "distance_for",
           "predict_catalog", "read_distances", "write_catalog"]

#: File-name endings → catalog format.
CATALOG_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".ecsv": "ecsv",
                   ".fits": "fits", ".fit": "fits"}
_STATS = ("mean", "std", "p2_5", "p16", "p50", "p84", "p97_5")
# astropy units of the columns that are not a target's statistic
_COLUMN_UNITS = {"distance_pc": "pc", "implied_radius_rjup": "R_jup"}


def catalog_format(path: str | Path) -> str:
    """The format a catalog path asks for.

    Raises:
        ConfigError: an extension no writer knows (nothing is written as CSV by default).
    """
    name = Path(path).name.lower()
    for suffix in sorted(CATALOG_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return CATALOG_FORMATS[suffix]
    raise ConfigError(f"{path}: unknown catalog format (name it .csv, .parquet, .ecsv or "
                      ".fits)")


def read_distances(path: str | Path) -> dict[str, tuple[float, float | None]]:
    """Distances (pc) and optional radii (R_Jup) per object from a table (CSV, ECSV,
    FITS, Parquet): an ``object`` (or ``name``, ``source``, ``file``) column, a
    ``distance_pc`` (or ``distance``) column and optionally ``radius_rjup`` (or
    ``radius``). Rows are found by object name, file name or file stem.

    Raises:
        SpectrumError: a missing column or a distance that is not a positive number,
            naming the file, column and row.
    """
    path = Path(path)
    fmt = catalog_format(path)
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
        elif fmt == "csv":
            frame = pd.read_csv(path)
        else:
            from astropy.table import Table

            frame = Table.read(path).to_pandas()
    except (OSError, ValueError) as exc:
        raise SpectrumError(f"{path}: not a readable distance table ({exc})") from None
    columns = {str(c).lower(): c for c in frame.columns}

    def column(*names: str, required: bool = True):
        found = next((columns[n] for n in names if n in columns), None)
        if found is None and required:
            raise SpectrumError(f"{path}: no {names[0]!r} column (columns: "
                                f"{', '.join(map(str, frame.columns))})")
        return found

    key, dist = column("object", "name", "source", "file"), column("distance_pc", "distance")
    rad = column("radius_rjup", "radius", required=False)
    out = {}
    for i, row in frame.iterrows():
        values = {}
        for name, col in (("distance", dist), ("radius", rad)):
            value = None if col is None else pd.to_numeric(row[col], errors="coerce")
            if col is not None and not (np.isfinite(value) and value > 0):
                if name == "radius" and pd.isna(row[col]):
                    value = None
                else:
                    raise SpectrumError(f"{path}: column {col!r}, row {i + 1}: {name} "
                                        f"{row[col]!r} is not a positive number")
            values[name] = None if value is None else float(value)
        out[str(row[key]).strip()] = (values["distance"], values["radius"])
    return out


def distance_for(distances: Mapping | None, path: Path, obj: str | None):
    """The (distance, radius) of a spectrum's object in a :func:`read_distances` table,
    looked up by object name, file name, file stem and path; (None, None) if absent."""
    if not distances:
        return None, None
    for key in (obj, path.name, file_stem(path), path.stem, str(path)):
        if key and key in distances:
            return distances[key]
    return None, None


def catalog_rows(p: Prediction, distance_pc: float | None = None,
                 summary: dict | None = None) -> dict:
    """One catalog row of a prediction: model, object, statistics of every target,
    χ², flux scale, implied radius, guard flags (``;``-separated codes), the numbers
    behind them, and notes. ``summary``: ``p.summary()``, when already computed (e.g. by
    :func:`~atmoscope.prediction.predictor.summaries`, for many rows at once)."""
    row: dict = {"source": p.source, "object": p.name, "model": p.model, "status": "ok"}
    for name, s in (p.summary() if summary is None else summary).items():
        for key in _STATS:
            row[f"{name}_{key}"] = s[key]
    for name, value in (p.best_fit or {}).items():
        row[f"{name}_best_fit"] = value
    fit = p.fit
    row.update(chi2=fit.chi2 if fit else np.nan, dof=fit.dof if fit else -1,
               reduced_chi2=fit.reduced_chi2 if fit else np.nan,
               p_value=fit.p_value if fit else np.nan,
               scale=np.nan if p.scale is None else p.scale,
               distance_pc=np.nan if distance_pc is None else distance_pc,
               implied_radius_rjup=(np.nan if p.implied_radius_rjup is None
                                    else p.implied_radius_rjup),
               error_inflation=p.error_inflation,
               novelty=np.nan if p.novelty is None else p.novelty,
               edge_fraction=np.nan if p.edge_fraction is None else p.edge_fraction,
               n_pixels_used=int(p.spectrum.mask.sum()), flags=";".join(p.flags),
               notes="; ".join(p.notes))
    return row


def predict_catalog(model, files: Sequence[str | Path], progress: bool = True,
                    distances: Mapping[str, tuple[float, float | None]] | None = None,
                    on_prediction: Callable[[Prediction, Predictor], None] | None = None,
                    *, out: str | Path | None = None, meta: dict | None = None,
                    options: Mapping | None = None, engine: str = "local",
                    workers: int | None = None, ray_address: str | None = None,
                    files_per_chunk: int = FILES_PER_CHUNK,
                    rows_per_chunk: int = ROWS_PER_CHUNK, device: str = "cpu",
                    **read_options) -> pd.DataFrame:
    """Predict every spectrum of the inputs; one row per spectrum (and model) with
    estimates, percentiles, χ², flags, through the catalog engine
    (:mod:`atmoscope.prediction.engine`): chunks predicted as batches, on this machine's
    cores or on Ray.

    Args:
        model: a built-in model's name, a bundle path, ``"all"`` or None (as
            :class:`~atmoscope.prediction.ModelChoice` takes them, with ``options``), or
            a :class:`~atmoscope.prediction.ModelChoice` or
            :class:`~atmoscope.prediction.Predictor` (run in this process).
        files: spectrum files and survey files (many spectra each).
        distances: distance and radius per object (:func:`read_distances`).
        on_prediction: called with each prediction and its predictor (e.g. to write
            its figures); the batch then runs in this process.
        out: the catalog file; with it, finished chunks are kept beside it and a rerun
            resumes (:class:`~atmoscope.prediction.engine.Checkpoint`), and the catalog
            is written (atomically) at the end with ``meta``.
        options: :class:`~atmoscope.prediction.Predictor` options (``n_samples``,
            ``seed``, ...).
        engine, workers, ray_address: where the chunks run
            (:func:`~atmoscope.prediction.engine.run_catalog`).
        files_per_chunk, rows_per_chunk: chunk sizes (spectrum files; survey rows).
        device: where the networks run.

    A spectrum that cannot be read or predicted gets a row with ``status`` ``error`` and
    the message in ``error``; the batch goes on.
    """
    chunks = plan_chunks(files, files_per_chunk=files_per_chunk,
                         rows_per_chunk=rows_per_chunk)
    # a name or path each process loads itself (this one never imports the networks);
    # a model object runs here
    portable = model is None or isinstance(model, str | os.PathLike)
    if not portable:
        from atmoscope.prediction.choice import ModelChoice

        if not isinstance(model, ModelChoice):
            model = ModelChoice(model)
        if engine != "local":
            raise ConfigError(f"--engine {engine} needs a model by name or path")
        workers = 1
    kwargs = {"model": model, "options": dict(options or {}), "read_options": read_options,
              "distances": distances, "device": device, "bands": on_prediction is not None}
    run = {"engine": engine, "workers": workers, "ray_address": ray_address,
           "progress": progress, "on_prediction": on_prediction}
    if out is None:
        frames: dict[int, pd.DataFrame] = {}
        run_catalog(chunks, kwargs, on_result=frames.__setitem__, **run)
        table = pd.concat([frames[i] for i in sorted(frames)] or [pd.DataFrame()],
                          ignore_index=True)
        return _finish(table)
    key = fingerprint(chunks, model=str(model) if portable else repr(model),
                      **{k: v for k, v in kwargs.items()
                         if k not in ("model", "device", "bands")})
    checkpoint = Checkpoint(out, key)
    done = checkpoint.done()
    todo = [c for c in chunks if c["index"] not in done]
    if done and todo and progress:
        print(f"{out}: resuming, {len(done)} of {len(chunks)} chunks already done",
              file=sys.stderr)
    run_catalog(todo, kwargs, on_result=checkpoint.write, total=sum(map(chunk_size, chunks)),
                done=sum(chunk_size(c) for c in chunks if c["index"] in done), **run)
    table = _finish(checkpoint.table())
    write_catalog(table, out, meta=meta)
    checkpoint.remove()
    return table


def _finish(table: pd.DataFrame) -> pd.DataFrame:
    for column in ("error", "flags", "notes"):
        if column not in table:
            table[column] = ""
    return table.fillna({"error": "", "flags": "", "notes": ""})


def _unit(column: str, targets: Sequence[str]) -> str | None:
    if column in _COLUMN_UNITS:
        return _COLUMN_UNITS[column]
    for name in targets:
        if column.startswith(name + "_") and column[len(name) + 1:] in (*_STATS, "best_fit"):
            unit = target_label(name)[1]
            return unit or None
    return None


def _targets(table: pd.DataFrame) -> list[str]:
    return sorted({c[: -len("_mean")] for c in table.columns if c.endswith("_mean")})


def _astropy_table(table: pd.DataFrame, units: dict, info: dict):
    from astropy.table import Table

    t = Table.from_pandas(table)
    for column, unit in units.items():
        t[column].unit = unit
    t.meta.update({k: str(v) for k, v in info.items()})
    return t


_ASCII = str.maketrans({"–": "-", "—": "-", "µ": "u", "λ": "lambda", "ν": "nu", "×": "x",
                        "²": "2", "χ": "chi", "σ": "sigma", "±": "+/-", "≥": ">=", "≤": "<=",
                        "→": "->", "…": "...", "÷": "/", "Å": "A"})


def _ascii(text: str) -> str:
    return text.translate(_ASCII).encode("ascii", "replace").decode()


def _write_fits(t, units: dict, path: Path) -> None:
    """A FITS binary table; units FITS does not define (dex, R_Jup) are written as the
    plain TUNITn strings astronomers read, not refused."""
    import astropy.units as u
    from astropy.io import fits

    odd = {}
    for column, unit in units.items():
        try:
            u.Unit(unit).to_string("fits")
        except ValueError:
            odd[column] = unit
            t[column].unit = None
    t.meta = {k.upper()[:8]: _ascii(v) for k, v in t.meta.items()}
    for name in t.colnames:  # FITS text is ASCII: "–", "µm", "χ²" in messages are spelled out
        if t[name].dtype.kind in "OU":
            t[name] = [_ascii(str(v)) for v in t[name]]
    hdu = fits.table_to_hdu(t)
    for i, name in enumerate(t.colnames, start=1):
        if name in odd:
            hdu.header[f"TUNIT{i}"] = odd[name]
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)


def write_catalog(table: pd.DataFrame, path: str | Path, *, meta: dict | None = None) -> Path:
    """Write a catalog in the format its name asks for (:data:`CATALOG_FORMATS`).

    ECSV and FITS are astropy tables with a unit on every column that has one and
    metadata (atmoscope's version, the date, ``meta``: e.g. the model); Parquet keeps the
    units and metadata in its schema; CSV is plain. The file is written under a
    temporary name and renamed, so a failure never leaves a half-written table.

    Raises:
        ConfigError: an unknown extension.
    """
    path = Path(path)
    fmt = catalog_format(path)
    targets = _targets(table)
    units = {c: u for c in table.columns if (u := _unit(str(c), targets))}
    info = {"creator": f"atmoscope {__version__}",
            "date": datetime.now(UTC).isoformat(timespec="seconds"), **(meta or {})}
    with atomic_path(path) as tmp:
        if fmt == "csv":
            table.to_csv(tmp, index=False)
        elif fmt == "parquet":
            import json

            import pyarrow as pa
            import pyarrow.parquet as pq

            arrow = pa.Table.from_pandas(table, preserve_index=False)
            extra = {b"atmoscope": json.dumps({**info, "units": units}).encode()}
            pq.write_table(arrow.replace_schema_metadata({**arrow.schema.metadata, **extra}),
                           tmp)
        elif fmt == "ecsv":
            _astropy_table(table, units, info).write(tmp, format="ascii.ecsv")
        else:
            _write_fits(_astropy_table(table, units, info), units, tmp)
    return path
