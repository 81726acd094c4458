"""``GridInterpolator``: log-flux interpolation between grid nodes."""

import numpy as np
import pandas as pd
import pytest

import atmoscope
from atmoscope.errors import ConfigError, GridError
from atmoscope.statistics import GridInterpolator

PARAMS = ["gravity", "temperature", "c_o_ratio", "metallicity"]
LOW = np.array([4.75, 900.0, 0.8, -0.2])
HIGH = np.array([5.25, 1100.0, 1.2, 0.2])


def _nodes(h: float = 1.0) -> dict:
    """A small full-factorial grid around a T dwarf; ``h`` scales the node spacing."""
    return {
        "gravity": np.arange(LOW[0], HIGH[0] + 1e-9, 0.25 * h),
        "temperature": np.arange(LOW[1], HIGH[1] + 1e-9, 50.0 * h),
        "c_o_ratio": np.arange(LOW[2], HIGH[2] + 1e-9, 0.2 * h),
        "metallicity": np.arange(LOW[3], HIGH[3] + 1e-9, 0.1 * h),
    }


@pytest.fixture(scope="module")
def small_grid():
    return atmoscope.synthetic_grid(_nodes())  # 3 × 5 × 3 × 5 = 225 spectra


@pytest.fixture(scope="module")
def interp(small_grid):
    return GridInterpolator().fit(small_grid)


@pytest.fixture(scope="module")
def bobcat(grids):
    return atmoscope.read_grid(grids / "sonora_bobcat_telescopeml104.csv")


def _random_points(n: int = 200, seed: int = 1) -> np.ndarray:
    return LOW + (HIGH - LOW) * np.random.default_rng(seed).random((n, 4))


def _max_relative_error(interpolator, points, wavelength) -> float:
    truth = atmoscope.synthetic_spectra(points, wavelength)
    return float(np.max(np.abs(interpolator(points) / truth - 1.0)))


# --- regular (full-factorial) grids -------------------------------------------------------
def test_full_factorial_grid_is_regular(interp, small_grid):
    assert interp.is_regular_
    assert interp.params_ == PARAMS
    assert interp.n_nodes_ == small_grid.n_spectra == 225
    assert interp.bounds_["temperature"] == (900.0, 1100.0)
    np.testing.assert_array_equal(interp.wavelength_, small_grid.wavelength)
    assert interp.grid_ is small_grid


@pytest.mark.parametrize("log_flux", [True, False])
def test_nodes_are_reproduced_exactly(small_grid, log_flux):
    flux = GridInterpolator(log_flux=log_flux).fit(small_grid)(small_grid.parameters)
    assert flux.shape == small_grid.flux.shape
    np.testing.assert_allclose(flux, small_grid.flux, rtol=1e-10, atol=0)


def test_midpoint_is_the_geometric_mean_of_neighbouring_nodes(interp, small_grid):
    # Linear in log10 flux: half-way between two nodes → the geometric mean.
    p = small_grid.parameters
    rows = [np.flatnonzero((p.gravity == 5.0) & (p.temperature == t)
                           & np.isclose(p.c_o_ratio, 1.0) & np.isclose(p.metallicity, 0.0))[0]
            for t in (950.0, 1000.0)]
    mid = interp({"gravity": 5.0, "temperature": 975.0, "c_o_ratio": 1.0, "metallicity": 0.0})
    expected = np.sqrt(small_grid.flux[rows[0]] * small_grid.flux[rows[1]])
    np.testing.assert_allclose(mid[0], expected, rtol=1e-12)


def test_off_node_accuracy_against_the_generator(interp, small_grid):
    # Measured: 1.61 % max over 200 random points × 104 wavelengths (node spacing
    # 0.25 dex log g, 50 K, 0.2 C/O, 0.1 dex [M/H]); the error is the curvature
    # of the generator between nodes, mostly along [M/H].
    error = _max_relative_error(interp, _random_points(), small_grid.wavelength)
    assert error < 0.018


def test_error_shrinks_quadratically_with_node_spacing():
    # Linear interpolation: halving the spacing divides the error by ~4.
    # Measured: 1.61 % → 0.431 % (ratio 0.27) on the same 200 points.
    points = _random_points()
    coarse, fine = (
        _max_relative_error(GridInterpolator().fit(g), points, g.wavelength)
        for g in (atmoscope.synthetic_grid(_nodes(1.0)), atmoscope.synthetic_grid(_nodes(0.5)))
    )
    assert fine < 0.005
    assert fine < 0.3 * coarse


def test_input_forms_agree(interp):
    points = _random_points(5, seed=2)
    expected = interp(points)
    frame = pd.DataFrame(points, columns=PARAMS)
    np.testing.assert_array_equal(interp(frame), expected)
    np.testing.assert_array_equal(interp(frame[PARAMS[::-1]].assign(extra=1.0)), expected)
    np.testing.assert_array_equal(interp(dict(zip(PARAMS, points.T, strict=True))), expected)
    np.testing.assert_array_equal(interp(points[0]), expected[:1])
    np.testing.assert_array_equal(interp(frame.iloc[0]), expected[:1])
    one = interp({"gravity": 5.0, "temperature": [950.0, 1000.0], "c_o_ratio": 1.0,
                  "metallicity": 0.0})
    assert one.shape == (2, interp.wavelength_.size)


def test_outside_the_range_names_parameter_value_and_range(interp):
    point = {"gravity": 5.0, "temperature": 1150.0, "c_o_ratio": 1.0, "metallicity": 0.0}
    with pytest.raises(ConfigError, match="temperature = 1150 is outside the grid's range "
                                             "900–1100"):
        interp(point)
    with pytest.raises(ConfigError, match="metallicity = -0.3 is outside .* -0.2–0.2"):
        interp([[5.0, 1000.0, 1.0, -0.3]])


def test_bad_input_is_refused(interp, small_grid):
    with pytest.raises(ConfigError, match=r"missing parameter\(s\) \['metallicity'\]"):
        interp({"gravity": 5.0, "temperature": 1000.0, "c_o_ratio": 1.0})
    with pytest.raises(ConfigError, match=r"shape \(n, 4\)"):
        interp(np.ones((2, 3)))
    with pytest.raises(ConfigError, match="non-finite temperature"):
        interp([[5.0, np.nan, 1.0, 0.0]])
    with pytest.raises(ConfigError, match="unknown parameter"):
        GridInterpolator(params=["gravity", "fsed"]).fit(small_grid)
    # Leaving out a varying parameter makes spectra at one parameter vector ambiguous.
    with pytest.raises(ConfigError, match="share parameters .* differ in flux"):
        GridInterpolator(params=["gravity", "temperature", "c_o_ratio"]).fit(small_grid)


def test_fit_stores_settings_only_until_fit(small_grid):
    interp = GridInterpolator(params=PARAMS, log_flux=False)
    assert interp.params == PARAMS and not interp.log_flux
    assert not hasattr(interp, "params_")
    assert repr(interp) == f"GridInterpolator(params={PARAMS!r}, log_flux=False)"
    with pytest.raises(ConfigError, match="GridInterpolator is not fitted; call fit"):
        interp([[5.0, 1000.0, 1.0, 0.0]])
    assert interp.fit(small_grid) is interp
    assert repr(interp) == ("GridInterpolator(regular, 225 nodes over ['gravity', "
                            "'temperature', 'c_o_ratio', 'metallicity'], log_flux=False)")
    with pytest.raises(ConfigError, match="outside must be 'raise' or 'nan'"):
        interp([[5.0, 1000.0, 1.0, 0.0]], outside="clip")


def test_grid_problems_are_grid_errors(small_grid):
    one = atmoscope.synthetic_grid({p: [v] for p, v in zip(PARAMS, (5.0, 1000.0, 1.0, 0.0),
                                                           strict=True)})
    with pytest.raises(GridError, match="no varying parameter"):
        GridInterpolator().fit(one)
    t = np.array([500.0, 600.0, 700.0])
    zero = atmoscope.SpectralGrid(wavelength=np.array([1.0, 2.0]),
                                  flux=np.array([[1.0, 2.0], [0.0, 1.0], [1.0, 3.0]]),
                                  parameters=pd.DataFrame({"temperature": t}),
                                  targets=("temperature",))
    with pytest.raises(GridError, match="log_flux=True needs positive flux"):
        GridInterpolator().fit(zero)
    # without log flux the zero is interpolated linearly: half-way 600–700 K → (0.5, 2)
    np.testing.assert_allclose(GridInterpolator(log_flux=False).fit(zero)([[650.0]]),
                               [[0.5, 2.0]])
    # the same parameters twice with two spectra: the grid is at fault, not the call
    clash = atmoscope.SpectralGrid(wavelength=np.array([1.0, 2.0]),
                                   flux=np.array([[1.0, 2.0], [1.5, 2.0], [1.0, 3.0]]),
                                   parameters=pd.DataFrame({"temperature": [500.0, 500.0,
                                                                            600.0]}),
                                   targets=("temperature",))
    with pytest.raises(GridError, match="rows 0 and 1 share parameters"):
        GridInterpolator().fit(clash)


def test_constant_parameters_are_ignored():
    nodes = {**_nodes(), "c_o_ratio": [1.0]}
    grid = atmoscope.synthetic_grid(nodes)
    interp = GridInterpolator().fit(grid)
    assert interp.params_ == ["gravity", "temperature", "metallicity"]
    assert interp.ignored_params_ == {"c_o_ratio": 1.0}
    assert interp.is_regular_
    np.testing.assert_allclose(interp(grid.parameters), grid.flux, rtol=1e-10)
    by_array = interp([[5.0, 975.0, 0.05]])
    by_dict = interp({"gravity": 5.0, "temperature": 975.0, "metallicity": 0.05})
    np.testing.assert_array_equal(by_array, by_dict)


def test_rows_repeating_a_node_with_the_same_spectrum_are_merged(small_grid):
    doubled = small_grid.select(np.r_[np.arange(small_grid.n_spectra), [0, 1]])
    interp = GridInterpolator().fit(doubled)
    assert interp.is_regular_ and interp.n_nodes_ == small_grid.n_spectra


# --- irregular grids ----------------------------------------------------------------------
def test_missing_node_makes_the_grid_irregular(small_grid):
    interp = GridInterpolator().fit(small_grid.select(np.arange(1, small_grid.n_spectra)))
    assert not interp.is_regular_
    np.testing.assert_allclose(interp(small_grid.parameters.iloc[1:]), small_grid.flux[1:],
                               rtol=1e-10)


def test_irregular_cross_shaped_grid_accuracy(small_grid):
    # Bobcat-like: C/O varies only at [M/H] = 0 and [M/H] only at C/O = 1.
    p = small_grid.parameters
    keep = np.isclose(p.c_o_ratio, 1.0) | np.isclose(p.metallicity, 0.0)
    interp = GridInterpolator().fit(small_grid.select(np.asarray(keep)))
    assert not interp.is_regular_
    # Points inside the convex hull: |C/O − 1| / 0.2 + |[M/H]| / 0.2 < 1.
    rng = np.random.default_rng(3)
    points = _random_points(200, seed=3)
    share, sign = rng.random(200), rng.choice([-1.0, 1.0], size=(200, 2))
    points[:, 2] = 1.0 + sign[:, 0] * 0.2 * share * rng.random(200)
    points[:, 3] = sign[:, 1] * 0.2 * (1.0 - share) * rng.random(200)
    # Measured 3.22 % (the full grid: 1.57 % at the same points; medians 0.57 %, 0.54 %).
    assert _max_relative_error(interp, points, small_grid.wavelength) < 0.034
    with pytest.raises(ConfigError, match="outside the convex hull"):
        interp([[5.0, 1000.0, 1.2, 0.2]])


def test_bobcat_is_irregular_and_reproduces_its_nodes(bobcat):
    interp = GridInterpolator().fit(bobcat)
    assert not interp.is_regular_
    assert interp.params_ == PARAMS
    np.testing.assert_allclose(interp(bobcat.parameters), bobcat.flux, rtol=1e-10, atol=0)


def test_bobcat_inside_points(bobcat):
    interp = GridInterpolator().fit(bobcat)
    flux = interp({"gravity": 4.9, "temperature": 1050.0, "c_o_ratio": 0.9,
                   "metallicity": 0.05})
    assert flux.shape == (1, bobcat.n_wavelengths)
    assert np.all(np.isfinite(flux) & (flux > 0))
    assert np.all((flux >= bobcat.flux.min(axis=0)) & (flux <= bobcat.flux.max(axis=0)))
    # On a lattice edge between two nodes: the geometric mean of their spectra.
    p = bobcat.parameters
    rows = [np.flatnonzero((p.gravity == 5.0) & (p.temperature == t) & (p.c_o_ratio == 1.0)
                           & (p.metallicity == 0.0))[0] for t in (1000.0, 1100.0)]
    mid = interp({"gravity": 5.0, "temperature": 1050.0, "c_o_ratio": 1.0, "metallicity": 0.0})
    np.testing.assert_allclose(mid[0], np.sqrt(bobcat.flux[rows[0]] * bobcat.flux[rows[1]]),
                               rtol=1e-12)


def test_bobcat_outside_points(bobcat):
    interp = GridInterpolator().fit(bobcat)
    # Each value is in range, but C/O 1.5 exists only at [M/H] = 0.
    with pytest.raises(ConfigError, match=r"\(gravity=5, temperature=1050, c_o_ratio=1.5, "
                                             r"metallicity=0.5\) lies outside the convex hull"):
        interp({"gravity": 5.0, "temperature": 1050.0, "c_o_ratio": 1.5, "metallicity": 0.5})
    with pytest.raises(ConfigError, match="temperature = 2500 is outside the grid's range "
                                             "600–2400"):
        interp({"gravity": 5.0, "temperature": 2500.0, "c_o_ratio": 1.0, "metallicity": 0.0})


def test_bobcat_gradient_search_finds_scipys_simplices_and_values(bobcat):
    """The walk from a hint (and from the nearest node) lands where scipy's search does,
    Qhull's flat simplices and points outside the hull included."""
    interp = GridInterpolator().fit(bobcat)
    lo, hi = (np.array([interp.bounds_[p][i] for p in interp.params_]) for i in (0, 1))
    points = lo + np.random.default_rng(1).random((3000, 4)) * (hi - lo)
    want = interp(points, outside="nan")
    x = interp._scale(points)
    scipy_simplex = interp._interpolator.tri.find_simplex(x)
    flux, grad, simplex = interp._with_gradient(points)
    np.testing.assert_array_equal(simplex, scipy_simplex)
    inside = scipy_simplex >= 0
    assert 0.2 < inside.mean() < 0.8  # both kinds tested
    assert np.isnan(flux[~inside]).all() and np.isnan(grad[~inside]).all()
    np.testing.assert_allclose(flux[inside], want[inside], rtol=1e-6)  # float32 slopes
    # each point walked from a neighbour's simplex (an earlier step's) lands the same
    moved = np.clip(points + (hi - lo) * 0.02, lo, hi)
    _, _, from_hint = interp._with_gradient(moved, hint=simplex)
    np.testing.assert_array_equal(from_hint, interp._interpolator.tri.find_simplex(
        interp._scale(moved)))
    # Qhull's flat simplices are crossed, not handed to scipy's search (~80 µs a point):
    # only walks that keep going round do
    searched = []
    tri = interp._interpolator.tri

    class Counting:
        def __getattr__(self, name):
            return getattr(tri, name)

        def find_simplex(self, x):
            searched.append(len(x))
            return tri.find_simplex(x)

    interp._interpolator.tri = Counting()
    _, _, again = interp._with_gradient(moved, hint=simplex)
    interp._interpolator.tri = tri
    np.testing.assert_array_equal(again, from_hint)
    assert sum(searched) < 0.05 * inside.sum()  # was 18 % before flat clusters were crossed
    # the public derivatives: forward differences of the values within a simplex
    step = 1e-6 * (hi - lo)
    _, g0 = interp.with_gradient(points[inside][:20])
    f0 = interp(points[inside][:20])
    f1 = interp(points[inside][:20] + step * np.eye(4)[1], outside="nan")
    np.testing.assert_allclose((f1 - f0) / step[1], g0[:, 1], rtol=1e-3,
                               atol=1e-6 * np.abs(g0[:, 1]).max())
