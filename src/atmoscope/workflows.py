"""The sequences the CLI, the demo and the benchmarks share: train → evaluate → bundle →
figures, an ensemble of such runs, and the demo itself.

This module sits above training, evaluation and reporting and below the CLI: the CLI
only parses arguments and prints what these functions return.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from atmoscope.data.grid import SpectralGrid
from atmoscope.data.splits import Split
from atmoscope.data.targets import target_labels
from atmoscope.errors import ConfigError
from atmoscope.evaluation.report import evaluate_estimator
from atmoscope.models import Ensemble, ModelBundle
from atmoscope.models.ensemble import member_path
from atmoscope.training.trainer import TrainConfig, Trainer

__all__ = ["format_comparison", "format_prediction", "format_predictions",
           "noise_profile_from_spectrum", "run_demo", "train_bundle",
           "train_ensemble", "training_summary", "tune_model", "write_figures"]


def write_figures(folder: Path, targets, truth: np.ndarray, predicted: np.ndarray,
                  history: dict | None) -> list[Path]:
    """Parity plot, residual histograms and (if given) loss curves, as PNG."""
    from atmoscope.reporting import plot_loss_curves, plot_parity, plot_residuals

    names, units = target_labels(targets)
    paths = [plot_parity(truth, predicted, names, units, folder / "parity.png"),
             plot_residuals(truth, predicted, names, units, folder / "residuals.png")]
    if history:
        paths.append(plot_loss_curves(history, folder / "loss_curves.png"))
    return paths


def train_bundle(grid: SpectralGrid, split: Split, config: TrainConfig, out: str | Path | None,
                 *, resume: bool = False, progress: bool = True,
                 snrs: tuple[float, ...] = (10, 20, 50), embed_grid: bool = False,
                 flux_scale: str = "absolute", cross_fit: int = 0,
                 workers: int = 1) -> tuple[ModelBundle, dict]:
    """Train, score on ``split.test`` (noiseless and noisy), save the bundle and figures.

    Args:
        out: bundle directory; its checkpoint is ``<out>.checkpoint.pt`` (kept for
            ``resume`` until the bundle is written). None: keep in memory only.
        embed_grid: store the training grid inside the bundle (self-contained χ² and
            model spectra).
        flux_scale: ``"absolute"`` when the grid's flux is the true surface flux in its
            unit, ``"arbitrary"`` when only its shape is (a constant factor unknown): then
            no radius is implied from a distance. Recorded as ``grid["flux_scale"]``.
        cross_fit: when ``K`` ≥ 2, the systematic floor is cross-fitted on the training
            nodes (:func:`~atmoscope.training.cross_fit.cross_fitted_floor`: ``K`` more
            trainings, ``workers`` at once) instead of fitted on the validation nodes.

    Returns:
        The bundle and the evaluation report (with the test predictions). The bundle's
        ``training["timings"]`` says how long set-up, optimiser steps, validation,
        checkpoints and the final evaluation took (only the loop counts against
        ``config.budget``); in memory it also has the time saving took.
    """
    if flux_scale not in ("absolute", "arbitrary"):
        raise ConfigError(f"flux_scale must be 'absolute' or 'arbitrary', not {flux_scale!r}")
    if cross_fit:
        from atmoscope.training.cross_fit import fold_rows

        if not config.calibrate:
            raise ConfigError("cross-fitting fits the systematic floor, which calibrate=False "
                              "(--no-calibrate) leaves out: ask for one or the other")
        fold_rows(split.train, cross_fit)  # a bad K is refused before anything is trained
    out = Path(out) if out is not None else None
    checkpoint = out.with_name(out.name + ".checkpoint.pt") if out is not None else None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(config, checkpoint=checkpoint, progress=progress).fit(
        grid, split, resume=resume)
    bundle = trainer.to_bundle(grid, split)
    bundle.grid["flux_scale"] = flux_scale
    if cross_fit and bundle.systematics is not None:  # (none without validation nodes)
        from atmoscope.training.cross_fit import cross_fitted_floor

        bundle.systematics = cross_fitted_floor(
            bundle, grid, split, config, folds=cross_fit, workers=workers, seed=config.seed,
            log=(lambda line: print(line, file=sys.stderr, flush=True)) if progress else None)
    start = time.perf_counter()
    report = evaluate_estimator(bundle, grid, split.test, snrs=snrs)
    bundle.metrics = {k: v for k, v in report.items() if k != "predictions"}
    timings = bundle.training["timings"]
    timings["evaluation"] = time.perf_counter() - start
    if out is not None:
        start = time.perf_counter()
        bundle.save(out, grid=grid if embed_grid else None,
                    extras=lambda folder: write_figures(
                        folder / "figures", grid.targets, grid.target_values[split.test],
                        report["predictions"], bundle.history))
        timings["save"] = time.perf_counter() - start
        checkpoint.unlink(missing_ok=True)
    return bundle, report


def train_ensemble(grid: SpectralGrid, split: Split, config: TrainConfig, out: str | Path | None,
                   members: int = 1, *, resume: bool = False, progress: bool = True,
                   embed_grid: bool = False, flux_scale: str = "absolute",
                   cross_fit: int = 0, workers: int = 1,
                   on_member: Callable[[Path | None, ModelBundle, dict], None] | None = None
                   ) -> list[tuple[ModelBundle, dict]]:
    """Train ``members`` bundles with seeds ``config.seed``, ``config.seed + 1``, …; one
    member is written to ``out`` itself, several to ``out/member-i`` (an ensemble folder
    that :func:`~atmoscope.models.load_estimator` reads back).

    Args:
        on_member: called with ``(path, bundle, report)`` as each member is done.
        resume, progress, embed_grid, flux_scale, cross_fit, workers: as for
            :func:`train_bundle`, for each member.

    Returns:
        ``(bundle, report)`` of each member, in order.
    """
    from dataclasses import replace

    results = []
    for i in range(members):
        target = out if members == 1 or out is None else member_path(out, i)
        bundle, report = train_bundle(grid, split, replace(config, seed=config.seed + i),
                                      target, resume=resume, progress=progress,
                                      embed_grid=embed_grid, flux_scale=flux_scale,
                                      cross_fit=cross_fit, workers=workers)
        if on_member is not None:
            on_member(target, bundle, report)
        results.append((bundle, report))
    return results


def tune_model(grid: SpectralGrid, split: Split, settings, out: str | Path, *,
               echo: Callable[[str], None] = print, progress: bool = True) -> dict:
    """``atmoscope tune``: search (or resume the search), then write the record and
    retrain the best trial into a normal bundle.

    Writes into ``out``: ``study.db`` (the Optuna study), ``trials.csv`` (every trial),
    ``pareto.csv`` (multi-objective: the front of loss against spectra/s), the figures
    ``search_history.png``, ``search_importances.png`` and ``search_front.png``,
    ``best_config.json`` (the best trial's training configuration) and ``best/`` (that
    configuration retrained with calibration, scored on ``split.test``: the only time
    the test split is used; the grid stored inside). A rerun whose best trial is
    unchanged keeps ``best/``.

    Args:
        settings: a :class:`~atmoscope.training.search.SearchSettings`.
        echo: where progress lines go; ``progress``: the retraining's progress bar.

    Returns:
        ``table`` and ``front`` (DataFrames), ``best_trial`` (its number), ``best_value``,
        ``config`` (the retrained :class:`TrainConfig`), ``bundle`` (path) and ``report``
        (the test report of the retrained bundle; None when ``best/`` was kept).

    Raises:
        AtmoscopeError: no trial finished (all pruned or failed).
    """
    import json
    from dataclasses import asdict

    from atmoscope._atomic import atomic_path
    from atmoscope.errors import AtmoscopeError
    from atmoscope.training.search import pareto_front, run_search, trial_config, trials_table

    out, settings = Path(out), settings.checked()
    study = run_search(grid, split, settings, out, echo)
    table = trials_table(study)
    with atomic_path(out / "trials.csv") as tmp:
        table.to_csv(tmp, index=False)
    front = pareto_front(table)
    if settings.multi_objective:
        with atomic_path(out / "pareto.csv") as tmp:
            front.to_csv(tmp, index=False)
    _search_figures(study, table, front, out, settings.multi_objective)
    done = table[(table["state"] == "COMPLETE") & np.isfinite(table["value"].astype(float))]
    if done.empty:
        raise AtmoscopeError(f"{out}: no trial of the search finished (see trials.csv); "
                             "give the trials more time (--trial-budget)")
    best = done.loc[done["value"].astype(float).idxmin()]
    number = int(best["number"])
    config = trial_config(settings, study.trials[number].params, calibrate=True)
    record = {"trial": number, "value": float(best["value"]), "config": asdict(config)}
    path, report = out / "best", None
    kept = out / "best_config.json"
    if not ((path / "bundle.json").is_file() and kept.is_file()
            and json.loads(kept.read_text()).get("trial") == number):
        echo(f"retraining the best trial (#{number}) into {path}")
        checkpoint = path.with_name(path.name + ".checkpoint.pt")
        # with its grid inside, so `evaluate DIR/best` and model spectra need nothing beside it
        _, report = train_bundle(grid, split, config, path, resume=checkpoint.is_file(),
                                 progress=progress, embed_grid=True)
        with atomic_path(kept) as tmp:
            tmp.write_text(json.dumps(record, indent=2, default=list))
    return {"table": table, "front": front, "best_trial": number,
            "best_value": float(best["value"]), "config": config, "bundle": path,
            "report": report}


def _search_figures(study, table, front, out: Path, multi_objective: bool) -> None:
    """The history, importance and front figures; importances need two finished trials
    whose parameters differ, and are left out otherwise."""
    import warnings

    import optuna

    from atmoscope.reporting.tuning_figures import (
        plot_search_front,
        plot_search_history,
        plot_search_importances,
    )

    plot_search_history(table, out / "search_history.png")
    plot_search_front(table, front, out / "search_front.png")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(
                study, target=(lambda t: t.values[0]) if multi_objective else None,
                evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (RuntimeError, ValueError, ZeroDivisionError):
        importances = {}
    if importances:
        plot_search_importances(importances, out / "search_importances.png")


def noise_profile_from_spectrum(path: str | Path, grid: SpectralGrid) -> tuple[float, ...]:
    """The relative-error shape of an observed spectrum, on the grid's wavelengths
    (``TrainConfig.noise_profile``, ``train --noise-profile``).

    Raises:
        SpectrumError: the file cannot be read or has no flux errors.
    """
    from atmoscope.data.noise import noise_profile
    from atmoscope.errors import SpectrumError
    from atmoscope.observed import clean_spectrum, read_spectrum, resample

    spectrum = read_spectrum(path)
    if spectrum.error is None:
        raise SpectrumError(f"{path}: no flux errors to take a noise profile from")
    on_grid = resample(clean_spectrum(spectrum)[0], grid.wavelength_quantity, allow_partial=True)
    return tuple(noise_profile(on_grid.flux.value, on_grid.error.value).tolist())


def run_demo(out: Path, budget: float, echo: Callable[[str], None] = print) -> Path:
    """The main job on the embedded default grid: generate it, write and read it back,
    train the default model on a leave-nodes-out split, report, then predict a mock
    observed T dwarf with uncertainties and write its HTML report.

    Args:
        out: output folder; ``budget``: training seconds; ``echo``: where lines go.

    Returns:
        The HTML report's path.
    """
    from atmoscope.data import read_grid, write_grid
    from atmoscope.data.splits import node_split
    from atmoscope.evaluation.report import format_report
    from atmoscope.prediction import Predictor
    from atmoscope.reporting import plot_grid_spectra, write_prediction_report
    from atmoscope.synthetic import F_NU_UNIT, mock_observation, synthetic_grid

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    generated = synthetic_grid()
    elapsed = time.perf_counter() - start
    path = write_grid(generated, out / "synthetic_grid.csv")
    g = read_grid(path, flux_unit=F_NU_UNIT)  # read back: the file is what users get
    echo(f"embedded grid: {g.n_spectra} spectra × {g.n_wavelengths} wavelengths "
         f"generated in {elapsed:.2f} s, written to {path}")
    echo("(an analytic stand-in for demos and tests, not a physical model)")
    for name, values in g.unique_values().items():
        echo(f"  {name:<12} {values.size:>3} nodes, {values.min():g} … {values.max():g}")
    echo(f"  duplicate spectra: {g.n_duplicate_spectra}")
    echo(f"  content hash: {g.content_hash}")
    echo(f"figure: {plot_grid_spectra(g, color_by='temperature', path=out / 'grid_spectra.png')}")

    split = node_split(g)
    held = split.description["holdout"]["temperature"]
    echo(f"\ntraining the default model for {budget:g} s; test = every spectrum at the "
         f"{len(held)} held-out Teff nodes ({', '.join(f'{t:g}' for t in held)} K): "
         f"{len(split.test)} spectra never seen in training")
    bundle, report = train_bundle(g, split, TrainConfig(budget=budget), out / "model")
    echo(training_summary(bundle))
    echo(format_report(report))
    echo(f"model bundle: {out / 'model'} (figures in {out / 'model' / 'figures'})")

    # "predict my spectrum": a mock observation between the grid nodes, at Earth
    truth = {"gravity": 4.6, "temperature": 830.0, "c_o_ratio": 1.2, "metallicity": 0.15}
    observed = mock_observation(truth, out / "mock_T_dwarf.ecsv")
    echo(f"\nmock observation {observed} (S/N 30, R ≈ 300, d = 10 pc, R = 1 R_Jup); "
         "truth: " + ", ".join(f"{k} {v:g}" for k, v in truth.items()))
    predictor = Predictor(Ensemble([bundle]), grid=g, n_samples=100, distance_pc=10.0,
                          radius_rjup=1.0)
    prediction = predictor.predict(observed)
    echo(format_prediction(prediction))
    return write_prediction_report(prediction, predictor, out / "report.html")


def training_summary(bundle: ModelBundle) -> str:
    """One line: how long training ran, why it stopped, and where the time went."""
    t = bundle.training
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in t.get("timings", {}).items())
    lines = [f"trained {t['model']} for {t['epochs_run']} epochs in {t['train_seconds']:.0f} s "
             f"(best epoch {t['best_epoch'] + 1}; stopped: {t['stopped_because']})"]
    if parts:
        lines.append(f"time: {parts}")
    if bundle.systematics:
        s = bundle.systematics
        where = (f"cross-fitted over {s['folds']} folds of {s['n_nodes']} training nodes"
                 if "folds" in s else f"calibrated on {s['n_nodes']} validation nodes")
        lines.append(f"{where}: systematic floor "
                     + ", ".join(f"{n} {v:.2f}σ" for n, v in zip(s["targets"], s["floor"],
                                                                strict=True))
                     + " (of each target's spread) added to every sample; 68 % coverage "
                     + ", ".join(f"{n} {100 * s['coverage_before'][n][0]:.0f}→"
                                 f"{100 * s['coverage_after'][n][0]:.0f} %" for n in s["targets"]))
    return "\n".join(lines)


def format_prediction(prediction) -> str:
    """A prediction as the terminal shows it: parameters, fit quality, flags, notes."""
    from atmoscope.data.targets import target_label
    from atmoscope.prediction.guards import FLAGS

    model = f" [{prediction.model}]" if prediction.model else ""
    lines = [f"{prediction.source}{model}: {prediction.n_models} network(s) × "
             f"{prediction.n_draws} {prediction.sample_label}",
             f"{'parameter':<14}{'mean':>10}{'std':>9}{'2.5%':>10}{'16%':>10}{'50%':>10}"
             f"{'84%':>10}{'97.5%':>10}"]
    for name, s in prediction.summary().items():
        label, unit = target_label(name)
        label = f"{label} [{unit}]" if unit else label
        lines.append(f"{label:<14}{s['mean']:>10.4g}{s['std']:>9.3g}" + "".join(
            f"{s[k]:>10.4g}" for k in ("p2_5", "p16", "p50", "p84", "p97_5")))
    if prediction.best_fit is not None:
        lines.append("best-fit model spectrum (χ² minimum near the estimate): " + ", ".join(
            f"{target_label(n)[0]} {v:.4g}" for n, v in prediction.best_fit.items()))
    if prediction.fit is not None:
        f = prediction.fit
        lines.append(f"χ² = {f.chi2:.1f} for {f.dof} degrees of freedom (reduced "
                     f"{f.reduced_chi2:.2f}, p = {f.p_value:.2g}); flux scale "
                     f"{prediction.scale:.4g} (observed ÷ model, in the grid's unit)")
    if prediction.implied_radius_rjup is not None:
        lines.append(f"implied radius: {prediction.implied_radius_rjup:.3f} R_Jup")
    if prediction.error_inflation != 1.0:
        lines.append(f"errors inflated ×{prediction.error_inflation:.3g} for the uncertainty "
                     "(poor fit)")
    lines += [f"WARNING {flag}: {FLAGS[flag]}" for flag in prediction.flags]
    lines += [f"note: {note}" for note in prediction.notes]
    return "\n".join(lines)


def format_comparison(predictions) -> str:
    """Several models' predictions of one spectrum side by side (mean ± std per
    parameter; reduced χ² and p-value), in the order given (best fit first)."""
    from atmoscope.data.targets import target_label

    names = [p.model or f"model {i + 1}" for i, p in enumerate(predictions)]
    width = max(18, *(len(n) + 2 for n in names))
    targets = list(dict.fromkeys(t for p in predictions for t in p.targets))
    lines = [f"{predictions[0].source}: {len(predictions)} models, best reduced χ² first",
             f"{'':<16}" + "".join(f"{n:>{width}}" for n in names)]
    for t in targets:
        label, unit = target_label(t)
        cells = []
        for p in predictions:
            s = p.summary().get(t)
            cells.append(f"{s['mean']:.4g} ± {s['std']:.2g}" if s else "—")
        lines.append(f"{(label + (f' [{unit}]' if unit else '')):<16}"
                     + "".join(f"{c:>{width}}" for c in cells))
    for key, text in (("reduced_chi2", "reduced χ²"), ("p_value", "p-value")):
        cells = [f"{getattr(p.fit, key):.3g}" if p.fit is not None else "—"
                 for p in predictions]
        lines.append(f"{text:<16}" + "".join(f"{c:>{width}}" for c in cells))
    lines.append(f"{'flags':<16}" + "".join(f"{(','.join(p.flags) or '—'):>{width}}"
                                            for p in predictions))
    for name, p in zip(names, predictions, strict=True):
        lines += [f"note ({name}): {note}" for note in p.notes]
    return "\n".join(lines)


def format_predictions(predictions) -> str:
    """One prediction in full (:func:`format_prediction`), several side by side
    (:func:`format_comparison`)."""
    if len(predictions) == 1:
        return format_prediction(predictions[0])
    return format_comparison(predictions)
