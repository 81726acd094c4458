"""``Predictor`` on real and mock spectra: uncertainties, fit quality, flags."""

import numpy as np
import pytest

from atmoscope.data import read_grid
from atmoscope.data.splits import random_split
from atmoscope.errors import ConfigError, SpectrumError
from atmoscope.prediction import Predictor
from atmoscope.synthetic import mock_observation
from atmoscope.training import TrainConfig
from atmoscope.workflows import train_bundle


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
    assert any("model pixels without data" in f for f in p.notes)
    assert np.isfinite(p.point).all()


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


def test_predictor_uses_the_posterior_and_flags_missing_errors(posterior_bundle, small_split,
                                                               tmp_path):
    bundle, path = posterior_bundle
    grid, _ = small_split
    spectrum = mock_observation({"gravity": 5.0, "temperature": 1000.0, "c_o_ratio": 1.0,
                                  "metallicity": 0.0}, tmp_path / "mock.ecsv")
    predictor = Predictor(bundle, grid=grid, n_samples=400, distance_pc=10.0, radius_rjup=1.0)
    p = predictor.predict(spectrum)
    assert p.samples.shape == (400, 4) and p.n_draws == 400 and p.kind == "posterior"
    np.testing.assert_allclose(p.point, p.samples.mean(axis=0))
    assert 700 < p.summary()["temperature"]["p50"] < 1300
    assert not any("no flux errors" in f for f in p.notes)
    # the HTML report shows the posterior (corner plot) and says where the samples come from
    from atmoscope.reporting import write_prediction_report

    html = write_prediction_report(p, predictor, tmp_path / "report.html").read_text()
    assert "400 posterior samples each" in html and "Posterior samples" in html
    # without errors the posterior assumes the best training S/N, and says so
    from atmoscope.observed import read_spectrum

    bare = read_spectrum(spectrum)
    bare = bare.replace(error=None)
    q = predictor.predict(bare)
    assert any("assumes S/N 300" in f for f in q.notes)


def test_summaries_of_many_predictions_are_each_ones_own():
    """A catalog's statistics, computed for all its rows at once, are each prediction's
    own: mean, sample std and numpy's percentiles, samples of any count mixed."""
    from atmoscope.prediction.predictor import Prediction, summaries

    rng = np.random.default_rng(3)
    targets = ("temperature", "gravity")
    predictions = [Prediction(source=f"s{i}", targets=targets, point=rng.random(2),
                              samples=rng.normal(size=(n, 2)) * [100, 0.3] + [900, 5],
                              spectrum=None, cleaning={})
                   for i, n in enumerate((100, 100, 37, 100, 2))]
    together = summaries(predictions)
    for p, s in zip(predictions, together, strict=True):
        assert s == p.summary()
        for j, name in enumerate(targets):
            want = np.percentile(p.samples[:, j], [2.5, 16, 50, 84, 97.5])
            got = [s[name][k] for k in ("p2_5", "p16", "p50", "p84", "p97_5")]
            np.testing.assert_allclose(got, want, rtol=1e-12)
            assert s[name]["mean"] == pytest.approx(p.samples[:, j].mean(), rel=1e-12)
            assert s[name]["std"] == pytest.approx(p.samples[:, j].std(ddof=1), rel=1e-12)
            assert s[name]["point"] == p.point[j]
