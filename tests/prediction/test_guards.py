"""Guard rails: flags, refusals and error inflation on hostile and real spectra, through the
shipped `bobcat` posterior (trained with a mask input, a novelty score and a floor)."""

import astropy.units as u
import numpy as np
import pytest

from atmoscope.errors import SpectrumError
from atmoscope.observed import ObservedSpectrum, read_spectrum
from atmoscope.prediction import Predictor
from atmoscope.prediction.guards import FLAGS, edge_fraction, guard_flags
from atmoscope.pretrained import model_path
from atmoscope.statistics import GridInterpolator

FLAM = u.Unit("erg / (s cm2 AA)")


@pytest.fixture(scope="module")
def bobcat():
    return Predictor(model_path("bobcat"), n_samples=400)


@pytest.fixture(scope="module")
def hd3651b(shared_data):
    return read_spectrum(shared_data / "observed" / "HD3651B_spex_prism.csv")


def _spectrum(wl_um, flux, error, name="test"):
    return ObservedSpectrum(wl_um * u.um, flux * FLAM, error * FLAM, meta={"source": name})


def _width(p, j=1):
    lo, hi = np.percentile(p.samples[:, j], [16, 84])
    return hi - lo


def test_guard_flags_follow_their_thresholds():
    base = dict(edge=0.0, novelty=0.5, p_value=0.5, n_used=100, n_pixels=100, radius_rjup=1.0)
    assert guard_flags(**base) == []
    assert guard_flags(**{**base, "edge": 0.06}) == ["outside_grid"]
    assert guard_flags(**{**base, "edge": 0.05}) == []
    assert guard_flags(**{**base, "novelty": 1.2}) == ["outside_grid"]
    assert guard_flags(**{**base, "p_value": 9e-4}) == ["poor_fit"]
    assert guard_flags(**{**base, "n_used": 69}) == ["filled_pixels"]
    assert guard_flags(**{**base, "n_used": 70}) == []
    assert guard_flags(**{**base, "radius_rjup": 3.5}) == ["implausible_scale"]
    assert guard_flags(**{**base, "radius_rjup": 0.3}) == ["implausible_scale"]
    unknown = dict(edge=None, novelty=None, p_value=None, n_used=100, n_pixels=100,
                   radius_rjup=None)
    assert guard_flags(**unknown) == []
    assert set(FLAGS) == {"outside_grid", "poor_fit", "filled_pixels", "implausible_scale"}


def test_edge_fraction_counts_samples_at_or_beyond_the_range(small):
    interp = GridInterpolator().fit(small)
    targets = small.targets
    centre = np.array([np.mean(interp.bounds_.get(t, (v, v))) for t, v in
                       zip(targets, small.target_values[0], strict=True)])
    inside = np.repeat(centre[None], 100, axis=0)
    assert edge_fraction(inside, targets, interp) == 0.0
    j = list(targets).index("temperature")
    beyond = inside.copy()
    beyond[:10, j] = interp.bounds_["temperature"][1] + 50  # 10 % beyond the hottest node
    assert edge_fraction(beyond, targets, interp) == pytest.approx(0.10)


def test_a_hot_blackbody_is_flagged_outside_the_grid_and_a_poor_fit(bobcat):
    wl = np.linspace(0.9, 2.5, 300)
    flux = 1.0 / wl ** 5 / np.expm1(14387.77 / (wl * 5000.0))
    p = bobcat.predict(_spectrum(wl, flux, 0.02 * flux, "blackbody"))
    assert "outside_grid" in p.flags and "poor_fit" in p.flags
    assert p.novelty > 1.0
    assert p.error_inflation > 3.0  # √(reduced χ²) of a hopeless fit
    assert p.to_dict()["flags"] == p.flags


def test_pure_noise_is_refused_or_flagged(bobcat):
    wl = np.linspace(0.9, 2.5, 300)
    noise = np.random.default_rng(3).standard_normal(300)
    try:
        p = bobcat.predict(_spectrum(wl, noise, np.ones(300), "noise"))
    except SpectrumError as exc:  # a negative or zero flux scale is an error
        assert "not like any model" in str(exc)
    else:
        assert p.flags, "pure noise must not come back as a clean answer"


def test_three_pixels_are_refused(bobcat):
    wl = np.array([1.20, 1.21, 1.22])
    with pytest.raises(SpectrumError, match=r"only \d+ of 442 model pixels have data"):
        Predictor(model_path("bobcat"), n_samples=50, allow_partial=True).predict(
            _spectrum(wl, np.ones(3), 0.1 * np.ones(3), "three"))


def test_a_fragment_is_flagged_and_its_intervals_widen(hd3651b):
    full = Predictor(model_path("bobcat"), n_samples=400, inflate=False).predict(hd3651b)
    keep = (hd3651b.wavelength.to_value(u.um) >= 1.2) & (hd3651b.wavelength.to_value(u.um)
                                                         <= 1.3)
    fragment = hd3651b.replace(wavelength=hd3651b.wavelength[keep], flux=hd3651b.flux[keep],
                               error=hd3651b.error[keep], mask=None)
    with pytest.raises(SpectrumError, match="--allow-partial"):
        Predictor(model_path("bobcat"), n_samples=50).predict(fragment)
    p = Predictor(model_path("bobcat"), n_samples=400, allow_partial=True,
                  inflate=False).predict(fragment)
    assert "filled_pixels" in p.flags
    assert p.spectrum.mask.sum() < 0.1 * p.spectrum.n_pixels
    for j in range(len(p.targets)):  # every parameter less constrained than by the whole
        assert _width(p, j) > 1.5 * _width(full, j)


def test_a_poor_fit_inflates_the_errors_by_the_square_root_of_reduced_chi2(hd3651b):
    quoted = Predictor(model_path("bobcat"), n_samples=400, inflate=False).predict(hd3651b)
    assert "poor_fit" in quoted.flags and quoted.error_inflation == 1.0
    inflated = Predictor(model_path("bobcat"), n_samples=400).predict(hd3651b)
    assert inflated.error_inflation == pytest.approx(np.sqrt(quoted.fit.reduced_chi2))
    assert any("errors inflated" in n for n in inflated.notes)
    j = list(inflated.targets).index("temperature")
    assert _width(inflated, j) > _width(quoted, j)
    assert inflated.to_dict()["error_inflation"] == pytest.approx(inflated.error_inflation)


def test_a_distance_that_implies_an_absurd_radius_is_flagged(small, tmp_path):
    from atmoscope.data.splits import random_split
    from atmoscope.training import TrainConfig
    from atmoscope.workflows import train_bundle

    train_bundle(small, random_split(small.n_spectra, seed=0),
                 TrainConfig(model="rescnn", epochs=3, extra_features="none", calibrate=False),
                 tmp_path / "m", progress=False, snrs=())
    predictor = Predictor(tmp_path / "m", grid=small, n_samples=20, distance_pc=10.0)
    surface = small.flux[small.n_spectra // 2]
    for radius, flagged in ((1.0, False), (5.0, True)):
        scale = ((radius * u.R_jup) / (10 * u.pc)).decompose().value ** 2
        spectrum = ObservedSpectrum(small.wavelength * small.wavelength_unit,
                                    scale * surface * small.flux_unit,
                                    0.01 * scale * surface * small.flux_unit,
                                    meta={"source": f"R={radius}"})
        p = predictor.predict(spectrum)
        assert p.implied_radius_rjup == pytest.approx(radius, rel=0.2)
        assert ("implausible_scale" in p.flags) is flagged
