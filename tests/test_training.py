"""Preprocessing, splits, architectures, trainer, bundle and the train/evaluate commands."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from atmoscope.cli import main
from atmoscope.data import write_grid
from atmoscope.data.preprocessing import Preprocessor
from atmoscope.data.splits import node_split, parse_holdout, random_split
from atmoscope.errors import BundleError, ConfigError
from atmoscope.synthetic import synthetic_grid
from atmoscope.models import MODELS, ModelBundle, build_model, count_parameters, load_model
from atmoscope.training import TrainConfig, Trainer
from atmoscope.workflows import train_bundle

SMALL_NODES = {"gravity": [4.0, 4.5, 5.0, 5.5], "temperature": list(range(600, 1401, 100)),
               "c_o_ratio": [0.5, 1.0, 2.0], "metallicity": [-0.5, 0.0, 0.5]}


@pytest.fixture(scope="module")
def small():
    return synthetic_grid(SMALL_NODES)  # 324 spectra


# --- architectures ----------------------------------------------------------------------------
def test_telescopeml_preset_has_their_parameter_count():
    model = build_model("telescopeml", 104, 2, 4)
    assert count_parameters(model) == 8_438_756
    out = model(torch.zeros(3, 104), torch.zeros(3, 2))
    assert out.shape == (3, 4)
    assert MODELS["telescopeml"].training_defaults["lr"] == 1.889e-4
    assert MODELS["telescopeml"].training_defaults["batch_size"] == 32


@pytest.mark.parametrize("name", ["telescopeml", "default", "rescnn", "resmlp"])
@pytest.mark.parametrize("n_wl, n_targets", [(104, 4), (563, 4), (424, 2)])
def test_models_take_any_size(name, n_wl, n_targets):
    model = build_model(name, n_wl, 2, n_targets).eval()
    assert model(torch.randn(5, n_wl), torch.randn(5, 2)).shape == (5, n_targets)


def test_unknown_model_and_options():
    with pytest.raises(ConfigError, match="unknown model 'nope'; available: default"):
        build_model("nope", 104, 2, 4)
    with pytest.raises(ConfigError, match="bad options for model 'rescnn'"):
        build_model("rescnn", 104, 2, 4, colour="blue")


# --- splits -----------------------------------------------------------------------------------
def test_random_split_is_telescopemls():
    split = random_split(30888, seed=42)
    assert split.sizes() == (25019, 2780, 3089)
    rows = np.concatenate([split.train, split.val, split.test])
    assert np.array_equal(np.sort(rows), np.arange(30888))
    assert np.array_equal(random_split(30888, seed=42).test, split.test)
    assert not np.array_equal(random_split(30888, seed=1).test, split.test)


def test_node_split_holds_out_whole_nodes(small):
    split = node_split(small, {"temperature": "every3"}, seed=3)
    held = split.description["holdout"]["temperature"]
    assert held == [800.0, 1100.0]  # every third interior node, with training nodes around
    teff = small.parameters["temperature"].to_numpy()
    assert set(teff[split.test]) == set(held)
    assert not set(teff[np.concatenate([split.train, split.val])]) & set(held)
    assert len(split.test) == 2 * 36 and len(split.val) == round(0.1 * (324 - 72))
    explicit = node_split(small, {"temperature": [800, 900], "gravity": [4.5]})
    p = small.parameters.iloc[explicit.test]
    assert np.all(p["temperature"].isin([800, 900]) | (p["gravity"] == 4.5))


def test_node_split_errors(small):
    with pytest.raises(ConfigError, match=r"hold-out value\(s\) \[750.0\] are not grid nodes"):
        node_split(small, {"temperature": [750]})
    with pytest.raises(ConfigError, match="not a parameter"):
        node_split(small, {"fsed": "every3"})
    assert parse_holdout("temperature=700,900;gravity=every2") == {
        "temperature": [700.0, 900.0], "gravity": "every2"}
    with pytest.raises(ConfigError, match="not NAME=VALUES"):
        parse_holdout("temperature")


# --- preprocessing --------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["row", "log_row", "column_standard", "column_minmax"])
def test_preprocessing_round_trip(small, mode):
    y = small.target_values
    pre = Preprocessor(small.targets, spectrum_mode=mode).fit(small.flux[:200], y[:200])
    z = pre.transform_targets(y)
    np.testing.assert_allclose(pre.inverse_transform_targets(z), y, rtol=1e-5, atol=1e-6)
    # statistics come from the fitted rows only, with ddof = 0
    np.testing.assert_allclose(z[:200].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:200].std(axis=0), 1, atol=1e-5)
    j = small.targets.index("temperature")
    assert pre.y_mean_[j] == pytest.approx(np.log10(y[:200, j]).mean())
    x, extra = pre.transform_spectra(small.flux)
    assert x.shape == (324, 104) and extra.shape == (324, 2) and x.dtype == np.float32
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    np.testing.assert_array_equal(again.transform_spectra(small.flux)[0], x)
    np.testing.assert_array_equal(again.transform_targets(y), z)


def test_preprocessing_errors(small):
    pre = Preprocessor(small.targets)
    with pytest.raises(ConfigError, match="not fitted"):
        pre.transform_spectra(small.flux)
    pre.fit(small.flux, small.target_values)
    with pytest.raises(ConfigError, match="spectra have 50 wavelengths, the model expects 104"):
        pre.transform_spectra(small.flux[:, :50])
    with pytest.raises(ConfigError, match="unknown spectrum mode"):
        Preprocessor(small.targets, spectrum_mode="magic")


# --- trainer and bundle -------------------------------------------------------------------------
def _fit(small, tmp_path=None, **overrides):
    config = TrainConfig(**{"model": "resmlp", "epochs": 6, "seed": 5, "batch_size": 32,
                            **overrides})
    ckpt = tmp_path / "ckpt.pt" if tmp_path is not None else None
    return Trainer(config, checkpoint=ckpt, progress=False)


def test_training_learns_and_is_deterministic(small):
    split = node_split(small, seed=1)
    a = _fit(small, epochs=30).fit(small, split)
    b = _fit(small, epochs=30).fit(small, split)
    assert a.history_["val_loss"] == b.history_["val_loss"]
    for (ka, va), (_, vb) in zip(a.model_.state_dict().items(), b.model_.state_dict().items()):
        assert torch.equal(va, vb), ka
    assert a.history_["val_loss"][a.best_epoch_] < 0.2 * a.history_["val_loss"][0]


def test_early_stopping_watches_validation(small):
    t = _fit(small, epochs=500, patience=3, lr=1e-9).fit(small, node_split(small))
    assert t.stopped_because_ == "no validation improvement for 3 epochs"
    assert len(t.history_["epoch"]) == t.best_epoch_ + 4


def test_budget_is_kept_within_one_step(small, monkeypatch):
    """The budget is checked after every optimiser step, not only between epochs: with a
    clock that advances one second per reading, a 5-s budget ends the first epoch early."""
    import itertools

    from atmoscope.training import trainer as trainer_module

    clock = itertools.count()

    class FakeTime:
        @staticmethod
        def perf_counter():
            return float(next(clock))

    monkeypatch.setattr(trainer_module, "time", FakeTime)
    t = _fit(small, epochs=50, budget=5.0, batch_size=8).fit(small, node_split(small))
    assert t.stopped_because_ == "time budget of 5 s"
    assert len(t.history_["epoch"]) == 1  # a full epoch is ~30 steps, ~60 clock readings
    assert 5 <= t.train_seconds_ <= 9  # budget + the last step and the validation
    assert set(t.timings_) == {"setup", "steps", "validation", "checkpoints"}


def test_resume_after_interruption_equals_uninterrupted_run(small, tmp_path, monkeypatch):
    split = node_split(small, seed=2)
    full = _fit(small).fit(small, split)

    import atmoscope.training.trainer as trainer_module

    real_save = trainer_module._atomic_save

    def save_then_die(obj, path):
        real_save(obj, path)
        if obj["epoch"] == 2:
            raise KeyboardInterrupt  # killed right after the epoch-2 checkpoint

    monkeypatch.setattr(trainer_module, "_atomic_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _fit(small, tmp_path).fit(small, split)
    monkeypatch.setattr(trainer_module, "_atomic_save", real_save)
    resumed = _fit(small, tmp_path).fit(small, split, resume=True)
    assert resumed.history_["epoch"] == list(range(6))
    assert resumed.history_["val_loss"] == full.history_["val_loss"]
    with pytest.raises(ConfigError, match="checkpoint is for another configuration"):
        _fit(small, tmp_path, lr=1e-2).fit(small, split, resume=True)


def test_bundle_round_trip(small, tmp_path):
    split = node_split(small)
    bundle, report = train_bundle(small, split, TrainConfig(model="rescnn", epochs=3),
                                  tmp_path / "b", progress=False)
    loaded = load_model(tmp_path / "b")
    np.testing.assert_array_equal(loaded.predict(small.flux), bundle.predict(small.flux))
    meta = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert meta["grid"]["content_hash"] == small.content_hash
    assert meta["versions"]["torch"] == torch.__version__
    assert meta["training"]["model"] == "rescnn" and meta["training"]["batch_size"] == 256
    assert len(meta["history"]["val_loss"]) == 3
    assert set(meta["metrics"]["metrics"]["temperature"]) >= {"rmse", "mae", "r2", "bias"}
    assert meta["split"]["test_rows"] == split.test.tolist()
    assert sorted(p.name for p in (tmp_path / "b" / "figures").iterdir()) == [
        "loss_curves.png", "parity.png", "residuals.png"]
    assert not (tmp_path / "b.checkpoint.pt").exists()
    assert report["predictions"].shape == (len(split.test), 4)


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


# --- command line -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_file(small, tmp_path_factory):
    return write_grid(small, tmp_path_factory.mktemp("grid") / "small.parquet")


def test_cli_train_and_evaluate(small_file, tmp_path, capsys):
    out = tmp_path / "bundle"
    assert main(["train", "--grid", str(small_file), "--model", "resmlp", "--split", "random",
                 "--out", str(out), "--epochs", "4", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "trained resmlp for 4 epochs" in printed and "Teff [K]" in printed
    # where the time went: the final evaluation is reported, not counted as training
    assert "time: setup" in printed and "evaluation" in printed
    assert set(load_model(out).training["timings"]) == {"setup", "steps", "validation",
                                                        "checkpoints", "evaluation"}
    assert main(["evaluate", str(out), "--grid", str(small_file), "--json",
                 "--plots", str(tmp_path / "fig")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == "test split of the training grid"
    assert report["n_spectra"] == len(load_model(out).split["test_rows"])
    for target in ("gravity", "temperature", "c_o_ratio", "metallicity"):
        assert set(report["metrics"][target]) >= {"rmse", "mae", "r2", "bias"}
        assert set(report["noisy"]) == {"snr10", "snr20", "snr50"}
    assert (tmp_path / "fig" / "parity.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["evaluate", "/nonexistent", "--grid", "x.csv"], "not a model bundle"),
    (["train", "--grid", "x.csv", "--out", "b", "--model", "nope"], "no such file"),
    (["train", "--grid", "{grid}", "--out", "{tmp}/b", "--model", "nope"], "unknown model 'nope'"),
    (["train", "--grid", "{grid}", "--out", "{tmp}/b", "--noise-snr", "abc"], "expected LOW,HIGH"),
    (["train", "--grid", "{grid}", "--out", "{tmp}/b", "--resume"], "cannot resume"),
])
def test_cli_training_errors(small_file, tmp_path, capsys, args, message):
    args = [a.format(grid=small_file, tmp=tmp_path) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_evaluate_rejects_other_wavelengths(small_file, tmp_path, capsys, grids):
    out = tmp_path / "bundle"
    assert main(["train", "--grid", str(small_file), "--model", "resmlp", "--out", str(out),
                 "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--grid", str(grids / "sonora_bobcat_spex_prism.csv")]) == 2
    assert "differ from the model's" in capsys.readouterr().err


def test_killed_training_resumes_losing_at_most_one_epoch(small_file, tmp_path):
    """A real SIGKILL mid-training, then --resume."""
    out = tmp_path / "bundle"
    script = Path(sys.executable).with_name("atmoscope")
    cmd = [str(script), "train", "--grid", str(small_file), "--model", "rescnn", "--out",
           str(out), "--epochs", "60", "--seed", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "bundle.checkpoint.pt"
    deadline = time.time() + 120
    done = -1
    while time.time() < deadline and proc.poll() is None:
        if checkpoint.exists():
            try:
                done = torch.load(checkpoint, weights_only=True)["epoch"]
            except Exception:  # being replaced right now
                pass
            if done >= 3:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = torch.load(checkpoint, weights_only=True)["epoch"]
    assert saved >= done  # the checkpoint on disk is whole and at least as new as seen
    result = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    history = load_model(out).history
    assert history["epoch"][: saved + 1] == list(range(saved + 1))
    assert history["epoch"] == list(range(len(history["epoch"])))  # nothing lost or repeated


def test_cli_trains_an_ensemble_into_a_new_folder(small_file, tmp_path, capsys):
    from atmoscope.models import load_estimator

    out = tmp_path / "new" / "ensemble"
    assert main(["train", "--grid", str(small_file), "--model", "resmlp", "--out", str(out),
                 "--epochs", "2", "--ensemble", "2", "--scale-free"]) == 0
    members = load_estimator(out).members
    assert len(members) == 2
    assert [m.training["seed"] for m in members] == [42, 43]
    assert all(m.preprocessor.extra_features == "none" for m in members)
