"""The Ray Data chunk runner: every chunk once, one worker per actor, one-line errors."""

import os
import pickle
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

from atmoscope.errors import AtmoscopeError, BundleError, ConfigError, SpectrumError
from atmoscope.prediction import ray_engine
from atmoscope.prediction.ray_engine import (
    ENGINES,
    _chunk_error,
    _ChunkActor,
    engine_available,
    require_engine,
    run_ray,
)


class ToyWorker:
    """A worker as the catalog engine writes one: the constructor does the expensive,
    once-per-actor work (here: leaves a file in ``log``, to be counted), ``__call__``
    turns a chunk into rows. Ray's actors import it from this module by name."""

    def __init__(self, log: str, offset: int = 0, fail_init: bool = False) -> None:
        if fail_init:
            raise BundleError("model.pt: not a bundle")
        self.name = uuid.uuid4().hex
        (Path(log) / f"{self.name}.init").touch()
        self.offset = offset

    def __call__(self, chunk: dict) -> pd.DataFrame:
        if chunk.get("fail") == "value":
            raise ValueError("bad rows\nsecond line of the message")
        if chunk.get("fail") == "spectrum":
            raise SpectrumError(f"{chunk['paths'][0]}: no flux column")
        frame = pd.DataFrame({"file": chunk["paths"],
                              "value": [chunk["index"] + self.offset] * len(chunk["paths"]),
                              "actor": self.name})
        if chunk["index"] % 2:  # frames whose columns differ must not clash
            frame["extra"] = 1.5
        return frame


def _chunks(n: int = 6) -> list[dict]:
    return [{"index": i, "paths": [f"s{i}-{j}.fits" for j in range(i % 3 + 1)]}
            for i in range(n)]


def test_engines_and_availability():
    assert ENGINES == ("local", "ray")
    assert engine_available("local")
    with pytest.raises(ConfigError, match="unknown engine 'spark'"):
        engine_available("spark")


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    assert not engine_available("ray")
    message = "--engine ray needs Ray: pip install 'atmoscope[ray]'"
    with pytest.raises(ConfigError) as info:
        require_engine("ray")
    assert str(info.value) == message
    with pytest.raises(ConfigError) as info:
        run_ray(_chunks(), ToyWorker, {"log": "."}, on_result=print)
    assert str(info.value) == message


@pytest.mark.parametrize("chunks, match", [
    ([{"paths": []}], "integer 'index'"),
    ([{"index": 1}, {"index": 1}], "unique"),
])
def test_malformed_chunks(chunks, match):
    with pytest.raises(ConfigError, match=match):
        run_ray(chunks, ToyWorker, {}, on_result=print)


@pytest.fixture(scope="module")
def ray():
    """Ray, with this module pickled by value: Ray's worker processes need not find the
    ``tests`` package on their path (they would where pytest runs from the repository)."""
    ray = pytest.importorskip("ray")
    module = sys.modules[__name__]
    ray.cloudpickle.register_pickle_by_value(module)
    yield ray
    ray.cloudpickle.unregister_pickle_by_value(module)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own settings
def test_every_chunk_once_one_worker_per_actor(ray, tmp_path):
    """A private local Ray (2 CPUs, so 2 actors) over 6 chunks; shut down afterwards."""
    assert not ray.is_initialized()
    results = {}

    def collect(index, frame):
        assert index not in results
        results[index] = frame

    run_ray(_chunks(), ToyWorker, {"log": str(tmp_path), "offset": 100}, on_result=collect,
            num_cpus=2, progress=False)
    assert not ray.is_initialized()
    assert sorted(results) == list(range(6))
    for index, frame in results.items():
        expected = _chunks()[index]["paths"]
        assert frame["file"].tolist() == expected
        assert (frame["value"] == index + 100).all()
        assert ("extra" in frame) == bool(index % 2)
    inits = {p.stem for p in tmp_path.glob("*.init")}
    actors = set(pd.concat(results.values())["actor"])
    assert len(inits) <= 2  # constructors ran once per actor, not per chunk
    assert actors <= inits


@pytest.fixture(scope="module")
def ray_session(ray):
    """One local Ray for the error tests (run_ray uses it as it is, and leaves it)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own settings
def test_a_failing_chunk_is_one_line_naming_it(ray_session, tmp_path):
    """A chunk whose worker raises stops the run with the worker's atmoscope error class
    and message, prefixed by the chunk index; an existing Ray is left running."""
    chunks = _chunks()
    chunks[3]["fail"] = "spectrum"
    with pytest.raises(AtmoscopeError) as info:
        run_ray(chunks, ToyWorker, {"log": str(tmp_path)}, on_result=lambda i, f: None,
                concurrency=1, progress=False)
    assert type(info.value) is SpectrumError
    assert str(info.value) == "chunk 3: s3-0.fits: no flux column"
    assert ray_session.is_initialized()  # not ours to shut down


@pytest.mark.parametrize("kwargs, chunk, error, message", [
    ({}, {"index": 4, "paths": ["a"], "fail": "value"}, AtmoscopeError,
     "chunk 4: ValueError: bad rows"),
    ({"fail_init": True}, {"index": 2, "paths": ["a"]}, BundleError,
     "chunk 2: starting the worker: model.pt: not a bundle"),
])
def test_actor_reports_failures_as_data(tmp_path, monkeypatch, kwargs, chunk, error, message):
    """What the actor returns for a raising worker or constructor (run here, without Ray:
    the Ray path is the test above), and the one-line error the driver makes of it."""
    monkeypatch.setattr(ray_engine, "limit_threads", lambda threads: None)  # not in pytest
    actor = _ChunkActor(ToyWorker, {"log": str(tmp_path), **kwargs}, threads=1)
    out = actor({"index": [chunk["index"]], "chunk": [pickle.dumps(chunk)]})
    assert out["index"].tolist() == [chunk["index"]] and out["frame"][0] == b""
    exc = _chunk_error(chunk["index"], out["error"][0])
    assert type(exc) is error and str(exc) == message
