"""Figures of a grid and of a trained model: grid spectra, parity, residuals, loss and
calibration curves.

Uses matplotlib's object API (no pyplot), so nothing global changes on import. Every
function saves to ``path`` (PNG, PDF or SVG by its extension) and returns the path, or
returns the matplotlib Figure when ``path`` is None.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atmoscope.data.grid import SpectralGrid
from atmoscope.errors import ConfigError
from atmoscope.reporting.style import (
    MINUS,
    OKABE_ITO,
    axis_label,
    flux_axis_label,
    format_number,
    format_power_of_ten,
    format_with_unit,
    names_and_units,
    save_figure,
)

__all__ = ["PARITY_HEXBIN_THRESHOLD", "plot_calibration", "plot_grid_spectra",
           "plot_loss_curves", "plot_parity", "plot_residuals"]

#: Above this many points per panel, the parity plot switches from a scatter to a hexbin.
PARITY_HEXBIN_THRESHOLD = 5000


# --------------------------------------------------------------------------- #
# Grid spectra
# --------------------------------------------------------------------------- #

def _slice_through_grid(grid: SpectralGrid, color_by: str, max_spectra: int) -> np.ndarray:
    """Rows that vary ``color_by`` with every other parameter held at its middle node."""
    keep = np.ones(grid.n_spectra, dtype=bool)
    for name, column in grid.parameters.items():
        if name == color_by:
            continue
        nodes = np.unique(column)
        keep &= column.to_numpy() == nodes[(len(nodes) - 1) // 2]
    rows = np.flatnonzero(keep)
    if rows.size < 2:  # irregular grid: no such slice, show a seeded sample instead
        rows = np.random.default_rng(0).permutation(grid.n_spectra)
    return np.sort(rows[:max_spectra])


def plot_grid_spectra(
    grid: SpectralGrid,
    color_by: str = "temperature",
    path: str | Path | None = None,
    max_spectra: int = 200,
):
    """Grid spectra on a log flux axis, coloured by one parameter.

    Other parameters are held at their middle node, so the colour sequence shows
    that parameter's own effect.

    Args:
        grid: the grid to draw from.
        color_by: parameter that sets the colour (viridis, colour-blind safe).
        path: where to save the figure (PNG/PDF by extension); None to only return it.
        max_spectra: at most this many spectra are drawn.

    Returns:
        The saved path, or the matplotlib Figure when ``path`` is None.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    if color_by not in grid.parameters:
        raise ConfigError(f"no parameter {color_by!r}; the grid has {list(grid.parameters)}")
    rows = _slice_through_grid(grid, color_by, max_spectra)
    values = grid.parameters[color_by].to_numpy()[rows]
    norm = Normalize(values.min(), values.max())
    cmap = colormaps["viridis"]
    fig = Figure(figsize=(8, 4.8), layout="constrained")
    ax = fig.add_subplot()
    for row, value in zip(rows, values, strict=True):
        ax.plot(grid.wavelength, grid.flux[row], color=cmap(norm(value)), lw=0.9)
    ax.set_yscale("log")
    ax.set_xlabel(f"wavelength [{grid.wavelength_unit.to_string('unicode')}]")
    ax.set_ylabel(flux_axis_label(grid.flux_unit))
    held = ", ".join(f"{n} = {grid.parameters[n].iloc[rows[0]]:g}"
                     for n in grid.parameters if n != color_by)
    ax.set_title(f"{len(rows)} spectra of {Path(grid.source or 'grid').name}"
                 + (f" ({held})" if held else ""), fontsize=9)
    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label=color_by)
    return save_figure(fig, path)


# --------------------------------------------------------------------------- #
# Model evaluation: parity and residuals
# --------------------------------------------------------------------------- #

def _targets(y_true, y_pred, names, units) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Validate and return ``(y_true, y_pred, names, units)`` as (n, k) float arrays and lists."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.ndim == 1:
        y_true = y_true[:, None]
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    if y_true.ndim != 2 or y_true.shape != y_pred.shape:
        raise ConfigError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must both be (n, k)")
    names, units = names_and_units(names, units, y_true.shape[1], "targets")
    return y_true, y_pred, names, units


def _panel_grid(k: int, panel_size: float = 3.6, max_cols: int = 3, aspect: float = 1.0):
    """A constrained-layout Figure with exactly ``k`` axes laid out in rows of ``max_cols``."""
    from matplotlib.figure import Figure

    ncols = min(k, max_cols)
    nrows = -(-k // ncols)
    fig = Figure(figsize=(panel_size * aspect * ncols + 0.4, panel_size * nrows + 0.3),
                 layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[k:]:
        ax.remove()
    return fig, list(axes[:k])


def _parity_range(t: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Shared, padded axis range of the true and predicted values of one panel."""
    if t.size:
        lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    else:
        lo, hi = 0.0, 1.0
    pad = 0.04 * (hi - lo) if hi > lo else max(abs(lo) * 0.05, 0.5)
    return lo - pad, hi + pad


def _parity_stats(t: np.ndarray, p: np.ndarray, unit: str) -> str:
    """R², RMSE, bias and count of one panel, one per line."""
    from sklearn.metrics import r2_score

    n = t.size
    r2 = float(r2_score(t, p)) if n >= 2 else float("nan")
    resid = p - t
    rmse = float(np.sqrt(np.mean(resid**2))) if n else float("nan")
    bias = float(np.mean(resid)) if n else float("nan")
    r2_text = f"{r2:.3f}".replace("-", MINUS) if np.isfinite(r2) else "n/a"
    return "\n".join([
        f"R² = {r2_text}",
        f"RMSE = {format_with_unit(rmse, unit)}",
        f"bias = {format_with_unit(bias, unit, scale=rmse)}",
        f"n = {n:,}",
    ])


def plot_parity(y_true, y_pred, names, units=None, path: str | Path | None = None):
    """Predicted against true values, one panel per target, with the 1:1 line.

    Each panel is annotated with R² (``sklearn.metrics.r2_score(y_true, y_pred)``),
    RMSE and bias (mean of pred − true). Up to 5,000 points per panel are drawn as
    small semi-transparent dots; more as a hexbin density (viridis, log counts).
    Rows where either value is not finite are left out of that target's panel.

    Args:
        y_true: true values, shape (n, k) (or (n,) for one target).
        y_pred: predicted values, same shape.
        names: the k target names, for axis labels and titles.
        units: the k unit strings (e.g. ``["K", "dex", ""]``); ``""`` for dimensionless.
        path: where to save the figure (PNG/PDF by extension); None to only return it.

    Returns:
        The saved path, or the matplotlib Figure when ``path`` is None.
    """
    y_true, y_pred, names, units = _targets(y_true, y_pred, names, units)
    dense = np.count_nonzero(np.isfinite(y_true) & np.isfinite(y_pred), axis=0)
    fig, axes = _panel_grid(y_true.shape[1],
                            aspect=1.18 if dense.max() > PARITY_HEXBIN_THRESHOLD else 1.0)
    for j, ax in enumerate(axes):
        ok = np.isfinite(y_true[:, j]) & np.isfinite(y_pred[:, j])
        t, p = y_true[ok, j], y_pred[ok, j]
        n = t.size
        lo, hi = _parity_range(t, p)
        if n > PARITY_HEXBIN_THRESHOLD:
            hb = ax.hexbin(t, p, gridsize=60, bins="log", mincnt=1, cmap="viridis",
                           extent=(lo, hi, lo, hi), linewidths=0, rasterized=True)
            fig.colorbar(hb, ax=ax, label="points per bin", shrink=0.8, pad=0.02)
        elif n:
            alpha = float(np.clip(30 / np.sqrt(n), 0.15, 0.8))
            ax.scatter(t, p, s=7, alpha=alpha, color=OKABE_ITO["blue"], edgecolors="none",
                       rasterized=True)
        ax.plot([lo, hi], [lo, hi], color=OKABE_ITO["black"], lw=1, ls="--", zorder=3,
                label="1:1")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel(axis_label(f"true {names[j]}", units[j]))
        ax.set_ylabel(axis_label(f"predicted {names[j]}", units[j]))
        ax.set_title(names[j])
        ax.grid(True, color="0.9", lw=0.6, zorder=0)
        ax.set_axisbelow(True)
        ax.text(0.04, 0.96, _parity_stats(t, p, units[j]), transform=ax.transAxes, ha="left",
                va="top", fontsize=9, zorder=4, gid="parity-stats",
                bbox=dict(boxstyle="round,pad=0.35", fc="white", ec="0.7", alpha=0.85))
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    return save_figure(fig, path)


def plot_residuals(y_true, y_pred, names, units=None, path: str | Path | None = None):
    """Histogram of residuals (pred − true), one panel per target.

    Vertical lines mark zero and ±q68, the 68 % quantile of ``|residual|``. The histogram
    spans the central 99 % of residuals (widened to show the lines); the count of
    residuals beyond that range is noted in the panel.

    Args:
        y_true: true values, shape (n, k) (or (n,) for one target).
        y_pred: predicted values, same shape.
        names: the k target names.
        units: the k unit strings; ``""`` for dimensionless.
        path: where to save the figure (PNG/PDF by extension); None to only return it.

    Returns:
        The saved path, or the matplotlib Figure when ``path`` is None.
    """
    y_true, y_pred, names, units = _targets(y_true, y_pred, names, units)
    fig, axes = _panel_grid(y_true.shape[1], panel_size=3.6)
    for j, ax in enumerate(axes):
        resid = y_pred[:, j] - y_true[:, j]
        resid = resid[np.isfinite(resid)]
        n = resid.size
        q68 = float(np.quantile(np.abs(resid), 0.68)) if n else float("nan")
        if n:
            lo, hi = (float(v) for v in np.quantile(resid, [0.005, 0.995]))
            lo, hi = min(lo, -q68, 0.0), max(hi, q68, 0.0)
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            pad = 0.03 * (hi - lo)
            lo, hi = lo - pad, hi + pad
            bins = int(np.clip(np.sqrt(n), 10, 80))
            ax.hist(resid, bins=bins, range=(lo, hi), color=OKABE_ITO["blue"], alpha=0.75,
                    edgecolor="white", linewidth=0.3)
            ax.set_xlim(lo, hi)
            outside = int(np.count_nonzero((resid < lo) | (resid > hi)))
            note = f"n = {n:,}" + (f", {outside:,} outside range" if outside else "")
        else:
            note = "no finite residuals"
        ax.axvline(0.0, color=OKABE_ITO["black"], lw=1.2, label="zero")
        if np.isfinite(q68):
            label = f"±q68 = {format_with_unit(q68, units[j])}"
            ax.axvline(-q68, color=OKABE_ITO["vermillion"], lw=1.2, ls="--", label=label)
            ax.axvline(q68, color=OKABE_ITO["vermillion"], lw=1.2, ls="--")
        ax.set_xlabel(axis_label(f"{names[j]} residual (pred {MINUS} true)", units[j]))
        ax.set_ylabel("count")
        ax.set_title(names[j])
        ax.legend(loc="upper left", fontsize=8, title=note, title_fontsize=8,
                  alignment="left", framealpha=0.9, edgecolor="0.8")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.35)  # headroom for the legend
    return save_figure(fig, path)


# --------------------------------------------------------------------------- #
# Training history and calibration
# --------------------------------------------------------------------------- #

def _learning_rate_panel(ax_lr, lr: np.ndarray) -> None:
    """The learning rate per epoch, on a log axis with compact labels when it varies."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    ax_lr.plot(np.arange(1, lr.size + 1), lr, color=OKABE_ITO["bluish_green"], lw=1.4)
    finite_lr = lr[np.isfinite(lr)]
    if finite_lr.size and finite_lr.min() > 0 and finite_lr.max() > finite_lr.min():
        ax_lr.set_yscale("log")
        decades = np.log10(finite_lr.max() / finite_lr.min())
        subs = (1.0, 2.0, 5.0) if decades < 1.5 else (1.0,)
        ax_lr.yaxis.set_major_locator(LogLocator(subs=subs, numticks=5))
        ax_lr.yaxis.set_minor_locator(LogLocator(subs="all"))
        ax_lr.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_power_of_ten(v)))
        ax_lr.yaxis.set_minor_formatter(NullFormatter())
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("epoch")
    ax_lr.grid(True, which="major", color="0.88", lw=0.6)
    ax_lr.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_loss_curves(history: dict, path: str | Path | None = None):
    """Training and validation loss per epoch on a log axis, best validation epoch marked.

    Args:
        history: dict with lists ``train_loss`` and ``val_loss`` (one value per epoch,
            epoch 1 first) and optionally ``lr`` (learning rate per epoch), drawn in a
            second, smaller panel below with a shared epoch axis.
        path: where to save the figure (PNG/PDF by extension); None to only return it.

    Returns:
        The saved path, or the matplotlib Figure when ``path`` is None.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    missing = [key for key in ("train_loss", "val_loss") if key not in history]
    if missing:
        raise ConfigError(f"history lacks {missing}; it has {sorted(history)}")
    train = np.asarray(history["train_loss"], dtype=float)
    val = np.asarray(history["val_loss"], dtype=float)
    lr = history.get("lr")
    lr = None if lr is None or len(lr) == 0 else np.asarray(lr, dtype=float)

    fig = Figure(figsize=(7, 5.6 if lr is not None else 4.4), layout="constrained")
    if lr is not None:
        ax, ax_lr = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.2])
    else:
        ax, ax_lr = fig.add_subplot(), None

    ax.plot(np.arange(1, train.size + 1), train, color=OKABE_ITO["blue"], lw=1.6,
            marker="o" if train.size <= 30 else None, ms=3, label="training")
    ax.plot(np.arange(1, val.size + 1), val, color=OKABE_ITO["orange"], lw=1.6,
            marker="s" if val.size <= 30 else None, ms=3, label="validation")
    finite = np.concatenate([train[np.isfinite(train)], val[np.isfinite(val)]])
    if finite.size and finite.min() > 0:
        ax.set_yscale("log")
    if np.isfinite(val).any():
        best = int(np.nanargmin(val))
        ax.axvline(best + 1, color=OKABE_ITO["vermillion"], lw=1, ls=":")
        ax.plot(best + 1, val[best], marker="*", ms=13, color=OKABE_ITO["vermillion"],
                mec="black", mew=0.5, ls="none", zorder=4,
                label=f"best validation: epoch {best + 1} ({format_number(val[best])})")
    ax.set_ylabel("loss")
    ax.grid(True, which="major", color="0.88", lw=0.6)
    ax.legend(loc="upper right", fontsize=9, framealpha=0.9, edgecolor="0.8")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ax_lr is None:
        ax.set_xlabel("epoch")
    else:
        _learning_rate_panel(ax_lr, lr)
    return save_figure(fig, path)


def plot_calibration(report: dict, names=None, path: str | Path | None = None):
    """Expected-coverage curves (nominal vs empirical, per parameter and joint) and
    simulation-based-calibration rank histograms.

    Args:
        report: a coverage report (:func:`atmoscope.evaluation.calibration.coverage_report`,
            as :func:`~atmoscope.evaluation.calibration.calibrate_sampler` returns it:
            ``coverage``, ``joint``, ``levels``, ``ranks``, ``n_samples``, ``n_spectra``,
            ``snr_range``). When it holds a ``"monte_carlo"`` comparison (a posterior
            model's point estimate with Monte-Carlo draws over the errors), its curves are
            drawn dotted in the same colours.
        names: display names of the parameters, in the report's order; None for the
            report's own keys.
        path: where to save the figure (PNG/PDF by extension); None to only return it.

    Returns:
        The saved path, or the matplotlib Figure when ``path`` is None.
    """
    from matplotlib.figure import Figure

    targets = list(report["coverage"])
    names = list(names) if names is not None else targets
    colours = [OKABE_ITO[c] for c in ("blue", "vermillion", "bluish_green", "orange",
                                       "reddish_purple", "sky_blue")]
    fig = Figure(figsize=(4.2 + 2.6 * len(targets), 4.2), layout="constrained")
    grid = fig.add_gridspec(2, 1 + len(targets), width_ratios=[1.6] + [1] * len(targets))
    ax = fig.add_subplot(grid[:, 0])
    levels = report["levels"]
    ax.plot([0, 1], [0, 1], color="0.4", ls="--", lw=1, label="calibrated")
    for j, (t, name) in enumerate(zip(targets, names, strict=True)):
        ax.plot(levels, report["coverage"][t], marker="o", ms=3,
                color=colours[j % len(colours)], label=name)
    ax.plot(levels, report["joint"], marker="s", ms=3, color="black", label="joint")
    if "monte_carlo" in report:
        for j, t in enumerate(targets):
            ax.plot(levels, report["monte_carlo"]["coverage"][t], ls=":", lw=1.2,
                    color=colours[j % len(colours)])
        ax.plot(levels, report["monte_carlo"]["joint"], ls=":", lw=1.2, color="black",
                label="dotted: Monte-Carlo only")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="nominal coverage of central interval",
           ylabel="empirical coverage",
           title=f"{report['n_spectra']} noisy spectra, S/N {report['snr_range'][0]:g}–"
                 f"{report['snr_range'][1]:g}")
    ax.legend(fontsize=8, loc="upper left")
    ranks = np.asarray(report["ranks"])
    for j, name in enumerate(names):
        rax = fig.add_subplot(grid[:, 1 + j])
        rax.hist(ranks[:, j], bins=20, range=(0, report["n_samples"]),
                 color=colours[j % len(colours)], alpha=0.8)
        rax.axhline(len(ranks) / 20, color="0.3", ls="--", lw=1)
        rax.set(title=f"SBC ranks: {name}", xlabel="rank of truth", yticks=[])
    return save_figure(fig, path)
