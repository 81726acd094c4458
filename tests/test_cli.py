"""The command line as a user meets it: outputs, JSON, exit codes, one-line errors."""

import json

import astropy.units as u
import numpy as np
import pandas as pd
import pytest

from atmoscope.cli import main
from atmoscope.data import write_grid
from atmoscope.models import load_model
from atmoscope.prediction import Predictor
from atmoscope.synthetic import mock_observation, synthetic_grid
from tests.helpers import SMALL_NODES as SMALL
from tests.helpers import run


def single_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    return lines[0]


# --- grids --------------------------------------------------------------------------------
def test_synthetic_grid_then_info_json(tmp_path):
    out = tmp_path / "grid.csv"
    result = run("grid", "synthetic", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "30888 spectra × 104 wavelengths" in result.stdout
    header = out.open().readline().strip().split(",")
    assert header[:4] == ["gravity", "temperature", "c_o_ratio", "metallicity"]
    assert header[4] == "2.511960199" and header[-1] == "0.896779578"  # descending µm
    info = run("grid", "info", out, "--json")
    assert info.returncode == 0, info.stderr
    summary = json.loads(info.stdout)
    assert summary["n_spectra"] == 30888
    assert summary["n_wavelengths"] == 104
    assert summary["duplicate_spectra"] == 0
    assert summary["parameters"]["c_o_ratio"] == [0.25, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert len(summary["parameters"]["temperature"]) == 39


@pytest.mark.parametrize("suffix", [".parquet", ".csv.bz2"])
def test_synthetic_other_formats(tmp_path, capsys, suffix):
    out = tmp_path / f"grid{suffix}"
    assert main(["grid", "synthetic", "--out", str(out)]) == 0
    assert main(["grid", "info", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert summary["n_spectra"] == 30888


def test_info_human_readable(grids, capsys):
    assert main(["grid", "info", str(grids / "sonora_diamondback_nir.csv")]) == 0
    out = capsys.readouterr().out
    assert "spectra      864" in out
    assert "wavelengths  424 (0.8521–2.399 um)" in out
    assert "fsed           target   6 values: 1, 2, 3, 4, 8, 10" in out


def test_info_reports_and_drops_duplicates(tmp_path, capsys):
    frame = pd.DataFrame({"gravity": [5.0, 5.0, 5.0], "temperature": [800, 900, 800],
                          "metallicity": [0.0, 0.0, 0.5], "1.0": [1.0, 2.0, 1.0]})
    path = tmp_path / "dups.csv"
    frame.to_csv(path, index=False)
    assert main(["grid", "info", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["duplicate_spectra"] == 1
    assert captured.err.startswith("warning: ") and "1 spectra repeat the flux" in captured.err
    assert main(["grid", "info", str(path), "--json", "--drop-duplicates", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["n_spectra"] == 1


@pytest.fixture
def real_frame(grids):
    return pd.read_csv(grids / "sonora_bobcat_telescopeml104.csv")


def test_nan_flux_is_a_one_line_error(tmp_path, real_frame):
    real_frame.loc[6, "1.260"] = np.nan
    path = tmp_path / "nan.csv"
    real_frame.to_csv(path, index=False)
    result = run("grid", "info", path)
    assert result.returncode == 2
    line = single_error_line(result.stderr)
    assert f"{path}: flux column '1.260', row 7: non-finite value nan" in line


def test_missing_temperature_is_a_one_line_error(tmp_path, real_frame):
    path = tmp_path / "no_teff.csv"
    real_frame.drop(columns="temperature").to_csv(path, index=False)
    result = run("grid", "info", path)
    assert result.returncode == 2
    assert "missing target column(s) 'temperature'" in single_error_line(result.stderr)


@pytest.mark.parametrize("args, message", [
    (["grid", "info", "/nonexistent/grid.csv"], "no such file"),
    (["grid", "info"], "Missing argument 'PATH'"),
    (["grid", "synthetic", "--out", "x.hdf5"], "unknown grid format"),
    (["grid", "info", "x.csv", "--flux-unit", "furlongs"], "not a unit astropy knows"),
    (["grid", "frobnicate"], "No such command 'frobnicate'"),
    (["--nope"], "No such option '--nope'"),
])
def test_argument_errors(capsys, args, message):
    assert main(args) == 2
    assert message in single_error_line(capsys.readouterr().err)


def test_help_and_version(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("grid", "fetch", "demo"):
        assert command in out
    assert main(["--version"]) == 0
    assert "atmoscope, version" in capsys.readouterr().out


# --- train, evaluate, calibrate -----------------------------------------------------------
def test_cli_train_and_evaluate(small_file, tmp_path, capsys):
    out = tmp_path / "bundle"
    assert main(["train", "--grid", str(small_file), "--model", "resmlp", "--split", "random",
                 "--out", str(out), "--epochs", "4", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "trained resmlp for 4 epochs" in printed and "Teff [K]" in printed
    # where the time went: the final evaluation is reported, not counted as training
    assert "time: setup" in printed and "evaluation" in printed
    assert set(load_model(out).training["timings"]) == {"setup", "steps", "validation",
                                                        "checkpoints", "calibration",
                                                        "evaluation"}
    assert "calibrated on" in printed and "systematic floor" in printed
    assert main(["evaluate", str(out), "--grid", str(small_file), "--json",
                 "--plots", str(tmp_path / "fig")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == "test split of the training grid"
    assert report["n_spectra"] == len(load_model(out).split["test_rows"])
    for target in ("gravity", "temperature", "c_o_ratio", "metallicity"):
        assert set(report["metrics"][target]) >= {"rmse", "mae", "r2", "bias"}
        assert set(report["noisy"]) == {"snr10", "snr20", "snr50"}
    assert (tmp_path / "fig" / "parity.png").is_file()


def test_train_knows_the_flux_kind_and_crops_wavelengths(small, tmp_path, capsys):
    cropped = write_grid(small.crop(1.0, 2.0), tmp_path / "crop.csv")  # a CSV states no unit
    assert main(["train", "--grid", str(cropped), "--out", str(tmp_path / "x"),
                 "--epochs", "1"]) == 2
    assert "no flux unit stated; say what the grid holds with --flux-unit" in \
        single_error_line(capsys.readouterr().err)
    telescopeml = write_grid(small, tmp_path / "tml.csv")  # TelescopeML's layout: F_nu
    assert main(["train", "--grid", str(telescopeml), "--model", "resmlp", "--epochs", "1",
                 "--out", str(tmp_path / "b"), "--wavelength-range", "1.0,2.0",
                 "--embed-grid"]) == 0
    assert "TelescopeML's layout holds F_nu, so erg / (s cm2 Hz) is assumed" in \
        capsys.readouterr().err
    bundle = load_model(tmp_path / "b")
    assert u.Unit(bundle.flux_unit) == u.Unit("erg / (s cm2 Hz)")
    assert 1.0 <= bundle.wavelength.min() and bundle.wavelength.max() <= 2.0
    assert len(bundle.wavelength) == np.sum((small.wavelength >= 1) & (small.wavelength <= 2))
    assert bundle.training_grid().n_wavelengths == len(bundle.wavelength)
    # without --embed-grid the recorded grid file is read and cut to the model's wavelengths
    assert main(["train", "--grid", str(telescopeml), "--model", "resmlp", "--epochs", "1",
                 "--out", str(tmp_path / "b2"), "--wavelength-range", "1.0,2.0"]) == 0
    interpolator = Predictor(tmp_path / "b2").interpolator
    np.testing.assert_allclose(interpolator.wavelength_, bundle.wavelength)
    capsys.readouterr()
    assert main(["train", "--grid", str(telescopeml), "--out", str(tmp_path / "c"),
                 "--wavelength-range", "3,4", "--flux-unit", "erg/(s cm2 Hz)"]) == 2
    assert "holds 0 of the grid's wavelengths" in single_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("args, message", [
    (["evaluate", "/nonexistent", "--grid", "x.csv"], "not a model bundle"),
    (["train", "--grid", "x.csv", "--out", "b", "--model", "nope"], "no such file"),
    (["train", "--grid", "{grid}", "--out", "{tmp}/b", "--model", "nope"], "unknown model 'nope'"),
    (["train", "--grid", "{grid}", "--out", "{tmp}/b", "--noise-snr", "abc"], "expected LOW,HIGH"),
    (["train", "--grid", "{grid}", "--out", "{tmp}/b", "--resume"], "cannot resume"),
])
def test_cli_training_errors(small_file, tmp_path, capsys, args, message):
    args = [a.format(grid=small_file, tmp=tmp_path) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_cli_calibrate(tmp_path, capsys):
    grid = synthetic_grid({"gravity": [4.0, 4.5, 5.0, 5.5],
                           "temperature": list(range(600, 1401, 100)),
                           "c_o_ratio": [0.5, 1.0, 2.0], "metallicity": [-0.5, 0.0, 0.5]})
    path = write_grid(grid, tmp_path / "g.parquet")
    assert main(["train", "--grid", str(path), "--model", "resmlp", "--out",
                 str(tmp_path / "b"), "--epochs", "3"]) == 0
    capsys.readouterr()
    assert main(["calibrate", str(tmp_path / "b"), "--grid", str(path), "--json",
                 "--n-spectra", "20", "--draws", "10", "--plot", str(tmp_path / "cal.png")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == "test split of the training grid"
    for name in ("gravity", "temperature", "c_o_ratio", "metallicity"):
        assert 0 <= report["parameters"][name]["coverage_68"] <= 1
        assert 0 <= report["parameters"][name]["coverage_95"] <= 1
    assert 0 <= report["check_pass_chance"] <= 1
    assert (tmp_path / "cal.png").read_bytes().startswith(b"\x89PNG")
    assert main(["calibrate", str(tmp_path / "b"), "--grid", str(path), "--n-spectra", "20",
                 "--draws", "10"]) == 0
    assert f"a ±5-point check on {report['n_nodes']} nodes passes every rate" in \
        capsys.readouterr().out


def test_cli_train_predict_and_calibrate_a_posterior(small_split, tmp_path, capsys):
    grid, _ = small_split
    path = write_grid(grid, tmp_path / "g.parquet")
    spectrum = mock_observation({"gravity": 5.0, "temperature": 1000.0, "c_o_ratio": 1.0,
                                  "metallicity": 0.0}, tmp_path / "mock.ecsv")
    assert main(["train", "--grid", str(path), "--model", "gaussian", "--ensemble", "2",
                 "--out", str(tmp_path / "gauss"), "--epochs", "3",
                 "--noise-profile", str(spectrum), "--holdout", "temperature=900,1200"]) == 0
    member = json.loads((tmp_path / "gauss" / "member-0" / "bundle.json").read_text())
    assert member["training"]["model"] == "gaussian" and member["training"]["offnode"] == 1.0
    assert len(member["training"]["noise_profile"]) == 104
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "gauss"), str(spectrum), "--json", "--distance",
                 "10", "--radius", "1", "--samples", "300"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_models"] == 2 and out["n_draws"] == 150 and out["uncertainty"] == "posterior"
    assert out["parameters"]["temperature"]["p16"] < out["parameters"]["temperature"]["p84"]
    assert main(["calibrate", str(tmp_path / "gauss"), "--grid", str(path), "--json",
                 "--n-spectra", "30", "--draws", "40", "--plot", str(tmp_path / "cal.png")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"].startswith("posterior samples (2 model(s) × 40)")  # per model
    for name in SMALL:
        for key in ("coverage_68", "coverage_95"):
            assert 0 <= report["parameters"][name][key] <= 1
            assert 0 <= report["monte_carlo"]["parameters"][name][key] <= 1
    assert len(report["joint"]) == len(report["levels"]) == 11
    assert (tmp_path / "cal.png").read_bytes().startswith(b"\x89PNG")
    # an error in the profile file is one line
    capsys.readouterr()
    bad = tmp_path / "bad.csv"
    bad.write_text("wavelength,flux\n1.0,2.0\n1.5,2.5\n")
    assert main(["train", "--grid", str(path), "--model", "posterior", "--out",
                 str(tmp_path / "x"), "--epochs", "1", "--noise-profile", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no flux errors to take a noise profile from" in err[0]


def test_cli_train_cross_fits_the_floor(small_split, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 1)  # in this process (workers: test_cross_fit)
    # the wiring is under test: coarse candidate floors keep it quick
    monkeypatch.setattr("atmoscope.evaluation.calibration._TAUS", np.linspace(0, 2, 21))
    monkeypatch.setattr("atmoscope.evaluation.calibration._GAMMAS", np.linspace(0, 4, 17))
    grid, _ = small_split
    path = write_grid(grid, tmp_path / "g.parquet")
    assert main(["train", "--grid", str(path), "--model", "posterior", "--out",
                 str(tmp_path / "flow"), "--epochs", "2", "--cross-fit", "2",
                 "--holdout", "temperature=900,1200"]) == 0
    systematics = json.loads((tmp_path / "flow" / "bundle.json").read_text())["systematics"]
    assert systematics["folds"] == 2 and systematics["method"].startswith("cross-fitted")
    assert systematics["n_nodes"] == 227  # every training node
    assert len(systematics["floor"]) == len(systematics["floor_per_missing"]) == 4
    assert set(systematics["coverage_cross_validated"]) == set(SMALL)
    err = capsys.readouterr().err
    assert "fold 1/2: trained on" in err and "fold 2/2: trained on" in err
    # refused before anything is trained, in one line
    for args, message in ((["--cross-fit", "1"], "2 to 227 folds"),
                          (["--cross-fit", "2", "--no-calibrate"], "--no-calibrate")):
        assert main(["train", "--grid", str(path), "--model", "posterior", "--out",
                     str(tmp_path / "x"), "--epochs", "1",
                     "--holdout", "temperature=900,1200", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]
        assert not (tmp_path / "x").exists()


# --- predict ------------------------------------------------------------------------------
def test_cli_predict_json_and_catalog(bobcat_ensemble, shared_data, tmp_path, capsys):
    hd = str(shared_data / "observed" / "HD3651B_spex_prism.csv")
    assert main(["predict", str(bobcat_ensemble), hd, "--json", "--draws", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    for name in ("gravity", "temperature", "c_o_ratio", "metallicity"):
        assert set(out["parameters"][name]) >= {"mean", "std", "p16", "p50", "p84"}
    table = tmp_path / "cat.csv"
    pattern = str(shared_data / "observed" / "*_spex_prism.csv")
    assert main(["predict", str(bobcat_ensemble), pattern, "--out", str(table),
                 "--draws", "5"]) == 0
    frame = pd.read_csv(table)
    assert len(frame) == 2 and set(frame.status) == {"ok"}
    assert main(["predict", str(bobcat_ensemble), "/nonexistent/x.csv", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


# --- predict with the built-in models -------------------------------------------------------
def _observed(shared_data, name, tmp_path):
    """A copy of a real observed spectrum away from ../shared (the models need nothing there)."""
    import shutil

    return shutil.copy(shared_data / "observed" / name, tmp_path / name)


def test_predict_needs_no_model_and_says_which_it_used(shared_data, tmp_path, capsys):
    hd = _observed(shared_data, "HD3651B_spex_prism.csv", tmp_path)
    assert main(["predict", str(hd), "--json", "--samples", "400"]) == 0
    captured = capsys.readouterr()
    assert "model: bobcat (the built-in model that best covers 0.65–2.56 µm" in captured.err
    out = json.loads(captured.out)
    assert out["model"] == "bobcat" and out["object"] == "HD3651B_spex_prism"
    assert out["uncertainty"] == "posterior"
    assert abs(out["parameters"]["temperature"]["mean"] - 818) < 100  # Zhang et al. 2021
    assert out["fit"]["dof"] == out["pixels"]["used"] - 5  # 4 targets and the flux scale
    assert out["pixels"]["used"] == out["pixels"]["model"]


def test_a_jwst_spectrum_is_used_over_its_whole_range(shared_data, tmp_path, capsys):
    wolf = _observed(shared_data, "JWST-NIRSPEC-PRISM_Wolf1130C_Burgasser2025.csv", tmp_path)
    assert main(["predict", str(wolf), "--json", "--samples", "200"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "bobcat-jwst"
    lo, hi = out["pixels"]["range_um"]
    assert lo < 0.61 and hi > 5.29  # 3–5 µm CH4/CO/CO2 bands included
    assert 500 <= out["parameters"]["temperature"]["mean"] <= 1000  # a T8 subdwarf


def test_model_all_compares_the_models_that_cover_a_spectrum(shared_data, tmp_path, capsys):
    hd = _observed(shared_data, "HD3651B_spex_prism.csv", tmp_path)
    assert main(["predict", str(hd), "--model", "all", "--json", "--samples", "200"]) == 0
    out = json.loads(capsys.readouterr().out)
    models = [m["model"] for m in out["models"]]
    assert set(models) == {"bobcat", "diamondback"}  # bobcat-jwst needs 0.6–5.3 µm
    chi2 = [m["fit"]["reduced_chi2"] for m in out["models"]]
    assert chi2 == sorted(chi2)
    assert "fsed" in next(m for m in out["models"] if m["model"] == "diamondback")["parameters"]
    assert main(["predict", str(hd), "--model", "all", "--samples", "100"]) == 0
    text = capsys.readouterr().out
    assert "2 models, best reduced χ² first" in text and "fsed" in text and "reduced χ²" in text
    assert main(["predict", str(hd), "--model", "nope"]) == 2
    assert "no pretrained model 'nope'" in single_error_line(capsys.readouterr().err)


def test_catalog_formats_units_distances_and_exit_status(shared_data, tmp_path, capsys):
    from astropy.table import Table

    files = [str(_observed(shared_data, n, tmp_path))
             for n in ("HD3651B_spex_prism.csv", "GJ570D_spex_prism.csv")]
    distances = tmp_path / "d.csv"
    distances.write_text("object,distance_pc\nHD3651B_spex_prism,11.134\n")
    for suffix in ("ecsv", "fits", "parquet"):
        out = tmp_path / f"cat.{suffix}"
        assert main(["predict", *files, "--out", str(out), "--samples", "50",
                     "--distances", str(distances)]) == 0
        assert f"wrote {out}: 2 of 2 spectra predicted" in capsys.readouterr().out
    table = Table.read(tmp_path / "cat.ecsv")
    assert list(table["object"]) == ["HD3651B_spex_prism", "GJ570D_spex_prism"]
    assert str(table["temperature_p2_5"].unit) == "K" and str(table["gravity_mean"].unit) == "dex"
    assert table["temperature_p2_5"][0] < table["temperature_p97_5"][0]
    assert table.meta["model"] == "best-covering built-in model" and "date" in table.meta
    assert set(table["model"]) == {"bobcat"} and np.all(table["reduced_chi2"] > 0)
    distance, radius = (np.ma.filled(table[c], np.nan) for c in ("distance_pc",
                                                                    "implied_radius_rjup"))
    assert distance[0] == 11.134 and np.isnan(distance[1])  # no distance given for GJ 570D
    # the Sonora grids' flux is right only up to a constant: no radius is implied
    assert np.isnan(radius[0]) and "no implied radius" in table["notes"][0]
    fits = Table.read(tmp_path / "cat.fits")
    assert str(fits["temperature_mean"].unit) == "K" and "CREATOR" in fits.meta
    parquet = pd.read_parquet(tmp_path / "cat.parquet")
    assert list(parquet.object) == list(table["object"])
    capsys.readouterr()  # (reading the FITS warns that dex and R_jup are not FITS units)
    # an unknown extension is refused before any work; a batch where all fail exits 1
    assert main(["predict", *files, "--out", str(tmp_path / "t.xlsx")]) == 2
    assert "unknown catalog format" in single_error_line(capsys.readouterr().err)
    assert not (tmp_path / "t.xlsx").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("wl_um,F_lambda\nnot,numbers\n")
    assert main(["predict", str(bad), str(bad) + "x", "--out", str(tmp_path / "b.csv")]) == 1
    assert "none of the 2 spectra could be predicted" in capsys.readouterr().err


# --- guard rails ------------------------------------------------------------------------------
def _blackbody_csv(tmp_path):
    wl = np.linspace(0.9, 2.5, 300)
    flux = 1.0 / wl ** 5 / np.expm1(14387.77 / (wl * 5000.0))
    path = tmp_path / "blackbody.csv"
    pd.DataFrame({"wavelength_um": wl, "flux": flux, "error": 0.02 * flux}).to_csv(path,
                                                                                  index=False)
    return path


def test_guard_flags_reach_json_catalogs_and_the_report(shared_data, tmp_path, capsys):
    bb = _blackbody_csv(tmp_path)
    hd = _observed(shared_data, "HD3651B_spex_prism.csv", tmp_path)
    unit = ["--spectrum-flux-unit", "erg/s/cm2/AA", "--wave-unit", "um"]
    assert main(["predict", str(bb), "--json", "--samples", "200", *unit]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"outside_grid", "poor_fit"} <= set(out["flags"])
    assert out["error_inflation"] > 1 and out["novelty"] > 1
    assert set(out["best_fit"]) == {"gravity", "temperature", "c_o_ratio", "metallicity"}
    assert main(["predict", str(bb), "--json", "--samples", "200", "--no-inflate", *unit]) == 0
    assert json.loads(capsys.readouterr().out)["error_inflation"] == 1.0
    table_path = tmp_path / "cat.csv"
    assert main(["predict", str(hd), str(bb), "--samples", "100", "--out", str(table_path),
                 *unit]) == 0
    table = pd.read_csv(table_path).fillna("")
    row = table[table["object"] == "blackbody"].iloc[0]
    assert "outside_grid" in row["flags"].split(";")
    assert {"notes", "novelty", "edge_fraction", "error_inflation", "temperature_best_fit"
            } <= set(table.columns)
    report = tmp_path / "bb.html"
    assert main(["report", str(bb), "--out", str(report), "--samples", "100", *unit]) == 0
    html = report.read_text()
    assert "Warnings: do not take this answer as it stands" in html
    assert "<code>outside_grid</code>" in html and "<code>poor_fit</code>" in html


def test_calibrate_measures_coverage_with_masked_pixels(capsys):
    assert main(["calibrate", "bobcat", "--n-spectra", "60", "--draws", "50", "--repeat",
                 "--mask-fraction", "0.3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mask_fraction"] == 0.3 and out["n_spectra"] == 60
    assert out["n_nodes"] < 60  # the test nodes, each observed more than once
