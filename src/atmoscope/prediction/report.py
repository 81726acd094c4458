"""One spectrum's prediction as a self-contained HTML report with its figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atmoscope.evaluation.report import TARGET_LABELS
from atmoscope.prediction.predictor import Prediction, Predictor
from atmoscope.prediction.sensitivity import occlusion_sensitivity

__all__ = ["write_prediction_report"]


def _labels(targets) -> tuple[list[str], list[str]]:
    return ([TARGET_LABELS.get(t, (t, ""))[0] for t in targets],
            [TARGET_LABELS.get(t, (t, ""))[1] for t in targets])


def write_prediction_report(prediction: Prediction, predictor: Predictor,
                            path: str | Path) -> Path:
    """Parameter table, fit quality, spectrum fit with predictive bands, corner plot,
    wavelength sensitivity, the loss curves of the model, and its provenance."""
    from atmoscope.plots import plot_loss_curves
    from atmoscope.reporting import (plot_corner, plot_sensitivity, plot_spectrum_fit,
                                     write_html_report)

    p, bundle = prediction, predictor.members[0]
    names, units = _labels(p.targets)
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
                              flux_label=f"flux density [{p.spectrum.flux.unit.to_string()}]",
                              mask=~usable, title=Path(p.source).name)
    figures["Posterior samples"] = plot_corner(p.samples, names, units)
    base = predictor._network_flux(p.spectrum.flux.value, usable, bundle.wavelength)[0]
    figures["Which wavelengths matter (occlusion sensitivity)"] = plot_sensitivity(
        wl, occlusion_sensitivity(bundle, base), names, spectrum=base)
    if bundle.history.get("val_loss"):
        figures["Training history of the model"] = plot_loss_curves(bundle.history)

    summary = p.summary()
    rows = [{"name": n, "unit": un, **{k: summary[t][k] for k in
             ("mean", "std", "p2_5", "p16", "p50", "p84", "p97_5")}}
            for t, n, un in zip(p.targets, names, units, strict=True)]
    fit = {"model spectrum": "none (see notes)"} if p.fit is None else {
        "χ²": round(p.fit.chi2, 2), "degrees of freedom": p.fit.dof,
        "reduced χ²": round(p.fit.reduced_chi2, 3), "p-value": f"{p.fit.p_value:.3g}",
        "flux scale (R/d)²": f"{p.scale:.4g}"}
    if p.implied_radius_rjup is not None:
        fit["implied radius (R_Jup)"] = round(p.implied_radius_rjup, 3)
    kind = "posterior samples" if p.posterior else "Monte-Carlo draws"
    provenance = {
        "spectrum": p.source,
        "models": f"{p.n_models} × {bundle.architecture['name']}, {p.n_draws} {kind} each",
        "training grid": f"{bundle.grid.get('source')} (sha256 {bundle.grid.get('content_hash')})",
        "split": str({k: v for k, v in bundle.split.items() if k != "test_rows"}),
        "test RMSE": ", ".join(f"{n} {bundle.metrics['metrics'][t]['rmse']:.3g}"
                               for t, n in zip(p.targets, names, strict=True))
        if bundle.metrics.get("metrics") else "n/a",
        "trained": bundle.created,
        "versions": ", ".join(f"{k} {v}" for k, v in bundle.versions.items()),
    }
    return write_html_report(path, title=f"atmoscope: {Path(p.source).name}", parameters=rows,
                             fit_quality=fit, figures=figures, provenance=provenance,
                             cleaning=p.cleaning, notes=p.flags)
