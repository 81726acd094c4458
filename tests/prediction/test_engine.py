"""The catalog engine: chunks, survey files, processes, checkpoints and resuming."""

import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atmoscope._device import torch_threads
from atmoscope.evaluation import synthetic_survey
from atmoscope.prediction import predict_catalog
from atmoscope.prediction.engine import Checkpoint, fingerprint, plan_chunks

OPTIONS = {"n_samples": 20, "seed": 1}


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    return synthetic_survey(tmp_path_factory.mktemp("survey") / "mock.parquet", 40, seed=2,
                            progress=False)


@pytest.fixture(scope="module")
def spex_files(shared_data):
    files = sorted(glob.glob(str(shared_data / "spex_prism_library" / "spectra" / "*.fits.gz")))
    return files[300:305]


def test_chunks_cover_files_and_survey_rows_in_order(survey, spex_files):
    chunks = plan_chunks([*spex_files[:3], survey, spex_files[3]], files_per_chunk=2,
                         rows_per_chunk=16)
    assert [c.get("files") for c in chunks[:2]] == [spex_files[:2], spex_files[2:3]]
    assert [(c["start"], c["stop"]) for c in chunks[2:5]] == [(0, 16), (16, 32), (32, 40)]
    assert chunks[5]["files"] == [spex_files[3]]
    assert [c["index"] for c in chunks] == list(range(6))


def test_a_survey_file_gives_one_row_per_spectrum_near_its_truths(survey):
    table = predict_catalog("bobcat", [survey], progress=False, options=OPTIONS,
                            rows_per_chunk=16)
    truths = pd.read_parquet(survey)
    assert len(table) == 40 and (table.status == "ok").all()
    assert table["object"].tolist() == truths["id"].tolist()
    assert table["row"].tolist() == list(range(40))
    error = np.abs(table["temperature_mean"] - truths["temperature"])
    assert np.median(error) < 60  # K, at S/N 20–200


def test_an_unreadable_survey_chunk_gives_error_rows_and_the_batch_goes_on(survey,
                                                                          monkeypatch):
    from atmoscope.errors import SpectrumError
    from atmoscope.observed import survey as survey_module

    real = survey_module.read_survey_rows

    def flaky(path, start, stop, **units):
        if start == 16:
            raise SpectrumError(f"{path}: row group 1 is damaged")
        return real(path, start, stop, **units)

    monkeypatch.setattr(survey_module, "read_survey_rows", flaky)
    table = predict_catalog("bobcat", [survey], progress=False, options=OPTIONS, workers=1,
                            rows_per_chunk=16)
    assert len(table) == 40 and table["row"].tolist() == list(range(40))
    assert (table.status[16:32] == "error").all() and (table.status[:16] == "ok").all()
    assert table.error[20].endswith("row group 1 is damaged")


def test_processes_give_the_rows_of_one_process(survey, spex_files, tmp_path):
    inputs = [survey, *spex_files]
    # each of the two processes runs torch on one thread (its share of the cores); on some
    # CPUs the network's float32 sums round differently on two, so the one process does too
    with torch_threads(1):
        one = predict_catalog("bobcat", inputs, progress=False, options=OPTIONS, workers=1,
                              rows_per_chunk=16, files_per_chunk=2)
    two = predict_catalog("bobcat", inputs, progress=False, options=OPTIONS, workers=2,
                          rows_per_chunk=16, files_per_chunk=2)
    pd.testing.assert_frame_equal(one, two, rtol=1e-6)


def test_a_rerun_resumes_from_the_parts_and_leaves_none(survey, tmp_path):
    out = tmp_path / "catalog.parquet"
    full = predict_catalog("bobcat", [survey], progress=False, options=OPTIONS,
                           rows_per_chunk=16)
    chunks = plan_chunks([survey], rows_per_chunk=16)
    key = fingerprint(chunks, model="bobcat", options=OPTIONS, read_options={},
                      distances=None)
    Checkpoint(out, key).write(1, full.iloc[16:32].assign(object="from the part"))
    table = predict_catalog("bobcat", [survey], progress=False, options=OPTIONS,
                            rows_per_chunk=16, out=out)
    assert (table["object"][16:32] == "from the part").all()  # chunk 1 was not redone
    pd.testing.assert_frame_equal(table.drop(columns="object")[:16],
                                  full.drop(columns="object")[:16], rtol=1e-6)
    assert len(pd.read_parquet(out)) == 40
    assert not list(tmp_path.glob(".*parts*"))
    with pytest.raises(Exception, match="other inputs or options"):
        Checkpoint(out, key).write(0, full)  # fresh folder: writing is fine
        Checkpoint(out, "another batch")


@pytest.mark.slow
def test_a_killed_batch_resumes_without_redoing_rows(tmp_path):
    survey = synthetic_survey(tmp_path / "mock.parquet", 160, seed=5, progress=False)
    out = tmp_path / "out.parquet"
    atmoscope = str(Path(sys.executable).with_name("atmoscope"))
    command = [atmoscope, "predict", str(survey), "--out",
               str(out), "--samples", "20", "--chunk-size", "10", "--workers", "1",
               "--model", "bobcat"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    parts = tmp_path / ".out.parquet.parts"
    deadline = time.time() + 240
    while len(list(parts.glob("part-*.parquet"))) < 3 and time.time() < deadline:
        time.sleep(0.2)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    done = len(list(parts.glob("part-*.parquet")))
    assert 3 <= done < 16 and not out.exists()  # no half-written catalog
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{done} of 16 chunks already done" in rerun.stderr
    table = pd.read_parquet(out)
    assert len(table) == 160 and table["row"].tolist() == list(range(160))
    assert (table.status == "ok").all() and not parts.exists()


@pytest.mark.slow
def test_ray_gives_the_local_catalog_row_for_row(survey, spex_files, tmp_path):
    ray = pytest.importorskip("ray")
    inputs = [survey, *spex_files[:2]]
    local = predict_catalog("bobcat", inputs, progress=False, options=OPTIONS,
                            rows_per_chunk=16, files_per_chunk=2)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = predict_catalog("bobcat", inputs, progress=False, options=OPTIONS,
                                 rows_per_chunk=16, files_per_chunk=2, engine="ray",
                                 out=tmp_path / "ray.parquet")
    finally:
        ray.shutdown()
    on_ray = on_ray[local.columns]  # a Parquet round trip: same values, same order
    pd.testing.assert_frame_equal(local, on_ray, rtol=1e-6, check_dtype=False)


def test_a_settled_worker_leaves_what_it_loaded_out_of_full_collections():
    """A catalog worker process, once its model is loaded, freezes what is alive then
    (the full collections that would scan it every few chunks cost a tenth of a chunk)."""
    import gc

    from atmoscope._device import settle_worker

    try:
        settle_worker()
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
