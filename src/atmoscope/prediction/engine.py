"""The catalog engine: many spectra in chunks, on this machine's cores or on Ray.

A catalog's inputs — spectrum files, and survey files of many spectra each
(:mod:`atmoscope.observed.survey`) — are cut into *chunks* (:func:`plan_chunks`): a few
dozen files, or a range of a survey file's rows. A :class:`CatalogWorker` loads the model
once and turns a chunk into catalog rows: it reads the chunk, prepares it (vectorised
where the spectra share a wavelength grid) and predicts it as one batch
(:meth:`~atmoscope.prediction.Predictor.predict_many`), so a spectrum's row is the same
whichever chunk, worker or engine it went through.

Engines: ``local`` runs the workers in processes of this machine (one per core, each with
its share of threads; reading is then concurrent too), ``ray`` as Ray Data tasks
(:mod:`atmoscope.prediction.ray_engine`) on a local Ray or a cluster.

With an output file, every finished chunk is written at once to a part file beside it
(:class:`Checkpoint`); a rerun of the same batch skips the chunks done, and the catalog
is assembled, written atomically, only at the end: a killed batch loses at most the
chunks in flight and never leaves a half-written catalog.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from atmoscope._atomic import atomic_path
from atmoscope._device import limit_threads, settle_worker
from atmoscope.errors import AtmoscopeError, ConfigError

__all__ = ["CatalogWorker", "Checkpoint", "chunk_size", "fingerprint", "plan_chunks",
           "run_catalog"]

#: spectrum files per chunk, and survey rows per chunk
FILES_PER_CHUNK = 32
ROWS_PER_CHUNK = 1024


def plan_chunks(inputs: Sequence[str | Path], *, files_per_chunk: int = FILES_PER_CHUNK,
                rows_per_chunk: int = ROWS_PER_CHUNK) -> list[dict]:
    """Cut the inputs into chunks (plain dicts, picklable): runs of consecutive spectrum
    files, and row ranges of survey files, in input order.

    Raises:
        ConfigError: a chunk size below 1.
    """
    from atmoscope.observed.survey import is_survey_file, survey_length

    if files_per_chunk < 1 or rows_per_chunk < 1:
        raise ConfigError("chunk sizes must be at least 1")
    chunks: list[dict] = []
    files: list[str] = []

    def flush():
        if files:
            chunks.append({"index": len(chunks), "files": list(files)})
            files.clear()

    for path in map(str, inputs):
        if is_survey_file(path):
            flush()
            n = survey_length(path)
            for start in range(0, n, rows_per_chunk):
                chunks.append({"index": len(chunks), "survey": path, "start": start,
                               "stop": min(start + rows_per_chunk, n)})
        else:
            files.append(path)
            if len(files) == files_per_chunk:
                flush()
    flush()
    return chunks


def chunk_size(chunk: Mapping) -> int:
    """Spectra in a chunk."""
    return len(chunk["files"]) if "files" in chunk else chunk["stop"] - chunk["start"]


class CatalogWorker:
    """Turns chunks into catalog rows with a model loaded once.

    Args:
        model: what :class:`~atmoscope.prediction.ModelChoice` takes (None, ``"all"``,
            a built-in model's name, a bundle path).
        options: :class:`~atmoscope.prediction.Predictor` options.
        read_options: :func:`~atmoscope.observed.read_spectrum` options (columns and
            units; a survey file takes the units).
        distances: distance and radius per object
            (:func:`~atmoscope.prediction.read_distances`).
        threads: torch and BLAS threads of this worker (None: leave as they are).
        device: where the networks run (``auto``, ``cpu``, ``cuda``).
        bands: compute the predictive bands of model spectra (only figures need them).
    """

    def __init__(self, model=None, options: Mapping | None = None,
                 read_options: Mapping | None = None,
                 distances: Mapping | None = None, threads: int | None = None,
                 device: str = "cpu", bands: bool = False) -> None:
        from atmoscope.prediction.choice import ModelChoice

        if threads is not None:
            limit_threads(threads)
        self.model = model
        self.choice = model if isinstance(model, ModelChoice) else ModelChoice(
            model, device=device, **dict(options or {}))
        self.read_options = dict(read_options or {})
        self.distances = distances
        self.bands = bands

    def __call__(self, chunk: Mapping) -> pd.DataFrame:
        """The catalog rows of one chunk as a table (what the engines collect)."""
        return pd.DataFrame(self.rows(chunk))

    def rows(self, chunk: Mapping, on_prediction: Callable | None = None) -> list[dict]:
        """The catalog rows of one chunk (one per spectrum and model; an error row for a
        spectrum that could not be read or predicted)."""
        from atmoscope.prediction.catalog import catalog_rows
        from atmoscope.prediction.predictor import summaries

        bands = self.bands
        if "files" in chunk:
            outcomes, keys = self._files(chunk["files"], bands)
        else:
            outcomes, keys = self._survey(chunk, bands)
        predicted = [pair for outcome in outcomes
                     if not isinstance(outcome, AtmoscopeError | OSError)
                     for pair in outcome[0]]
        summary = iter(summaries([p for p, _ in predicted]))
        rows: list[dict] = []
        for (source, obj, extra), outcome in zip(keys, outcomes, strict=True):
            if isinstance(outcome, AtmoscopeError | OSError):
                rows.append({"source": source, "object": obj, **extra, "status": "error",
                             "error": " ".join(str(outcome).split())})
                continue
            for p, predictor in outcome[0]:
                rows.append({**catalog_rows(p, predictor.distance_pc, next(summary)), **extra})
                if on_prediction is not None:
                    on_prediction(p, predictor)
        return rows

    def _files(self, files: Sequence[str], bands):
        from atmoscope.observed import read_spectrum
        from atmoscope.observed.readers import file_stem, object_name
        from atmoscope.prediction.catalog import distance_for

        keys, spectra, where, outcomes = [], [], [], []
        for path in map(Path, files):
            try:
                spectrum = read_spectrum(path, **self.read_options)
            except (AtmoscopeError, OSError) as exc:
                keys.append((str(path), file_stem(path), {}))
                outcomes.append(exc)
                continue
            obj = object_name(spectrum) or file_stem(path)
            keys.append((str(path), obj, {}))
            outcomes.append(None)
            where.append(len(outcomes) - 1)
            spectra.append((spectrum, distance_for(self.distances, path, obj)))
        predicted = self.choice.predict_many([s for s, _ in spectra],
                                             [d for _, d in spectra], bands=bands)
        for i, result in zip(where, predicted, strict=True):
            outcomes[i] = result
        return outcomes, keys

    def _survey(self, chunk: Mapping, bands):
        from atmoscope.observed.survey import read_survey_rows

        units = {k: self.read_options[k] for k in ("flux_unit", "wave_unit")
                 if self.read_options.get(k) is not None}
        try:
            batch = read_survey_rows(chunk["survey"], chunk["start"], chunk["stop"], **units)
        except (AtmoscopeError, OSError) as exc:  # an error row each; the batch goes on
            rows = range(chunk["start"], chunk["stop"])
            return [exc] * len(rows), [(f"{chunk['survey']}#{r}", str(r), {"row": r})
                                       for r in rows]
        distances = None
        if self.distances:
            distances = [self.distances.get(i, (None, None)) for i in batch.ids]
        outcomes = self.choice.predict_batch(batch, distances, bands=bands)
        keys = [(batch.row_source(i), obj, {"row": int(row)})
                for i, (obj, row) in enumerate(zip(batch.ids, batch.rows, strict=True))]
        return outcomes, keys


class Checkpoint:
    """The part files of an unfinished catalog, beside it (``.<name>.parts/``): one
    Parquet file per finished chunk, written atomically, and the batch's fingerprint, so
    that only the same batch resumes from them.

    Raises:
        ConfigError: the folder holds the parts of another batch (other inputs or
            options), naming it.
    """

    def __init__(self, out: str | Path, fingerprint: str) -> None:
        self.out = Path(out)
        self.folder = self.out.with_name(f".{self.out.name}.parts")
        plan = self.folder / "batch.json"
        if plan.exists():
            if json.loads(plan.read_text()).get("fingerprint") != fingerprint:
                raise ConfigError(
                    f"{self.folder}: holds the parts of an unfinished batch with other "
                    f"inputs or options; delete it to start {self.out} afresh")
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(plan) as tmp:
                tmp.write_text(json.dumps({"fingerprint": fingerprint}))

    def _part(self, index: int) -> Path:
        return self.folder / f"part-{index:07d}.parquet"

    def done(self) -> set[int]:
        """Indices of the chunks already written."""
        return {int(p.stem.split("-")[1]) for p in self.folder.glob("part-*.parquet")}

    def write(self, index: int, frame: pd.DataFrame) -> None:
        """Keep the rows of chunk ``index`` (written under a temporary name, renamed)."""
        with atomic_path(self._part(index)) as tmp:
            _as_parquet_safe(frame).to_parquet(tmp, index=False)

    def table(self) -> pd.DataFrame:
        """Every part, in chunk order."""
        parts = sorted(self.folder.glob("part-*.parquet"))
        frames = [pd.read_parquet(p) for p in parts]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def remove(self) -> None:
        """Delete the parts (once the catalog is written)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns as strings where they mix types (Parquet needs one type)."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            kinds = {type(v) for v in frame[column] if v is not None and v == v}
            if len(kinds) > 1:
                frame[column] = frame[column].map(lambda v: v if v is None or v != v
                                                  else str(v))
    return frame


def fingerprint(chunks: Sequence[Mapping], **job) -> str:
    """What a batch is: its chunks and every option that changes its rows."""
    text = json.dumps({"chunks": list(chunks), "job": job}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --- running -----------------------------------------------------------------------------
_WORKER: CatalogWorker | None = None


def _start_worker(kwargs: dict) -> None:
    global _WORKER  # one per process of the pool: the model loaded once
    _WORKER = CatalogWorker(**kwargs)
    settle_worker()


def _run_chunk(chunk: dict) -> tuple[int, pd.DataFrame]:
    return chunk["index"], _WORKER(chunk)


def run_catalog(chunks: Sequence[dict], worker_kwargs: dict, *,
                on_result: Callable[[int, pd.DataFrame], None], engine: str = "local",
                workers: int | None = None, ray_address: str | None = None,
                progress: bool = True, total: int | None = None, done: int = 0,
                on_prediction: Callable | None = None) -> None:
    """Run the chunks through catalog workers; ``on_result(index, frame)`` as each ends.

    Args:
        chunks: from :func:`plan_chunks` (those still to do).
        worker_kwargs: :class:`CatalogWorker` arguments (picklable).
        engine: ``local`` or ``ray``.
        workers: processes (``local``; default one per core, one in all for a single
            chunk or with ``on_prediction``) or Ray actors (``ray``).
        ray_address: a Ray cluster to join (``ray``; None: a local Ray).
        progress: a progress bar over the spectra (``total``, of which ``done`` are done).
        on_prediction: called with each prediction and its predictor (e.g. figures);
            runs the chunks in this process.
    """
    from tqdm.auto import tqdm

    from atmoscope.prediction.ray_engine import require_engine, run_ray

    require_engine(engine)
    cores = os.cpu_count() or 1
    bar = tqdm(total=total if total is not None else sum(map(chunk_size, chunks)),
               initial=done, desc="predict", unit="spectrum", disable=None if progress else True)
    sizes = {c["index"]: chunk_size(c) for c in chunks}

    def finished(index: int, frame: pd.DataFrame) -> None:
        on_result(index, frame)
        bar.update(sizes[index])

    try:
        if engine == "ray":
            run_ray(chunks, CatalogWorker, worker_kwargs, on_result=finished,
                    address=ray_address, concurrency=workers, progress=False)
            return
        n = workers or cores
        if on_prediction is not None or n <= 1 or len(chunks) <= 1:
            worker = CatalogWorker(**worker_kwargs)
            for chunk in chunks:
                finished(chunk["index"], pd.DataFrame(worker.rows(chunk, on_prediction)))
            return
        _run_pool(chunks, {**worker_kwargs, "threads": max(1, cores // n)}, min(n, len(chunks)),
                  finished)
    finally:
        bar.close()


def _run_pool(chunks, worker_kwargs: dict, n: int, finished) -> None:
    """Chunks on ``n`` processes (spawned: torch's threads do not survive a fork)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n, mp_context=context, initializer=_start_worker,
                             initargs=(worker_kwargs,)) as pool:
        futures = [pool.submit(_run_chunk, chunk) for chunk in chunks]
        try:
            for future in as_completed(futures):
                finished(*future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise
