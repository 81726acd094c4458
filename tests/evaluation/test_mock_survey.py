"""Synthetic surveys: reproducible from the seed whatever the chunking, parameters inside
the grid, noise of the stated size, streamed through the survey writer."""

import astropy.units as u
import numpy as np
import pyarrow.parquet as pq
import pytest

import atmoscope.evaluation.mock_survey as mock_survey
from atmoscope.data import read_grid
from atmoscope.errors import ConfigError
from atmoscope.evaluation import synthetic_survey
from atmoscope.observed import read_survey, read_survey_rows
from atmoscope.statistics import GridInterpolator

NAMES = ["gravity", "temperature", "c_o_ratio", "metallicity"]


@pytest.fixture(scope="module")
def bobcat(grids):
    """The real Sonora Bobcat grid: irregular (C/O varies only at [M/H] = 0)."""
    return read_grid(grids / "sonora_bobcat_telescopeml104.csv", flux_unit="erg / (s cm2 Hz)")


def _all(path):
    return read_survey_rows(path, 0, 10**9)


def test_same_seed_same_file_and_chunking_changes_nothing(small, tmp_path, monkeypatch):
    monkeypatch.setattr(mock_survey, "RANDOM_BLOCK", 16)  # 45 rows: three blocks
    a = synthetic_survey(tmp_path / "a.parquet", 45, model=small, seed=7, progress=False)
    b = synthetic_survey(tmp_path / "b.parquet", 45, model=small, seed=7, chunk_size=7,
                         progress=False)
    assert pq.ParquetFile(a).num_row_groups == 1 and pq.ParquetFile(b).num_row_groups == 7
    first, second = _all(a), _all(b)
    assert first.ids[0] == "syn-0000001" and first.ids[-1] == "syn-0000045"
    for attribute in ("flux", "error"):
        np.testing.assert_array_equal(getattr(first, attribute).value,
                                      getattr(second, attribute).value)
    assert first.truths.equals(second.truths)
    assert list(first.truths.columns) == [*NAMES, "snr"]
    np.testing.assert_array_equal(first.wavelength.value, small.wavelength)
    assert first.flux.unit == u.Unit("erg / (s cm2 Hz)")
    # a longer survey starts with the shorter one; another seed differs
    longer = _all(synthetic_survey(tmp_path / "c.parquet", 60, model=small, seed=7,
                                   progress=False))
    np.testing.assert_allclose(longer.flux.value[:45], first.flux.value, rtol=1e-12)
    assert longer.truths.iloc[:45].equals(first.truths)
    other = _all(synthetic_survey(tmp_path / "d.parquet", 45, model=small, seed=8,
                                  progress=False))
    assert not np.allclose(other.truths.temperature, first.truths.temperature)


def test_truths_inside_the_grid_and_noise_of_the_stated_size(bobcat, tmp_path):
    path = synthetic_survey(tmp_path / "s.parquet", 300, model=bobcat, snr=(10, 50), seed=1,
                            progress=False)
    batch = _all(path)
    truths = batch.truths
    interpolator = GridInterpolator().fit(bobcat)
    assert interpolator.contains(truths[NAMES]).all()  # inside the irregular grid's hull
    for name in NAMES:
        low, high = interpolator.bounds_[name]
        assert low <= truths[name].min() and truths[name].max() <= high
    # uniform inside the hull: Teff spreads over its whole range
    assert truths.temperature.min() < 800 and truths.temperature.max() > 2200
    assert truths.snr.between(10, 50).all() and truths.snr.max() / truths.snr.min() > 3
    model = interpolator(truths[NAMES])
    np.testing.assert_allclose(batch.error.value, model / truths.snr.to_numpy()[:, None],
                               rtol=1e-12)
    z = (batch.flux.value - model) / batch.error.value
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02  # 31,200 pixels
    assert batch.meta["survey"]["seed"] == 1 and batch.meta["survey"]["snr"] == [10, 50]


def test_one_snr_and_fits_output(small, tmp_path):
    path = synthetic_survey(tmp_path / "s.fits", 20, model=small, snr=30, progress=False)
    batch = _all(path)
    assert len(batch) == 20 and (batch.truths.snr == 30).all()
    z = (batch.flux.value - 30 * batch.error.value) / batch.error.value  # model = 30 σ
    assert abs(z.mean()) < 0.08 and abs(z.std() - 1) < 0.06  # 2,080 pixels
    parquet = _all(synthetic_survey(tmp_path / "s.parquet", 20, model=small, snr=30,
                                    progress=False))
    np.testing.assert_array_equal(batch.flux.value, parquet.flux.value)  # the same rows


def test_streams_in_chunks(small, tmp_path, monkeypatch):
    monkeypatch.setattr(mock_survey, "RANDOM_BLOCK", 50)
    path = synthetic_survey(tmp_path / "s.parquet", 230, model=small, chunk_size=40,
                            progress=False)
    assert [len(b) for b in read_survey(path, chunk_size=100)] == [100, 100, 30]
    assert pq.ParquetFile(path).num_row_groups == 6


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "n must be an integer of at least 1"),
    ({"n": 5, "snr": (0, 10)}, "snr must satisfy 0 < low <= high"),
    ({"n": 5, "snr": "high"}, "snr must be a number or"),
    ({"n": 5, "seed": -1}, "seed must be an integer of at least 0"),
    ({"n": 5, "model": "no-such-model"}, "no pretrained model 'no-such-model'"),
])
def test_bad_arguments(small, tmp_path, kwargs, message):
    kwargs = {"model": small, **kwargs}
    with pytest.raises(ConfigError, match=message):
        synthetic_survey(tmp_path / "s.parquet", progress=False, **kwargs)
    assert not list(tmp_path.iterdir())
