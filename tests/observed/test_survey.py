"""Survey files: round trips through Parquet and FITS, chunked and sliced reading, one-line
errors that name the file and the column, and telling a survey from a single spectrum."""

import json

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from atmoscope.errors import ConfigError
from atmoscope.observed import (
    SpectrumBatch,
    SpectrumError,
    SurveyWriter,
    clean_spectrum,
    is_survey_file,
    read_spectrum,
    read_survey,
    read_survey_rows,
    survey_length,
    write_survey,
)
from atmoscope.observed.survey import METADATA_KEY
from tests.observed.helpers import FLAM

FORMATS = [".parquet", ".fits", ".fits.gz"]
N, L = 23, 40


def _data(seed=0):
    rng = np.random.default_rng(seed)
    wave = np.geomspace(0.9, 2.4, L)
    flux = rng.uniform(1.0, 2.0, (N, L)) * 1e-16
    error = flux / rng.uniform(10, 100, (N, 1))
    flux[3, 5] = np.nan  # NaN survives the round trip
    truths = pd.DataFrame({"temperature": rng.uniform(500, 2000, N),
                           "gravity": rng.uniform(4.0, 5.5, N)})
    ids = [f"obj-{i:02d}" for i in range(N)]
    return ids, wave, flux, error, truths


def _concat(batches, attribute):
    return np.concatenate([getattr(b, attribute).value for b in batches])


# --- round trips --------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("per_row", [False, True])
def test_round_trip(tmp_path, suffix, per_row):
    ids, wave, flux, error, truths = _data()
    wavelength = (np.tile(wave, (N, 1)) * (1 + 1e-4 * np.arange(N)[:, None]) if per_row
                  else wave) * u.um
    path = write_survey(tmp_path / f"s{suffix}", ids, wavelength, flux * FLAM, error * FLAM,
                        truths, meta={"survey": "test", "n": 23})
    assert is_survey_file(path) and survey_length(path) == N
    assert not list(tmp_path.glob(".*partial"))
    batch = read_survey_rows(path, 0, N)
    assert batch.ids == ids and batch.rows.tolist() == list(range(N))
    assert batch.shared_wavelength is not per_row
    np.testing.assert_array_equal(batch.wavelength.value, wavelength.value)
    np.testing.assert_array_equal(batch.flux.value, flux)  # float64, bit for bit
    np.testing.assert_array_equal(batch.error.value, error)
    assert batch.wavelength.unit == u.um and batch.flux.unit == FLAM
    assert batch.error.unit == FLAM
    pd.testing.assert_frame_equal(batch.truths, truths)
    assert batch.meta["survey"] == {"survey": "test", "n": 23}
    assert batch.meta["flux_unit_from"] == batch.meta["wave_unit_from"] == "file"
    spec = batch.spectrum(3)
    assert spec.meta["source"] == f"{path}#obj-03" and spec.meta["object"] == "obj-03"
    assert spec.meta["truths"]["gravity"] == truths["gravity"][3]
    assert spec.n_pixels == L and spec.good == L - 1  # the NaN pixel
    assert clean_spectrum(spec)[1].nonfinite_flux == 1


def test_without_units_errors_or_truths(tmp_path):
    ids, wave, flux, _, _ = _data()
    path = write_survey(tmp_path / "plain.parquet", ids, wave, flux)
    batch = read_survey_rows(path, 0, 5)
    assert batch.flux.unit == u.dimensionless_unscaled and batch.wavelength.unit == u.um
    assert batch.meta["wave_unit_from"] == "guessed"
    assert batch.meta["flux_unit_from"] == "assumed"
    assert batch.error is None and batch.truths is None
    given = read_survey_rows(path, 0, 5, flux_unit="Jy", wave_unit="um")
    assert given.flux.unit == u.Jy and given.meta["flux_unit_from"] == "argument"
    nm = write_survey(tmp_path / "nm.fits", ids, wave * 1000, flux)
    with pytest.raises(SpectrumError, match=r"nm.fits: column 'WAVELENGTH': wavelengths "
                                            r"900–2400 do not look like µm"):
        read_survey(nm)
    assert read_survey_rows(nm, 0, 1, wave_unit="nm").wavelength.unit == u.nm


def test_descending_wavelengths_are_reversed(tmp_path):
    ids, wave, flux, error, _ = _data()
    path = write_survey(tmp_path / "desc.parquet", ids, wave[::-1] * u.um, flux[:, ::-1],
                        error[:, ::-1])
    batch = read_survey_rows(path, 0, N)
    assert batch.meta["reversed"] is True
    np.testing.assert_array_equal(batch.wavelength.value, wave)
    np.testing.assert_array_equal(batch.flux.value, flux)


# --- chunks and slices ----------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".parquet", ".fits"])
def test_chunks_in_order_and_slices(tmp_path, suffix):
    ids, wave, flux, error, truths = _data()
    path = tmp_path / f"s{suffix}"
    # Parquet: row groups of 7, 7, 7, 2, so chunks of 5 cross their boundaries
    with SurveyWriter(path, wave * u.um, FLAM, truths_names=["temperature", "gravity"]) as w:
        for lo in range(0, N, 7):
            w.write(ids[lo:lo + 7], flux[lo:lo + 7], error[lo:lo + 7], truths[lo:lo + 7])
    if suffix == ".parquet":
        assert pq.ParquetFile(path).num_row_groups == 4
    batches = list(read_survey(path, chunk_size=5))
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert [b.rows[0] for b in batches] == [0, 5, 10, 15, 20]
    np.testing.assert_array_equal(_concat(batches, "flux"), flux)
    assert sum((b.ids for b in batches), []) == ids
    pd.testing.assert_frame_equal(pd.concat([b.truths for b in batches], ignore_index=True),
                                  truths)
    part = list(read_survey(path, chunk_size=4, start=6, stop=17))
    assert [b.rows.tolist() for b in part] == [[6, 7, 8, 9], [10, 11, 12, 13], [14, 15, 16]]
    np.testing.assert_array_equal(_concat(part, "error"), error[6:17])
    rows = read_survey_rows(path, 8, 100)  # stop beyond the end: the end
    assert rows.ids == ids[8:] and rows.truths["gravity"].tolist() == truths.gravity[8:].tolist()
    empty = read_survey_rows(path, 4, 4)
    assert len(empty) == 0 and empty.flux.shape == (0, L)
    assert list(read_survey(path, start=N)) == []


def test_a_file_of_one_big_row_group_streams_in_small_chunks(tmp_path):
    ids, wave, flux, error, _ = _data()
    path = write_survey(tmp_path / "one.parquet", ids, wave * u.um, flux, error)
    assert pq.ParquetFile(path).num_row_groups == 1
    sizes = [len(b) for b in read_survey(path, chunk_size=6, start=1)]
    assert sizes == [6, 6, 6, 4]


def test_bad_reading_arguments(tmp_path):
    ids, wave, flux, _, _ = _data()
    path = write_survey(tmp_path / "s.parquet", ids, wave, flux)
    with pytest.raises(ConfigError, match="chunk_size"):
        read_survey(path, chunk_size=0)
    with pytest.raises(ConfigError, match="start <= stop"):
        read_survey_rows(path, 5, 2)


# --- errors name the file, the column and the row -----------------------------------------
def _parquet(path, columns: dict, meta: dict | None = None):
    table = pa.table(columns)
    if meta is not None:
        table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta)})
    pq.write_table(table, path)
    return path


def test_one_line_errors(tmp_path):
    wave = {"wavelength": [1.0, 1.5, 2.0]}
    no_flux = _parquet(tmp_path / "noflux.parquet", {"id": ["a"], "spec": [[1.0, 2.0, 3.0]]},
                       wave)
    with pytest.raises(SpectrumError, match=r"noflux.parquet: no 'flux' column; columns: "
                                            r"id, spec"):
        read_survey(no_flux)
    ragged = _parquet(tmp_path / "ragged.parquet",
                      {"id": ["a", "b"], "flux": [[1.0, 2.0, 3.0], [1.0, 2.0]]}, wave)
    with pytest.raises(SpectrumError, match=r"ragged.parquet: column 'flux', row 1 \(id 'b'\): "
                                            r"2 values for 3 wavelengths"):
        list(read_survey(ragged))
    text = _parquet(tmp_path / "text.parquet", {"flux": [["1", "2", "3"]]}, wave)
    with pytest.raises(SpectrumError, match=r"text.parquet: column 'flux' holds arrays of "
                                            r"string, not numbers"):
        read_survey(text)
    scalar = _parquet(tmp_path / "scalar.parquet", {"flux": [1.0]}, wave)
    with pytest.raises(SpectrumError, match=r"scalar.parquet: column 'flux' holds double, not "
                                            r"one array of numbers per row"):
        read_survey(scalar)
    unit = _parquet(tmp_path / "unit.parquet", {"flux": [[1.0, 2.0, 3.0]]},
                    {**wave, "flux_unit": "furlongs per fortnight"})
    with pytest.raises(SpectrumError, match=r"unit.parquet: column 'flux': metadata unit "
                                            r"'furlongs per fortnight' is not understood"):
        read_survey(unit)
    length = _parquet(tmp_path / "length.parquet", {"flux": [[1.0, 2.0, 3.0]]},
                      {**wave, "flux_unit": "m"})
    with pytest.raises(SpectrumError, match=r"length.parquet: column 'flux': unit 'm' is not "
                                            r"a flux density"):
        read_survey(length)
    no_wave = _parquet(tmp_path / "nowave.parquet", {"flux": [[1.0, 2.0, 3.0]]})
    with pytest.raises(SpectrumError, match=r"nowave.parquet: no wavelengths"):
        read_survey(no_wave)
    missing = _parquet(tmp_path / "truths.parquet", {"flux": [[1.0, 2.0, 3.0]]},
                       {**wave, "truths": ["teff"]})
    with pytest.raises(SpectrumError, match=r"truth column\(s\) \['teff'\]"):
        read_survey(missing)
    clash = write_survey(tmp_path / "clash.fits", ["a"], [1.0, 2.0] * u.um, [[1.0, 2.0]] * FLAM)
    with pytest.raises(SpectrumError, match=r"clash.fits: column 'FLUX': the file gives unit"):
        read_survey(clash, flux_unit="Jy")
    with pytest.raises(SpectrumError, match=r"nothing.parquet: no such file"):
        read_survey(tmp_path / "nothing.parquet")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(SpectrumError, match=r"junk.parquet: not a readable Parquet file"):
        survey_length(tmp_path / "junk.parquet")


def test_a_null_flux_row_reads_as_nan(tmp_path):
    path = _parquet(tmp_path / "null.parquet",
                    {"id": ["a", None], "flux": [[1.0, None, 3.0], None]},
                    {"wavelength": [1.0, 1.5, 2.0]})
    batch = read_survey_rows(path, 0, 2)
    assert batch.ids == ["a", "1"]  # a missing id: the row number
    np.testing.assert_array_equal(batch.flux.value, [[1.0, np.nan, 3.0], [np.nan] * 3])


# --- telling surveys apart -------------------------------------------------------------------
def test_is_survey_file(tmp_path, shared_data, small_file):
    spex = shared_data / "spex_prism_library" / "spectra" / "10001_10443.fits.gz"
    assert read_spectrum(spex).n_pixels == 564  # a single spectrum...
    assert not is_survey_file(spex)  # ...not a survey
    with pytest.raises(SpectrumError, match=r"10001_10443.fits.gz: no binary table HDU "
                                            r"'SPECTRA'"):
        read_survey(spex)
    assert not is_survey_file(small_file)  # a training grid (Parquet, no array columns)
    assert not is_survey_file(shared_data / "observed" / "GJ570D_spex_prism.csv")
    assert not is_survey_file(tmp_path / "missing.parquet")
    (tmp_path / "junk.fits").write_bytes(b"\0" * 100)
    assert not is_survey_file(tmp_path / "junk.fits")


# --- writing ---------------------------------------------------------------------------------
def test_a_failed_write_leaves_nothing(tmp_path):
    ids, wave, flux, error, _ = _data()
    path = tmp_path / "s.parquet"
    write_survey(path, ids[:2], wave, flux[:2])
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="every chunk must give errors, or none"):
        with SurveyWriter(path, wave * u.um, FLAM) as writer:
            writer.write(ids[:5], flux[:5], error[:5])
            writer.write(ids[5:], flux[5:])
    assert path.read_bytes() == before  # the old file, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet"]
    with pytest.raises(ConfigError, match=r"flux of shape \(2, 40\) for 3 ids"):
        write_survey(tmp_path / "t.fits", ids[:3], wave, flux[:2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet"]
    with pytest.raises(ConfigError, match="use one of the survey's own columns"):
        write_survey(tmp_path / "u.parquet", ids[:2], wave, flux[:2], truths={"Flux": [1, 2]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet"]


def test_batch_validation():
    with pytest.raises(SpectrumError, match=r"wavelength of shape \(3,\) for flux of shape"):
        SpectrumBatch(["a"], [0], [1.0, 2.0, 3.0] * u.um, [[1.0, 2.0]])
    with pytest.raises(SpectrumError, match="is not a length"):
        SpectrumBatch(["a"], [0], [1.0, 2.0] * u.s, [[1.0, 2.0]])


def test_a_rows_spectrum_is_a_read_only_view_of_the_batch():
    flux = np.array([[1.0, 2.0, np.nan], [4.0, 5.0, 6.0]]) * u.Unit("erg / (s cm2 AA)")
    batch = SpectrumBatch(["a", "b"], [0, 1], [1.0, 2.0, 3.0] * u.um, flux, error=0.1 * flux)
    first = batch.spectrum(0)
    assert first.flux.unit == flux.unit and first.wavelength.unit == u.um
    np.testing.assert_array_equal(first.mask, [True, True, False])  # finite pixels
    np.testing.assert_array_equal(first.error.value, [0.1, 0.2, np.nan])
    for array in (first.wavelength, first.flux, first.error, first.mask):
        assert not array.flags.writeable
    assert batch.flux.flags.writeable  # the batch's own arrays are left as they were
    assert first.meta["object"] == "a" and first.meta["row"] == 0
