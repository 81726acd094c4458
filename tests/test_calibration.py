"""Coverage and rank diagnostics: exact on known distributions, and the calibrate command."""

import json

import numpy as np
import pytest

from atmoscope.cli import main
from atmoscope.data import write_grid
from atmoscope.evaluation.calibration import (LEVELS, calibrate_predictor, central_coverage,
                                              joint_coverage, sbc_ranks)
from atmoscope.synthetic import synthetic_grid


def _gaussian_case(width: float, n=4000, s=400, k=2, seed=0):
    """Truth drawn from N(mu, 1); samples from N(mu, width²)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(n, k))
    truth = mu + rng.normal(size=(n, k))
    samples = mu[:, None, :] + width * rng.normal(size=(n, s, k))
    return samples, truth


def test_calibrated_samples_cover_at_nominal_rates():
    samples, truth = _gaussian_case(1.0)
    cov = central_coverage(samples, truth)
    np.testing.assert_allclose(cov, np.repeat(np.array(LEVELS)[:, None], 2, axis=1), atol=0.03)
    np.testing.assert_allclose(joint_coverage(samples, truth), LEVELS, atol=0.03)
    ranks = sbc_ranks(samples, truth)
    counts = np.histogram(ranks[:, 0], bins=10, range=(0, 400))[0]
    assert counts.min() > 0.75 * counts.mean()  # flat


def test_overconfident_samples_undercover():
    samples, truth = _gaussian_case(0.3)
    cov = central_coverage(samples, truth, [0.68, 0.95])
    # a central 68 % interval of width ±0.3σ covers 2Φ(0.3) − 1 ≈ 24 % of N(0,1)
    assert cov[0] == pytest.approx([0.24, 0.24], abs=0.03)
    ranks = sbc_ranks(samples, truth)
    edges = np.mean((ranks[:, 0] < 20) | (ranks[:, 0] > 380))
    assert edges > 0.5  # ∪-shaped rank histogram


def test_calibrate_predictor_with_an_oracle():
    grid = synthetic_grid({"gravity": [4.5, 5.0], "temperature": [800.0, 900.0, 1000.0],
                           "c_o_ratio": [1.0], "metallicity": [0.0]})
    truth = grid.target_values

    def predict(flux):  # knows the answer, spreads it by a fixed amount
        index = np.arange(len(flux)) // 50
        rng = np.random.default_rng(0)
        return truth[rows[index]] + rng.normal(size=(len(flux), 4)) * [0.1, 20, 0.05, 0.05]

    rows = np.random.default_rng(0).permutation(np.arange(grid.n_spectra))
    report = calibrate_predictor(predict, grid, rows, n_spectra=6, n_draws=50, seed=0)
    assert set(report["parameters"]["temperature"]) == {"coverage_68", "coverage_95",
                                                        "median_width_68"}
    assert report["n_samples"] == 50 and report["ranks"].shape == (6, 4)


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
    assert (tmp_path / "cal.png").read_bytes().startswith(b"\x89PNG")
