"""Hyperparameter search (TelescopeML's DeepTuner, rebuilt on Optuna and Ray Tune).

A *study* lives in SQLite (``DIR/study.db``), so a search that is killed resumes where it
stopped: the trials it had finished stay, and the ones it was running are run again with
the same parameters. Every trial trains one configuration for a fixed wall-clock budget
(the one-cycle schedule completes inside it, :class:`~atmoscope.training.TrainConfig`'s
``budget``) and is scored by its best validation loss — on the validation nodes,
observed with the same fixed noise in every trial (``val_snr``), never the test split.

* ``local``: Optuna's TPE sampler (Bergstra et al. 2011; Watanabe 2023) with the median
  pruner on the validation loss at each percent of the trial budget; trials one after
  another, each on all of this machine's cores.
* ``ray``: the same study through Ray Tune (``OptunaSearch`` on the same SQLite storage,
  the ASHA scheduler of Li et al. 2020), one trial per CPU, on a local Ray or a cluster.

Each architecture declares its space next to its definition
(:meth:`~atmoscope.models.base.Network.search_space`); :func:`config_from_params` turns a
trial's parameters into a :class:`~atmoscope.training.TrainConfig`. With the objectives
``loss,throughput`` the study is multi-objective and its result is the Pareto front of
validation loss against prediction speed (:func:`pareto_front`); Optuna does not prune
multi-objective trials, so neither engine does.

Optuna (``pip install 'atmoscope[tune]'``) and Ray (``atmoscope[ray]``) are optional and
imported only here, when used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from atmoscope._device import limit_threads
from atmoscope.data.grid import SpectralGrid
from atmoscope.data.splits import Split
from atmoscope.errors import AtmoscopeError, ConfigError
from atmoscope.models.registry import default_options, model_class
from atmoscope.training.trainer import TrainConfig, Trainer

__all__ = ["OBJECTIVES", "SearchSettings", "config_from_params", "default_params",
           "network_throughput", "open_study", "pareto_front", "require_search", "run_search",
           "run_trial", "search_space_of", "trial_config", "trials_table"]

#: what a search can optimise: validation loss (minimised), spectra/s (maximised)
OBJECTIVES = ("loss", "throughput")
_MISSING_OPTUNA = "atmoscope tune needs Optuna: pip install 'atmoscope[tune]'"
_STUDY = "atmoscope"
#: the median pruner waits for this many finished trials, and this percent of each trial
_PRUNE_STARTUP, _PRUNE_WARMUP = 3, 30


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError(_MISSING_OPTUNA) from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our line per trial says it
    return optuna


@dataclass
class SearchSettings:
    """What to search and how.

    Args:
        model: registered architecture name; its ``search_space`` is searched.
        trials: finished trials the study should hold (a rerun only adds the missing).
        trial_budget: wall-clock seconds of training per trial.
        budget: wall-clock seconds for the whole search in this run (None: no limit);
            no trial starts after it.
        objectives: ``("loss",)`` or ``("loss", "throughput")`` (the Pareto front).
        seed: of the sampler and of every trial's training (the same for all trials, so
            they differ only in their parameters).
        val_snr: the validation noise, S/N range; None: the architecture's default
            training noise range.
        device: where the trials train (``cpu``, ``cuda``, ``auto``).
        engine: ``local`` or ``ray``.
        ray_address: a Ray cluster to join; None starts a local Ray.
        num_cpus: CPUs of the local Ray (default: all).
    """

    model: str = "default"
    trials: int = 20
    trial_budget: float = 60.0
    budget: float | None = None
    objectives: tuple[str, ...] = ("loss",)
    seed: int = 42
    val_snr: tuple[float, float] | None = None
    device: str = "cpu"
    engine: str = "local"
    ray_address: str | None = None
    num_cpus: int | None = None

    def checked(self) -> SearchSettings:
        """A copy with ``val_snr`` filled in, checked.

        Raises:
            ConfigError: an unknown model, engine or objective, or a value out of range.
        """
        cls = model_class(self.model)
        if self.trials < 1:
            raise ConfigError(f"trials must be at least 1, got {self.trials}")
        for name in ("trial_budget", "budget"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number of seconds, got {value}")
        objectives = tuple(self.objectives)
        if not objectives or objectives[0] != "loss" or len(set(objectives)) != len(objectives) \
                or not set(objectives) <= set(OBJECTIVES):
            raise ConfigError(f"objectives must be 'loss' or 'loss,throughput', got "
                              f"{','.join(objectives)!r}")
        if self.engine not in ("local", "ray"):
            raise ConfigError(f"unknown engine {self.engine!r} (local, ray)")
        val_snr = self.val_snr or cls.training_defaults.get("noise_snr") or (10.0, 1000.0)
        return dataclasses.replace(self, objectives=objectives,
                                   val_snr=tuple(float(v) for v in val_snr))

    @property
    def multi_objective(self) -> bool:
        """Whether the study trades loss against throughput."""
        return "throughput" in self.objectives


def config_from_params(model: str, params: dict, **fixed) -> TrainConfig:
    """The training configuration of a trial's parameters.

    Args:
        model: the architecture.
        params: a trial's parameters: :class:`TrainConfig` field names, ``snr_low`` and
            ``snr_high`` (→ ``noise_snr``), and the rest the architecture's options.
        **fixed: further :class:`TrainConfig` fields (budget, seed, ...).

    Returns:
        The configuration (not yet resolved).
    """
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values: dict = {"model_options": {}}
    for name, value in params.items():
        if name in ("snr_low", "snr_high"):
            continue
        if name in fields:
            values[name] = value
        else:
            values["model_options"][name] = value
    if "snr_low" in params and "snr_high" in params:
        values["noise_snr"] = (float(params["snr_low"]), float(params["snr_high"]))
    return TrainConfig(model=model, **values, **fixed)


def trial_config(settings: SearchSettings, params: dict, *, calibrate: bool = False
                 ) -> TrainConfig:
    """The configuration one trial trains (and the best trial is retrained with)."""
    return config_from_params(settings.model, params, budget=settings.trial_budget,
                              seed=settings.seed, val_snr=settings.val_snr,
                              calibrate=calibrate, device=settings.device)


def network_throughput(model: torch.nn.Module, spectrum: torch.Tensor, extra: torch.Tensor,
                       *, samples: int = 100, repeats: int = 3) -> float:
    """Spectra per second through the network, batched, on the threads torch has: a
    point estimate for point networks, ``samples`` posterior samples each for posterior
    networks (what a catalog draws).

    Args:
        model: the network (put in eval mode for the measurement, then restored).
        spectrum, extra: example network inputs, tiled to the batch.
        samples: posterior samples per spectrum.
        repeats: timed passes; the fastest counts.
    """
    posterior = getattr(model, "kind", "point") == "posterior"
    n = 256 if posterior else 2048
    tiles = math.ceil(n / len(spectrum))
    x = spectrum.repeat(tiles, *([1] * (spectrum.dim() - 1)))[:n]
    e = extra.repeat(tiles, 1)[:n]
    was_training = model.training
    model.eval()
    best = math.inf
    with torch.inference_mode():
        z = torch.randn(n, samples, model.n_targets, device=x.device) if posterior else None
        for _ in range(repeats):
            start = time.perf_counter()
            model.transform_noise(x, e, z) if posterior else model(x, e)
            best = min(best, time.perf_counter() - start)
    model.train(was_training)
    return n / best


def run_trial(grid: SpectralGrid, split: Split, config: TrainConfig,
              report: Callable[[int, float, float], None], every: int = 1) -> dict:
    """Train one configuration, calling ``report(percent, best_loss, spectra_per_s)``
    each time another ``every`` percent of the trial budget has passed (the steps at
    which the engines prune).

    Returns:
        ``loss`` (best validation loss; NaN when training diverged), ``spectra_per_s``,
        ``epochs``, ``best_epoch``, ``seconds`` (the training loop) and ``threads``.
    """
    state = {"step": -1, "best": math.inf, "sps": math.nan}

    def on_epoch(trainer: Trainer, epoch: int, val: float) -> None:
        if math.isnan(state["sps"]):  # the network's speed: once, after its first epoch
            state["sps"] = network_throughput(trainer.model_, trainer._x_val, trainer._e_val)
        if math.isfinite(val):
            state["best"] = min(state["best"], val)
        step = min(100, int(100 * trainer.elapsed_ / config.budget) // every * every)
        if step > state["step"]:
            state["step"] = step
            report(step, state["best"], state["sps"])

    trainer = Trainer(config, progress=False, on_epoch=on_epoch).fit(grid, split)
    return {"loss": state["best"] if math.isfinite(state["best"]) else math.nan,
            "spectra_per_s": state["sps"], "epochs": len(trainer.history_["epoch"]),
            "best_epoch": trainer.best_epoch_, "seconds": trainer.train_seconds_,
            "threads": torch.get_num_threads()}


# --- the study ------------------------------------------------------------------------------
def _signature(settings: SearchSettings, grid: SpectralGrid, split: Split) -> dict:
    """What makes two runs the same search (JSON-normalised for comparison)."""
    return json.loads(json.dumps({
        "model": settings.model, "grid": grid.content_hash, "split": split.description,
        "trial_budget": settings.trial_budget, "objectives": list(settings.objectives),
        "seed": settings.seed, "val_snr": list(settings.val_snr), "device": settings.device,
        # a model whose space changed (a new default moves the noise choices) is a new search
        "space": search_space_of(settings.model)}))


@contextlib.contextmanager
def _search_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` for the search: a second search in the same folder is refused,
    and whoever holds it knows every trial left running is from a killed search."""
    with open(out / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(f"{out}: another search is running in this folder") from None
        yield


def open_study(out: Path, settings: SearchSettings, grid: SpectralGrid, split: Split):
    """The study in ``out/study.db``: created, or loaded to resume.

    Trials a killed search left running are marked failed (``interrupted``) and queued
    again with their parameters. Call with the search lock held.

    Raises:
        ConfigError: the folder holds a study of another search (model, grid, split,
            budget, objectives, seed or validation noise differ).
    """
    optuna = _import_optuna()
    from optuna.trial import TrialState

    storage = optuna.storages.RDBStorage(f"sqlite:///{(out / 'study.db').resolve()}")
    signature = _signature(settings, grid, split)
    names = [s.study_name for s in optuna.study.get_all_study_summaries(storage)]
    if _STUDY in names:
        study = optuna.load_study(study_name=_STUDY, storage=storage,
                                  pruner=_pruner(settings))
        # a resumed search must not draw its first run's random points again
        study.sampler = _sampler(settings, offset=len(study.trials))
        if study.user_attrs.get("search") != signature:
            raise ConfigError(f"{out}: holds a study of another search "
                              f"({_differences(study.user_attrs.get('search'), signature)});"
                              " use another --out")
    else:
        study = optuna.create_study(
            storage=storage, study_name=_STUDY, sampler=_sampler(settings),
            pruner=_pruner(settings),
            directions=["minimize"] + ["maximize"] * settings.multi_objective)
        study.set_user_attr("search", signature)
        baseline = default_params(settings.model)
        if baseline is not None:  # trial 0: today's defaults, what the search must beat
            study.enqueue_trial(baseline, user_attrs={"baseline": True})
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"rerun_of": trial.number})
    return study


class _Recorder:
    """A stand-in for an Optuna trial that records what a search space suggests."""

    def __init__(self) -> None:
        self.space: dict[str, tuple] = {}

    def suggest_float(self, name, low, high, **kwargs):
        self.space[name] = ("range", low, high)
        return low

    suggest_int = suggest_float

    def suggest_categorical(self, name, choices):
        self.space[name] = ("choices", list(choices))
        return choices[0]


def search_space_of(model: str) -> dict[str, tuple]:
    """The parameters an architecture's search space suggests: name →
    ``("range", low, high)`` or ``("choices", [...])``."""
    recorder = _Recorder()
    model_class(model).search_space(recorder)
    return recorder.space


def default_params(model: str) -> dict | None:
    """The architecture's defaults as a point of its search space (a search's first
    trial, so that it reports how today's defaults fare), or None when a default lies
    outside the space.

    Args:
        model: registered architecture name.
    """
    cls = model_class(model)
    space = search_space_of(model)
    defaults = {**default_options(model), **cls.training_defaults}
    low, high = defaults.get("noise_snr") or (10.0, 1000.0)
    defaults.update(snr_low=low, snr_high=high)
    params = {}
    for name, (kind, *bounds) in space.items():
        value = defaults.get(name)
        inside = (value in bounds[0] if kind == "choices"
                  else value is not None and bounds[0] <= value <= bounds[1])
        if not inside:
            return None
        params[name] = value
    return params


def _differences(old: dict | None, new: dict) -> str:
    if not isinstance(old, dict):
        return "not made by atmoscope tune"
    return ", ".join(f"{k} {old.get(k)!r} here, {v!r} asked" if len(repr(v)) < 60
                     else f"another {k}" for k, v in new.items() if old.get(k) != v)


def _sampler(settings: SearchSettings, offset: int = 0):
    """TPE seeded by the search's seed and the number of trials already in the study."""
    import optuna

    return optuna.samplers.TPESampler(seed=settings.seed + offset)


def _pruner(settings: SearchSettings):
    import optuna

    if settings.multi_objective:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=_PRUNE_STARTUP,
                                       n_warmup_steps=_PRUNE_WARMUP)


def _finished(study) -> int:
    """Trials that count towards ``trials``: finished, pruned, or failed on their own
    (not the interrupted ones, which are run again)."""
    from optuna.trial import TrialState

    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and not t.user_attrs.get("interrupted"))
               for t in study.get_trials(deepcopy=False))


def require_search(settings: SearchSettings) -> None:
    """Raise unless this search can run here: Optuna, and Ray Tune for ``engine="ray"``
    (a check to make before loading anything).

    Raises:
        ConfigError: the missing extra, in one line.
    """
    _import_optuna()
    if settings.engine == "ray":
        from atmoscope._ray import import_ray

        import_ray("tune")


def run_search(grid: SpectralGrid, split: Split, settings: SearchSettings, out: str | Path,
               echo: Callable[[str], None] = print):
    """Run (or resume) the search into ``out`` until the study holds ``settings.trials``
    finished trials or ``settings.budget`` runs out.

    Args:
        grid, split: the grid; trials train on ``split.train`` and are scored on
            ``split.val``. ``split.test`` is not touched.
        out: the search folder (``study.db`` goes there; Ray's files in ``ray/``).
        echo: where the one line per trial goes.

    Returns:
        The Optuna study.

    Raises:
        ConfigError: Optuna (or, for ``ray``, Ray Tune) is missing, another search holds
            the folder, or the folder holds another search.
    """
    settings = settings.checked()
    require_search(settings)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with _search_lock(out):
        study = open_study(out, settings, grid, split)
        done = _finished(study)
        remaining = settings.trials - done
        if remaining <= 0:
            echo(f"search: {done} of {settings.trials} trials already done")
            return study
        if done:
            echo(f"search: resuming, {done} of {settings.trials} trials already done")
        run = _run_ray if settings.engine == "ray" else _run_local
        run(study, grid, split, settings, remaining, out,
            _TrialLine(settings, echo, done))
    return study


class _TrialLine:
    """The progress line each finished trial prints."""

    def __init__(self, settings: SearchSettings, echo: Callable[[str], None], done: int):
        self.settings, self.echo, self.done = settings, echo, done

    def __call__(self, number: int, state: str, result: dict, params: dict,
                 best: tuple[int, float] | None) -> None:
        self.done += 1
        loss = result.get("loss", math.nan)
        what = {"COMPLETE": f"loss {loss:.4g}", "PRUNED":
                f"pruned at {result.get('stopped_at', '?')} % (loss {loss:.4g})"}.get(
                    state, "failed" + (f": {result['error']}" if result.get("error") else
                                       " (validation loss diverged)"))
        parts = [f"trial {self.done}/{self.settings.trials} (#{number}): {what}"]
        if best is not None:
            parts.append(f"best {best[1]:.4g} (#{best[0]})")
        if math.isfinite(result.get("spectra_per_s", math.nan)):
            parts.append(f"{result['spectra_per_s']:,.0f} spectra/s")
        if "seconds" in result:
            parts.append(f"{result['seconds']:.0f} s")
        self.echo(", ".join(parts) + " | " + _short(params))


def _short(params: dict) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in params.items())


def _best(study) -> tuple[int, float] | None:
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.values and math.isfinite(t.values[0])]
    if not done:
        return None
    best = min(done, key=lambda t: t.values[0])
    return best.number, best.values[0]


def _run_local(study, grid, split, settings, remaining, out, line) -> None:
    optuna = _import_optuna()
    cls = model_class(settings.model)

    def objective(trial):
        cls.search_space(trial)
        result: dict = {}

        def report(step: int, best: float, sps: float) -> None:
            result["spectra_per_s"] = sps
            if settings.multi_objective or not math.isfinite(best):
                return
            trial.report(best, step)
            if trial.should_prune():
                result.update(loss=best, stopped_at=step)
                raise optuna.TrialPruned()

        try:
            result.update(run_trial(grid, split, trial_config(settings, trial.params), report))
        except AtmoscopeError as exc:
            result["error"] = str(exc)
            raise
        finally:
            for key, value in result.items():
                trial.set_user_attr(key, value)
        loss = result["loss"]
        return (loss, result["spectra_per_s"]) if settings.multi_objective else loss

    def progress(study, frozen) -> None:
        line(frozen.number, frozen.state.name, frozen.user_attrs, frozen.params, _best(study))

    study.optimize(objective, n_trials=remaining, timeout=settings.budget,
                   callbacks=[progress], catch=(AtmoscopeError,), gc_after_trial=True)


# --- Ray Tune -------------------------------------------------------------------------------
def _ray_trial(params: dict, grid: SpectralGrid, split: Split, settings: SearchSettings
               ) -> None:
    """One trial as a Ray Tune function trainable (one CPU: one torch thread)."""
    from ray import tune

    limit_threads(1)

    def report(step: int, best: float, sps: float) -> None:
        tune.report({"loss": best, "spectra_per_s": sps, "progress": step})

    # a Tune report waits for the driver: every 10 % is enough for ASHA's rungs
    result = run_trial(grid, split, trial_config(settings, params), report, every=10)
    tune.report({**result, "progress": 100, "finished": True})


def _run_ray(study, grid, split, settings, remaining, out, line) -> None:
    from atmoscope._ray import import_ray, init_ray

    ray = import_ray("tune")
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.optuna import OptunaSearch

    cls = model_class(settings.model)
    metric: str | list[str] = "loss"
    mode: str | list[str] = "min"
    scheduler = ASHAScheduler(time_attr="progress", metric="loss", mode="min", max_t=100,
                              grace_period=_PRUNE_WARMUP, reduction_factor=3)
    if settings.multi_objective:
        metric, mode, scheduler = ["loss", "spectra_per_s"], ["min", "max"], FIFOScheduler()
    class Searcher(OptunaSearch):
        """Optuna's searcher, also keeping what each trial measured in its Optuna trial
        (while it can still be written), so both engines leave the same study."""

        def on_trial_complete(self, trial_id, result=None, error=False):
            trial = self._ot_trials.get(trial_id)
            if trial is not None and result:
                for key in ("loss", "spectra_per_s", "epochs", "best_epoch", "seconds",
                            "threads"):
                    if key in result:
                        trial.set_user_attr(key, result[key])
                if not result.get("finished"):
                    trial.set_user_attr("stopped_at", result.get("progress"))
            super().on_trial_complete(trial_id, result, error)

    searcher = Searcher(space=cls.search_space, metric=metric, mode=mode,
                        sampler=_sampler(settings, offset=len(study.trials)), study_name=_STUDY,
                        storage=study._storage, seed=settings.seed)

    class Progress(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            result = trial.last_result or {}
            finished = result.get("finished", False)
            state = "COMPLETE" if finished else "PRUNED"
            if not finished:
                result = {**result, "stopped_at": result.get("progress")}
            line(trial.trial_id, state, result, trial.config, None)

        def on_trial_error(self, iteration, trials, trial, **info):
            line(trial.trial_id, "FAIL", {"error": "the trial raised (see Ray's logs)"},
                 trial.config, None)

    # Tune's console tables would bury our line per trial (verbose=0 silences the old
    # output engine only)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    started = init_ray(ray, settings.ray_address, settings.num_cpus)
    try:
        trainable = tune.with_resources(
            tune.with_parameters(_ray_trial, grid=grid, split=split, settings=settings),
            {"cpu": 1})
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler,
                                        num_samples=remaining,
                                        time_budget_s=settings.budget),
            run_config=tune.RunConfig(storage_path=str((out / "ray").resolve()),
                                      name="search", callbacks=[Progress()], verbose=0))
        tuner.fit()
    finally:
        if started:
            ray.shutdown()


# --- results --------------------------------------------------------------------------------
def trials_table(study) -> pd.DataFrame:
    """One row per trial (interrupted ones, which were run again, left out): ``number``,
    ``state``, ``value`` (best validation loss), ``spectra_per_s``, ``seconds``,
    ``epochs``, ``best_epoch``, ``stopped_at`` (percent of the budget where a pruned
    trial stopped), ``threads``, ``started``, ``duration_s`` (the whole trial, set-up and
    pruned ones included) and ``params_*``."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("interrupted"):
            continue
        attrs = t.user_attrs
        value = t.values[0] if t.values else attrs.get("loss", math.nan)
        rows.append({"number": t.number, "state": t.state.name, "value": value,
                     "spectra_per_s": attrs.get("spectra_per_s", math.nan),
                     "seconds": attrs.get("seconds", math.nan),
                     "epochs": attrs.get("epochs"), "best_epoch": attrs.get("best_epoch"),
                     "stopped_at": attrs.get("stopped_at"),
                     "threads": attrs.get("threads"),
                     "started": None if t.datetime_start is None
                     else t.datetime_start.isoformat(timespec="seconds"),
                     "duration_s": None if t.datetime_complete is None or t.datetime_start
                     is None else (t.datetime_complete - t.datetime_start).total_seconds(),
                     **{f"params_{k}": v for k, v in t.params.items()},
                     "error": attrs.get("error")})
    return pd.DataFrame(rows)


def pareto_front(table: pd.DataFrame) -> pd.DataFrame:
    """The trials no other trial beats on both validation loss (lower) and spectra/s
    (higher), by loss. Only complete trials with both numbers take part."""
    done = table[(table["state"] == "COMPLETE") & np.isfinite(table["value"].astype(float))
                 & np.isfinite(table["spectra_per_s"].astype(float))]
    loss = done["value"].to_numpy(float)
    speed = done["spectra_per_s"].to_numpy(float)
    keep = [not np.any((loss <= a) & (speed >= b) & ((loss < a) | (speed > b)))
            for a, b in zip(loss, speed, strict=True)]
    return done[keep].sort_values("value")
