"""Training augmentation: off-node spectra and model-mismatch residuals."""

import numpy as np
import pandas as pd
import pytest

from atmoscope.data import SpectralGrid, read_grid, write_grid
from atmoscope.data.splits import node_split
from atmoscope.errors import ConfigError, GridError
from atmoscope.synthetic import synthetic_spectra
from atmoscope.training import TrainConfig
from atmoscope.training.augment import OffNodeSampler, interpolation_residuals, is_synthetic
from atmoscope.workflows import train_bundle


def test_off_node_sampler_uses_the_generator_for_the_synthetic_grid(small_split, tmp_path):
    grid, split = small_split
    sampler = OffNodeSampler()
    assert sampler.source == "auto" and not hasattr(sampler, "source_")
    with pytest.raises(ConfigError, match="OffNodeSampler is not fitted"):
        sampler.draw(5, np.random.default_rng(0))
    assert sampler.fit(grid, split.train) is sampler
    assert sampler.source_ == "simulator" and sampler.interpolator_ is None
    assert sampler.targets_ == grid.targets
    theta, flux = sampler.draw(500, np.random.default_rng(0))
    assert theta.shape == (500, 4) and flux.shape == (500, grid.n_wavelengths)
    assert np.all(theta >= grid.target_values.min(0)) and np.all(theta <= grid.target_values.max(0))
    # continuous values, not nodes
    assert len(np.unique(theta[:, 1])) == 500
    np.testing.assert_allclose(flux, synthetic_spectra(theta, grid.wavelength))
    # a CSV written from the synthetic grid is recognised too
    copy = read_grid(write_grid(grid, tmp_path / "synthetic.csv"))
    assert copy.source != "atmoscope.synthetic" and is_synthetic(copy)


def test_off_node_sampler_interpolates_real_grids_within_the_hull(grids):
    grid = read_grid(grids / "sonora_bobcat_telescopeml104.csv")
    split = node_split(grid, {"temperature": [700, 900, 1200, 1600, 2000]}, seed=42)
    sampler = OffNodeSampler().fit(grid, np.concatenate([split.train, split.val]))
    assert sampler.source_ == "interpolate" and not sampler.interpolator_.is_regular_
    theta, flux = sampler.draw(400, np.random.default_rng(0))
    assert sampler.in_prior(theta).all() and np.all(flux > 0)
    # Bobcat varies C/O only at solar metallicity: metal-rich, carbon-rich corners are outside
    assert not sampler.in_prior(np.array([[5.0, 1000.0, 1.5, 0.5]]))[0]
    # on a training node the interpolated spectrum is the node's own
    node = split.train[3]
    np.testing.assert_allclose(sampler.spectra(grid.target_values[node][None])[0],
                               grid.flux[node], rtol=1e-9)
    # held-out test nodes are not used: their spectra are not reproduced
    test = split.test[0]
    assert not np.allclose(sampler.spectra(grid.target_values[test][None])[0], grid.flux[test],
                           rtol=1e-3, atol=0)


def test_off_node_sampler_refuses_bad_settings(small_split, grids):
    grid, split = small_split
    with pytest.raises(ConfigError, match="unknown off-node source 'grid'"):
        OffNodeSampler(source="grid").fit(grid)
    bobcat = read_grid(grids / "sonora_bobcat_telescopeml104.csv")
    with pytest.raises(ConfigError, match="'simulator' needs the embedded synthetic grid"):
        OffNodeSampler(source="simulator").fit(bobcat)
    sampler = OffNodeSampler(source="interpolate").fit(grid, split.train)
    # only the training nodes are interpolated (validation ones are missing: irregular)
    assert sampler.source_ == "interpolate" and sampler.interpolator_.n_nodes_ == len(split.train)
    with pytest.raises(ConfigError, match="cannot draw 0 spectra"):
        sampler.draw(0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="outside must be 'raise' or 'nan'"):
        sampler.spectra(grid.target_values[:1], outside="clip")
    # C/O and [M/H] that vary only together span a line: no hull to draw from
    line = SpectralGrid(wavelength=grid.wavelength[:3], flux=np.ones((3, 3)) * [[1], [2], [3]],
                        parameters=pd.DataFrame({"c_o_ratio": [0.5, 1.0, 1.5],
                                                 "metallicity": [-0.5, 0.0, 0.5]}),
                        targets=("c_o_ratio", "metallicity"))
    with pytest.raises(GridError, match="cannot triangulate the irregular grid"):
        OffNodeSampler().fit(line)


def test_interpolation_residuals_are_leave_one_out_errors(small_split):
    grid, _ = small_split
    residuals = interpolation_residuals(grid)
    # interior nodes per axis × lines along it: log g 2×81, Teff 7×36, C/O 1×108, [M/H] 1×108
    assert residuals.shape == (630, 104)
    # one by hand: Teff 700 K from 600 and 800 K at log g 4, C/O 0.5, [M/H] -0.5
    p = grid.parameters
    at = {t: np.flatnonzero((p.gravity == 4.0) & (p.temperature == t) & (p.c_o_ratio == 0.5)
                            & (p.metallicity == -0.5))[0] for t in (600, 700, 800)}
    expected = np.log10(grid.flux[at[700]]) - 0.5 * (np.log10(grid.flux[at[600]])
                                                     + np.log10(grid.flux[at[800]]))
    assert np.any(np.all(np.isclose(residuals, expected, rtol=0, atol=1e-12), axis=1))
    # a grid whose log flux is linear in its parameter has none
    t = np.array([500.0, 600.0, 800.0, 1100.0])
    linear = SpectralGrid(wavelength=np.array([1.0, 2.0]),
                          flux=10 ** (np.outer(t, [1e-3, -2e-3]) - 10),
                          parameters=pd.DataFrame({"temperature": t}), targets=("temperature",))
    np.testing.assert_allclose(interpolation_residuals(linear), 0, atol=1e-12)


def test_mismatch_augmentation_trains_on_a_real_grid(grids):
    grid = read_grid(grids / "sonora_bobcat_telescopeml104.csv")
    split = node_split(grid, {"temperature": [700, 900, 1200, 1600, 2000]}, seed=42)
    bundle, report = train_bundle(grid, split, TrainConfig(model="gaussian", epochs=5),
                                  None, progress=False, snrs=())
    assert bundle.training["mismatch"] == 1.0 and bundle.training["offnode"] == 1.0
    assert np.isfinite(report["metrics"]["temperature"]["rmse"])
