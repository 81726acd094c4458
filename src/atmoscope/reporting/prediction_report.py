"""One spectrum's prediction as a self-contained HTML report with its figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from atmoscope.data.targets import target_labels
from atmoscope.prediction.guards import FLAGS
from atmoscope.reporting.html import write_html_report
from atmoscope.reporting.prediction_figures import (
    plot_corner,
    plot_sensitivity,
    plot_spectrum_fit,
)
from atmoscope.reporting.style import FIGURE_FORMATS, flux_axis_label
from atmoscope.reporting.training_figures import plot_loss_curves

if TYPE_CHECKING:  # the figures alone must not pull in the models (torch)
    from atmoscope.prediction.predictor import Prediction, Predictor

__all__ = ["write_prediction_figures", "write_prediction_report"]

#: File name of each figure of :func:`write_prediction_figures`, by caption start.
_FIGURE_NAMES = {"Observed": "spectrum_fit", "Which": "sensitivity", "Training": "training",
                 "Posterior": "corner", "Monte": "corner"}


def _safe(name: str) -> str:
    """``name`` fit for a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _figures(p: Prediction, predictor: Predictor, names, units) -> dict:
    """Caption → Figure: spectrum fit (with a model spectrum), corner plot, sensitivity
    and (with a validation history) the loss curves of the first model."""
    from atmoscope.models.sampling import network_flux, usable_pixels
    from atmoscope.prediction.sensitivity import occlusion_sensitivity

    estimator = predictor.estimator
    wl = p.spectrum.wavelength.to_value("um")
    flux, usable = p.spectrum.flux.value, p.spectrum.mask
    error = p.spectrum.error.value if p.spectrum.error is not None else np.zeros_like(flux)
    figures = {}
    if p.model_flux is not None:
        residuals = np.where(usable & (error > 0), (flux - p.model_flux) / np.where(
            error > 0, error, 1), np.nan)
        band68 = p.band68 if p.band68 is not None else np.stack([p.model_flux] * 2)
        band95 = p.band95 if p.band95 is not None else np.stack([p.model_flux] * 2)
        figures["Observed spectrum and model (predictive 68 % / 95 % bands)"] = \
            plot_spectrum_fit(wl, flux, error, p.model_flux, band68, band95, residuals,
                              flux_label=flux_axis_label(p.spectrum.flux.unit),
                              mask=~usable, title=Path(p.source).name)
    figures[p.sample_label[0].upper() + p.sample_label[1:]] = plot_corner(p.samples, names, units)
    # what the networks read: surface flux for flux-level models, pixels filled
    net = predictor.network_spectrum(p.spectrum).flux.value
    base = network_flux(net, usable_pixels(net, usable), estimator.wavelength)[0]
    figures["Which wavelengths matter (occlusion sensitivity)"] = plot_sensitivity(
        wl, occlusion_sensitivity(estimator, base), names, spectrum=base)
    if estimator.history.get("val_loss"):
        figures["Training history of the model"] = plot_loss_curves(estimator.history)
    return figures


def _fit_quality(p: Prediction, predictor: Predictor) -> dict:
    """χ², degrees of freedom, p-value, flux scale and implied radius of the model spectrum."""
    scale = ("flux scale (R/d)²" if predictor.estimator.grid.get("flux_scale", "absolute")
             == "absolute" else "flux scale (observed ÷ model, grid in its own arbitrary unit)")
    fit = {"model spectrum": "none (see notes)"} if p.fit is None else {
        "χ²": round(p.fit.chi2, 2), "degrees of freedom": p.fit.dof,
        "reduced χ²": round(p.fit.reduced_chi2, 3), "p-value": f"{p.fit.p_value:.3g}",
        scale: f"{p.scale:.4g}"}
    if p.implied_radius_rjup is not None:
        fit["implied radius (R_Jup)"] = round(p.implied_radius_rjup, 3)
    if p.best_fit is not None:
        labels = dict(zip(p.targets, target_labels(p.targets)[0], strict=True))
        fit["best-fit model (χ² minimum)"] = ", ".join(
            f"{labels.get(n, n)} {v:.4g}" for n, v in p.best_fit.items())
    if p.fit is not None:
        fit["error inflation (poor fit)"] = f"×{p.error_inflation:.3g}"
    if p.novelty is not None:
        fit["novelty score (> 1: unlike the training spectra)"] = f"{p.novelty:.2f}"
    if p.edge_fraction is not None:
        fit["samples at or beyond the grid's edge"] = f"{100 * p.edge_fraction:.1f} %"
    return fit


def _provenance(p: Prediction, predictor: Predictor, names) -> dict:
    """Where the prediction comes from: spectrum, models, training grid, split, scores."""
    bundle = predictor.estimator  # its metadata is its members'
    return {
        "spectrum": p.source,
        "model": p.model or "—",
        "networks": f"{p.n_models} × {bundle.architecture['name']}, "
                  f"{p.n_draws} {p.sample_label} each",
        "training grid": f"{bundle.grid.get('source')} "
                         f"(sha256 {bundle.grid.get('content_hash')})",
        "split": str({k: v for k, v in bundle.split.items() if k != "test_rows"}),
        "test RMSE": ", ".join(f"{n} {bundle.metrics['metrics'][t]['rmse']:.3g}"
                               for t, n in zip(p.targets, names, strict=True))
        if bundle.metrics.get("metrics") else "n/a",
        "trained": bundle.created,
        "versions": ", ".join(f"{k} {v}" for k, v in bundle.versions.items()),
    }


def write_prediction_report(prediction: Prediction, predictor: Predictor,
                            path: str | Path) -> Path:
    """One prediction as a self-contained HTML page.

    The page holds the parameter table, the fit quality, the spectrum fit with its
    predictive bands, a corner plot of the samples, the wavelength sensitivity, the
    loss curves of the model and its provenance.

    Args:
        prediction: the prediction to report.
        predictor: the predictor that made it (its first member supplies the model
            spectrum for the sensitivity, the training history and the provenance).
        path: the ``.html`` file to write (parent folders are created).

    Returns:
        The path written.
    """
    p = prediction
    names, units = target_labels(p.targets)
    figures = _figures(p, predictor, names, units)
    summary = p.summary()
    rows = [{"name": n, "unit": un, **{k: summary[t][k] for k in
             ("mean", "std", "p2_5", "p16", "p50", "p84", "p97_5")}}
            for t, n, un in zip(p.targets, names, units, strict=True)]
    return write_html_report(path, title=f"atmoscope: {Path(p.source).name}", parameters=rows,
                             fit_quality=_fit_quality(p, predictor), figures=figures,
                             provenance=_provenance(p, predictor, names),
                             cleaning=p.cleaning, notes=p.notes, sample_label=p.sample_label,
                             flags={f: FLAGS[f] for f in p.flags})


def write_prediction_figures(prediction: Prediction, predictor: Predictor,
                             folder: str | Path, fmt: str = "png") -> list[Path]:
    """The report's figures as paper-ready files: ``<object>_spectrum_fit.<fmt>``,
    ``_corner``, ``_sensitivity`` (and ``_training``) in ``folder``.

    Args:
        fmt: ``png``, ``pdf`` or ``svg``.

    Returns:
        The paths written.
    """
    from atmoscope.errors import ConfigError
    from atmoscope.reporting.style import save_figure

    if fmt not in FIGURE_FORMATS:
        raise ConfigError(f"figure format must be one of {', '.join(FIGURE_FORMATS)}, "
                          f"not {fmt!r}")
    p = prediction
    names, units = target_labels(p.targets)
    stem = _safe(p.name) + (f"_{_safe(Path(p.model).name)}" if p.model else "")
    paths = []
    for caption, figure in _figures(p, predictor, names, units).items():
        kind = next(v for k, v in _FIGURE_NAMES.items() if caption.startswith(k))
        paths.append(save_figure(figure, Path(folder) / f"{stem}_{kind}.{fmt}", dpi=200))
    return paths
