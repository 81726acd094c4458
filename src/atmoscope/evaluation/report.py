"""The regression report: a model's accuracy on a set of grid spectra, noiseless and noisy."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from atmoscope.data.grid import SpectralGrid
from atmoscope.data.noise import add_noise, noisy_observation
from atmoscope.data.targets import target_label
from atmoscope.errors import ConfigError
from atmoscope.evaluation.metrics import regression_metrics

__all__ = ["evaluate_estimator", "evaluate_on_grid", "evaluate_predictor", "format_report",
           "check_grid_matches", "scoring_grid", "scoring_rows"]


def evaluate_predictor(
    predict: Callable[[np.ndarray], np.ndarray],
    grid: SpectralGrid,
    rows: np.ndarray | None = None,
    snrs: Sequence[float] = (10, 20, 50),
    seed: int = 0,
    with_errors: bool = False,
    profile: np.ndarray | None = None,
) -> dict:
    """Score ``predict`` (flux → physical parameters in ``grid.targets`` order).

    Args:
        predict: the model's prediction function.
        grid: grid holding the test spectra.
        rows: which rows to score (default all).
        snrs: also score on copies of the spectra with Gaussian noise at these S/N
            (per pixel, σ = flux / S/N; see :func:`~atmoscope.evaluation.add_noise`).
        seed: seed of the noise draws.
        with_errors: call ``predict(noisy_flux, error)`` with the quoted errors of the
            noisy copies (:func:`~atmoscope.evaluation.metrics.noisy_observation`), for
            models that read errors; the noiseless spectra are still ``predict(flux)``.
        profile: relative-error shape of the noise (the model's training profile), or
            None for the same S/N in every pixel.

    Returns:
        ``{"n_spectra", "metrics": {target: {rmse, mae, r2, bias, ae68, ae95, n}},
        "noisy": {"snr10": {...}, ...}, "predictions": array}`` in physical units.
    """
    rows = np.arange(grid.n_spectra) if rows is None else np.asarray(rows)
    flux, truth = grid.flux[rows], grid.target_values[rows]
    predicted = predict(flux)
    report = {"n_spectra": int(len(rows)),
              "metrics": regression_metrics(truth, predicted, grid.targets), "noisy": {}}
    rng = np.random.default_rng(seed)
    for snr in snrs:
        if with_errors:
            noisy = predict(*noisy_observation(flux, snr, rng, profile))
        else:
            noisy = predict(add_noise(flux, snr if profile is None else snr / profile, rng))
        report["noisy"][f"snr{snr:g}"] = regression_metrics(truth, noisy, grid.targets)
    report["predictions"] = predicted
    return report


def evaluate_estimator(estimator, grid: SpectralGrid, rows: np.ndarray | None = None,
                       snrs: Sequence[float] = (10, 20, 50), seed: int = 0) -> dict:
    """:func:`evaluate_predictor` of a bundle or ensemble through its estimator interface:
    its ``predict``, with the quoted errors of the noisy copies when it reads errors, and
    noise shaped like its training noise (``noise_profile``)."""
    return evaluate_predictor(estimator.predict, grid, rows, snrs=snrs, seed=seed,
                              with_errors=estimator.reads_errors,
                              profile=estimator.noise_profile)


def scoring_rows(estimator, grid: SpectralGrid) -> tuple[np.ndarray, str]:
    """The estimator's own test rows when ``grid`` is its training grid, else every row;
    and a phrase saying which."""
    if grid.with_targets(estimator.targets).content_hash == estimator.grid.get("content_hash"):
        return np.asarray(estimator.split["test_rows"]), "test split of the training grid"
    return np.arange(grid.n_spectra), "all spectra (not the training grid)"


def evaluate_on_grid(estimator, grid: SpectralGrid, snrs: Sequence[float] = (10, 20, 50)
                     ) -> tuple[dict, np.ndarray]:
    """Score an estimator on a grid: its own test rows if it is the training grid, else
    all rows (:func:`scoring_rows`).

    Returns:
        The report (``report["rows"]`` says which rows) and the row indices used.

    Raises:
        ConfigError: the grid's wavelengths or parameters do not match the model's.
    """
    grid, rows, which = scoring_grid(estimator, grid)
    report = evaluate_estimator(estimator, grid, rows, snrs=snrs)
    report["rows"] = which
    return report, rows


def scoring_grid(estimator, grid: SpectralGrid) -> tuple[SpectralGrid, np.ndarray, str]:
    """The grid with the estimator's targets, the rows to score it on and a phrase saying
    which (:func:`scoring_rows`), after :func:`check_grid_matches`."""
    check_grid_matches(estimator, grid)
    grid = grid.with_targets(estimator.targets)
    return (grid, *scoring_rows(estimator, grid))


def check_grid_matches(estimator, grid: SpectralGrid) -> None:
    """Raise :class:`ConfigError` unless ``grid`` has the estimator's wavelengths and
    target columns."""
    wl = estimator.wavelength
    if grid.n_wavelengths != len(wl) or not np.allclose(grid.wavelength, wl, rtol=1e-6):
        raise ConfigError(
            f"grid wavelengths ({grid.n_wavelengths}, {grid.wavelength[0]:.4g}–"
            f"{grid.wavelength[-1]:.4g}) differ from the model's ({len(wl)}, "
            f"{wl[0]:.4g}–{wl[-1]:.4g})")
    missing = [t for t in estimator.targets if t not in grid.parameters]
    if missing:
        raise ConfigError(f"grid has no column(s) {missing} that the model predicts")


def format_report(report: dict) -> str:
    """The report as a fixed-width table for the terminal."""
    lines = [f"{'target':<12}{'RMSE':>10}{'MAE':>10}{'bias':>10}{'R²':>8}{'|err|68':>10}"
             f"{'|err|95':>10}" + "".join(f"{'RMSE ' + k[3:]:>11}" for k in report["noisy"])]
    for name, m in report["metrics"].items():
        label, unit = target_label(name)
        label = f"{label} [{unit}]" if unit else label
        noisy = "".join(f"{report['noisy'][k][name]['rmse']:>11.4g}" for k in report["noisy"])
        lines.append(f"{label:<12}{m['rmse']:>10.4g}{m['mae']:>10.4g}{m['bias']:>10.3g}"
                     f"{m['r2']:>8.4f}{m['ae68']:>10.4g}{m['ae95']:>10.4g}{noisy}")
    lines.append(f"({report['n_spectra']} spectra; 'RMSE snrN': Gaussian noise at S/N N per pixel)")
    return "\n".join(lines)
