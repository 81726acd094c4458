"""``ModelBundle``: the bundle format, bad bundles, sampling a posterior bundle."""

import copy
import json
import shutil

import numpy as np
import pytest
import torch

from atmoscope.data import write_grid
from atmoscope.data.noise import noisy_observation
from atmoscope.data.splits import node_split
from atmoscope.errors import BundleError, ConfigError
from atmoscope.models import build_model, load_model
from atmoscope.models.registry import default_options
from atmoscope.pretrained import FOLDER
from atmoscope.training import TrainConfig
from atmoscope.workflows import train_bundle


def test_bundle_round_trip(small, tmp_path):
    split = node_split(small)
    bundle, report = train_bundle(small, split, TrainConfig(model="rescnn", epochs=3),
                                  tmp_path / "b", progress=False)
    loaded = load_model(tmp_path / "b")
    np.testing.assert_array_equal(loaded.predict(small.flux), bundle.predict(small.flux))
    meta = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert meta["grid"]["content_hash"] == small.content_hash
    assert meta["versions"]["torch"] == torch.__version__
    assert meta["training"]["model"] == "rescnn" and meta["training"]["batch_size"] == 64
    # every option, defaults included: a later default never rebuilds another network
    assert meta["format_version"] == 2
    assert meta["architecture"]["options"] == default_options("rescnn")
    assert len(meta["history"]["val_loss"]) == 3
    assert set(meta["metrics"]["metrics"]["temperature"]) >= {"rmse", "mae", "r2", "bias"}
    assert meta["split"]["test_rows"] == split.test.tolist()
    assert sorted(p.name for p in (tmp_path / "b" / "figures").iterdir()) == [
        "loss_curves.png", "parity.png", "residuals.png"]
    assert not (tmp_path / "b.checkpoint.pt").exists()
    assert report["predictions"].shape == (len(split.test), 4)


def test_bundle_stores_its_grid_and_half_precision_weights(small, tmp_path):
    bundle, _ = train_bundle(small, node_split(small), TrainConfig(model="rescnn", epochs=1),
                             tmp_path / "b", progress=False, embed_grid=True)
    assert load_model(tmp_path / "b").training_grid().content_hash == small.content_hash
    bundle.save(tmp_path / "half", weights_dtype="float16")  # keeps the grid it was saved with
    half = load_model(tmp_path / "half")
    assert half.training_grid().content_hash == small.content_hash
    assert (tmp_path / "half" / "weights.pt").stat().st_size < 0.6 * (
        tmp_path / "b" / "weights.pt").stat().st_size
    full, approx = bundle.predict(small.flux[:50]), half.predict(small.flux[:50])
    span = np.ptp(small.target_values, axis=0)
    assert np.max(np.abs(full - approx) / span) < 0.01  # float16 rounding is negligible
    with pytest.raises(ConfigError, match="not the one this model was trained on"):
        bundle.save(tmp_path / "x", grid=small.select(np.arange(10)))
    # a stored grid that was swapped afterwards is caught
    write_grid(small.select(np.arange(10)), tmp_path / "half" / "grid.parquet")
    with pytest.raises(BundleError, match="content hash differs"):
        load_model(tmp_path / "half").training_grid()


def test_format_1_bundles_rebuild_the_network_of_their_time(tmp_path):
    # format 1 stored the options given only, as the shipped flows were first saved; the
    # flow's defaults then (context 64, width 32, ...) differ from today's tuned ones
    shutil.copytree(FOLDER / "bobcat", tmp_path / "v1")
    meta = json.loads((tmp_path / "v1" / "bundle.json").read_text())
    meta["format_version"] = 1
    meta["architecture"]["options"] = {"width": 16, "stages": 3, "hidden": 128,
                                       "mask_input": True}
    (tmp_path / "v1" / "bundle.json").write_text(json.dumps(meta))
    old = load_model(tmp_path / "v1")
    assert old.architecture["options"]["context"] == 64
    assert old.architecture["options"]["context"] != default_options("posterior")["context"]
    old.save(tmp_path / "b", weights_dtype="float16")
    again = load_model(tmp_path / "b")
    assert json.loads((tmp_path / "b" / "bundle.json").read_text())["format_version"] == 2
    flux = old.training_grid().flux[:5]
    error = 0.02 * flux
    np.testing.assert_allclose(again.sample(flux, error, 50, seed=1),
                               old.sample(flux, error, 50, seed=1))


def test_format_1_cnn_bundles_of_either_default_load(small, tmp_path):
    # format-1 CNNs were saved under the defaults before and after the search of
    # 2026-11-29; the weights' shapes tell which
    for options in ({"width": 32, "stages": 2, "hidden": 256}, {}):
        path = tmp_path / f"b{len(options)}"
        bundle, _ = train_bundle(small, node_split(small),
                                 TrainConfig(model="rescnn", epochs=1, model_options=options,
                                             calibrate=False), path, progress=False)
        meta = json.loads((path / "bundle.json").read_text())
        meta["format_version"] = 1
        meta["architecture"]["options"] = {}
        (path / "bundle.json").write_text(json.dumps(meta))
        loaded = load_model(path)
        assert loaded.architecture["options"] == bundle.architecture["options"]
        np.testing.assert_array_equal(loaded.predict(small.flux[:5]),
                                      bundle.predict(small.flux[:5]))


def test_the_floor_grows_with_the_missing_fraction(posterior_bundle, small_split):
    bundle, _ = posterior_bundle
    grid, split = small_split
    bundle = copy.copy(bundle)  # the fixture is shared
    bundle.systematics = {"floor": [0.1] * 4, "floor_per_missing": [2.0] * 4}
    np.testing.assert_allclose(bundle.floors(np.array([0.0, 0.3])), [[0.1] * 4, [0.7] * 4])
    observed, error = noisy_observation(grid.flux[split.test[:30]], 50.0,
                                        np.random.default_rng(0))
    mask = np.ones(observed.shape, dtype=bool)
    mask[:, : int(0.3 * grid.n_wavelengths)] = False
    own = bundle.sample(observed, error, 400, seed=1, mask=mask, floor=False)
    with_floor = bundle.sample(observed, error, 400, seed=1, mask=mask)
    # sample(floor=True) is add_floor(sample(floor=False)) at the spectra's own missing fraction
    missing = 1 - mask.mean(axis=1)  # 0.3, to a pixel
    np.testing.assert_allclose(with_floor, bundle.add_floor(own, 1, missing=missing))
    # in standardised units the floor adds (0.1 + 2 × 0.3)² to each variance
    z = [bundle.preprocessor.transform_targets(s.reshape(-1, 4)).reshape(s.shape)
         for s in (own, with_floor)]
    added = np.median(z[1].var(axis=1) - z[0].var(axis=1), axis=0)
    np.testing.assert_allclose(added, 0.7 ** 2, rtol=0.2)


def test_bad_bundles(small, tmp_path):
    train_bundle(small, node_split(small), TrainConfig(model="resmlp", epochs=1),
                 tmp_path / "b", progress=False)
    with pytest.raises(BundleError, match="not a model bundle"):
        load_model(tmp_path / "nothing")
    (tmp_path / "b" / "weights.pt").write_bytes(b"\x00garbage")
    with pytest.raises(BundleError, match="weights do not load"):
        load_model(tmp_path / "b")
    torch.save(build_model("resmlp", 50, 2, 4).state_dict(), tmp_path / "b" / "weights.pt")
    with pytest.raises(BundleError, match="weights do not load"):
        load_model(tmp_path / "b")
    meta = json.loads((tmp_path / "b" / "bundle.json").read_text())
    (tmp_path / "b" / "bundle.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(BundleError, match="newer than this atmoscope"):
        load_model(tmp_path / "b")
    (tmp_path / "b" / "bundle.json").write_text("{not json")
    with pytest.raises(BundleError, match="corrupt bundle metadata"):
        load_model(tmp_path / "b")


def test_posterior_bundle_samples_in_physical_units(posterior_bundle, small_split):
    bundle, path = posterior_bundle
    grid, split = small_split
    assert bundle.kind == "posterior" and bundle.reads_errors
    history = bundle.history["val_loss"]
    assert min(history) < history[0] - 1.0  # the negative log posterior density fell
    rows = split.test[:4]
    observed, error = noisy_observation(grid.flux[rows], 50.0, np.random.default_rng(0))
    samples = bundle.sample(observed, error, 500, seed=3)
    assert samples.shape == (4, 500, 4)
    t = samples[..., 1]
    median = np.median(t, axis=1)
    assert np.all((median > 500) & (median < 1600))  # Teff in K, around a 600–1400 K grid
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


def test_a_posterior_sampling_only_through_transform_noise_still_works(posterior_bundle,
                                                                        small_split):
    """A network written before ``sample_embedded`` (only ``transform_noise``): the same
    samples, no embedding returned, and its novelty score embeds the spectra itself."""
    from atmoscope.models.base import PosteriorNetwork
    from atmoscope.models.flow import FlowPosterior

    class Older(FlowPosterior):
        sample_embedded = PosteriorNetwork.sample_embedded

        def transform_noise(self, spectrum, extra, z):
            return FlowPosterior.sample_embedded(self, self.embed(spectrum, extra), z)

    bundle, _ = posterior_bundle
    grid, split = small_split
    observed, error = noisy_observation(grid.flux[split.test[:3]], 30.0,
                                        np.random.default_rng(1))
    want, embedding = bundle.sample(observed, error, 50, seed=2, return_embedding=True)
    older = copy.copy(bundle)
    older.model = copy.deepcopy(bundle.model)
    older.model.__class__ = Older
    got, none = older.sample(observed, error, 50, seed=2, return_embedding=True)
    assert none is None
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(older.novelty_score(observed, error),
                               bundle.novelty_score(observed, error, embedding=embedding),
                               rtol=1e-5)


def test_posterior_bundle_knows_missing_pixels_and_carries_its_calibration(posterior_bundle,
                                                                            small_split):
    bundle, path = posterior_bundle
    grid, split = small_split
    # trained with random gaps through a mask channel (the posterior default)
    assert bundle.architecture["options"]["mask_input"] is True
    assert bundle.preprocessor.mask_channel and bundle.training["gaps"] == 0.5
    rows = split.test[:20]
    observed, error = noisy_observation(grid.flux[rows], 50.0, np.random.default_rng(0))
    full = bundle.sample(observed, error, 300, seed=1)
    mask = np.ones(observed.shape, dtype=bool)
    mask[:, : int(0.6 * grid.n_wavelengths)] = False  # the blue 60 % missing
    partial = bundle.sample(observed, error, 300, seed=1, mask=mask)
    # less data, wider posterior (Teff and log g)
    for j in (0, 1):
        assert np.median(partial[..., j].std(axis=1)) > np.median(full[..., j].std(axis=1))
    # the floor and the novelty score fitted on the validation nodes, kept on disk
    loaded = load_model(path)
    assert loaded.systematics == bundle.systematics and loaded.novelty == bundle.novelty
    assert len(bundle.floor) == 4 and np.all(bundle.floor >= 0)
    cov = bundle.systematics
    for name in bundle.targets:  # never further from nominal than before
        before = np.abs(np.subtract(cov["coverage_before"][name], [0.68, 0.95])).sum()
        after = np.abs(np.subtract(cov["coverage_after"][name], [0.68, 0.95])).sum()
        assert after <= before + 1e-12
    # ... and its growth with missing pixels, fitted on the same nodes with random gaps
    assert len(cov["floor_per_missing"]) == 4 and min(cov["floor_per_missing"]) >= 0
    for name in bundle.targets:
        before = np.abs(np.subtract(cov["coverage_with_gaps_before"][name], [0.68, 0.95]))
        after = np.abs(np.subtract(cov["coverage_with_gaps_after"][name], [0.68, 0.95]))
        assert after.sum() <= before.sum() + 1e-12
    scores = bundle.novelty_score(observed, error)
    assert np.median(scores) < 1.0  # held-out grid spectra are not novel
    flat = np.ones((1, grid.n_wavelengths))  # no absorption band at all
    assert bundle.novelty_score(flat, 0.02 * flat)[0] > np.max(scores)
