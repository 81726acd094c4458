"""Prediction on real observed spectra: uncertainties, fit quality, catalog mode, reports."""

import json

import numpy as np
import pandas as pd
import pytest

from atmoscope.cli import main
from atmoscope.data import read_grid
from atmoscope.data.splits import random_split
from atmoscope.errors import ConfigError, SpectrumError
from atmoscope.models import load_estimator
from atmoscope.models.sampling import network_flux
from atmoscope.prediction import Predictor, occlusion_sensitivity, predict_catalog
from atmoscope.training import TrainConfig
from atmoscope.workflows import train_bundle


@pytest.fixture(scope="module")
def bobcat_ensemble(grids, tmp_path_factory):
    """Two small scale-free models trained on the real Bobcat grid (F_nu shape)."""
    grid = read_grid(grids / "sonora_bobcat_telescopeml104.csv", flux_unit="erg / (s cm2 Hz)")
    folder = tmp_path_factory.mktemp("ensemble")
    split = random_split(grid.n_spectra, seed=0)
    for seed in (0, 1):
        train_bundle(grid, split, TrainConfig(model="rescnn", epochs=40, seed=seed,
                                              extra_features="none"),
                     folder / f"member-{seed}", progress=False, snrs=())
    return folder


def test_predict_hd3651b_with_uncertainties(bobcat_ensemble, shared_data):
    predictor = Predictor(bobcat_ensemble, n_samples=100, seed=3)
    p = predictor.predict(shared_data / "observed" / "HD3651B_spex_prism.csv")
    assert p.n_models == 2 and p.samples.shape == (100, 4)
    s = p.summary()
    assert set(s["temperature"]) >= {"mean", "std", "p2_5", "p16", "p50", "p84", "p97_5"}
    assert 600 <= s["temperature"]["mean"] <= 1300  # a late T dwarf, in a 600–2400 K grid
    assert s["temperature"]["p16"] <= s["temperature"]["p50"] <= s["temperature"]["p84"]
    assert s["temperature"]["std"] > 0
    # model spectrum, χ² with a fitted scale, predictive bands that contain the model
    assert p.model_flux.shape == (104,) and p.fit.dof == int(p.spectrum.mask.sum()) - 5
    assert p.fit.reduced_chi2 > 0 and 0 <= p.fit.p_value <= 1
    assert np.all(p.band95[0] <= p.band68[0] + 1e-30) and np.all(p.band68[1] <= p.band95[1] + 1e-30)
    # same seed, same answer
    again = Predictor(bobcat_ensemble, n_samples=100, seed=3).predict(
        shared_data / "observed" / "HD3651B_spex_prism.csv")
    np.testing.assert_array_equal(again.samples, p.samples)


def test_partial_coverage(bobcat_ensemble, shared_data):
    fire = shared_data / "observed" / "FIRE-PRISM_Ross458C_Burgasser2010.csv"
    with pytest.raises(SpectrumError, match="covers 0.79"):
        Predictor(bobcat_ensemble, n_samples=5).predict(fire, flux_unit="erg/s/cm2/um")
    p = Predictor(bobcat_ensemble, n_samples=5, allow_partial=True).predict(
        fire, flux_unit="erg/s/cm2/um")
    assert any("model pixels without data" in f for f in p.flags)
    assert np.isfinite(p.point).all()


def test_sensitivity_has_one_row_per_target(bobcat_ensemble, grids):
    bundle = load_estimator(bobcat_ensemble).members[0]
    grid = read_grid(grids / "sonora_bobcat_telescopeml104.csv")
    sens = occlusion_sensitivity(bundle, grid.flux[100])
    assert sens.shape == (4, 104) and np.all(sens >= 0) and sens.max() > 0


def test_catalog_mode_survives_bad_files(bobcat_ensemble, shared_data, tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("wl_um,F_lambda\nnot,numbers\n")
    files = [shared_data / "observed" / "GJ570D_spex_prism.csv", bad,
             shared_data / "observed" / "HD3651B_spex_prism.csv"]
    table = predict_catalog(Predictor(bobcat_ensemble, n_samples=10), files, progress=False)
    assert table["status"].tolist() == ["ok", "error", "ok"]
    assert "broken.csv" in table.loc[1, "source"] and table.loc[1, "error"]
    assert table.loc[0, "temperature_std"] > 0


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


def test_level_dependent_model_needs_distance_and_radius(grids, shared_data, tmp_path):
    grid = read_grid(grids / "sonora_bobcat_telescopeml104.csv", flux_unit="erg / (s cm2 Hz)")
    bundle, _ = train_bundle(grid, random_split(grid.n_spectra), TrainConfig(
        model="resmlp", epochs=2), None, progress=False, snrs=())
    with pytest.raises(ConfigError, match="give the distance and radius"):
        Predictor(bundle, n_samples=10, grid=grid).predict(
            shared_data / "observed" / "HD3651B_spex_prism.csv")
    p = Predictor(bundle, n_samples=10, grid=grid, distance_pc=11.134, radius_rjup=0.81).predict(
        shared_data / "observed" / "HD3651B_spex_prism.csv")
    assert p.implied_radius_rjup is not None and np.isfinite(p.point).all()


def test_cli_report_for_the_tutorial_objects(bobcat_ensemble, shared_data, tmp_path, capsys):
    for name in ("HD3651B_spex_prism.csv", "GJ570D_spex_prism.csv",
                 "Ross458C_telescopeml_tutorial.csv"):
        out = tmp_path / f"{name}.html"
        assert main(["report", str(bobcat_ensemble), str(shared_data / "observed" / name),
                     "--out", str(out), "--draws", "20"]) == 0
        printed = capsys.readouterr().out
        assert "Teff [K]" in printed and "χ² =" in printed
        html = out.read_text()
        assert html.count("data:image/png;base64,") >= 3 and "Teff" in html


def test_unitless_spex_library_file(bobcat_ensemble, shared_data):
    import glob

    files = sorted(glob.glob(str(shared_data / "spex_prism_library" / "spectra" / "*.fits.gz")))
    table = predict_catalog(Predictor(bobcat_ensemble, n_samples=5), files[:8], progress=False)
    assert len(table) == 8 and (table.status == "ok").sum() >= 6


def test_faint_pixels_are_kept_and_only_non_positive_ones_filled():
    wl = np.linspace(1.0, 2.0, 6)
    flux = np.array([1.0, 1e-6, -0.1, 1e-3, np.nan, 2.0])
    usable = np.array([True, True, True, True, False, True])
    out = network_flux(flux, usable, wl)[0]
    # deep-band pixels far below the peak carry the temperature: untouched
    assert out[1] == 1e-6 and out[3] == 1e-3 and out[0] == 1.0 and out[5] == 2.0
    # the negative and the missing pixel: log-linear interpolation between neighbours
    assert out[2] == pytest.approx(10 ** np.interp(wl[2], wl[[1, 3]], np.log10([1e-6, 1e-3])))
    assert out[4] == pytest.approx(10 ** np.interp(wl[4], wl[[3, 5]], np.log10([1e-3, 2.0])))
