"""The ``atmoscope`` command line.

Errors in input data or arguments end with exit status 2 and one line on
stderr starting ``error:``; anything else is a bug, reported in one line too
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import click

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
                        "parameter columns; gravity and temperature required).")(func)
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
    click.echo(f"content hash {s['content_hash']}")


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
def _parse_snr_range(value: str | None):
    if value is None:
        return None
    if value.lower() in ("none", "off", "0"):
        return ()
    try:
        low, high = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected LOW,HIGH (e.g. 10,1000) or none, got {value!r}",
                                 param_hint="--noise-snr") from None
    if not 0 < low <= high:
        raise click.BadParameter(f"need 0 < LOW <= HIGH, got {value!r}", param_hint="--noise-snr")
    return (low, high)


def _noise_profile_from(path: Path, g) -> tuple[float, ...]:
    """The relative-error shape of an observed spectrum, on the grid's wavelengths."""
    from atmoscope.data.augment import noise_profile
    from atmoscope.observed import clean_spectrum, read_spectrum, resample

    spectrum = read_spectrum(path)
    if spectrum.error is None:
        raise AtmoscopeError(f"{path}: no flux errors to take a noise profile from")
    on_grid = resample(clean_spectrum(spectrum)[0], g.wavelength_quantity, allow_partial=True)
    return tuple(noise_profile(on_grid.flux.value, on_grid.error.value).tolist())


@cli.command("train")
@click.option("--grid", "grid_path", required=True, type=click.Path(path_type=Path),
              help="Training grid (.csv, .csv.bz2, .parquet, ...).")
@click.option("--model", default="default", show_default=True,
              help="Architecture: default (= rescnn), telescopeml, resmlp; posterior "
              "(normalizing-flow posterior) or gaussian (Gaussian posterior; with "
              "--ensemble N a deep ensemble).")
@click.option("--split", "split_kind", type=click.Choice(["random", "nodes"]), default="nodes",
              show_default=True, help="random: TelescopeML's row split; nodes: hold out grid nodes.")
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
@_grid_options
def train_cmd(grid_path, model, split_kind, holdout, out, epochs, budget, batch_size, lr,
              noise_snr, noise_profile, offnode, offnode_source, seed, resume, as_json, drop_duplicates, scale_free, ensemble, targets,
              wavelength_unit, flux_unit) -> None:
    """Train a model on a grid and write a bundle (weights, preprocessing, provenance)."""
    from atmoscope.data.splits import make_split
    from atmoscope.evaluation.report import format_report
    from atmoscope.training.trainer import TrainConfig
    from atmoscope.training.workflow import train_bundle

    g = _load_grid(grid_path, targets, wavelength_unit, flux_unit, drop_duplicates)
    split = make_split(g, split_kind, seed=seed, holdout=holdout)
    n_train, n_val, n_test = split.sizes()
    click.echo(f"{g}: {split_kind} split {n_train} train / {n_val} validation / {n_test} test",
               err=as_json)
    profile = None if noise_profile is None else _noise_profile_from(noise_profile, g)
    for member in range(ensemble):
        config = TrainConfig(model=model, epochs=epochs, budget=budget, batch_size=batch_size,
                             lr=lr, noise_snr=_parse_snr_range(noise_snr), seed=seed + member,
                             extra_features="none" if scale_free else None,
                             noise_profile=profile, offnode=offnode,
                             offnode_source=offnode_source)
        target = out if ensemble == 1 else out / f"member-{member}"
        bundle, report = train_bundle(g, split, config, target, resume=resume)
        t = bundle.training
        if as_json:
            click.echo(json.dumps({k: v for k, v in report.items() if k != "predictions"},
                                  indent=2))
            continue
        click.echo(f"trained {t['model']} for {t['epochs_run']} epochs in "
                   f"{t['train_seconds']:.0f} s (best epoch {t['best_epoch'] + 1}; stopped: "
                   f"{t['stopped_because']})")
        click.echo(format_report(report))
        click.echo(f"bundle: {target}")


@cli.command("evaluate")
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(path_type=Path))
@click.option("--grid", "grid_path", required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for parity, residual and loss-curve figures.")
@click.option("--drop-duplicates", type=click.Choice(["first", "none"]), default="none",
              show_default=True, help="As for train (the same choice finds the same test split).")
@_grid_options
def evaluate_cmd(bundle_path, grid_path, as_json, plots, drop_duplicates, targets,
                 wavelength_unit, flux_unit) -> None:
    """Regression report of a bundle on a grid (its test split if it is the training grid)."""
    from atmoscope.evaluation.report import format_report
    from atmoscope.training.bundle import load_model
    from atmoscope.training.workflow import evaluate_bundle, write_figures

    bundle = load_model(bundle_path)
    g = _load_grid(grid_path, targets, wavelength_unit, flux_unit, drop_duplicates)
    report, rows = evaluate_bundle(bundle, g)
    if plots is not None:
        truth = g.with_targets(bundle.targets).target_values[rows]
        for path in write_figures(plots, bundle.targets, truth, report["predictions"],
                                  bundle.history):
            click.echo(f"figure: {path}", err=as_json)
    if as_json:
        click.echo(json.dumps({k: v for k, v in report.items() if k != "predictions"}, indent=2))
        return
    click.echo(f"{bundle_path} on {grid_path}: {report['rows']}")
    click.echo(format_report(report))


@cli.command("calibrate")
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(path_type=Path))
@click.option("--grid", "grid_path", required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--n-spectra", type=click.IntRange(10), default=500, show_default=True)
@click.option("--draws", type=click.IntRange(2), default=100, show_default=True,
              help="Monte-Carlo draws per spectrum and model; for posterior models also "
              "the posterior samples per spectrum (shared among ensemble members).")
@click.option("--snr", default="5,100", show_default=True, help="S/N range LOW,HIGH.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Coverage curves and rank histograms (PNG or PDF).")
@click.option("--drop-duplicates", type=click.Choice(["first", "none"]), default="none",
              show_default=True, help="As for train (the same choice finds the same test split).")
@_grid_options
def calibrate_cmd(bundle_path, grid_path, as_json, n_spectra, draws, snr, seed, plot_path,
                  drop_duplicates, targets, wavelength_unit, flux_unit) -> None:
    """Coverage of a model's uncertainties on noisy held-out spectra.

    BUNDLE is a bundle or a folder of bundles (an ensemble). A posterior model is scored
    on its posterior samples and, for comparison, on Monte-Carlo draws over the errors
    of its point estimate (key "monte_carlo"); a point model on the Monte-Carlo draws."""
    import numpy as np

    from atmoscope.evaluation.calibration import (coverage_report, held_out_observations,
                                                  monte_carlo_sampler)
    from atmoscope.prediction import load_ensemble, sample_ensemble
    from atmoscope.training.workflow import scoring_rows

    members = load_ensemble(bundle_path)
    low_high = _parse_snr_range(snr)
    if not low_high:
        raise click.BadParameter(f"expected LOW,HIGH, got {snr!r}", param_hint="--snr")
    first = members[0]
    g = _load_grid(grid_path, targets, wavelength_unit, flux_unit, drop_duplicates)
    g = g.with_targets(first.targets)
    rows, which = scoring_rows(first, g)
    obs = held_out_observations(g, rows, n_spectra=n_spectra, snr_range=low_high, seed=seed,
                                profile=first.noise_profile)
    mc = monte_carlo_sampler(
        lambda flux, error=None: np.concatenate([m.predict(flux, error) for m in members]),
        draws, len(members), seed=seed, with_errors=first.needs_errors)
    names = list(g.targets)
    if first.is_posterior:
        posterior = sample_ensemble(members, obs["observed"], obs["error"], draws, seed)
        report = coverage_report(posterior, obs["truth"], names)
        method = (f"posterior samples ({len(members)} model(s) × "
                  f"{posterior.shape[1] // len(members)})")
        comparison = coverage_report(mc(obs["observed"], obs["error"]), obs["truth"], names)
        report["monte_carlo"] = {k: comparison[k] for k in ("coverage", "joint", "parameters")}
    else:
        report = coverage_report(mc(obs["observed"], obs["error"]), obs["truth"], names)
        method = f"Monte-Carlo draws ({len(members)} model(s) × {draws})"
    report.update(snr_range=list(low_high), method=method)
    if plot_path is not None:
        from atmoscope.evaluation.report import TARGET_LABELS
        from atmoscope.plots import plot_calibration

        labels = [TARGET_LABELS.get(t, (t, ""))[0] for t in first.targets]
        click.echo(f"figure: {plot_calibration(report, labels, plot_path)}", err=as_json)
    result = {k: v for k, v in report.items() if not isinstance(v, np.ndarray)}
    result["rows"] = which
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{report['n_spectra']} spectra ({which}), S/N {low_high[0]:g}–{low_high[1]:g}, "
               f"{method}")
    mc_head = f"{'MC-only 68 %':>14}{'MC-only 95 %':>14}" if "monte_carlo" in report else ""
    click.echo(f"{'parameter':<14}{'68 % covers':>12}{'95 % covers':>12}{mc_head}")
    for name, c in report["parameters"].items():
        line = f"{name:<14}{c['coverage_68']:>12.1%}{c['coverage_95']:>12.1%}"
        if "monte_carlo" in report:
            m = report["monte_carlo"]["parameters"][name]
            line += f"{m['coverage_68']:>14.1%}{m['coverage_95']:>14.1%}"
        click.echo(line)


# --- predict / report -------------------------------------------------------------------
def _prediction_options(func):
    options = [
        click.option("--draws", type=click.IntRange(0), default=100, show_default=True,
                     help="Monte-Carlo draws over the flux errors per model (point models)."),
        click.option("--samples", type=click.IntRange(2), default=1000, show_default=True,
                     help="Posterior samples in all (posterior models; shared by members)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--distance", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Distance in pc (with --radius: scale to surface flux)."),
        click.option("--radius", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Radius in R_Jup."),
        click.option("--grid", "grid_path", type=click.Path(path_type=Path), default=None,
                     help="Training grid for the model spectrum (default: the bundle's)."),
        click.option("--grid-flux", type=click.Choice(["fnu", "flambda"]), default=None,
                     help="Kind of flux density in the grid, if its unit was not recorded."),
        click.option("--allow-partial", is_flag=True,
                     help="Mask model pixels the spectrum does not cover instead of refusing."),
        click.option("--wave-col", default=None, help="Wavelength column (name or 0-based index)."),
        click.option("--flux-col", default=None, help="Flux column (name or index)."),
        click.option("--err-col", default=None, help="Error column (name or index)."),
        click.option("--wave-unit", default=None, help="Wavelength unit if the file does not say."),
        click.option("--spectrum-flux-unit", "spec_flux_unit", default=None,
                     help="Flux unit if the file does not say (e.g. 'erg/s/cm2/AA', 'Jy')."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _column(value: str | None):
    return int(value) if value is not None and value.isdigit() else value


def _make_predictor(bundle_path, draws, samples, seed, distance, radius, grid_path, grid_flux,
                    allow_partial):
    from atmoscope.prediction import Predictor, load_ensemble

    if (distance is None) != (radius is None):
        raise click.UsageError("--distance and --radius go together")
    return Predictor(load_ensemble(bundle_path), grid=grid_path, n_draws=draws,
                     n_samples=samples, seed=seed,
                     distance_pc=distance, radius_rjup=radius, allow_partial=allow_partial,
                     grid_flux_kind=grid_flux)


@cli.command("predict")
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(path_type=Path))
@click.argument("spectra", metavar="FILE_OR_GLOB...", nargs=-1, required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Catalog table: .csv or .parquet, one row per spectrum.")
@click.option("--json", "as_json", is_flag=True, help="One spectrum: print one JSON object.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="One spectrum: also write a self-contained HTML report.")
@_prediction_options
def predict_cmd(bundle_path, spectra, out, as_json, report_path, draws, samples, seed, distance,
                radius,
                grid_path, grid_flux, allow_partial, wave_col, flux_col, err_col, wave_unit,
                spec_flux_unit) -> None:
    """Predict parameters, with uncertainties, of observed spectra (CSV, text, FITS).

    BUNDLE is a model bundle or a folder of bundles (an ensemble)."""
    from atmoscope.prediction import predict_catalog, spectrum_files

    predictor = _make_predictor(bundle_path, draws, samples, seed, distance, radius, grid_path,
                                grid_flux, allow_partial)
    read = {"wave_col": _column(wave_col), "flux_col": _column(flux_col),
            "err_col": _column(err_col), "wave_unit": wave_unit, "flux_unit": spec_flux_unit}
    files = spectrum_files(spectra)
    if len(files) == 1 and out is None:
        prediction = predictor.predict(files[0], **read)
        if report_path is not None:
            from atmoscope.prediction.report import write_prediction_report

            path = write_prediction_report(prediction, predictor, report_path)
            click.echo(f"report: {path}", err=True)
        if as_json:
            click.echo(json.dumps(prediction.to_dict(), indent=2))
            return
        _echo_prediction(prediction)
        return
    if as_json or report_path is not None:
        raise click.UsageError("--json and --report take one spectrum; use --out for many")
    table = predict_catalog(predictor, files, **read)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".parquet":
            table.to_parquet(out, index=False)
        else:
            table.to_csv(out, index=False)
        click.echo(f"wrote {out}: {int((table.status == 'ok').sum())} of {len(table)} spectra "
                   "predicted")
    else:
        click.echo(table.to_string(index=False))


def _echo_prediction(prediction) -> None:
    from atmoscope.evaluation.report import TARGET_LABELS

    kind = "posterior samples" if prediction.posterior else "Monte-Carlo draws"
    click.echo(f"{prediction.source}: {prediction.n_models} model(s) × "
               f"{prediction.n_draws} {kind}")
    click.echo(f"{'parameter':<14}{'mean':>10}{'std':>9}{'2.5%':>10}{'16%':>10}{'50%':>10}"
               f"{'84%':>10}{'97.5%':>10}")
    for name, s in prediction.summary().items():
        label, unit = TARGET_LABELS.get(name, (name, ""))
        label = f"{label} [{unit}]" if unit else label
        click.echo(f"{label:<14}{s['mean']:>10.4g}{s['std']:>9.3g}" + "".join(
            f"{s[k]:>10.4g}" for k in ("p2_5", "p16", "p50", "p84", "p97_5")))
    if prediction.fit is not None:
        f = prediction.fit
        click.echo(f"χ² = {f.chi2:.1f} for {f.dof} degrees of freedom (reduced {f.reduced_chi2:.2f}, "
                   f"p = {f.p_value:.2g}); flux scale {prediction.scale:.4g}")
    if prediction.implied_radius_rjup is not None:
        click.echo(f"implied radius: {prediction.implied_radius_rjup:.3f} R_Jup")
    for flag in prediction.flags:
        click.echo(f"note: {flag}")


@cli.command("report")
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(path_type=Path))
@click.argument("spectrum", type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write (self-contained).")
@_prediction_options
def report_cmd(bundle_path, spectrum, out, draws, samples, seed, distance, radius, grid_path,
               grid_flux,
               allow_partial, wave_col, flux_col, err_col, wave_unit, spec_flux_unit) -> None:
    """Predict one spectrum and write a self-contained HTML report."""
    from atmoscope.prediction.report import write_prediction_report

    predictor = _make_predictor(bundle_path, draws, samples, seed, distance, radius, grid_path,
                                grid_flux, allow_partial)
    prediction = predictor.predict(spectrum, wave_col=_column(wave_col),
                                   flux_col=_column(flux_col), err_col=_column(err_col),
                                   wave_unit=wave_unit, flux_unit=spec_flux_unit)
    _echo_prediction(prediction)
    click.echo(f"report: {write_prediction_report(prediction, predictor, out)}")


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
    from atmoscope.data import read_grid, write_grid
    from atmoscope.data.splits import node_split
    from atmoscope.evaluation.report import format_report
    from atmoscope.plots import plot_grid_spectra
    from atmoscope.synthetic import F_NU_UNIT, synthetic_grid
    from atmoscope.training.trainer import TrainConfig
    from atmoscope.training.workflow import train_bundle

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    generated = synthetic_grid()
    elapsed = time.perf_counter() - start
    path = write_grid(generated, out / "synthetic_grid.csv")
    g = read_grid(path, flux_unit=F_NU_UNIT)  # read back: the file is what users get
    click.echo(f"embedded grid: {g.n_spectra} spectra × {g.n_wavelengths} wavelengths "
               f"generated in {elapsed:.2f} s, written to {path}")
    click.echo("(an analytic stand-in for demos and tests, not a physical model)")
    for name, values in g.unique_values().items():
        click.echo(f"  {name:<12} {values.size:>3} nodes, {values.min():g} … {values.max():g}")
    click.echo(f"  duplicate spectra: {g.n_duplicate_spectra}")
    click.echo(f"  content hash: {g.content_hash}")
    click.echo(f"figure: {plot_grid_spectra(g, color_by='temperature', path=out / 'grid_spectra.png')}")

    split = node_split(g)
    held = split.description["holdout"]["temperature"]
    click.echo(f"\ntraining the default model for {budget:g} s; test = every spectrum at the "
               f"{len(held)} held-out Teff nodes ({', '.join(f'{t:g}' for t in held)} K): "
               f"{len(split.test)} spectra never seen in training")
    bundle, report = train_bundle(g, split, TrainConfig(budget=budget), out / "model")
    t = bundle.training
    click.echo(f"trained for {t['epochs_run']} epochs in {t['train_seconds']:.0f} s "
               f"(stopped: {t['stopped_because']})")
    click.echo(format_report(report))
    click.echo(f"model bundle: {out / 'model'} (figures in {out / 'model' / 'figures'})")

    # "predict my spectrum": a mock observation between the grid nodes, at Earth
    from atmoscope.prediction import Predictor
    from atmoscope.prediction.report import write_prediction_report

    truth = {"gravity": 4.6, "temperature": 830.0, "c_o_ratio": 1.2, "metallicity": 0.15}
    observed = _mock_observation(truth, out / "mock_T_dwarf.ecsv")
    click.echo(f"\nmock observation {observed} (S/N 30, R ≈ 300, d = 10 pc, R = 1 R_Jup); "
               f"truth: " + ", ".join(f"{k} {v:g}" for k, v in truth.items()))
    predictor = Predictor(bundle, grid=g, n_draws=100, distance_pc=10.0, radius_rjup=1.0)
    prediction = predictor.predict(observed)
    _echo_prediction(prediction)
    click.echo(f"report: {write_prediction_report(prediction, predictor, out / 'report.html')}")


def _mock_observation(params: dict, path: Path) -> Path:
    """A noisy analytic spectrum at Earth (d = 10 pc, R = 1 R_Jup), written as ECSV."""
    import astropy.units as u
    import numpy as np
    from astropy.table import Table

    from atmoscope.synthetic import synthetic_spectra

    wavelength = np.geomspace(0.85, 2.56, 400)
    dilution = float(((1 * u.R_jup) / (10 * u.pc)).decompose() ** 2)
    flux = synthetic_spectra(params, wavelength)[0] * dilution
    error = flux / 30.0 + 0.01 * flux.max() / 30.0  # S/N 30 per pixel plus a noise floor
    noisy = flux + np.random.default_rng(1).standard_normal(flux.size) * error
    unit = u.erg / u.s / u.cm**2 / u.Hz
    Table({"wavelength": wavelength * u.um, "flux": noisy * unit, "error": error * unit}
          ).write(path, format="ascii.ecsv", overwrite=True)
    return path


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
        click.echo(f"error: internal error ({type(exc).__name__}: {_one_line(exc)}); "
                   "rerun with --debug for the traceback", err=True)
        status = 1
    return status
