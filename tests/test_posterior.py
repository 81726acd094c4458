"""Calibrated posteriors: noise and off-node augmentation, posterior networks, the
reference sampler, and calibration of posterior models through the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from atmoscope.cli import main
from atmoscope.data import read_grid, write_grid
from atmoscope.data import SpectralGrid
from atmoscope.data.noise import noise_profile, noisy_observation
from atmoscope.data.preprocessing import Preprocessor
from atmoscope.data.splits import node_split
from atmoscope.errors import BundleError, ConfigError, GridError, SpectrumError
from atmoscope.evaluation.report import evaluate_predictor
from atmoscope.prediction import Predictor
from atmoscope.statistics.reference import log_likelihood, reference_posterior
from atmoscope.synthetic import mock_observation, synthetic_grid, synthetic_spectra
from atmoscope.models import build_model, load_estimator, load_model
from atmoscope.training import TrainConfig
from atmoscope.training.augment import OffNodeSampler, interpolation_residuals, is_synthetic
from atmoscope.workflows import train_bundle

SMALL = {"gravity": [4.0, 4.5, 5.0, 5.5], "temperature": list(range(600, 1401, 100)),
         "c_o_ratio": [0.5, 1.0, 2.0], "metallicity": [-0.5, 0.0, 0.5]}


@pytest.fixture(scope="module")
def small():
    grid = synthetic_grid(SMALL)
    return grid, node_split(grid, {"temperature": [900.0, 1200.0]}, seed=0)


@pytest.fixture(scope="module")
def posterior_bundle(small, tmp_path_factory):
    grid, split = small
    path = tmp_path_factory.mktemp("posterior") / "flow"
    bundle, _ = train_bundle(grid, split, TrainConfig(model="posterior", epochs=40, seed=1),
                             path, progress=False, snrs=(20,))
    return bundle, path


# --- noise -------------------------------------------------------------------------------
def test_noisy_observation_quotes_errors_from_the_data():
    flux = synthetic_grid(SMALL).flux[:5]
    snr = np.array([[5.0], [10.0], [20.0], [50.0], [100.0]])
    observed, error = noisy_observation(flux, snr, np.random.default_rng(0))
    # quoted error = |observed| / S/N: it carries the S/N, not the noiseless spectrum
    np.testing.assert_allclose(error / np.abs(observed), np.broadcast_to(1 / snr, flux.shape))
    # the noise itself has σ = flux / S/N (checked on many draws of one spectrum)
    many = np.repeat(flux[:1], 4000, axis=0)
    obs, _ = noisy_observation(many, 20.0, np.random.default_rng(1))
    np.testing.assert_allclose(np.std(obs / many - 1, axis=0), 1 / 20, rtol=0.08)
    again, _ = noisy_observation(flux, snr, np.random.default_rng(0))
    np.testing.assert_array_equal(again, observed)


def test_heteroscedastic_noise_follows_the_profile():
    flux = np.ones((6000, 4))
    profile = noise_profile(np.array([1.0, 2.0, 4.0, 8.0]), np.array([0.1, 0.2, 1.2, 0.8]))
    np.testing.assert_allclose(profile, [1.0, 1.0, 3.0, 1.0])  # relative error / its median
    obs, error = noisy_observation(flux, 10.0, np.random.default_rng(0), profile)
    np.testing.assert_allclose(np.std(obs, axis=0), profile / 10, rtol=0.05)
    np.testing.assert_allclose(error / np.abs(obs), np.broadcast_to(profile / 10, obs.shape))
    with pytest.raises(SpectrumError, match="no pixel has a finite positive error/flux"):
        noise_profile(np.ones(3), np.zeros(3))
    # non-finite ratios take the median
    np.testing.assert_allclose(noise_profile(np.array([1.0, 0.0, 1.0]),
                                             np.array([0.1, 0.1, 0.3])), [0.5, 1.0, 1.5])


def test_preprocessor_noise_channel():
    grid = synthetic_grid(SMALL)
    pre = Preprocessor(grid.targets, spectrum_mode="log_row", extra_features="moments",
                       noise_channel=True).fit(grid.flux, grid.target_values)
    x, e = pre.transform_spectra(grid.flux[:3], grid.flux[:3] / 100.0)
    assert x.shape == (3, 2, grid.n_wavelengths) and e.shape == (3, 2)
    np.testing.assert_allclose(x[:, 1], np.log10(1 / 100) + 1.5, atol=1e-6)  # S/N 100 → -0.5
    with pytest.raises(ConfigError, match="needs the flux errors"):
        pre.transform_spectra(grid.flux[:3])
    assert Preprocessor.from_dict(pre.to_dict()).noise_channel is True


# --- off-node parameters -----------------------------------------------------------------
def test_off_node_sampler_uses_the_generator_for_the_synthetic_grid(small, tmp_path):
    grid, split = small
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


def test_off_node_sampler_refuses_bad_settings(small, grids):
    grid, split = small
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


def test_interpolation_residuals_are_leave_one_out_errors(small):
    grid, _ = small
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


def test_train_config_checks_posterior_options(small):
    grid, split = small
    with pytest.raises(ConfigError, match="needs training noise"):
        TrainConfig(model="posterior", noise_snr=()).resolved()
    with pytest.raises(ConfigError, match="fraction"):
        TrainConfig(model="rescnn", offnode=1.5).resolved()
    with pytest.raises(ConfigError, match="give --noise-snr"):
        TrainConfig(model="rescnn", noise_snr=(), noise_profile=(1.0, 2.0)).resolved()
    with pytest.raises(ConfigError, match="mismatch must be"):
        TrainConfig(model="rescnn", mismatch=-1).resolved()
    assert TrainConfig(model="posterior").resolved().offnode == 1.0
    assert TrainConfig(model="rescnn").resolved().offnode == 0.0
    from atmoscope.training.trainer import Trainer

    with pytest.raises(ConfigError, match="noise profile has 3 values"):
        Trainer(TrainConfig(model="rescnn", epochs=1, noise_profile=(1, 2, 3)),
                progress=False).fit(grid, split)


def test_point_model_trains_with_off_node_spectra_and_a_noise_profile(small):
    grid, split = small
    profile = tuple(np.linspace(0.5, 2.0, grid.n_wavelengths))
    bundle, report = train_bundle(grid, split, TrainConfig(
        model="resmlp", epochs=3, offnode=0.5, noise_profile=profile), None, progress=False,
        snrs=())
    assert bundle.training["offnode"] == 0.5 and len(bundle.training["noise_profile"]) == 104
    assert np.isfinite(report["metrics"]["temperature"]["rmse"])


# --- posterior networks --------------------------------------------------------------------
def test_gaussian_head_is_a_proper_multivariate_normal():
    torch.manual_seed(0)
    model = build_model("gaussian", 104, 2, 4).eval()
    x, e = torch.randn(3, 2, 104), torch.randn(3, 2)
    dist = model.distribution(x, e)
    assert torch.all(torch.diagonal(dist.scale_tril, dim1=1, dim2=2) > 0)
    y = torch.randn(3, 4)
    expected = torch.distributions.MultivariateNormal(dist.mean, dist.covariance_matrix)
    torch.testing.assert_close(model.loss(x, e, y), -expected.log_prob(y).mean())
    with torch.no_grad():
        torch.testing.assert_close(model(x, e), dist.mean)
        assert model.transform_noise(x, e, torch.randn(3, 7, 4)).shape == (3, 7, 4)


def test_posterior_bundle_samples_in_physical_units(posterior_bundle, small):
    bundle, path = posterior_bundle
    grid, split = small
    assert bundle.kind == "posterior" and bundle.reads_errors
    history = bundle.history["val_loss"]
    assert min(history) < history[0] - 1.0  # the negative log posterior density fell
    rows = split.test[:4]
    observed, error = noisy_observation(grid.flux[rows], 50.0, np.random.default_rng(0))
    samples = bundle.sample(observed, error, 500, seed=3)
    assert samples.shape == (4, 500, 4)
    t = samples[..., 1]
    assert np.all((t > 300) & (t < 2000))  # Teff in K, around a 600–1400 K grid
    # seeded: the same seed gives the same samples, another seed others
    np.testing.assert_array_equal(bundle.sample(observed, error, 500, seed=3), samples)
    assert not np.array_equal(bundle.sample(observed, error, 500, seed=4), samples)
    # the point prediction is the posterior mean, and a reloaded bundle is the same model
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict(observed, error), bundle.predict(observed, error))
    # (the mean of 64 samples: within a few of its standard errors, std / 8)
    assert np.all(np.abs(bundle.predict(observed, error) - samples.mean(axis=1))
                  < 0.5 * samples.std(axis=1))
    # more noise, wider posterior
    noisy, noisy_error = noisy_observation(grid.flux[rows], 5.0, np.random.default_rng(0))
    wide = bundle.sample(noisy, noisy_error, 500, seed=3)
    assert np.median(wide[..., 1].std(axis=1)) > np.median(t.std(axis=1))


def test_point_models_sample_by_monte_carlo_over_the_errors(small):
    grid, split = small
    bundle, _ = train_bundle(grid, split, TrainConfig(model="resmlp", epochs=1), None,
                             progress=False, snrs=())
    assert bundle.kind == "point" and bundle.uncertainty == "monte_carlo"
    samples = bundle.sample(grid.flux[:2], grid.flux[:2] / 10, 50, seed=0)
    assert samples.shape == (2, 50, 4) and np.all(samples.std(axis=1) > 0)
    # row i's draws depend only on (seed, i): the same spectrum alone gives the same
    np.testing.assert_allclose(bundle.sample(grid.flux[:1], grid.flux[:1] / 10, 50, seed=0),
                               samples[:1])
    # without errors, every sample is the estimate of the spectrum itself
    still = bundle.sample(grid.flux[:1], None, 5)
    np.testing.assert_allclose(still[0], np.repeat(bundle.predict(grid.flux[:1]), 5, axis=0))


def test_evaluate_passes_quoted_errors_to_models_that_read_them(small):
    grid, _ = small
    seen = []

    def predict(flux, error=None):
        seen.append(error)
        return grid.target_values[: len(flux)]

    evaluate_predictor(predict, grid, np.arange(5), snrs=(10,), with_errors=True)
    assert seen[0] is None and seen[1].shape == (5, 104)


def test_predictor_uses_the_posterior_and_flags_missing_errors(posterior_bundle, small,
                                                               tmp_path):
    bundle, path = posterior_bundle
    grid, _ = small
    spectrum = mock_observation({"gravity": 5.0, "temperature": 1000.0, "c_o_ratio": 1.0,
                                  "metallicity": 0.0}, tmp_path / "mock.ecsv")
    predictor = Predictor(bundle, grid=grid, n_samples=400, distance_pc=10.0, radius_rjup=1.0)
    p = predictor.predict(spectrum)
    assert p.samples.shape == (400, 4) and p.n_draws == 400 and p.kind == "posterior"
    np.testing.assert_allclose(p.point, p.samples.mean(axis=0))
    assert 700 < p.summary()["temperature"]["p50"] < 1300
    assert not any("no flux errors" in f for f in p.flags)
    # the HTML report shows the posterior (corner plot) and says where the samples come from
    from atmoscope.reporting import write_prediction_report

    html = write_prediction_report(p, predictor, tmp_path / "report.html").read_text()
    assert "400 posterior samples each" in html and "Posterior samples" in html
    # without errors the posterior assumes the best training S/N, and says so
    from atmoscope.observed import read_spectrum

    bare = read_spectrum(spectrum)
    bare = bare.replace(error=None)
    q = predictor.predict(bare)
    assert any("assumes S/N 300" in f for f in q.flags)


def test_ensemble_may_not_mix_posterior_and_point_models(posterior_bundle, small, tmp_path):
    grid, split = small
    _, path = posterior_bundle
    import shutil

    shutil.copytree(path, tmp_path / "member-0")
    train_bundle(grid, split, TrainConfig(model="resmlp", epochs=1), tmp_path / "member-1",
                 progress=False, snrs=())
    with pytest.raises(BundleError, match="mixes posterior and point models"):
        load_estimator(tmp_path)


# --- reference sampler -----------------------------------------------------------------
def test_reference_posterior_recovers_the_truth(small):
    grid, split = small
    model = OffNodeSampler().fit(grid, np.concatenate([split.train, split.val]))
    truth = np.array([4.75, 1030.0, 1.2, 0.1])  # between nodes
    flux = synthetic_spectra(truth, grid.wavelength)
    observed, error = noisy_observation(flux, 50.0, np.random.default_rng(0))
    # the likelihood: higher at the truth than away from it; -inf outside the prior
    logl = log_likelihood(np.array([truth, truth * [1, 1.1, 1, 1], [5.0, 3000, 1, 0]]),
                          observed[0], error[0], model)
    assert logl[0] > logl[1] and logl[2] == -np.inf
    samples = reference_posterior(observed[0], error[0], model, n_steps=1500, burn=500, seed=0)
    assert samples.shape == (200 * 32, 4)
    mean, std = samples.mean(0), samples.std(0)
    assert np.all(np.abs(mean - truth) < 4 * std)
    # the widths are the Cramér-Rao bound of this model: for σ = F / S/N the Fisher
    # information is (S/N² + 2) Gᵀ G with G = ∂ log F / ∂θ (the 2 from σ's own θ-dependence)
    steps = np.array([1e-3, 0.1, 1e-3, 1e-3])
    g = np.stack([(np.log(synthetic_spectra(truth + d, grid.wavelength)[0])
                   - np.log(synthetic_spectra(truth - d, grid.wavelength)[0])) / (2 * h)
                  for d, h in zip(np.diag(steps), steps, strict=True)], axis=1)
    bound = np.sqrt(np.diag(np.linalg.inv((50.0**2 + 2) * g.T @ g)))
    np.testing.assert_allclose(std, bound, rtol=0.3)


# --- command line ------------------------------------------------------------------------
def test_cli_train_predict_and_calibrate_a_posterior(small, tmp_path, capsys):
    grid, _ = small
    path = write_grid(grid, tmp_path / "g.parquet")
    spectrum = mock_observation({"gravity": 5.0, "temperature": 1000.0, "c_o_ratio": 1.0,
                                  "metallicity": 0.0}, tmp_path / "mock.ecsv")
    assert main(["train", "--grid", str(path), "--model", "gaussian", "--ensemble", "2",
                 "--out", str(tmp_path / "gauss"), "--epochs", "3",
                 "--noise-profile", str(spectrum), "--holdout", "temperature=900,1200"]) == 0
    member = json.loads((tmp_path / "gauss" / "member-0" / "bundle.json").read_text())
    assert member["training"]["model"] == "gaussian" and member["training"]["offnode"] == 1.0
    assert len(member["training"]["noise_profile"]) == 104
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "gauss"), str(spectrum), "--json", "--distance",
                 "10", "--radius", "1", "--samples", "300"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_models"] == 2 and out["n_draws"] == 150 and out["uncertainty"] == "posterior"
    assert out["parameters"]["temperature"]["p16"] < out["parameters"]["temperature"]["p84"]
    assert main(["calibrate", str(tmp_path / "gauss"), "--grid", str(path), "--json",
                 "--n-spectra", "30", "--draws", "40", "--plot", str(tmp_path / "cal.png")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"].startswith("posterior samples (2 model(s) × 40)")  # per model
    for name in SMALL:
        for key in ("coverage_68", "coverage_95"):
            assert 0 <= report["parameters"][name][key] <= 1
            assert 0 <= report["monte_carlo"]["parameters"][name][key] <= 1
    assert len(report["joint"]) == len(report["levels"]) == 11
    assert (tmp_path / "cal.png").read_bytes().startswith(b"\x89PNG")
    # an error in the profile file is one line
    capsys.readouterr()
    bad = tmp_path / "bad.csv"
    bad.write_text("wavelength,flux\n1.0,2.0\n1.5,2.5\n")
    assert main(["train", "--grid", str(path), "--model", "posterior", "--out",
                 str(tmp_path / "x"), "--epochs", "1", "--noise-profile", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no flux errors to take a noise profile from" in err[0]
