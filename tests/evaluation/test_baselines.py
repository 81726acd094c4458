"""Baselines (χ² grid fit, random forest), checked on numbers."""

import numpy as np
import pytest

import atmoscope
from atmoscope.data import TELESCOPEML_NODES
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


# --- Chi2GridFit --------------------------------------------------------------------------
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


# --- RandomForestBaseline -----------------------------------------------------------------
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
