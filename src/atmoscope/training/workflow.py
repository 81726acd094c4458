"""Train → evaluate → bundle, the one sequence the CLI, the demo and the benchmark share."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atmoscope.data.grid import SpectralGrid
from atmoscope.data.splits import Split
from atmoscope.errors import AtmoscopeError
from atmoscope.evaluation.report import TARGET_LABELS, evaluate_predictor
from atmoscope.training.bundle import ModelBundle
from atmoscope.training.trainer import TrainConfig, Trainer

__all__ = ["evaluate_bundle", "scoring_rows", "train_bundle", "write_figures"]


def write_figures(folder: Path, targets, truth: np.ndarray, predicted: np.ndarray,
                  history: dict | None) -> list[Path]:
    """Parity plot, residual histograms and (if given) loss curves, as PNG."""
    from atmoscope.plots import plot_loss_curves, plot_parity, plot_residuals

    names = [TARGET_LABELS.get(t, (t, ""))[0] for t in targets]
    units = [TARGET_LABELS.get(t, (t, ""))[1] for t in targets]
    paths = [plot_parity(truth, predicted, names, units, folder / "parity.png"),
             plot_residuals(truth, predicted, names, units, folder / "residuals.png")]
    if history:
        paths.append(plot_loss_curves(history, folder / "loss_curves.png"))
    return paths


def train_bundle(grid: SpectralGrid, split: Split, config: TrainConfig, out: str | Path | None,
                 *, resume: bool = False, progress: bool = True,
                 snrs: tuple[float, ...] = (10, 20, 50)) -> tuple[ModelBundle, dict]:
    """Train, score on ``split.test`` (noiseless and noisy), save the bundle and figures.

    Args:
        out: bundle directory; its checkpoint is ``<out>.checkpoint.pt`` (kept for
            ``resume`` until the bundle is written). None: keep in memory only.

    Returns:
        The bundle and the evaluation report (with the test predictions).
    """
    out = Path(out) if out is not None else None
    checkpoint = out.with_name(out.name + ".checkpoint.pt") if out is not None else None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(config, checkpoint=checkpoint, progress=progress).fit(
        grid, split, resume=resume)
    bundle = ModelBundle.from_trainer(trainer, grid, split)
    report = evaluate_predictor(bundle.predict, grid, split.test, snrs=snrs,
                                with_errors=bundle.needs_errors, profile=bundle.noise_profile)
    bundle.metrics = {k: v for k, v in report.items() if k != "predictions"}
    if out is not None:
        bundle.save(out)
        write_figures(out / "figures", grid.targets, grid.target_values[split.test],
                      report["predictions"], bundle.history)
        checkpoint.unlink(missing_ok=True)
    return bundle, report


def evaluate_bundle(bundle: ModelBundle, grid: SpectralGrid,
                    snrs: tuple[float, ...] = (10, 20, 50)) -> tuple[dict, np.ndarray]:
    """Score a bundle on a grid: its own test rows if it is the training grid, else all rows.

    Returns:
        The report (``report["rows"]`` says which rows) and the row indices used.
    """
    if grid.n_wavelengths != len(bundle.wavelength) or not np.allclose(
            grid.wavelength, bundle.wavelength, rtol=1e-6):
        raise AtmoscopeError(
            f"grid wavelengths ({grid.n_wavelengths}, {grid.wavelength[0]:.4g}–"
            f"{grid.wavelength[-1]:.4g}) differ from the model's ({len(bundle.wavelength)}, "
            f"{bundle.wavelength[0]:.4g}–{bundle.wavelength[-1]:.4g})")
    missing = [t for t in bundle.targets if t not in grid.parameters]
    if missing:
        raise AtmoscopeError(f"grid has no column(s) {missing} that the model predicts")
    grid = grid.with_targets(bundle.targets)
    rows, which = scoring_rows(bundle, grid)
    report = evaluate_predictor(bundle.predict, grid, rows, snrs=snrs,
                                with_errors=bundle.needs_errors, profile=bundle.noise_profile)
    report["rows"] = which
    return report, rows


def scoring_rows(bundle: ModelBundle, grid: SpectralGrid) -> tuple[np.ndarray, str]:
    """The bundle's own test rows when ``grid`` is its training grid, else every row;
    and a phrase saying which."""
    if grid.with_targets(bundle.targets).content_hash == bundle.grid.get("content_hash"):
        return np.asarray(bundle.split["test_rows"]), "test split of the training grid"
    return np.arange(grid.n_spectra), "all spectra (not the training grid)"
