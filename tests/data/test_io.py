"""Reading and writing training grids: real files, formats and every documented failure."""

import bz2
import gzip
import shutil
import warnings

import astropy.units as u
import numpy as np
import pandas as pd
import pytest

import atmoscope.data.io as grid_io
from atmoscope.data import AssumedUnitWarning, DuplicateSpectraWarning, read_grid, write_grid
from atmoscope.data.io import register_grid_reader
from atmoscope.errors import ConfigError, GridError


def test_reads_telescopeml_layout(bobcat104, grids):
    g = bobcat104
    assert (g.n_spectra, g.n_wavelengths) == (345, 104)
    assert g.targets == ("gravity", "temperature", "c_o_ratio", "metallicity")
    assert str(g.wavelength_unit) == "um"
    # the file is descending; the grid is ascending with flux columns moved along
    assert np.all(np.diff(g.wavelength) > 0)
    assert g.wavelength[0] == pytest.approx(0.897) and g.wavelength[-1] == pytest.approx(2.512)
    raw = pd.read_csv(grids / "sonora_bobcat_telescopeml104.csv")
    np.testing.assert_array_equal(g.flux[:, -1], raw["2.512"].to_numpy())
    np.testing.assert_array_equal(g.flux[:, 0], raw["0.897"].to_numpy())
    nodes = g.unique_values()
    assert nodes["temperature"].min() == 600 and nodes["temperature"].max() == 2400
    assert nodes["temperature"].size == 23
    assert nodes["gravity"].tolist() == [4.5, 4.75, 5.0, 5.25, 5.5]
    assert nodes["c_o_ratio"].tolist() == [0.5, 1.0, 1.5]
    assert nodes["metallicity"].tolist() == [-0.5, 0.0, 0.5]
    assert g.n_duplicate_spectra == 0
    assert 1e-15 < g.flux.min() < g.flux.max() < 1e-8
    assert len(g.content_hash) == 64


def test_telescopeml_layout_is_taken_as_f_nu_and_says_so(grids):
    with pytest.warns(AssumedUnitWarning, match="TelescopeML's layout holds F_nu"):
        g = read_grid(grids / "sonora_bobcat_telescopeml104.csv")
    assert g.flux_unit == u.Unit("erg / (s cm2 Hz)")
    # a stated unit wins, and other layouts stay unknown (train refuses them)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AssumedUnitWarning)
        stated = read_grid(grids / "sonora_bobcat_telescopeml104.csv", flux_unit="W / (m2 Hz)")
        assert stated.flux_unit == u.Unit("W / (m2 Hz)")
        assert read_grid(grids / "sonora_bobcat_spex_prism.csv").flux_unit is None


def test_reads_ascending_grid_with_more_wavelengths(grids):
    g = read_grid(grids / "sonora_bobcat_spex_prism.csv")
    assert (g.n_spectra, g.n_wavelengths) == (345, 563)
    cropped = g.crop(0.9, 2.49)
    assert cropped.wavelength[0] >= 0.9 and cropped.wavelength[-1] <= 2.49
    assert cropped.n_spectra == 345 and cropped.n_wavelengths == 442
    np.testing.assert_array_equal(cropped.flux, g.flux[:, (g.wavelength >= 0.9)
                                                      & (g.wavelength <= 2.49)])
    with pytest.raises(ConfigError, match="holds 0 of the grid's wavelengths"):
        g.crop(3.0, 4.0)
    assert g.wavelength[0] == pytest.approx(0.653956)
    assert g.wavelength[-1] == pytest.approx(2.564, abs=1e-3)


def test_reads_grid_with_other_parameters(grids):
    g = read_grid(grids / "sonora_diamondback_nir.csv")
    assert (g.n_spectra, g.n_wavelengths) == (864, 424)
    assert g.targets == ("gravity", "temperature", "metallicity", "fsed")
    assert g.unique_values()["fsed"].tolist() == [1, 2, 3, 4, 8, 10]
    assert g.unique_values()["temperature"].tolist()[:2] == [900, 1000]


def test_targets_are_configurable_and_ordered(grids):
    g = read_grid(grids / "sonora_diamondback_nir.csv", targets=["temperature", "fsed"])
    assert g.targets == ("temperature", "fsed")
    assert list(g.parameters.columns) == ["temperature", "fsed", "gravity", "metallicity"]
    assert g.target_values.shape == (864, 2)


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".parquet"])
def test_compressed_and_parquet_copies_hash_the_same(tmp_path, grids, bobcat104, suffix):
    src = grids / "sonora_bobcat_telescopeml104.csv"
    dest = tmp_path / f"grid{suffix}"
    if suffix == ".csv.gz":
        with src.open("rb") as fin, gzip.open(dest, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    elif suffix == ".csv.bz2":
        with src.open("rb") as fin, bz2.open(dest, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    else:
        write_grid(bobcat104, dest)
    g = read_grid(dest)
    assert g.content_hash == bobcat104.content_hash
    np.testing.assert_array_equal(g.flux, bobcat104.flux)


def test_parquet_keeps_units_and_targets(tmp_path, grids):
    g = read_grid(grids / "sonora_diamondback_nir.csv", targets=["temperature", "gravity"],
                  flux_unit="erg / (s cm2 um)")
    back = read_grid(write_grid(g, tmp_path / "g.parquet"))
    assert back.targets == ("temperature", "gravity")
    assert str(back.flux_unit) == str(g.flux_unit)
    assert back.content_hash == g.content_hash


def test_write_leaves_no_partial_file_on_failure(tmp_path, bobcat104, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError):
        write_grid(bobcat104, tmp_path / "g.csv")
    assert list(tmp_path.iterdir()) == []


# --- validation ---------------------------------------------------------------------------
def _write(tmp_path, frame, name="bad.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def small_frame():
    return pd.DataFrame({
        "gravity": [4.5, 5.0, 5.5], "temperature": [800.0, 900.0, 1000.0],
        "2.0": [1.0, 2.0, 3.0], "1.5": [4.0, 5.0, 6.0], "1.0": [7.0, 8.0, 9.0],
    })


def test_small_valid_file(tmp_path, small_frame):
    g = read_grid(_write(tmp_path, small_frame))
    assert g.wavelength.tolist() == [1.0, 1.5, 2.0]
    assert g.flux[0].tolist() == [7.0, 4.0, 1.0]


def test_missing_target_column(tmp_path, small_frame):
    path = _write(tmp_path, small_frame.drop(columns="temperature"))
    with pytest.raises(GridError, match=r"bad\.csv: missing target column\(s\) 'temperature'"):
        read_grid(path)
    with pytest.raises(GridError, match="'c_o_ratio'"):
        read_grid(_write(tmp_path, small_frame, "ok.csv"), targets=["temperature", "c_o_ratio"])


def test_nan_flux_names_column_and_row(tmp_path, small_frame):
    small_frame.loc[1, "1.5"] = np.nan
    with pytest.raises(GridError,
                       match=r"bad\.csv: flux column '1\.5', row 2: non-finite value nan"):
        read_grid(_write(tmp_path, small_frame))


def test_infinite_flux(tmp_path, small_frame):
    small_frame.loc[2, "2.0"] = np.inf
    with pytest.raises(GridError, match=r"flux column '2\.0', row 3: non-finite value inf"):
        read_grid(_write(tmp_path, small_frame))


def test_non_numeric_flux_names_the_value(tmp_path, small_frame):
    small_frame["1.0"] = small_frame["1.0"].astype(object)
    small_frame.loc[0, "1.0"] = "7.0e-3x"
    with pytest.raises(GridError, match=r"flux column '1\.0', row 1: non-numeric value '7.0e-3x'"):
        read_grid(_write(tmp_path, small_frame))


def test_non_numeric_parameter(tmp_path, small_frame):
    small_frame["gravity"] = ["4.5", "high", "5.5"]
    with pytest.raises(GridError,
                       match=r"parameter column 'gravity', row 2: non-numeric value 'high'"):
        read_grid(_write(tmp_path, small_frame))


def test_negative_flux(tmp_path, small_frame):
    small_frame.loc[0, "2.0"] = -1.0
    with pytest.raises(GridError, match=r"flux column '2\.0', row 1: negative flux -1\.0"):
        read_grid(_write(tmp_path, small_frame))


@pytest.mark.parametrize("column, message", [("0", "wavelength 0.0 is not positive"),
                                             ("-1.2", "wavelength -1.2 is not positive")])
def test_non_positive_wavelength(tmp_path, small_frame, column, message):
    small_frame[column] = 1.0
    with pytest.raises(GridError, match=f"column '{column}': {message}"):
        read_grid(_write(tmp_path, small_frame))


def test_duplicate_wavelength(tmp_path, small_frame):
    small_frame["1.50"] = 1.0
    with pytest.raises(GridError,
                       match=r"duplicate wavelength 1\.5 in columns \['1\.5', '1\.50'\]"):
        read_grid(_write(tmp_path, small_frame))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(GridError, match=r"empty\.csv: file is empty"):
        read_grid(path)


def test_header_only(tmp_path, small_frame):
    with pytest.raises(GridError, match="no spectra"):
        read_grid(_write(tmp_path, small_frame.iloc[:0]))


def test_no_flux_columns(tmp_path, small_frame):
    with pytest.raises(GridError, match="no flux columns"):
        read_grid(_write(tmp_path, small_frame[["gravity", "temperature"]]))


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(GridError, match="no such file"):
        read_grid(tmp_path / "nothing.csv")
    with pytest.raises(GridError, match="unknown grid format"):
        read_grid(tmp_path / "grid.hdf5")


def test_unknown_format_lists_the_registered_suffixes(tmp_path, small_frame):
    expected = ".csv, .csv.gz, .csv.bz2, .csv.xz, .csv.zip, .parquet, .pq"
    with pytest.raises(GridError, match=rf"grid\.hdf5: unknown grid format .*{expected}\)$"):
        read_grid(tmp_path / "grid.hdf5")
    grid = read_grid(_write(tmp_path, small_frame))
    with pytest.raises(GridError, match=r"grid\.txt: unknown grid format"):
        write_grid(grid, tmp_path / "grid.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


@pytest.mark.parametrize("name", ["grid.csv.xz", "grid.csv.zip", "grid.csv.bz2"])
def test_corrupt_compressed_csv_is_a_grid_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not compressed")
    with pytest.raises(GridError, match=rf"{name}: not a readable CSV file \(.+\)$"):
        read_grid(path)


def test_custom_grid_reader(tmp_path, small_frame, monkeypatch):
    monkeypatch.setattr(grid_io, "GRID_READERS", grid_io.GRID_READERS.copy())

    @register_grid_reader(".json")
    def read_json_grid(path):
        frame = pd.read_json(path, orient="split")
        return frame, {"targets": ["temperature"], "wavelength_unit": "micron"}

    assert grid_io.GRID_READERS[".json"] is read_json_grid
    small_frame.to_json(tmp_path / "g.json", orient="split", index=False)
    g = read_grid(tmp_path / "g.json")
    assert g.targets == ("temperature",) and str(g.wavelength_unit) == "micron"
    assert g.flux[0].tolist() == [7.0, 4.0, 1.0]
    # The same values from CSV hash the same: the hash does not depend on the format.
    csv = read_grid(_write(tmp_path, small_frame), targets=["temperature"],
                    wavelength_unit="micron")
    assert g.content_hash == csv.content_hash
    # Validation is the same for every format.
    small_frame.loc[0, "1.5"] = -2.0
    small_frame.to_json(tmp_path / "neg.json", orient="split", index=False)
    with pytest.raises(GridError, match=r"neg\.json: flux column '1\.5', row 1: negative flux"):
        read_grid(tmp_path / "neg.json")
    register_grid_reader(".broken")(lambda path: "not a table")
    (tmp_path / "g.broken").write_text("x")
    with pytest.raises(ConfigError, match=r"g\.broken: grid reader '<lambda>' must return"):
        read_grid(tmp_path / "g.broken")
    with pytest.raises(ConfigError, match="starting with '.'"):
        register_grid_reader("json")


def test_bad_arguments_are_config_errors(tmp_path, small_frame):
    path = _write(tmp_path, small_frame)
    with pytest.raises(ConfigError, match=r"bad\.csv: 'bananas' \(--wavelength-unit\)"):
        read_grid(path, wavelength_unit="bananas")
    with pytest.raises(ConfigError, match=r"'bananas' \(--flux-unit\) is not a unit"):
        read_grid(path, flux_unit="bananas")
    with pytest.raises(ConfigError, match="drop_duplicates must be None, 'first' or 'none'"):
        read_grid(path, drop_duplicates="all")
    with pytest.raises(ConfigError, match="targets must be a list of column names"):
        read_grid(path, targets="temperature")
    with pytest.raises(ConfigError, match="keep must be 'first' or 'none', not 'last'"):
        read_grid(path).drop_duplicates(keep="last")


def test_corrupt_parquet_metadata(tmp_path, small_frame):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(small_frame, preserve_index=False)
    pq.write_table(table.replace_schema_metadata({b"atmoscope": b"{not json"}),
                   tmp_path / "g.parquet")
    with pytest.raises(GridError, match=r"g\.parquet: corrupt atmoscope metadata"):
        read_grid(tmp_path / "g.parquet")
    pq.write_table(table.replace_schema_metadata({b"atmoscope": b'{"flux_unit": "bananas"}'}),
                   tmp_path / "u.parquet")
    with pytest.raises(GridError, match=r"'bananas' \(flux_unit recorded in the file\)"):
        read_grid(tmp_path / "u.parquet")


def test_corrupt_compressed_file(tmp_path):
    path = tmp_path / "grid.csv.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(GridError, match="not a readable CSV file"):
        read_grid(path)


def test_index_column_from_pandas_is_ignored(tmp_path, small_frame):
    path = tmp_path / "indexed.csv"
    small_frame.to_csv(path)  # writes an unnamed index column
    assert read_grid(path).parameters.columns.tolist() == ["gravity", "temperature"]


# --- duplicate spectra --------------------------------------------------------------------
@pytest.fixture
def file_with_duplicates(tmp_path, small_frame):
    # rows 0 and 3 share a spectrum with different parameters, rows 1 and 4 are identical rows
    frame = pd.concat([small_frame, small_frame.iloc[[0, 1]]], ignore_index=True)
    frame.loc[3, "temperature"] = 850.0
    return _write(tmp_path, frame, "dups.csv")


def test_duplicate_spectra_are_reported(file_with_duplicates):
    with pytest.warns(DuplicateSpectraWarning, match="2 spectra repeat the flux"):
        g = read_grid(file_with_duplicates)
    assert g.n_duplicate_spectra == 2
    assert sorted(map(list, g.duplicate_groups())) == [[0, 3], [1, 4]]
    s = g.summary()
    assert (s["duplicate_spectra"], s["duplicate_groups"],
            s["conflicting_duplicate_groups"]) == (2, 2, 1)


def test_duplicate_spectra_can_be_dropped(file_with_duplicates):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = read_grid(file_with_duplicates, drop_duplicates="first")
        none = read_grid(file_with_duplicates, drop_duplicates="none")
    assert first.n_spectra == 3 and first.n_duplicate_spectra == 0
    assert first.parameters["temperature"].tolist() == [800.0, 900.0, 1000.0]
    # the conflicting pair goes entirely; the merely repeated row keeps one copy
    assert none.n_spectra == 2 and none.parameters["temperature"].tolist() == [900.0, 1000.0]
