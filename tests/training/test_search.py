"""The hyperparameter search (atmoscope tune): search spaces, trials, the SQLite study,
resuming a killed search, the multi-objective front, and Ray Tune."""

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from atmoscope.errors import ConfigError
from atmoscope.models import MODELS, build_model, load_estimator
from atmoscope.training import TrainConfig, Trainer
from atmoscope.training.search import (
    SearchSettings,
    config_from_params,
    default_params,
    network_throughput,
    pareto_front,
    run_search,
    run_trial,
    trials_table,
)
from atmoscope.workflows import tune_model
from tests.helpers import run

optuna = pytest.importorskip("optuna")


def test_parameters_become_a_training_configuration():
    config = config_from_params("default", {"lr": 2e-3, "batch_size": 64, "snr_low": 5.0,
                                            "snr_high": 300.0, "width": 24, "kernel": 3},
                                budget=10.0, seed=3)
    assert (config.lr, config.batch_size, config.noise_snr) == (2e-3, 64, (5.0, 300.0))
    assert config.model_options == {"width": 24, "kernel": 3}
    assert (config.budget, config.seed, config.model) == (10.0, 3, "default")


@pytest.mark.parametrize("name", sorted({cls.__name__: name for name, cls in MODELS.items()
                                         }.values()))
def test_every_models_space_gives_configurations_that_train(name):
    """Each architecture declares its own space; ten random points of it build a network
    whose loss is finite on a batch, and a configuration that resolves."""
    cls = MODELS[name]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        trial = study.ask()
        cls.search_space(trial)
        config = config_from_params(name, trial.params).resolved()
        assert config.noise_snr[0] < config.noise_snr[1]
        channels = (2 + config.model_options.get("mask_input", False) if cls.reads_errors
                    else 1)
        net = build_model(name, 104, 2, 4, **config.model_options)
        x = torch.randn(8, channels, 104) if channels > 1 else torch.randn(8, 104)
        loss = net.loss(x, torch.randn(8, 2), torch.randn(8, 4), config.loss)
        assert torch.isfinite(loss)
        study.tell(trial, 0.0)


def test_fixed_validation_noise_and_the_epoch_callback(small_split):
    grid, split = small_split
    seen = []

    def on_epoch(trainer, epoch, val):
        seen.append((epoch, val, trainer.elapsed_))
        if epoch == 2:
            raise KeyboardInterrupt

    config = TrainConfig(epochs=10, val_snr=(10.0, 100.0), calibrate=False)
    trainer = Trainer(config, progress=False, on_epoch=on_epoch)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(grid, split)
    assert [e for e, _, _ in seen] == [0, 1, 2]
    n_val = len(split.val)
    assert len(trainer._x_val) == n_val * math.ceil(256 / n_val) >= 256
    # the same noisy validation spectra whatever the training noise
    other = Trainer(TrainConfig(epochs=1, val_snr=(10.0, 100.0), noise_snr=(3.0, 30.0),
                                calibrate=False), progress=False).fit(grid, split)
    assert torch.equal(other._x_val, trainer._x_val)
    with pytest.raises(ConfigError, match="val_snr"):
        TrainConfig(val_snr=(100.0, 10.0)).resolved()


def test_a_trial_reports_each_percent_and_measures_speed(small_split):
    grid, split = small_split
    steps = []
    config = config_from_params("default", {"width": 16, "hidden": 64}, budget=3.0,
                                val_snr=(10.0, 1000.0), calibrate=False)
    result = run_trial(grid, split, config, lambda step, best, sps: steps.append((step, best)))
    assert [s for s, _ in steps] == sorted({s for s, _ in steps}) and steps[-1][0] <= 100
    bests = [b for _, b in steps]
    assert bests == sorted(bests, reverse=True)  # best so far never rises
    # an epoch that ends within the percent last reported (or past the budget, after the
    # report of 100) is not reported, so the result's best may be below the last report
    assert result["loss"] <= bests[-1] and result["spectra_per_s"] > 100
    assert result["epochs"] >= 1 and result["seconds"] == pytest.approx(3.0, abs=1.5)


def test_throughput_counts_posterior_samples():
    net = build_model("posterior", 104, 2, 4, width=16, stages=1, context=16, transforms=2,
                      flow_hidden=32)
    x, e = torch.randn(4, 2, 104), torch.randn(4, 2)
    fast = network_throughput(net, x, e, samples=10, repeats=1)
    slow = network_throughput(net, x, e, samples=400, repeats=1)
    assert fast > slow > 0 and net.training  # measured in eval mode, mode restored


def test_pareto_front():
    table = pd.DataFrame({"number": range(5), "state": ["COMPLETE"] * 4 + ["PRUNED"],
                          "value": [1.0, 2.0, 0.5, 3.0, 0.1],
                          "spectra_per_s": [10.0, 30.0, 5.0, 20.0, 100.0]})
    assert pareto_front(table)["number"].tolist() == [2, 0, 1]  # #3 is beaten by #1


def test_local_search_writes_its_record_and_a_rerun_adds_nothing(small_file, tmp_path):
    out = tmp_path / "t"
    args = ("tune", "--grid", str(small_file), "--model", "default", "--trials", "3",
            "--trial-budget", "2", "--out", str(out), "--seed", "1")
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("trial ") >= 3 and "bundle:" in result.stdout
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 3 and set(table["state"]) <= {"COMPLETE", "PRUNED"}
    for column in ("value", "spectra_per_s", "seconds", "params_lr", "params_width"):
        assert table[column].notna().all(), column
    best = load_estimator(out / "best")
    assert best.architecture["options"]["width"] == table.loc[table["value"].idxmin(),
                                                              "params_width"]
    assert best.training["budget"] == 2.0 and best.metrics  # scored on the test split
    assert run("evaluate", out / "best").returncode == 0  # its grid is inside
    for figure in ("search_history.png", "search_front.png", "search_importances.png"):
        assert (out / figure).stat().st_size > 5000
    first = optuna.load_study(study_name="atmoscope",
                              storage=f"sqlite:///{out / 'study.db'}").trials[0]
    assert first.user_attrs["baseline"] and first.params == default_params("default")
    stamp = (out / "best" / "bundle.json").stat().st_mtime
    again = run(*args)
    assert again.returncode == 0 and "3 of 3 trials already done" in again.stdout
    assert (out / "best" / "bundle.json").stat().st_mtime == stamp  # best kept
    other = run(*args[:-2], "--seed", "2")
    assert other.returncode != 0 and "another search" in other.stderr
    assert "seed 1 here, 2 asked" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1, other.stderr


def test_multi_objective_search_gives_the_pareto_front(small_split, tmp_path):
    grid, split = small_split
    settings = SearchSettings(model="default", trials=3, trial_budget=1.5,
                              objectives=("loss", "throughput"), seed=0)
    lines = []
    result = tune_model(grid, split, settings, tmp_path / "mo", echo=lines.append,
                        progress=False)
    study = optuna.load_study(study_name="atmoscope",
                              storage=f"sqlite:///{tmp_path / 'mo' / 'study.db'}")
    assert len(study.directions) == 2 and len(study.best_trials) >= 1
    front = pd.read_csv(tmp_path / "mo" / "pareto.csv")
    assert set(front["number"]) == {t.number for t in study.best_trials}
    assert (result["table"]["state"] == "COMPLETE").all()  # never pruned
    assert result["best_trial"] == int(front.loc[front["value"].idxmin(), "number"])


@pytest.mark.slow
def test_a_killed_search_resumes_and_reruns_the_interrupted_trial(small_file, tmp_path):
    out = tmp_path / "t"
    atmoscope = str(Path(sys.executable).with_name("atmoscope"))
    command = [atmoscope, "tune", "--grid", str(small_file), "--trials", "3",
               "--trial-budget", "6", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    search = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def states():
        try:
            with sqlite3.connect(out / "study.db") as db:
                return [s for (s,) in db.execute("SELECT state FROM trials ORDER BY number")]
        except sqlite3.Error:
            return []

    deadline = time.time() + 120
    while states().count("RUNNING") == 0 or len(states()) < 2:
        assert time.time() < deadline and search.poll() is None
        time.sleep(0.2)
    time.sleep(1.0)  # into the second trial's training
    os.kill(search.pid, signal.SIGKILL)
    search.wait()
    assert not (out / "trials.csv").exists() and states()[-1] == "RUNNING"
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming, 1 of 3 trials already done" in rerun.stdout
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 3 and (out / "best" / "bundle.json").is_file()
    study = optuna.load_study(study_name="atmoscope", storage=f"sqlite:///{out / 'study.db'}")
    killed = [t for t in study.trials if t.user_attrs.get("interrupted")]
    rerun_of = [t for t in study.trials if "rerun_of" in t.user_attrs]
    assert len(killed) == 1 and rerun_of[0].params == killed[0].params
    assert killed[0].number not in set(table["number"])
    # the resumed search draws new points, not the first run's again
    kept = [tuple(sorted(t.params.items())) for t in study.trials
            if t.number in set(table["number"])]
    assert len(set(kept)) == len(kept)


@pytest.mark.slow
def test_ray_tune_runs_the_same_study(small_split, tmp_path):
    """The issue's check: a 4-trial, few-second study on a local Ray with two CPUs and one
    on the local engine both write best/ and trials.csv."""
    pytest.importorskip("ray.tune")
    grid, split = small_split
    for engine in ("ray", "local"):
        settings = SearchSettings(model="default", trials=4, trial_budget=3.0, seed=0,
                                  engine=engine, num_cpus=2)
        out = tmp_path / engine
        result = tune_model(grid, split, settings, out, echo=lambda line: None,
                            progress=False)
        table = pd.read_csv(out / "trials.csv")
        assert len(table) == 4 and np.isfinite(table["value"]).all(), engine
        assert table["spectra_per_s"].notna().sum() >= 1
        assert (out / "best" / "bundle.json").is_file() and result["report"]["metrics"]
    ray_threads = pd.read_csv(tmp_path / "ray" / "trials.csv")["threads"].dropna()
    assert (ray_threads == 1).all()  # one trial per CPU


def test_missing_optuna_is_one_line_naming_the_extra(small_split, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    grid, split = small_split
    with pytest.raises(ConfigError, match=r"pip install 'atmoscope\[tune\]'"):
        run_search(grid, split, SearchSettings(trials=1), tmp_path)


def test_trials_table_leaves_out_interrupted_trials(tmp_path):
    study = optuna.create_study()
    for value in (1.0, 2.0):
        trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1e-2)})
        study.tell(trial, value)
    trial = study.ask()
    trial.set_user_attr("interrupted", True)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    table = trials_table(study)
    assert table["number"].tolist() == [0, 1] and "params_lr" in table


def test_defaults_as_the_first_trial_when_inside_the_space():
    assert default_params("default")["width"] == 16  # today's default CNN
    posterior = default_params("posterior")  # today's flow: the posterior search's winner
    assert posterior["context"] == 32 and posterior["spectrum_mode"] == "row"
    assert posterior["lr"] == 5.6e-3 and posterior["batch_size"] == 128
    assert default_params("telescopeml") is None  # its lr 1.9e-4 lies below the space
