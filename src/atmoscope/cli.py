"""The ``atmoscope`` command line.

Errors in input data or arguments end with exit status 2 and one line on
stderr starting ``error:``; anything else is a bug, reported in one line too
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import click

from atmoscope._device import DEVICES
from atmoscope._version import __version__
from atmoscope.errors import AtmoscopeError

EXIT_USAGE = 2


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {_one_line(message)}", err=True)


def _split_names(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="atmoscope")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """atmoscope: atmospheric parameters of brown dwarfs from their spectra."""
    ctx.obj = {"debug": debug}


# --- grid ------------------------------------------------------------------------------
@cli.group()
def grid() -> None:
    """Training grids: generate the embedded one, inspect any."""


@grid.command("synthetic")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output file: .csv, .csv.gz, .csv.bz2 or .parquet.")
@click.option("--ascending", is_flag=True,
              help="Wavelength columns ascending (default: descending, as TelescopeML).")
def grid_synthetic(out: Path, ascending: bool) -> None:
    """Write the embedded synthetic grid (30,888 spectra, TelescopeML's layout).

    A stand-in for demos and tests, not a physical model.
    """
    from atmoscope.data import write_grid
    from atmoscope.synthetic import synthetic_grid

    start = time.perf_counter()
    g = synthetic_grid()
    write_grid(g, out, descending=not ascending)
    click.echo(
        f"wrote {out}: {g.n_spectra} spectra × {g.n_wavelengths} wavelengths "
        f"in {time.perf_counter() - start:.1f} s"
    )


def _grid_options(func):
    func = click.option("--targets", help="Comma-separated target columns (default: all "
                        "parameter columns, which must include gravity and temperature; a "
                        "model of fewer targets gives no model spectrum or χ²).")(func)
    func = click.option("--wavelength-unit", default=None,
                        help="Unit of the wavelength column names (default um).")(func)
    func = click.option("--flux-unit", default=None, help="Unit of the flux values.")(func)
    return func


def _load_grid(path: Path, targets: str | None, wavelength_unit: str | None,
               flux_unit: str | None, drop_duplicates: str | None = None):
    from astropy import units as u

    from atmoscope.data import read_grid

    for label, unit in (("--wavelength-unit", wavelength_unit), ("--flux-unit", flux_unit)):
        if unit is not None:
            try:
                u.Unit(unit)
            except ValueError:
                raise click.BadParameter(f"not a unit astropy knows: {unit!r}",
                                         param_hint=label) from None
    return read_grid(path, _split_names(targets), wavelength_unit=wavelength_unit,
                     flux_unit=flux_unit, drop_duplicates=drop_duplicates)


def _format_values(values: list[float], limit: int = 8) -> str:
    text = [f"{v:g}" for v in values]
    if len(text) > limit:
        text = text[: limit // 2] + ["…"] + text[-limit // 2:]
    return ", ".join(text)


@grid.command("info")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--drop-duplicates", type=click.Choice(["first", "none"]), default=None,
              help="Drop repeated spectra: keep the first of each group, or none of them.")
@_grid_options
def grid_info(path: Path, as_json: bool, drop_duplicates: str | None, targets: str | None,
              wavelength_unit: str | None, flux_unit: str | None) -> None:
    """Describe a training grid: size, wavelengths, parameter nodes, duplicates."""
    g = _load_grid(path, targets, wavelength_unit, flux_unit, drop_duplicates)
    s = g.summary()
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    lo, hi = s["wavelength_range"]
    click.echo(f"grid         {s['source']}")
    click.echo(f"spectra      {s['n_spectra']}")
    click.echo(f"wavelengths  {s['n_wavelengths']} ({lo:.4g}–{hi:.4g} {s['wavelength_unit']})")
    click.echo(f"flux         {s['flux_range'][0]:.3g} … {s['flux_range'][1]:.3g} "
               f"{s['flux_unit'] or '(unit not stated)'}")
    click.echo("parameters")
    for name, values in s["parameters"].items():
        role = "target" if name in s["targets"] else "extra "
        click.echo(f"  {name:<14} {role} {len(values):>3} values: {_format_values(values)}")
    click.echo(f"duplicates   {s['duplicate_spectra']} spectra repeat another "
               f"({s['duplicate_groups']} groups, {s['conflicting_duplicate_groups']} "
               "with different parameters)")
    if s["repeated_parameters"]:
        click.echo(f"             {s['repeated_parameters']} spectra repeat the parameters of "
                   "another with a different flux")
    click.echo(f"content hash {s['content_hash']}")


# --- survey ----------------------------------------------------------------------------
@cli.group()
def survey() -> None:
    """Survey files: many spectra in one Parquet or FITS file, one per row."""


def _parse_snr(value: str) -> float | tuple[float, float]:
    """S/N: LOW,HIGH or one positive number."""
    if "," in value:
        return _parse_pair(value, "--snr")
    try:
        snr = float(value)
    except ValueError:
        raise click.BadParameter(f"expected S or LOW,HIGH (e.g. 20,200), got {value!r}",
                                 param_hint="--snr") from None
    if not 0 < snr < float("inf"):
        raise click.BadParameter(f"need a positive finite S/N, got {value!r}",
                                 param_hint="--snr")
    return snr


@survey.command("synthetic")
@click.option("--n", "n", type=click.IntRange(1), required=True, help="Number of spectra.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output file: .parquet (streamed, any size) or .fits (built in memory).")
@click.option("--model", default="bobcat", show_default=True,
              help="Built-in model (or bundle folder) whose embedded grid gives the spectra.")
@click.option("--snr", default="20,200", show_default=True,
              help="S/N range LOW,HIGH (log-uniform, one per spectrum), or one S/N for all.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
def survey_synthetic(n: int, out: Path, model: str, snr: str, seed: int) -> None:
    """Write noisy spectra with known parameters, drawn inside a model's grid.

    Parameters uniform inside the grid, spectra interpolated between its nodes, Gaussian
    noise at each spectrum's S/N (error = model flux / S/N); the parameters and the S/N are
    stored as truth columns. The same seed gives the same file.
    """
    from atmoscope.evaluation import synthetic_survey
    from atmoscope.observed import read_survey_rows

    start = time.perf_counter()
    snr_value = _parse_snr(snr)
    path = synthetic_survey(out, n, model=model, snr=snr_value, seed=seed,
                            progress=sys.stderr.isatty())
    first = read_survey_rows(path, 0, 1)
    snr_text = (f"{snr_value[0]:g}–{snr_value[1]:g}" if isinstance(snr_value, tuple)
                else f"{snr_value:g}")
    click.echo(f"wrote {path}: {n} spectra × {first.n_pixels} wavelengths from {model} "
               f"(S/N {snr_text}, seed {seed}; truths {', '.join(first.truths.columns)}) "
               f"in {time.perf_counter() - start:.1f} s")


# --- fetch -----------------------------------------------------------------------------
@cli.command("fetch")
@click.argument("source", default="telescopeml")
@click.option("--file", "files", multiple=True, help="File of the dataset to fetch "
              "(repeatable; default all).")
@click.option("--sha256", default=None, help="Expected SHA-256 of the download.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache folder (default $ATMOSCOPE_CACHE_DIR or ~/.cache/atmoscope).")
@click.option("--force", is_flag=True, help="Download again even if a verified copy exists.")
@click.option("--no-extract", is_flag=True, help="Keep archives packed.")
@click.option("--list", "list_only", is_flag=True, help="List the known datasets and exit.")
def fetch_cmd(source: str, files: tuple[str, ...], sha256: str | None, cache_dir: Path | None,
              force: bool, no_extract: bool, list_only: bool) -> None:
    """Download reference data (default: TelescopeML's, Zenodo 10.5281/zenodo.10183098)
    or any URL into the cache, verified by checksum."""
    from atmoscope.fetch import DATASETS, fetch

    if list_only:
        for name, ds in DATASETS.items():
            click.echo(f"{name:<12} doi:{ds.doi}  {ds.description}")
        return
    if sha256 is not None and not (len(sha256) == 64 and all(c in "0123456789abcdefABCDEF"
                                                              for c in sha256)):
        raise click.BadParameter(f"not a SHA-256 digest: {sha256!r}", param_hint="--sha256")
    kwargs = {"cache": cache_dir, "force": force}
    if source in DATASETS:
        kwargs["extract"] = not no_extract
    for path in fetch(source, files=list(files) or None, sha256=sha256, **kwargs):
        click.echo(str(path))


# --- train / evaluate --------------------------------------------------------------------
def _parse_pair(value: str, flag: str) -> tuple[float, float]:
    """LOW,HIGH with 0 < LOW <= HIGH, both finite."""
    import math

    try:
        low, high = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected LOW,HIGH (e.g. 10,1000), got {value!r}",
                                 param_hint=flag) from None
    if not (0 < low <= high and math.isfinite(high)):
        raise click.BadParameter(f"need 0 < LOW <= HIGH, got {value!r}", param_hint=flag)
    return (low, high)


def _parse_snr_range(value: str | None, flag: str = "--noise-snr"):
    if value is None:
        return None
    if value.lower() in ("none", "off", "0"):
        return ()
    return _parse_pair(value, flag)


@cli.command("train")
@click.option("--grid", "grid_path", required=True, type=click.Path(path_type=Path),
              help="Training grid (.csv, .csv.bz2, .parquet, ...).")
@click.option("--model", default="default", show_default=True,
              help="Architecture: default (= rescnn), telescopeml, resmlp; posterior "
              "(normalizing-flow posterior) or gaussian (Gaussian posterior; with "
              "--ensemble N a deep ensemble).")
@click.option("--split", "split_kind", type=click.Choice(["random", "nodes"]), default="nodes",
              show_default=True,
              help="random: TelescopeML's row split; nodes: hold out grid nodes.")
@click.option("--holdout", default=None, help="With --split nodes: e.g. 'temperature=every3' "
              "(default) or 'temperature=700,900;gravity=every3'.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Bundle directory to write.")
@click.option("--epochs", type=click.IntRange(1), default=None,
              help="Maximum epochs (default 300, more on small grids: at least 3,000 steps).")
@click.option("--budget", type=click.FloatRange(min=1), default=None,
              help="Wall-clock limit for training, in seconds.")
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="Default: the architecture's (telescopeml 32, default 256).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Peak learning rate (default: the architecture's).")
@click.option("--noise-snr", default=None, help="Training noise S/N range LOW,HIGH, or none.")
@click.option("--noise-profile", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Observed spectrum with errors whose relative-error shape the training "
              "noise takes (heteroscedastic noise).")
@click.option("--offnode", type=click.FloatRange(0, 1), default=None,
              help="Fraction of each batch at continuous parameters between the nodes "
              "(default: 1 for posterior models, else 0).")
@click.option("--offnode-source", type=click.Choice(["auto", "simulator", "interpolate"]),
              default="auto", show_default=True,
              help="Off-node spectra from the embedded generator or by interpolating the grid.")
@click.option("--gaps", type=click.FloatRange(0, 1), default=None,
              help="Fraction of training spectra given random gaps, read through a mask "
              "channel, so that partial spectra widen the posterior (default: 0.5 for "
              "posterior models; others have no mask input).")
@click.option("--no-calibrate", "no_calibrate", is_flag=True,
              help="Skip the calibration after training (the systematic floor and the "
              "novelty score fitted on the validation nodes): faster, but the bundle's "
              "intervals are then the network's alone and no spectrum is called novel.")
@click.option("--cross-fit", "cross_fit", type=click.IntRange(min=0), default=0,
              metavar="K", help="Fit the systematic floor on the training nodes rather than "
              "the few validation nodes: K more networks, each trained without one K-th of "
              "the training nodes, observe it (one process per core, one thread each).")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint beside --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the test metrics as JSON.")
@click.option("--drop-duplicates", type=click.Choice(["first", "none"]), default="none",
              show_default=True, help="Identical spectra: keep the first of each group, or "
              "none of a group whose parameters conflict.")
@click.option("--scale-free", is_flag=True, help="Use only the spectrum's shape, not its "
              "absolute flux level (for observed spectra of unknown distance and radius).")
@click.option("--ensemble", type=click.IntRange(1), default=1, show_default=True,
              help="Train N members with seeds seed, seed+1, ... into OUT/member-i.")
@click.option("--wavelength-range", default=None,
              help="Train on the grid's wavelengths in LOW,HIGH only (the grid's unit), "
              "e.g. 0.9,2.5 for spectra that cover 0.9–2.5 µm.")
@click.option("--embed-grid", is_flag=True, help="Store the training grid in the bundle "
              "(compressed), so its model spectra and χ² need nothing beside it.")
@click.option("--flux-scale", type=click.Choice(["absolute", "arbitrary"]), default="absolute",
              show_default=True, help="Whether the grid's flux is the true surface flux in "
              "its unit, or right only up to a constant (then no radius is implied from a "
              "distance).")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="Where the network trains: auto is a CUDA GPU when torch sees one, else "
              "the CPU. The bundle is saved for the CPU either way.")
@_grid_options
def train_cmd(grid_path, model, split_kind, holdout, out, epochs, budget, batch_size, lr,
              noise_snr, noise_profile, offnode, offnode_source, gaps, no_calibrate,
              cross_fit, seed, resume, as_json,
              drop_duplicates, scale_free, ensemble, wavelength_range, embed_grid, flux_scale,
              device, targets, wavelength_unit, flux_unit) -> None:
    """Train a model on a grid and write a bundle (weights, preprocessing, provenance).

    The grid must state its flux unit (or be in TelescopeML's layout, which is F_nu):
    a model has to know what kind of flux density it was trained on."""
    from atmoscope._device import resolve_device
    from atmoscope.data.splits import make_split
    from atmoscope.evaluation.report import format_report
    from atmoscope.training.trainer import TrainConfig
    from atmoscope.workflows import noise_profile_from_spectrum, train_ensemble, training_summary

    resolve_device(device)  # --device cuda without a GPU: say so before reading the grid
    g = _load_grid(grid_path, targets, wavelength_unit, flux_unit, drop_duplicates)
    if wavelength_range is not None:
        g = g.crop(*_parse_pair(wavelength_range, "--wavelength-range"))
    split = make_split(g, split_kind, seed=seed, holdout=holdout)
    n_train, n_val, n_test = split.sizes()
    click.echo(f"{g}: {split_kind} split {n_train} train / {n_val} validation / {n_test} test",
               err=as_json)
    config = TrainConfig(model=model, epochs=epochs, budget=budget, batch_size=batch_size,
                         lr=lr, noise_snr=_parse_snr_range(noise_snr), seed=seed,
                         extra_features="none" if scale_free else None,
                         noise_profile=None if noise_profile is None else
                         noise_profile_from_spectrum(noise_profile, g),
                         offnode=offnode, offnode_source=offnode_source, gaps=gaps,
                         calibrate=not no_calibrate, device=device)

    def show(path, bundle, report) -> None:
        if as_json:
            click.echo(json.dumps({k: v for k, v in report.items() if k != "predictions"},
                                  indent=2))
            return
        click.echo(training_summary(bundle))
        click.echo(format_report(report))
        click.echo(f"bundle: {path}")

    train_ensemble(g, split, config, out, ensemble, resume=resume, embed_grid=embed_grid,
                   flux_scale=flux_scale, cross_fit=cross_fit,
                   workers=min(cross_fit, os.cpu_count() or 1), on_member=show)


@cli.command("tune")
@click.option("--grid", "grid_path", required=True, type=click.Path(path_type=Path),
              help="Training grid (.csv, .csv.bz2, .parquet, ...).")
@click.option("--model", default="default", show_default=True,
              help="Architecture whose search space is searched (see atmoscope models).")
@click.option("--trials", type=click.IntRange(1), required=True,
              help="Finished trials the study should hold (a rerun adds only the missing).")
@click.option("--budget", type=click.FloatRange(min=1), default=None,
              help="Wall-clock limit for the whole search, in seconds.")
@click.option("--trial-budget", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Training seconds per trial (the learning-rate schedule completes in it).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Search folder: study.db, trials.csv, figures, best/ (the retrained best).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="local: Optuna, one trial after another; ray: Ray Tune "
              "with the same Optuna study and the ASHA scheduler, one trial per CPU.")
@click.option("--ray-address", default=None, help="Ray cluster to join (e.g. 'auto'); "
              "default: start a local Ray.")
@click.option("--objectives", type=click.Choice(["loss", "loss,throughput"]), default="loss",
              show_default=True, help="loss: minimise the validation loss; loss,throughput: "
              "the Pareto front of validation loss against spectra/s.")
@click.option("--split", "split_kind", type=click.Choice(["random", "nodes"]), default="nodes",
              show_default=True, help="random: TelescopeML's row split; nodes: hold out grid "
              "nodes. Trials are scored on the validation rows, never the test split.")
@click.option("--holdout", default=None, help="With --split nodes: e.g. 'temperature=every3' "
              "(default) or 'temperature=700,900,1200,1600,2000'.")
@click.option("--val-snr", default=None, help="S/N range LOW,HIGH of the fixed validation "
              "noise (default: the model's training noise range).")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--drop-duplicates", type=click.Choice(["first", "none"]), default="none",
              show_default=True, help="Identical spectra: keep the first of each group, or "
              "none of a group whose parameters conflict.")
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True,
              help="Where the trials train.")
@_grid_options
def tune_cmd(grid_path, model, trials, budget, trial_budget, out, engine, ray_address,
             objectives, split_kind, holdout, val_snr, seed, drop_duplicates, device, targets,
             wavelength_unit, flux_unit) -> None:
    """Search a model's hyperparameters (Optuna TPE with pruning, or Ray Tune with ASHA),
    resumable, and retrain the best trial into OUT/best.

    Rerunning the same command on a killed search resumes it. Writes OUT/study.db,
    OUT/trials.csv (every trial: parameters, value, state, time, spectra/s), the figures
    OUT/search_history.png, search_importances.png and search_front.png, and OUT/best."""
    from atmoscope._device import resolve_device
    from atmoscope.data.splits import make_split
    from atmoscope.evaluation.report import format_report
    from atmoscope.training.search import SearchSettings, require_search
    from atmoscope.workflows import tune_model

    resolve_device(device)
    settings = SearchSettings(
        model=model, trials=trials, trial_budget=trial_budget, budget=budget,
        objectives=tuple(objectives.split(",")), seed=seed,
        val_snr=None if val_snr is None else _parse_pair(val_snr, "--val-snr"),
        device=device, engine=engine, ray_address=ray_address).checked()
    require_search(settings)  # a missing extra is the first thing to hear of
    g = _load_grid(grid_path, targets, wavelength_unit, flux_unit, drop_duplicates)
    split = make_split(g, split_kind, seed=seed, holdout=holdout)
    n_train, n_val, n_test = split.sizes()
    click.echo(f"{g}: {split_kind} split {n_train} train / {n_val} validation / {n_test} test; "
               f"searching {model} ({objectives}), {trials} trials of {trial_budget:g} s "
               f"on the {engine} engine")
    result = tune_model(g, split, settings, out, echo=click.echo)
    best = result["table"].set_index("number").loc[result["best_trial"]]
    params = {k[7:]: v for k, v in best.items() if k.startswith("params_") and v == v}
    click.echo(f"best trial #{result['best_trial']}: validation loss {result['best_value']:.4g}, "
               f"{best['spectra_per_s']:,.0f} spectra/s | "
               + " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in params.items()))
    if len(result["front"]) > 1 and settings.multi_objective:
        click.echo("Pareto front (loss, spectra/s): " + "; ".join(
            f"#{int(r.number)} {r.value:.4g}, {r.spectra_per_s:,.0f}"
            for r in result["front"].itertuples()))
    if result["report"] is not None:
        click.echo(format_report(result["report"]))
    click.echo(f"bundle: {result['bundle']}\ntrials: {Path(out) / 'trials.csv'}")


def _load_estimator(value: str):
    """A bundle or ensemble folder, or a built-in model by name."""
    from atmoscope.models import load_estimator
    from atmoscope.pretrained import model_path

    return load_estimator(model_path(value))


def _bundle_grid(estimator, grid_path, *grid_args):
    """``--grid``, else the grid stored in the bundle."""
    if grid_path is not None:
        return _load_grid(grid_path, *grid_args)
    grid = estimator.training_grid()
    if grid is None:
        raise click.UsageError("the bundle stores no grid (trained without --embed-grid): "
                               "give --grid")
    return grid


@cli.command("evaluate")
@click.argument("bundle_path", metavar="BUNDLE")
@click.option("--grid", "grid_path", type=click.Path(path_type=Path), default=None,
              help="The grid (default: the one stored in the bundle, as in built-in models).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for parity, residual and loss-curve figures.")
@click.option("--drop-duplicates", type=click.Choice(["first", "none"]), default="none",
              show_default=True, help="As for train (the same choice finds the same test split).")
@_grid_options
def evaluate_cmd(bundle_path, grid_path, as_json, plots, drop_duplicates, targets,
                 wavelength_unit, flux_unit) -> None:
    """Regression report of a bundle on a grid (its test split if it is the training grid).

    BUNDLE is a bundle, a folder of bundles (an ensemble) or a built-in model's name."""
    from atmoscope.evaluation.report import evaluate_on_grid, format_report
    from atmoscope.workflows import write_figures

    estimator = _load_estimator(bundle_path)
    g = _bundle_grid(estimator, grid_path, targets, wavelength_unit, flux_unit, drop_duplicates)
    report, rows = evaluate_on_grid(estimator, g)
    if plots is not None:
        truth = g.with_targets(estimator.targets).target_values[rows]
        for path in write_figures(plots, estimator.targets, truth, report["predictions"],
                                  estimator.history if len(estimator) == 1 else None):
            click.echo(f"figure: {path}", err=as_json)
    if as_json:
        click.echo(json.dumps({k: v for k, v in report.items() if k != "predictions"}, indent=2))
        return
    source = estimator.members[0].grid.get("source")  # where the stored grid came from
    where = grid_path or f"its stored grid ({Path(source).name if source else 'no file'})"
    click.echo(f"{bundle_path} on {where}: {report['rows']}")
    click.echo(format_report(report))


@cli.command("calibrate")
@click.argument("bundle_path", metavar="BUNDLE")
@click.option("--grid", "grid_path", type=click.Path(path_type=Path), default=None,
              help="The grid (default: the one stored in the bundle, as in built-in models).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--n-spectra", type=click.IntRange(10), default=500, show_default=True)
@click.option("--draws", type=click.IntRange(2), default=100, show_default=True,
              help="Samples per spectrum and model (Monte-Carlo draws of a point model, "
              "posterior samples of a posterior); an ensemble of N pools N × this.")
@click.option("--snr", default="5,100", show_default=True, help="S/N range LOW,HIGH.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--mask-fraction", type=click.FloatRange(0, 0.9), default=0.0, show_default=True,
              help="Remove a contiguous stretch of this fraction of the pixels, at a random "
              "place, from every spectrum: the coverage of partial spectra.")
@click.option("--repeat", is_flag=True, help="Observe each held-out spectrum several times "
              "(independent noise) to reach --n-spectra.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Coverage curves and rank histograms (PNG, PDF or SVG).")
@click.option("--drop-duplicates", type=click.Choice(["first", "none"]), default="none",
              show_default=True, help="As for train (the same choice finds the same test split).")
@_grid_options
def calibrate_cmd(bundle_path, grid_path, as_json, n_spectra, draws, snr, seed, mask_fraction,
                  repeat, plot_path, drop_duplicates, targets, wavelength_unit,
                  flux_unit) -> None:
    """Coverage of a model's uncertainties on noisy held-out spectra.

    BUNDLE is a bundle, a folder of bundles (an ensemble) or a built-in model's name (with
    no --grid, the grid stored in the bundle is used). The samples are drawn exactly
    as `predict` draws them. A posterior model is also scored on Monte-Carlo draws over
    the errors of its point estimate (key "monte_carlo")."""
    import numpy as np

    from atmoscope.evaluation.calibration import calibrate_estimator
    from atmoscope.evaluation.report import scoring_grid

    estimator = _load_estimator(bundle_path)
    low_high = _parse_snr_range(snr, "--snr")
    if not low_high:
        raise click.BadParameter(f"expected LOW,HIGH, got {snr!r}", param_hint="--snr")
    g = _bundle_grid(estimator, grid_path, targets, wavelength_unit, flux_unit, drop_duplicates)
    g, rows, which = scoring_grid(estimator, g)
    report = calibrate_estimator(estimator, g, rows, n_spectra=n_spectra,
                                 n_samples=draws * len(estimator), snr_range=low_high, seed=seed,
                                 repeat=repeat, mask_fraction=mask_fraction)
    if plot_path is not None:
        from atmoscope.data.targets import target_labels
        from atmoscope.reporting import plot_calibration

        labels = target_labels(estimator.targets)[0]
        click.echo(f"figure: {plot_calibration(report, labels, plot_path)}", err=as_json)
    result = {k: v for k, v in report.items() if not isinstance(v, np.ndarray)}
    result["rows"] = which
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    masked = f", {mask_fraction:.0%} of pixels masked" if mask_fraction else ""
    click.echo(f"{report['n_spectra']} spectra of {report['n_nodes']} ({which}), "
               f"S/N {low_high[0]:g}–{low_high[1]:g}{masked}, {report['method']}")
    mc_head = f"{'MC-only 68 %':>14}{'MC-only 95 %':>14}" if "monte_carlo" in report else ""
    # ±: bootstrap over the nodes, whose observations share an interpolation error
    click.echo(f"{'parameter':<14}{'68 % covers':>16}{'95 % covers':>16}{mc_head}")
    for name, c in report["parameters"].items():
        line = (f"{name:<14}{c['coverage_68']:>9.1%} ±{c['coverage_68_se']:>5.1%}"
                f"{c['coverage_95']:>9.1%} ±{c['coverage_95_se']:>5.1%}")
        if "monte_carlo" in report:
            m = report["monte_carlo"]["parameters"][name]
            line += f"{m['coverage_68']:>14.1%}{m['coverage_95']:>14.1%}"
        click.echo(line)
    click.echo(f"a ±5-point check on {report['n_nodes']} nodes passes every rate, for a "
               f"model calibrated on average with their scatter, "
               f"{report['check_pass_chance']:.0%} of the time")


# --- models ----------------------------------------------------------------------------
@cli.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
def models_cmd(as_json: bool) -> None:
    """List the pretrained models that ship with atmoscope (predict needs no training)."""
    from atmoscope.data.targets import target_label
    from atmoscope.pretrained import available_models

    models = available_models()
    if as_json:
        click.echo(json.dumps([m.to_dict() for m in models], indent=2, ensure_ascii=False))
        return
    for m in models:
        lo, hi = m.wavelength_range
        click.echo(f"{m.name}: {m.description}")
        click.echo(f"  kind         {m.kind}, {m.size_bytes / 1e6:.1f} MB")
        click.echo(f"  wavelengths  {lo:.3g}–{hi:.3g} µm ({m.n_wavelengths})")
        click.echo(f"  targets      {', '.join(target_label(t)[0] for t in m.targets)}")
        click.echo(f"  grid         {m.grid_file} (sha256 {m.grid_hash[:16]}…)")
        click.echo(f"  retrain      {m.command}")


# --- predict / report -------------------------------------------------------------------
def _prediction_options(func):
    options = [
        click.option("--model", "model", default=None, metavar="NAME|PATH|all",
                     help="A built-in model (atmoscope models), a bundle or ensemble folder, "
                     "or 'all' (every built-in model covering the spectrum, best reduced χ² "
                     "first). Default: the built-in model that best covers the spectrum."),
        click.option("--samples", type=click.IntRange(2), default=1000, show_default=True,
                     help="Samples per spectrum in all, shared by the members of an ensemble: "
                     "Monte-Carlo draws over the flux errors (point models) or posterior "
                     "samples (posterior models)."),
        click.option("--draws", type=click.IntRange(1), default=None,
                     help="Samples per model instead (--samples = draws × models)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--distance", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Distance in pc: gives the radius the flux scale implies; with "
                     "--radius, scales the spectrum to surface flux (flux-level models)."),
        click.option("--radius", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Radius in R_Jup (with --distance)."),
        click.option("--grid", "grid_path", type=click.Path(path_type=Path), default=None,
                     help="Training grid for the model spectrum (default: the bundle's)."),
        click.option("--grid-flux", type=click.Choice(["fnu", "flambda"]), default=None,
                     help="Kind of flux density in the grid, for old bundles that did not "
                     "record its unit."),
        click.option("--allow-partial", is_flag=True,
                     help="Mask model pixels the spectrum does not cover instead of refusing."),
        click.option("--no-inflate", "no_inflate", is_flag=True,
                     help="Keep the quoted errors for a poor fit (by default, when the "
                     "reduced χ² is improbable, p < 0.001, the errors are multiplied by "
                     "√(reduced χ²) and the uncertainty recomputed)."),
        click.option("--wave-col", default=None, help="Wavelength column (name or 0-based index)."),
        click.option("--flux-col", default=None, help="Flux column (name or index)."),
        click.option("--err-col", default=None, help="Error column (name or index)."),
        click.option("--wave-unit", default=None, help="Wavelength unit if the file does not say."),
        click.option("--spectrum-flux-unit", "spec_flux_unit", default=None,
                     help="Flux unit if the file does not say (e.g. 'erg/s/cm2/AA', 'Jy')."),
        click.option("--figures", "figures", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="Folder for paper-ready figures of each spectrum "
                     "(spectrum fit, corner plot, sensitivity)."),
        click.option("--format", "fig_format", type=click.Choice(["png", "pdf", "svg"]),
                     default="png", show_default=True, help="Format of --figures."),
        click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True,
                     help="Where the networks compute (auto: a CUDA GPU if there is one)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _column(value: str | None):
    return int(value) if value is not None and value.isdigit() else value


def _read_options(o: dict) -> dict:
    return {"wave_col": _column(o["wave_col"]), "flux_col": _column(o["flux_col"]),
            "err_col": _column(o["err_col"]), "wave_unit": o["wave_unit"],
            "flux_unit": o["spec_flux_unit"]}


def _split_inputs(inputs: tuple[str, ...], model: str | None) -> tuple[str | None, list[str]]:
    """The older form ``predict BUNDLE FILE...``: a first argument that is a bundle (or a
    folder of bundles) is the model."""
    first = Path(inputs[0])
    if model is None and len(inputs) > 1 and first.is_dir():
        from atmoscope.models.bundle import is_bundle  # imports torch: only for a folder

        if is_bundle(first) or any(is_bundle(p) for p in first.glob("*/")):
            return str(first), list(inputs[1:])
    return model, list(inputs)


def _predictor_options(o: dict) -> dict:
    if o["radius"] is not None and o["distance"] is None:
        raise click.UsageError("--radius needs --distance")
    return {"n_samples": o["samples"], "n_draws": o["draws"], "seed": o["seed"],
            "distance_pc": o["distance"], "radius_rjup": o["radius"],
            "grid": None if o["grid_path"] is None else str(o["grid_path"]),
            "allow_partial": o["allow_partial"], "grid_flux_kind": o["grid_flux"],
            "inflate": not o["no_inflate"], "device": o["device"]}


def _model_choice(model, o: dict):
    from atmoscope.prediction import ModelChoice

    return ModelChoice(model, **_predictor_options(o))


def _figure_writer(o: dict):
    """A callback writing each prediction's figures into ``--figures`` (None: not asked)."""
    if o["figures"] is None:
        return None
    from atmoscope.reporting import write_prediction_figures

    def write(prediction, predictor) -> None:
        for path in write_prediction_figures(prediction, predictor, o["figures"],
                                             o["fig_format"]):
            click.echo(f"figure: {path}", err=True)

    return write


def _write_extras(pairs, o: dict, report_path: Path | None) -> None:
    """The HTML report (best model) and the figures (every model) of one spectrum."""
    from atmoscope.reporting import write_prediction_report

    figures = _figure_writer(o)
    for i, (prediction, predictor) in enumerate(pairs):
        if figures is not None:
            figures(prediction, predictor)
        if report_path is not None and i == 0:
            path = write_prediction_report(prediction, predictor, report_path)
            click.echo(f"report: {path}", err=True)


@cli.command("predict")
@click.argument("inputs", metavar="[BUNDLE] SPECTRUM...", nargs=-1, required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Catalog table, one row per spectrum (and model): .csv, .parquet, .ecsv "
              "or .fits (the last two with units and metadata).")
@click.option("--json", "as_json", is_flag=True, help="One spectrum: print one JSON object.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="One spectrum: also write a self-contained HTML report.")
@click.option("--distances", "distances_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Table of object (or file) and distance_pc [, radius_rjup] "
              "columns: a distance per object of a batch.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where a batch runs: this machine's cores, or Ray "
              "(pip install 'atmoscope[ray]'; a local Ray, or a cluster with --ray-address).")
@click.option("--ray-address", default=None, help="Ray cluster to join (e.g. 'auto', "
              "'ray://head:10001'); default: start a local Ray.")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Processes (local) or Ray actors of a batch; default: one per core.")
@click.option("--chunk-size", "chunk", type=click.IntRange(1), default=None,
              help="Spectra per chunk of a batch: the unit of work and of checkpointing "
              "(default: 32 files, or 1024 rows of a survey file).")
@_prediction_options
def predict_cmd(inputs, out, as_json, report_path, distances_path, engine, ray_address,
                workers, chunk, **o) -> None:
    """Predict parameters, with uncertainties, of observed spectra (CSV, text, FITS), or
    of survey files of many spectra each (Parquet, FITS tables; `atmoscope survey`).

    With no --model, each spectrum goes to the built-in model whose wavelengths best
    cover it (see `atmoscope models`); `predict BUNDLE SPECTRUM...` uses that bundle.
    Many spectra run as batches in chunks on every core (--engine ray: on Ray); with
    --out, finished chunks are kept beside the catalog, and rerunning a killed batch
    with the same --out resumes it. A batch exits with status 1 when no spectrum could
    be predicted."""
    # a batch's own process imports no networks (its workers do): they start sooner
    from atmoscope.observed.readers import spectrum_files
    from atmoscope.observed.survey import is_survey_file
    from atmoscope.prediction.catalog import catalog_format, predict_catalog, read_distances
    from atmoscope.prediction.ray_engine import require_engine

    model, patterns = _split_inputs(inputs, o.pop("model"))
    files = spectrum_files(patterns)
    if out is not None:
        catalog_format(out)  # refuse an unknown extension before any work
    require_engine(engine)  # a missing extra is the first thing to hear of
    options = _predictor_options(o)
    distances = read_distances(distances_path) if distances_path is not None else None
    read = _read_options(o)
    if len(files) == 1 and out is None and not is_survey_file(files[0]):
        from atmoscope.observed import read_spectrum
        from atmoscope.observed.readers import object_name
        from atmoscope.prediction import distance_for
        from atmoscope.prediction.choice import ALL
        from atmoscope.workflows import format_predictions

        spectrum = read_spectrum(files[0], **read)
        pairs, note = _model_choice(model, o).predict(
            spectrum, *distance_for(distances, files[0], object_name(spectrum)))
        if note:
            click.echo(note, err=True)
        _write_extras(pairs, o, report_path)
        predictions = [p for p, _ in pairs]
        if as_json:
            dicts = [p.to_dict() for p in predictions]
            click.echo(json.dumps({"source": str(files[0]), "note": note, "models": dicts}
                                  if model == ALL else dicts[0], indent=2))
        else:
            click.echo(format_predictions(predictions))
        return None
    if as_json or report_path is not None:
        raise click.UsageError("--json and --report take one spectrum; use --out for many")
    figures = _figure_writer(o)
    if figures is not None and engine != "local":
        raise click.UsageError("--figures are drawn by the local engine (--engine local)")
    sizes = {} if chunk is None else {"files_per_chunk": chunk, "rows_per_chunk": chunk}
    table = predict_catalog(
        model, files, distances=distances, on_prediction=figures, out=out,
        meta={"model": model or "best-covering built-in model"},
        options={k: v for k, v in options.items() if k != "device"}, engine=engine,
        workers=workers, ray_address=ray_address, device=options["device"], **sizes, **read)
    # a spectrum is a source and row (one row per model with --model all); counted with
    # pandas, not a string per row (5 s for 100,000 rows)
    key = [c for c in ("source", "row") if c in table]
    ok = len(table.loc[table.status == "ok", key].drop_duplicates())
    total = len(table[key].drop_duplicates())
    if out is None:
        click.echo(table.to_string(index=False))
    else:
        click.echo(f"wrote {out}: {ok} of {total} spectra predicted")
    if ok == 0:
        click.echo(f"error: none of the {total} spectra could be predicted (see the "
                   "error column)", err=True)
        return 1
    return None


@cli.command("report")
@click.argument("inputs", metavar="[BUNDLE] SPECTRUM", nargs=-1, required=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write (self-contained).")
@_prediction_options
def report_cmd(inputs, out, **o) -> None:
    """Predict one spectrum and write a self-contained HTML report (of the best-fitting
    model, with --model all)."""
    from atmoscope.observed import read_spectrum
    from atmoscope.workflows import format_predictions

    model, files = _split_inputs(inputs, o.pop("model"))
    if len(files) != 1:
        raise click.UsageError(f"report takes one spectrum, got {len(files)}")
    choice = _model_choice(model, o)
    pairs, note = choice.predict(read_spectrum(files[0], **_read_options(o)))
    if note:
        click.echo(note, err=True)
    click.echo(format_predictions([p for p, _ in pairs]))
    _write_extras(pairs, o, out)


# --- demo ------------------------------------------------------------------------------
@cli.command("demo")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("atmoscope-demo"), show_default=True, help="Output folder.")
@click.option("--budget", type=click.FloatRange(min=1), default=120.0, show_default=True,
              help="Training time in seconds.")
def demo(out: Path, budget: float) -> None:
    """The main job on the embedded default grid: generate it, train the default model on a
    leave-nodes-out split, print the regression report, then predict a mock observed
    spectrum with uncertainties and write its HTML report."""
    from atmoscope.workflows import run_demo

    click.echo(f"report: {run_demo(out, budget, echo=click.echo)}")


# --- entry point -----------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and, as a script, exits with) the status."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    warnings.showwarning = _show_warning
    try:
        result = cli.main(args=argv, prog_name="atmoscope", standalone_mode=False)
        status = result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        status = exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        status = 130
    except click.ClickException as exc:
        click.echo(f"error: {_one_line(exc.format_message())}", err=True)
        status = EXIT_USAGE
    except (AtmoscopeError, OSError) as exc:
        if debug:
            raise
        click.echo(f"error: {_one_line(exc)}", err=True)
        status = EXIT_USAGE
    except Exception as exc:  # a bug: still one line unless asked for more
        if debug:
            raise
        click.echo(f"error: internal error ({type(exc).__name__}: {_one_line(exc)}): a bug "
                   "in atmoscope; please report it with the traceback that --debug prints",
                   err=True)
        status = 1
    return status
