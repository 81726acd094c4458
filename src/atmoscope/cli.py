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
              noise_snr, noise_profile, offnode, offnode_source, seed, resume, as_json,
              drop_duplicates, scale_free, ensemble, targets, wavelength_unit, flux_unit) -> None:
    """Train a model on a grid and write a bundle (weights, preprocessing, provenance)."""
    from atmoscope.data.splits import make_split
    from atmoscope.evaluation.report import format_report
    from atmoscope.training.trainer import TrainConfig
    from atmoscope.workflows import noise_profile_from_spectrum, train_ensemble, training_summary

    g = _load_grid(grid_path, targets, wavelength_unit, flux_unit, drop_duplicates)
    split = make_split(g, split_kind, seed=seed, holdout=holdout)
    n_train, n_val, n_test = split.sizes()
    click.echo(f"{g}: {split_kind} split {n_train} train / {n_val} validation / {n_test} test",
               err=as_json)
    config = TrainConfig(model=model, epochs=epochs, budget=budget, batch_size=batch_size,
                         lr=lr, noise_snr=_parse_snr_range(noise_snr), seed=seed,
                         extra_features="none" if scale_free else None,
                         noise_profile=None if noise_profile is None else
                         noise_profile_from_spectrum(noise_profile, g),
                         offnode=offnode, offnode_source=offnode_source)

    def show(path, bundle, report) -> None:
        if as_json:
            click.echo(json.dumps({k: v for k, v in report.items() if k != "predictions"},
                                  indent=2))
            return
        click.echo(training_summary(bundle))
        click.echo(format_report(report))
        click.echo(f"bundle: {path}")

    train_ensemble(g, split, config, out, ensemble, resume=resume, on_member=show)


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
    from atmoscope.evaluation.report import evaluate_on_grid, format_report
    from atmoscope.models import load_estimator
    from atmoscope.workflows import write_figures

    estimator = load_estimator(bundle_path)
    g = _load_grid(grid_path, targets, wavelength_unit, flux_unit, drop_duplicates)
    report, rows = evaluate_on_grid(estimator, g)
    if plots is not None:
        truth = g.with_targets(estimator.targets).target_values[rows]
        for path in write_figures(plots, estimator.targets, truth, report["predictions"],
                                  estimator.history if len(estimator) == 1 else None):
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
              help="Samples per spectrum and model (Monte-Carlo draws of a point model, "
              "posterior samples of a posterior); an ensemble of N pools N × this.")
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

    BUNDLE is a bundle or a folder of bundles (an ensemble). The samples are drawn exactly
    as `predict` draws them. A posterior model is also scored on Monte-Carlo draws over
    the errors of its point estimate (key "monte_carlo")."""
    import numpy as np

    from atmoscope.evaluation.calibration import calibrate_estimator
    from atmoscope.evaluation.report import scoring_grid
    from atmoscope.models import load_estimator

    estimator = load_estimator(bundle_path)
    low_high = _parse_snr_range(snr)
    if not low_high:
        raise click.BadParameter(f"expected LOW,HIGH, got {snr!r}", param_hint="--snr")
    g = _load_grid(grid_path, targets, wavelength_unit, flux_unit, drop_duplicates)
    g, rows, which = scoring_grid(estimator, g)
    report = calibrate_estimator(estimator, g, rows, n_spectra=n_spectra,
                                 n_samples=draws * len(estimator), snr_range=low_high, seed=seed)
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
    click.echo(f"{report['n_spectra']} spectra ({which}), S/N {low_high[0]:g}–{low_high[1]:g}, "
               f"{report['method']}")
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
        click.option("--samples", type=click.IntRange(2), default=1000, show_default=True,
                     help="Samples per spectrum in all, shared by the members of an ensemble: "
                     "Monte-Carlo draws over the flux errors (point models) or posterior "
                     "samples (posterior models)."),
        click.option("--draws", type=click.IntRange(1), default=None,
                     help="Samples per model instead (--samples = draws × models)."),
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


def _read_options(wave_col, flux_col, err_col, wave_unit, spec_flux_unit) -> dict:
    return {"wave_col": _column(wave_col), "flux_col": _column(flux_col),
            "err_col": _column(err_col), "wave_unit": wave_unit, "flux_unit": spec_flux_unit}


def _make_predictor(bundle_path, samples, draws, seed, distance, radius, grid_path, grid_flux,
                    allow_partial):
    from atmoscope.models import load_estimator
    from atmoscope.prediction import Predictor

    if (distance is None) != (radius is None):
        raise click.UsageError("--distance and --radius go together")
    estimator = load_estimator(bundle_path)
    n = samples if draws is None else draws * len(estimator)
    return Predictor(estimator, grid=grid_path, n_samples=n, seed=seed, distance_pc=distance,
                     radius_rjup=radius, allow_partial=allow_partial, grid_flux_kind=grid_flux)


@cli.command("predict")
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(path_type=Path))
@click.argument("spectra", metavar="FILE_OR_GLOB...", nargs=-1, required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Catalog table: .csv or .parquet, one row per spectrum.")
@click.option("--json", "as_json", is_flag=True, help="One spectrum: print one JSON object.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="One spectrum: also write a self-contained HTML report.")
@_prediction_options
def predict_cmd(bundle_path, spectra, out, as_json, report_path, samples, draws, seed, distance,
                radius, grid_path, grid_flux, allow_partial, wave_col, flux_col, err_col,
                wave_unit, spec_flux_unit) -> None:
    """Predict parameters, with uncertainties, of observed spectra (CSV, text, FITS).

    BUNDLE is a model bundle or a folder of bundles (an ensemble)."""
    from atmoscope.prediction import predict_catalog, spectrum_files, write_catalog
    from atmoscope.workflows import format_prediction

    predictor = _make_predictor(bundle_path, samples, draws, seed, distance, radius, grid_path,
                                grid_flux, allow_partial)
    read = _read_options(wave_col, flux_col, err_col, wave_unit, spec_flux_unit)
    files = spectrum_files(spectra)
    if len(files) == 1 and out is None:
        prediction = predictor.predict(files[0], **read)
        if report_path is not None:
            from atmoscope.reporting import write_prediction_report

            path = write_prediction_report(prediction, predictor, report_path)
            click.echo(f"report: {path}", err=True)
        click.echo(json.dumps(prediction.to_dict(), indent=2) if as_json
                   else format_prediction(prediction))
        return
    if as_json or report_path is not None:
        raise click.UsageError("--json and --report take one spectrum; use --out for many")
    table = predict_catalog(predictor, files, **read)
    if out is None:
        click.echo(table.to_string(index=False))
        return
    write_catalog(table, out)
    click.echo(f"wrote {out}: {int((table.status == 'ok').sum())} of {len(table)} spectra "
               "predicted")


@cli.command("report")
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(path_type=Path))
@click.argument("spectrum", type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write (self-contained).")
@_prediction_options
def report_cmd(bundle_path, spectrum, out, samples, draws, seed, distance, radius, grid_path,
               grid_flux, allow_partial, wave_col, flux_col, err_col, wave_unit,
               spec_flux_unit) -> None:
    """Predict one spectrum and write a self-contained HTML report."""
    from atmoscope.reporting import write_prediction_report
    from atmoscope.workflows import format_prediction

    predictor = _make_predictor(bundle_path, samples, draws, seed, distance, radius, grid_path,
                                grid_flux, allow_partial)
    prediction = predictor.predict(spectrum, **_read_options(wave_col, flux_col, err_col,
                                                             wave_unit, spec_flux_unit))
    click.echo(format_prediction(prediction))
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
        click.echo(f"error: internal error ({type(exc).__name__}: {_one_line(exc)}); "
                   "rerun with --debug for the traceback", err=True)
        status = 1
    return status
