"""The embedded analytic grid: size, exact wavelengths, magnitudes and the physics it mimics."""

import astropy.units as u
import numpy as np
import pytest

from atmoscope.data import TELESCOPEML_NODES, telescopeml_wavelengths
from atmoscope.errors import ConfigError
from atmoscope.synthetic import synthetic_grid, synthetic_spectra

WL = telescopeml_wavelengths(descending=False)
SOLAR = {"gravity": 5.0, "temperature": 1000.0, "c_o_ratio": 1.0, "metallicity": 0.0}


def spectrum(**changes):
    return synthetic_spectra({**SOLAR, **changes}, WL)[0]


def flux_at(f, wavelength):
    return f[..., np.argmin(np.abs(WL - wavelength))]


@pytest.fixture(scope="module")
def grid():
    return synthetic_grid()


def test_full_telescopeml_grid(grid):
    assert (grid.n_spectra, grid.n_wavelengths) == (30888, 104)
    nodes = grid.unique_values()
    assert nodes["temperature"].size == 39 and nodes["gravity"].size == 11
    assert nodes["c_o_ratio"].tolist() == [0.25, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert nodes["metallicity"].tolist() == list(TELESCOPEML_NODES["metallicity"])
    assert grid.n_duplicate_spectra == 0
    assert grid.flux_unit == u.erg / u.s / u.cm**2 / u.Hz
    # rows ordered like TelescopeML's file: gravity slowest, metallicity fastest
    assert grid.parameters.iloc[1].tolist() == [3.0, 200.0, 0.25, -0.7]


def test_exact_telescopeml_wavelengths(grid, shared_data):
    published = np.loadtxt(shared_data / "telescopeml_wavelengths_104.csv", skiprows=1)
    np.testing.assert_array_equal(telescopeml_wavelengths(), published)
    np.testing.assert_array_equal(grid.wavelength, published[::-1])


def test_deterministic(grid):
    assert synthetic_grid().content_hash == grid.content_hash


def test_flux_magnitudes_are_those_of_brown_dwarf_models(grid):
    assert np.all(np.isfinite(grid.flux)) and np.all(grid.flux > 0)
    assert 1e-6 < grid.flux.max() < 1e-4  # hottest L dwarfs, erg/s/cm2/Hz at the surface
    t_dwarf = spectrum(temperature=800.0)
    assert 1e-9 < t_dwarf.max() < 1e-7
    # a T dwarf's F_nu peaks in J band; an early L dwarf is much brighter
    assert 1.2 < WL[t_dwarf.argmax()] < 1.32
    assert spectrum(temperature=2000.0).max() > 50 * t_dwarf.max()


def test_water_deepens_as_teff_falls():
    temps = np.array([2400, 2000, 1600, 1200, 900, 600, 400, 300])
    f = synthetic_spectra({**SOLAR, "temperature": temps}, WL)
    depth = 1 - flux_at(f, 1.40) / np.sqrt(flux_at(f, 1.26) * flux_at(f, 1.59))
    assert np.all(np.diff(depth) > 0)
    # and less water when carbon takes the oxygen
    co = synthetic_spectra({**SOLAR, "c_o_ratio": np.array([0.25, 1.0, 2.5])}, WL)
    assert np.all(np.diff(flux_at(co, 1.40) / flux_at(co, 1.26)) > 0)


def test_methane_appears_below_1300_k_and_grows_with_c_o_and_metallicity():
    def depth(f):
        return 1 - flux_at(f, 1.67) / flux_at(f, 1.59)

    hot, transition, cool = (depth(spectrum(temperature=t)) for t in (2000.0, 1300.0, 800.0))
    assert hot < 0.05 < transition < cool and cool > 0.8
    for name, values in (("c_o_ratio", [0.25, 0.5, 1.0, 2.5]), ("metallicity", [-1.0, 0.0, 1.0])):
        f = synthetic_spectra({**SOLAR, "temperature": 700.0, name: np.array(values)}, WL)
        assert np.all(np.diff(depth(f)) > 0), name


def test_co_band_head_in_hot_objects_only():
    def dip(f):  # across the 2.29 um band head
        return 1 - flux_at(f, 2.319) / flux_at(f, 2.273)

    hot = spectrum(temperature=2200.0)
    assert dip(hot) > 0.5
    assert dip(spectrum(temperature=2200.0, c_o_ratio=0.25)) < dip(hot)
    # in a T dwarf the CO is gone; what is left at 2.3 um is methane, which C/O cannot remove
    assert dip(spectrum(temperature=600.0, c_o_ratio=0.25)) < 0.3


def test_collision_induced_h2_suppresses_k_band():
    def k_over_j(f):
        return flux_at(f, 2.098) / flux_at(f, 1.26)

    for teff in (600.0, 900.0, 1200.0):
        g = synthetic_spectra({**SOLAR, "temperature": teff,
                               "gravity": np.array([3.5, 4.5, 5.5])}, WL)
        assert np.all(np.diff(k_over_j(g)) < 0), teff
        m = synthetic_spectra({**SOLAR, "temperature": teff,
                               "metallicity": np.array([-1.0, 0.0, 1.0])}, WL)
        assert np.all(np.diff(k_over_j(m)) > 0), teff


def test_alkali_wings_broaden_with_gravity():
    f = synthetic_spectra({**SOLAR, "temperature": 900.0, "gravity": np.array([3.5, 4.5, 5.5])}, WL)
    assert np.all(np.diff(flux_at(f, 0.92) / flux_at(f, 1.06)) < 0)


def test_every_parameter_leaves_its_own_imprint():
    """The Jacobian d ln F / d parameter has full rank: no parameter mimics the others."""
    rng = np.random.default_rng(7)
    low = np.array([3.0, 200.0, 0.25, -1.0])
    high = np.array([5.5, 2400.0, 2.5, 2.0])
    for _ in range(50):
        p = rng.uniform(low, high)
        step = (high - low) * 1e-4
        columns = []
        for k in range(4):
            up, down = p.copy(), p.copy()
            up[k] += step[k]
            down[k] -= step[k]
            diff = np.log(synthetic_spectra(up, WL)) - np.log(synthetic_spectra(down, WL))
            columns.append(diff[0] / 2e-4)  # per unit of each parameter's range
        singular = np.linalg.svd(np.array(columns).T, compute_uv=False)
        assert singular[-1] / singular[0] > 1e-4, p


def test_adjacent_nodes_differ(grid):
    ln = np.log(grid.flux).reshape(11, 39, 6, 12, 104)
    for axis in range(4):
        assert np.abs(np.diff(ln, axis=axis)).max(axis=-1).min() > 0.02, axis


def test_off_grid_parameters_and_any_wavelengths():
    p = {"gravity": [4.13, 3.3], "temperature": [812.5, 1750.0],
         "c_o_ratio": [0.83, 1.9], "metallicity": [-0.21, 0.45]}
    wl = np.linspace(0.7, 5.0, 500)
    f = synthetic_spectra(p, wl)
    assert f.shape == (2, 500) and np.all(np.isfinite(f)) and np.all(f > 0)
    # continuous: a tiny parameter change gives a tiny spectral change
    near = synthetic_spectra({**SOLAR, "temperature": 1000.001}, WL)[0]
    assert np.max(np.abs(np.log(near / spectrum()))) < 1e-4
    # array input in TelescopeML's column order gives the same as a mapping
    arr = np.array([[5.0, 1000.0, 1.0, 0.0]])
    np.testing.assert_array_equal(synthetic_spectra(arr, WL)[0], spectrum())


@pytest.mark.parametrize("params, message", [
    ({**SOLAR, "temperature": -5.0}, "temperature must be positive"),
    ({**SOLAR, "c_o_ratio": 0.0}, "c_o_ratio must be positive"),
    ({**SOLAR, "gravity": np.nan}, "non-finite gravity"),
    ({"temperature": 900.0}, "need parameter"),
    (np.ones((3, 2)), "must have 4 columns"),
    ({**SOLAR, "temperature": "hot"}, "parameters must be numbers"),
    ({**SOLAR, "temperature": [900.0, 1000.0], "gravity": [4.0, 4.5, 5.0]}, "do not broadcast"),
])
def test_bad_parameters(params, message):
    with pytest.raises(ConfigError, match=message):
        synthetic_spectra(params)


def test_bad_wavelengths_and_nodes():
    with pytest.raises(ConfigError, match="wavelengths must be positive and finite"):
        synthetic_spectra(SOLAR, ["a", "b"])
    with pytest.raises(ConfigError, match="wavelengths must be positive and finite"):
        synthetic_spectra(SOLAR, [1.0, -1.0])
    with pytest.raises(ConfigError, match=r"no nodes given for \['metallicity'\]"):
        synthetic_grid({k: v for k, v in TELESCOPEML_NODES.items() if k != "metallicity"})
    with pytest.raises(ConfigError, match="nodes must be numbers"):
        synthetic_grid({**TELESCOPEML_NODES, "gravity": ["low"]})
