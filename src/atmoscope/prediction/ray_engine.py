"""Catalog chunks on Ray Data: the ``--engine ray`` runner, on one machine or a cluster.

The catalog engine cuts its inputs into *chunks*, plain picklable dicts with an integer
``"index"`` and whatever names their inputs (a list of spectrum files, or a survey file
and its rows). A *worker* turns one chunk into a DataFrame of catalog rows: a picklable
class whose constructor loads the model — once per Ray actor, not once per chunk — and
whose ``__call__(chunk) -> pandas.DataFrame`` reads and predicts the chunk, so reading is
parallel too. :func:`run_ray` streams the chunks through a pool of such actors
(``Dataset.map_batches`` with one chunk per batch) and hands each chunk's frame to the
driver as soon as it is done.

Ray is an optional dependency (``pip install 'atmoscope[ray]'``), imported only when
used. The worker class and its keyword arguments travel to the actors by pickle: on a
cluster, atmoscope (and the worker's module) must be importable on every node, and the
paths in the chunks must be readable there.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from atmoscope import errors
from atmoscope._device import limit_threads, settle_worker
from atmoscope._ray import MISSING_RAY, import_ray, init_ray
from atmoscope.errors import AtmoscopeError, ConfigError, first_line

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ENGINES", "engine_available", "require_engine", "run_ray"]

#: The catalog engines: ``local`` (processes on this machine) and ``ray`` (Ray Data).
ENGINES = ("local", "ray")


def engine_available(name: str) -> bool:
    """Whether the engine ``name`` can run here (``ray``: Ray Data is installed).

    Raises:
        ConfigError: an unknown engine.
    """
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r} ({', '.join(ENGINES)})")
    if name == "local":
        return True
    try:
        _import_ray()
    except ConfigError:
        return False
    return True


def require_engine(name: str) -> None:
    """Raise unless the engine ``name`` can run here: a check to make before loading
    anything, so a missing extra is the first thing the user hears of.

    Raises:
        ConfigError: an unknown engine, or ``ray`` without Ray installed (one line
            naming the extra to install).
    """
    if not engine_available(name):
        raise ConfigError(MISSING_RAY)


def _import_ray():
    """``ray`` with ``ray.data`` imported, or the one-line error naming the extra."""
    return import_ray("data")


class _ChunkActor:
    """The Ray Data callable class: one per actor, wrapping one worker.

    It receives the chunks pickled (one per batch: any picklable dict, paths included,
    with no Arrow schema to agree on) and returns ``index``, ``frame`` (the DataFrame as
    Parquet bytes, so frames whose columns differ never meet in one Arrow block) and
    ``error`` (empty, or the one-line message of what the worker raised: an error is
    data here, so the driver names the chunk; a raising actor would surface as Ray's
    multi-line traceback of an anonymous task).
    """

    def __init__(self, worker: type, worker_kwargs: dict, threads: int) -> None:
        limit_threads(threads)
        self._worker, self._failed = None, None
        try:
            self._worker = worker(**worker_kwargs)
        except Exception as exc:  # reported with the first chunk this actor is given
            self._failed = _describe(exc, "starting the worker: ")
        settle_worker()

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        indices, frames, failures = [], [], []
        for index, blob in zip(batch["index"], batch["chunk"], strict=True):
            frame, failed = b"", self._failed
            if failed is None:
                try:
                    buffer = io.BytesIO()
                    self._worker(pickle.loads(blob)).to_parquet(buffer)
                    frame = buffer.getvalue()
                except Exception as exc:
                    failed = _describe(exc)
            indices.append(int(index))
            frames.append(frame)
            failures.append(failed or "")
        return {"index": np.asarray(indices, dtype=np.int64),
                "frame": np.asarray(frames, dtype=object),
                "error": np.asarray(failures, dtype=object)}


def _describe(exc: BaseException, context: str = "") -> str:
    """One line: ``class|message``, an atmoscope error's class (which the driver raises
    again) and its own message, else AtmoscopeError and the exception's class and first
    line."""
    if isinstance(exc, AtmoscopeError):
        return f"{type(exc).__name__}|{context}{first_line(exc)}"
    return f"AtmoscopeError|{context}{type(exc).__name__}: {first_line(exc)}"


def _chunk_error(index: int, described: str) -> AtmoscopeError:
    """The driver's exception for a chunk whose worker failed: the worker's own atmoscope
    error class where it raised one, else :class:`AtmoscopeError`."""
    name, _, message = described.partition("|")
    cls = getattr(errors, name, AtmoscopeError)
    if not (isinstance(cls, type) and issubclass(cls, AtmoscopeError)):
        cls = AtmoscopeError
    return cls(f"chunk {index}: {message}")


def _check_chunks(chunks: Sequence[dict]) -> list[int]:
    """The chunks' indices, checked to be unique integers."""
    indices = []
    for position, chunk in enumerate(chunks):
        index = chunk.get("index") if isinstance(chunk, dict) else None
        if isinstance(index, bool) or not isinstance(index, int):
            raise ConfigError(f"chunk {position}: not a dict with an integer 'index'")
        indices.append(index)
    if len(set(indices)) != len(indices):
        raise ConfigError("chunk indices must be unique")
    return indices


def run_ray(chunks: Sequence[dict], worker: type, worker_kwargs: dict, *,
            on_result: Callable[[int, pd.DataFrame], None], address: str | None = None,
            num_cpus: int | None = None, concurrency: int | None = None,
            threads_per_worker: int = 1, progress: bool = True) -> None:
    """Run ``worker`` over ``chunks`` on Ray Data; call ``on_result`` as each is done.

    Args:
        chunks: picklable dicts, each with a unique integer ``"index"``.
        worker: a class, importable by module path on every Ray worker (defined at the
            top level of an installed module), whose constructor loads what it needs
            once and whose ``__call__(chunk)`` returns a DataFrame that Parquet can hold
            (string column names).
        worker_kwargs: the constructor's keyword arguments (pickled to every actor:
            paths and options, not loaded models).
        on_result: called in this process with ``(index, frame)`` once per chunk, in
            the order the chunks finish (not their order in ``chunks``).
        address: a Ray cluster to join (``"auto"``, ``"ray://host:10001"``, ...); None
            starts a private local Ray, shut down at the end. An already initialised
            Ray in this process is used as it is and left running.
        num_cpus: CPUs of the local Ray (default: all of this machine's); ignored with
            ``address``.
        concurrency: number of actors, each loading the model once (default: as many
            as the Ray CPUs allow, ``threads_per_worker`` each, at most one per chunk).
        threads_per_worker: CPUs reserved for each actor, and its torch and BLAS
            threads.
        progress: show a progress bar over the chunks.

    Raises:
        ConfigError: Ray is not installed, or malformed chunks or counts.
        AtmoscopeError: a chunk whose worker (or its constructor) raised, in one line
            naming the chunk index and the exception (the worker's own atmoscope error
            class where it raised one), or Ray failing to run or losing a chunk.
    """
    indices = _check_chunks(chunks)
    for name, value in (("num_cpus", num_cpus), ("concurrency", concurrency),
                        ("threads_per_worker", threads_per_worker)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    ray = _import_ray()
    if not chunks:
        return
    started = init_ray(ray, address, num_cpus)
    try:
        _stream(ray, chunks, indices, worker, worker_kwargs, on_result, concurrency,
                threads_per_worker, progress)
    finally:
        if started:
            ray.shutdown()


def _stream(ray, chunks, indices, worker, worker_kwargs, on_result, concurrency,
            threads_per_worker, progress) -> None:
    """:func:`_run_dataset` with Ray Data quiet on the console: our bar counts chunks;
    Ray's bars count blocks and rows, and its INFO lines announce every dataset (its log
    file in the session folder still has them). Its settings are restored after."""
    import logging

    from ray.util.debug import log_once

    context = ray.data.DataContext.get_current()
    bars, context.enable_progress_bars = context.enable_progress_bars, False
    log_once("ray_data_progress_manager_disabled")  # its warning that the bars are off
    consoles = [(h, h.level) for h in logging.getLogger("ray.data").handlers
                if isinstance(h, logging.StreamHandler)]
    for handler, _ in consoles:
        handler.setLevel(max(handler.level, logging.WARNING))
    try:
        _run_dataset(ray, chunks, indices, worker, worker_kwargs, on_result, concurrency,
                     threads_per_worker, progress)
    finally:
        context.enable_progress_bars = bars
        for handler, level in consoles:
            handler.setLevel(level)


def _run_dataset(ray, chunks, indices, worker, worker_kwargs, on_result, concurrency,
                 threads_per_worker, progress) -> None:
    """Build the dataset, stream its rows, decode the frames, call ``on_result``."""
    import pandas as pd
    from tqdm.auto import tqdm

    if concurrency is None:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        concurrency = max(1, cpus // threads_per_worker)
    concurrency = min(concurrency, len(chunks))
    items = [{"index": index, "chunk": pickle.dumps(chunk)}
             for index, chunk in zip(indices, chunks, strict=True)]
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _ChunkActor, batch_size=1, batch_format="numpy",
        fn_constructor_kwargs={"worker": worker, "worker_kwargs": worker_kwargs,
                               "threads": threads_per_worker},
        compute=ray.data.ActorPoolStrategy(size=concurrency), num_cpus=threads_per_worker)
    pending = set(indices)
    with tqdm(total=len(chunks), desc="ray", unit="chunk", dynamic_ncols=True,
              disable=None if progress else True) as bar:  # None: only on a terminal
        try:
            for row in dataset.iter_rows():
                index = int(row["index"])
                if index not in pending:  # a retried task delivered twice: keep the first
                    continue
                if row["error"]:
                    raise _chunk_error(index, row["error"])
                pending.discard(index)
                on_result(index, pd.read_parquet(io.BytesIO(row["frame"])))
                bar.update(1)
        except ray.exceptions.RayError as exc:
            raise AtmoscopeError(f"ray engine failed: {first_line(exc)}") from None
    if pending:
        raise AtmoscopeError(f"ray engine lost chunks {sorted(pending)}")
