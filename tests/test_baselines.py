"""Baselines (χ² grid fit, random forest), scores and the noise model, checked on numbers."""

import json

import numpy as np
import pytest

import atmoscope
from atmoscope.data import TELESCOPEML_NODES
from atmoscope.data.noise import add_noise, log_uniform_snr
from atmoscope.errors import ConfigError
from atmoscope.evaluation import Chi2GridFit, RandomForestBaseline, regression_metrics


@pytest.fixture(scope="module")
def subgrid():
    """297 synthetic spectra: Teff 700–1400 K (steps 50 then 100), 3 × 3 × 3 others."""
    temps = [t for t in TELESCOPEML_NODES["temperature"] if 700 <= t <= 1400]
    nodes = {"gravity": [4.0, 4.5, 5.0], "temperature": temps,
             "c_o_ratio": [0.5, 1.0, 1.5], "metallicity": [-0.5, 0.0, 0.5]}
    return atmoscope.synthetic_grid(nodes)


def held_out(grid, column, value):
    test = grid.parameters[column].to_numpy() == value
    assert test.any()
    return grid.select(~test), grid.select(test)


# --- regression_metrics -------------------------------------------------------------
def test_regression_metrics_by_hand():
    y_true = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    y_pred = np.array([[2.0, 10.0], [2.0, 18.0], [2.0, 30.0], [6.0, 44.0]])
    m = regression_metrics(y_true, y_pred, ["a", "b"])
    # a: errors +1, 0, −1, +2
    a = m["a"]
    assert a["n"] == 4
    assert a["bias"] == pytest.approx(0.5)
    assert a["mae"] == pytest.approx(1.0)
    assert a["rmse"] == pytest.approx(np.sqrt(6 / 4))
    # SS_res = 6, SS_tot = 1.5² + 0.5² + 0.5² + 1.5² = 5  →  r2 = 1 − 6/5
    assert a["r2"] == pytest.approx(-0.2)
    # |err| sorted 0, 1, 1, 2: 68th percentile at rank 2.04 → 1.04; 95th at 2.85 → 1.85
    assert a["ae68"] == pytest.approx(1.04)
    assert a["ae95"] == pytest.approx(1.85)
    # b: errors 0, −2, 0, +4; SS_tot = 500, SS_res = 20
    b = m["b"]
    assert b["bias"] == pytest.approx(0.5)
    assert b["mae"] == pytest.approx(1.5)
    assert b["rmse"] == pytest.approx(np.sqrt(5.0))
    assert b["r2"] == pytest.approx(1 - 20 / 500)
    assert b["ae68"] == pytest.approx(2 + 0.04 * 2)  # sorted 0, 0, 2, 4: rank 2.04
    assert b["ae95"] == pytest.approx(2 + 0.85 * 2)
    # Plain Python numbers that survive JSON.
    assert all(type(v) in (float, int) for d in m.values() for v in d.values())
    assert json.loads(json.dumps(m)) == m


def test_regression_metrics_r2_is_true_first():
    y_true = np.array([[0.0], [1.0], [2.0]])
    y_pred = np.array([[0.0], [0.0], [0.0]])
    # true first: 1 − 5 / 2; the other order would divide by zero variance
    assert regression_metrics(y_true, y_pred, ["x"])["x"]["r2"] == pytest.approx(-1.5)


def test_regression_metrics_rejects_bad_shapes():
    with pytest.raises(ConfigError, match=r"y_true \(3, 2\) and y_pred \(3, 1\) must have one"):
        regression_metrics(np.zeros((3, 2)), np.zeros((3, 1)), ["a", "b"])
    with pytest.raises(ConfigError, match="1 names for 2 target columns"):
        regression_metrics(np.zeros((3, 2)), np.zeros((3, 2)), ["a"])
    with pytest.raises(ConfigError, match="no rows to score"):
        regression_metrics(np.zeros((0, 1)), np.zeros((0, 1)), ["a"])
    with pytest.raises(ConfigError, match="must be finite"):
        regression_metrics(np.array([1.0, np.nan]), np.zeros(2), ["a"])


# --- add_noise ----------------------------------------------------------------------
def test_add_noise_scatter_and_reproducibility():
    flux = atmoscope.synthetic_grid(
        {"gravity": [4.0, 5.0], "temperature": [500, 1000, 2000],
         "c_o_ratio": [1.0], "metallicity": [0.0, 0.5]}
    ).flux
    big = np.tile(flux, (50, 1))  # 600 × 104 pixels for a tight estimate
    snr = 20.0
    noisy = add_noise(big, snr, np.random.default_rng(1))
    assert noisy.shape == big.shape and noisy is not big
    ratio = (noisy - big) / big
    assert np.std(ratio) == pytest.approx(1 / snr, rel=0.05)
    assert abs(np.mean(ratio)) < 0.1 / snr
    again = add_noise(big, snr, np.random.default_rng(1))
    np.testing.assert_array_equal(noisy, again)
    assert not np.array_equal(noisy, add_noise(big, snr, np.random.default_rng(2)))


def test_add_noise_floor_keeps_log_finite():
    flux = np.array([[1.0, 2.0, 4.0], [10.0, 20.0, 40.0]])
    noisy = add_noise(np.tile(flux, (200, 1)), 0.5, np.random.default_rng(0))
    assert np.all(noisy > 0) and np.all(np.isfinite(np.log10(noisy)))
    floors = np.tile([[1e-3], [1e-2]], (200, 1))
    clipped = noisy <= 1.0001 * floors  # noise never lands exactly on the floor otherwise
    assert clipped.any()
    np.testing.assert_allclose(noisy[clipped], np.broadcast_to(floors, noisy.shape)[clipped])
    with pytest.raises(ConfigError, match="snr must be positive and finite"):
        add_noise(flux, 0.0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="flux must be positive and finite"):
        add_noise(-flux, 10.0, np.random.default_rng(0))


def test_log_uniform_snr_range():
    snr = log_uniform_snr(5.0, 100.0, 20_000, np.random.default_rng(0))
    assert snr.shape == (20_000, 1) and snr.min() >= 5.0 and snr.max() <= 100.0
    # log-uniform: the geometric midpoint sqrt(5 · 100) ≈ 22.4 splits the draws in half
    assert np.mean(snr < np.sqrt(500.0)) == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(log_uniform_snr(20.0, 20.0, 3, np.random.default_rng(0)),
                               np.full((3, 1), 20.0), rtol=1e-15)
    with pytest.raises(ConfigError, match="0 < low <= high"):
        log_uniform_snr(100.0, 5.0, 3, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="0 < low <= high"):
        log_uniform_snr(0.0, 5.0, 3, np.random.default_rng(0))


# --- Chi2GridFit ----------------------------------------------------------------------
def test_chi2_training_spectra_give_exact_nodes(subgrid):
    model = Chi2GridFit().fit(subgrid)
    assert model.fit(subgrid) is model
    np.testing.assert_array_equal(model.predict(subgrid.flux), subgrid.target_values)
    # a free flux scale does not change the answer for noiseless shapes
    scaled = Chi2GridFit(scale_free=True).fit(subgrid).predict(subgrid.flux * 3.7)
    np.testing.assert_array_equal(scaled, subgrid.target_values)


def test_chi2_neighbours_follow_the_axes(subgrid):
    model = Chi2GridFit().fit(subgrid)
    values = model.target_values_
    j = subgrid.targets.index("temperature")
    for row in (0, 5, 100, 296):
        lo, hi = model.lower_neighbour_[row, j], model.upper_neighbour_[row, j]
        for other, step in ((lo, -1), (hi, +1)):
            if other < 0:
                continue
            same = np.delete(np.arange(values.shape[1]), j)
            np.testing.assert_array_equal(values[other, same], values[row, same])
            nodes = np.unique(values[:, j])
            k = np.searchsorted(nodes, values[row, j])
            assert values[other, j] == nodes[k + step]
    # the coolest and hottest nodes have one neighbour only
    assert model.lower_neighbour_[values[:, j] == 700, j].max() == -1
    assert model.upper_neighbour_[values[:, j] == 1400, j].max() == -1


@pytest.mark.parametrize("scale_free", [False, True])
def test_chi2_held_out_teff_node(subgrid, scale_free):
    train, test = held_out(subgrid, "temperature", 1000.0)
    model = Chi2GridFit(scale_free=scale_free).fit(train)
    j = subgrid.targets.index("temperature")
    refined = model.predict(test.flux)[:, j]
    node_only = model.predict(test.flux, refine=False)[:, j]
    err, err_node = np.abs(refined - 1000.0), np.abs(node_only - 1000.0)
    # Training nodes around 1000 K are 950 and 1100 K.
    assert err.mean() < 50.0 and err.max() < 150.0
    assert err.mean() < 0.7 * err_node.mean()
    assert np.all((refined >= 900.0) & (refined <= 1200.0))


def test_chi2_scale_free_ignores_flux_scale(subgrid):
    train, test = held_out(subgrid, "temperature", 1000.0)
    model = Chi2GridFit(scale_free=True).fit(train)
    np.testing.assert_allclose(model.predict(test.flux * 1e-3), model.predict(test.flux), atol=1e-6)


def test_chi2_rejects_wrong_input(subgrid):
    with pytest.raises(ConfigError, match="Chi2GridFit is not fitted; call fit"):
        Chi2GridFit().predict(subgrid.flux)
    model = Chi2GridFit().fit(subgrid)
    with pytest.raises(ConfigError, match="flux has 50 wavelengths, the model was fitted on 104"):
        model.predict(subgrid.flux[:, :50])
    bad = np.array(subgrid.flux[:2])
    bad[0, 3] = 0.0
    with pytest.raises(ConfigError, match="flux must be positive and finite"):
        model.predict(bad)
    assert model.predict(subgrid.flux[7]).shape == (1, 4)


def test_chi2_real_grid_held_out_1200k(grids):
    grid = atmoscope.read_grid(grids / "sonora_bobcat_telescopeml104.csv")
    train, test = held_out(grid, "temperature", 1200.0)
    model = Chi2GridFit().fit(train)
    teff = model.predict(test.flux)[:, grid.targets.index("temperature")]
    assert len(teff) == 15
    assert np.all(np.abs(teff - 1200.0) < 100.0)


# --- RandomForestBaseline ---------------------------------------------------------------
def test_random_forest_held_out_r2():
    nodes = {"gravity": [3.5, 4.5, 5.5], "temperature": TELESCOPEML_NODES["temperature"],
             "c_o_ratio": [0.5, 1.5], "metallicity": [-0.5, 0.5, 1.5]}
    grid = atmoscope.synthetic_grid(nodes)  # 702 spectra
    perm = np.random.default_rng(0).permutation(grid.n_spectra)
    n_test = grid.n_spectra // 10
    train, test = grid.select(perm[n_test:]), grid.select(perm[:n_test])
    with pytest.raises(ConfigError, match="RandomForestBaseline is not fitted"):
        RandomForestBaseline().predict(test.flux)
    model = RandomForestBaseline(n_estimators=100).fit(train)
    with pytest.raises(ConfigError, match="flux has 3 wavelengths, the model was fitted on 104"):
        model.predict(test.flux[:, :3])
    pred = model.predict(test.flux)
    assert pred.shape == (n_test, 4)
    scores = regression_metrics(test.target_values, pred, grid.targets)
    assert scores["temperature"]["r2"] > 0.9
    # reproducible with the default seed
    again = RandomForestBaseline(n_estimators=100).fit(train).predict(test.flux)
    # (parallel tree averaging may differ in the last bit)
    np.testing.assert_allclose(pred, again, rtol=1e-12)
