"""The pretrained models shipped in the package: complete, small, unchanged, and chosen
by the wavelengths a spectrum covers."""

import json

import numpy as np
import pytest

from atmoscope.errors import ConfigError
from atmoscope.pretrained import (
    CATALOG_FILE,
    FOLDER,
    available_models,
    choose_model,
    coverage,
    load_pretrained,
    pretrained_model,
    reference_prediction,
)

NAMES = ("bobcat", "bobcat-jwst", "diamondback")
MB = 1024 * 1024


def test_the_required_models_ship_with_their_provenance():
    models = {m.name: m for m in available_models()}
    assert set(NAMES) <= set(models)
    assert next(iter(models)) == "bobcat"  # the default comes first
    assert models["bobcat"].grid_file == "sonora_bobcat_spex_prism.csv"
    assert models["bobcat-jwst"].grid_file == "sonora_bobcat_jwst_nirspec_prism.csv"
    assert models["diamondback"].grid_file == "sonora_diamondback_nir.csv"
    assert "fsed" in models["diamondback"].targets
    lo, hi = models["bobcat-jwst"].wavelength_range
    assert lo < 0.61 and hi > 5.29  # the 3–5 µm bands are used, not cut at 2.5 µm
    for m in models.values():
        assert m.kind == "posterior" or m.kind.startswith("ensemble")
        assert m.command.startswith("python scripts/train_pretrained.py")


def test_weights_stay_within_the_size_limits():
    files = [f for f in FOLDER.rglob("*") if f.is_file() and f.suffix != ".py"
             and "__pycache__" not in f.parts]
    assert all(f.stat().st_size <= 8 * MB for f in files), [
        (f.name, f.stat().st_size) for f in files if f.stat().st_size > 8 * MB]
    assert sum(f.stat().st_size for f in files) <= 25 * MB


@pytest.mark.parametrize("name", NAMES)
def test_shipped_model_matches_what_was_trained(name):
    """The stored grid is the one trained on (content hash) and the reference prediction
    recorded at training comes out again."""
    estimator = load_pretrained(name)
    grid = estimator.training_grid()
    assert grid.content_hash == estimator.grid["content_hash"]
    assert grid.content_hash == pretrained_model(name).grid_hash
    recorded = json.loads((FOLDER / CATALOG_FILE).read_text())[name]["reference"]
    again = reference_prediction(estimator, grid, recorded["snr"], recorded["n_samples"],
                                 recorded["seed"])
    span = np.ptp(grid.target_values, axis=0)
    for key in ("mean", "std"):  # to 1e-4 of each parameter's range (float16 weights)
        assert np.all(np.abs(np.subtract(again[key], recorded[key])) <= 1e-4 * span), key
    # and the recorded answer is a good one: within 3 σ (plus 2 % of the range)
    truth, mean, std = (np.array(recorded[k]) for k in ("truth", "mean", "std"))
    assert np.all(np.abs(mean - truth) <= 3 * std + 0.02 * span)


@pytest.mark.parametrize("name", ["bobcat", "bobcat-jwst"])
def test_bobcat_floors_are_cross_fitted_and_cover_out_of_fold(name):
    """The Bobcat grids' few validation nodes (31) pin a floor poorly: theirs is
    cross-fitted on the 279 training nodes, and each fold, scored with the floor fitted
    on the others, covers within 5 points of nominal at 68 % and 95 %."""
    systematics = load_pretrained(name).members[0].systematics
    assert systematics["folds"] == 4 and systematics["n_nodes"] == 279
    assert systematics["method"].startswith("cross-fitted")
    for target in systematics["targets"]:
        scored = systematics["coverage_cross_validated"][target]
        assert np.all(np.abs(np.subtract(scored["coverage"], [0.68, 0.95])) <= 0.05), target
        assert max(scored["se"]) < 0.03  # hundreds of nodes: a rate to ±3 points at most


def test_model_choice_follows_the_spectrum_wavelengths():
    spex = np.linspace(0.65, 2.55, 500)
    jwst = np.linspace(0.6, 5.3, 900)
    euclid = np.linspace(1.19, 1.90, 300)
    assert choose_model(spex)[0].name == "bobcat"
    assert choose_model(jwst)[0].name == "bobcat-jwst"
    assert choose_model(euclid)[0].name in ("bobcat", "diamondback")
    covered, used = coverage(pretrained_model("bobcat"), jwst)
    assert covered == pytest.approx(1.0) and used == pytest.approx(
        np.log(2.5 / 0.9) / np.log(5.3 / 0.6), rel=0.01)
    with pytest.raises(ConfigError, match="no built-in model overlaps"):
        choose_model(np.linspace(8.0, 12.0, 50))
    with pytest.raises(ConfigError, match="no pretrained model 'nope'.*bobcat"):
        pretrained_model("nope")


def test_models_command_lists_them(capsys):
    import subprocess
    import sys

    from atmoscope.cli import main

    result = subprocess.run([sys.executable, "-m", "atmoscope", "models", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert set(NAMES) <= set(entries)
    for entry in entries.values():
        assert set(entry) >= {"name", "description", "grid_file", "wavelength_range", "targets",
                              "kind", "size_bytes", "grid_hash", "command"}
        assert len(entry["grid_hash"]) == 64 and entry["size_bytes"] > 0
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "bobcat-jwst: Sonora Bobcat at JWST NIRSpec PRISM resolution" in text
    assert "retrain      python scripts/train_pretrained.py --only diamondback" in text


def test_evaluate_and_calibrate_a_builtin_model_on_its_stored_grid(capsys):
    from atmoscope.cli import main

    assert main(["evaluate", "bobcat", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == "test split of the training grid" and report["n_spectra"] == 35
    assert report["metrics"]["temperature"]["rmse"] < 60
    assert main(["calibrate", "bobcat", "--json", "--n-spectra", "20", "--draws", "20"]) == 0
    calibration = json.loads(capsys.readouterr().out)
    assert 0 < calibration["parameters"]["temperature"]["coverage_95"] <= 1
    assert 0 <= calibration["parameters"]["temperature"]["coverage_68_se"] < 0.5
    assert main(["evaluate", "bobcat"]) == 0  # says which grid, and that it is the stored one
    assert capsys.readouterr().out.startswith(
        "bobcat on its stored grid (sonora_bobcat_spex_prism.csv): test split")
