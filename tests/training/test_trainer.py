"""``TrainConfig`` and ``Trainer``: learning, early stopping, budget, checkpoints, resume."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from atmoscope.data.splits import node_split
from atmoscope.errors import ConfigError
from atmoscope.models import load_model
from atmoscope.training import TrainConfig, Trainer
from atmoscope.workflows import train_bundle


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
    for (ka, va), (_, vb) in zip(a.model_.state_dict().items(), b.model_.state_dict().items(),
                                 strict=True):
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
    assert set(t.timings_) == {"setup", "steps", "validation", "checkpoints", "calibration"}


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


# --- posterior and augmentation options ---------------------------------------------------
def test_an_epoch_is_epoch_size_spectra(small, monkeypatch):
    """``epoch_size`` sets the spectra (so the optimiser steps) per epoch, the rows
    revisited in new orders; without it an epoch is one pass over the rows."""
    split = node_split(small, seed=1)
    batches = []
    original = Trainer._batch

    def counted(self, rows, rng):
        batches.append(np.asarray(rows).copy())
        return original(self, rows, rng)

    monkeypatch.setattr(Trainer, "_batch", counted)
    _fit(small, epochs=1).fit(small, split)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(split.train)))
    batches.clear()
    size = 2 * len(split.train) + 5
    trainer = _fit(small, epochs=1, epoch_size=size).fit(small, split)
    assert [len(b) for b in batches] == [32] * (size // 32) + [size % 32]
    assert trainer.config_.epoch_size == size
    # every row twice, then 5 more: whole passes first
    counts = np.bincount(np.concatenate(batches), minlength=len(split.train))
    assert counts.min() == 2 and counts.max() == 3 and counts.sum() == size
    with pytest.raises(ConfigError, match="epoch_size must be at least 1"):
        TrainConfig(model="resmlp", epoch_size=0).resolved()


def test_train_config_checks_posterior_options(small_split):
    grid, split = small_split
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


def test_point_model_trains_with_off_node_spectra_and_a_noise_profile(small_split):
    grid, split = small_split
    profile = tuple(np.linspace(0.5, 2.0, grid.n_wavelengths))
    bundle, report = train_bundle(grid, split, TrainConfig(
        model="resmlp", epochs=3, offnode=0.5, noise_profile=profile), None, progress=False,
        snrs=())
    assert bundle.training["offnode"] == 0.5 and len(bundle.training["noise_profile"]) == 104
    assert np.isfinite(report["metrics"]["temperature"]["rmse"])
