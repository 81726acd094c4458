"""Figures of one prediction: a spectrum fit, a corner plot and per-parameter sensitivity.

Uses matplotlib's object API (no pyplot), so nothing global changes on import, and
the Okabe–Ito colour-blind-safe palette of :mod:`atmoscope.reporting.style`. Every
function saves to ``path`` (PNG, PDF or SVG by its extension) and returns the path, or
returns the matplotlib Figure when ``path`` is None.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from atmoscope.errors import ConfigError
from atmoscope.reporting.style import MINUS, OKABE_ITO, axis_label, names_and_units, save_figure

__all__ = ["ERRORBAR_MAX_PIXELS", "plot_corner", "plot_sensitivity", "plot_spectrum_fit"]

#: Above this many pixels the observed spectrum is drawn as a line in a shaded error
#: envelope instead of points with error bars.
ERRORBAR_MAX_PIXELS = 200

#: Colour cycle for one-colour-per-parameter figures (Okabe–Ito, yellow left out:
#: too faint as a line on white).
_CYCLE = [OKABE_ITO[c] for c in ("blue", "vermillion", "bluish_green", "reddish_purple",
                                  "orange", "sky_blue", "black")]

#: Legend order of the spectrum fit.
_FIT_LEGEND_ORDER = ["observed ±1σ", "masked", "model (predicted)", "predictive 68 %",
                     "predictive 95 %"]


# --------------------------------------------------------------------------- #
# Spectrum fit
# --------------------------------------------------------------------------- #

class _Fit(NamedTuple):
    """The arrays of a spectrum fit, validated and sorted by wavelength."""

    wl: np.ndarray
    flux: np.ndarray
    error: np.ndarray
    model: np.ndarray
    residuals: np.ndarray
    masked: np.ndarray
    band68: np.ndarray
    band95: np.ndarray

    @property
    def good(self) -> np.ndarray:
        return ~self.masked


def _vector(value, n: int, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.shape != (n,):
        raise ConfigError(f"{name} has shape {array.shape}, expected ({n},)")
    return array


def _band(band, n: int, name: str) -> np.ndarray:
    band = np.asarray(band, dtype=float)
    if band.shape != (2, n):
        raise ConfigError(f"{name} must have shape (2, {n}) (lower, upper), got {band.shape}")
    return band


def _fit_arrays(wavelength_um, flux, error, model_flux, band68, band95, residuals,
                mask) -> _Fit:
    """Check the shapes, fill in residuals (observed − model)/σ if None, sort by wavelength."""
    wl = np.asarray(wavelength_um, dtype=float)
    n = wl.size
    flux, error = _vector(flux, n, "flux"), _vector(error, n, "error")
    model = _vector(model_flux, n, "model_flux")
    band68 = _band(band68, n, "band68")
    band95 = _band(band95, n, "band95")
    if residuals is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            residuals = (flux - model) / error
    residuals = _vector(residuals, n, "residuals")
    masked = np.zeros(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if masked.shape != (n,):
        raise ConfigError(f"mask has shape {masked.shape}, expected ({n},)")
    order = np.argsort(wl, kind="stable")
    return _Fit(wl[order], flux[order], error[order], model[order], residuals[order],
                masked[order], band68[:, order], band95[:, order])


def _draw_fit(ax, d: _Fit) -> None:
    """Predictive bands, the observed spectrum (good and masked pixels) and the model."""
    good, masked = d.good, d.masked
    band_colour = OKABE_ITO["sky_blue"]
    ax.fill_between(d.wl, d.band95[0], d.band95[1], color=band_colour, alpha=0.28, lw=0,
                    zorder=1, label="predictive 95 %")
    ax.fill_between(d.wl, d.band68[0], d.band68[1], color=band_colour, alpha=0.6, lw=0,
                    zorder=2, label="predictive 68 %")
    obs_colour = OKABE_ITO["black"]
    if d.wl.size <= ERRORBAR_MAX_PIXELS:
        if good.any():
            ax.errorbar(d.wl[good], d.flux[good], yerr=d.error[good], fmt="o", ms=3.2,
                        color=obs_colour, ecolor="0.35", elinewidth=0.8, capsize=0,
                        zorder=4, label="observed ±1σ")
        if masked.any():
            ax.errorbar(d.wl[masked], d.flux[masked], yerr=d.error[masked], fmt="o", ms=3.6,
                        mfc="none", mec="0.6", ecolor="0.8", elinewidth=0.6, capsize=0,
                        zorder=3, label="masked")
    else:
        obs_good = np.where(good, d.flux, np.nan)
        ax.fill_between(d.wl, obs_good - d.error, obs_good + d.error, color="0.55",
                        alpha=0.35, lw=0, zorder=3)
        ax.plot(d.wl, obs_good, color=obs_colour, lw=0.6, zorder=4)
        if masked.any():
            ax.plot(d.wl[masked], d.flux[masked], ls="none", marker="o", ms=2.5, mfc="none",
                    mec="0.6", mew=0.6, zorder=3, label="masked")
    ax.plot(d.wl, d.model, color=OKABE_ITO["vermillion"], lw=1.5, zorder=5,
            label="model (predicted)")


def _fit_legend(ax, n: int) -> None:
    """Legend in a fixed order, with one proxy entry for an envelope + line spectrum."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    if n > ERRORBAR_MAX_PIXELS:
        handles.insert(0, (Patch(color="0.55", alpha=0.35, lw=0),
                           Line2D([], [], color=OKABE_ITO["black"], lw=0.6)))
        labels.insert(0, "observed ±1σ")
    wanted = _FIT_LEGEND_ORDER
    pairs = sorted(zip(handles, labels, strict=True),
                   key=lambda hl: wanted.index(hl[1]) if hl[1] in wanted else 99)
    ax.legend(*zip(*pairs, strict=True), loc="best", fontsize=8.5, framealpha=0.9,
              edgecolor="0.8")


def _draw_fit_residuals(ax_res, d: _Fit) -> None:
    """Normalised residuals with lines at 0, ±1, ±2; values beyond the axis as triangles."""
    good, masked, residuals, wl = d.good, d.masked, d.residuals, d.wl
    finite = np.isfinite(residuals)
    shown = residuals[finite & good] if (finite & good).any() else residuals[finite]
    limit = 3.5
    if shown.size:
        limit = float(np.clip(np.quantile(np.abs(shown), 0.99) * 1.15, 3.5, 10.0))
    for level, style in ((0, "-"), (1, "--"), (-1, "--"), (2, ":"), (-2, ":")):
        ax_res.axhline(level, color="0.25" if level == 0 else "0.5", lw=0.9 if level else 1.0,
                       ls=style, zorder=1)
    clipped = np.clip(residuals, -limit * 0.97, limit * 0.97)
    inside = finite & (np.abs(residuals) <= limit * 0.97)
    ms = 3.0 if wl.size <= ERRORBAR_MAX_PIXELS else 2.0
    ax_res.plot(wl[inside & good], residuals[inside & good], ls="none", marker="o", ms=ms,
                color=OKABE_ITO["blue"], mec="none", zorder=3)
    ax_res.plot(wl[inside & masked], residuals[inside & masked], ls="none", marker="o", ms=ms,
                mfc="none", mec="0.6", mew=0.6, zorder=2)
    for sign, marker in ((1, "^"), (-1, "v")):
        out = finite & (sign * residuals > limit * 0.97)
        if out.any():
            ax_res.plot(wl[out], clipped[out], ls="none", marker=marker, ms=4,
                        color=OKABE_ITO["blue"] if good[out].all() else "0.6", zorder=3)
    ax_res.set_ylim(-limit, limit)
    ax_res.set_yticks([-2, 0, 2] if limit < 6 else [-5, -2, 0, 2, 5])
    ax_res.yaxis.set_major_formatter(lambda v, _: f"{v:g}".replace("-", MINUS))
    ax_res.set_ylabel(f"(o {MINUS} m) / σ")
    ax_res.set_xlabel("wavelength [µm]")
    ax_res.set_xlim(wl.min() - 0.01 * np.ptp(wl), wl.max() + 0.01 * np.ptp(wl))
    if (finite & good).any():
        chi = residuals[finite & good]
        ax_res.text(0.995, 0.96, f"rms = {np.sqrt(np.mean(chi**2)):.2f}",
                    transform=ax_res.transAxes, ha="right", va="top", fontsize=8, color="0.25",
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.8))


def plot_spectrum_fit(wavelength_um, flux, error, model_flux, band68, band95, residuals, *,
                      flux_label: str, mask=None, title: str | None = None,
                      path: str | Path | None = None):
    """An observed spectrum, the predicted model spectrum and its predictive bands.

    Top panel: the observed spectrum with its 1σ errors (error bars up to 200 pixels,
    a shaded envelope beyond), masked pixels drawn faint and hollow; the predicted
    model spectrum as a line; the 68 % and 95 % predictive bands shaded. Bottom panel
    (shared wavelength axis, a third of the height): normalised residuals
    (observed − model)/σ with lines at 0, ±1 and ±2; values beyond the axis range are
    drawn as triangles at its edge.

    Args:
        wavelength_um: wavelengths in µm, shape (n,).
        flux: observed flux, shape (n,).
        error: 1σ flux uncertainties, shape (n,).
        model_flux: predicted model flux, shape (n,).
        band68: lower and upper edge of the 68 % predictive band, shape (2, n).
        band95: lower and upper edge of the 95 % predictive band, shape (2, n).
        residuals: normalised residuals (observed − model)/σ, shape (n,); None to
            compute them from ``flux``, ``model_flux`` and ``error``.
        flux_label: the flux axis label, with its unit (e.g. ``"F_λ [W m⁻² µm⁻¹]"``).
        mask: boolean, shape (n,); True where a pixel is masked (left out of the fit).
        title: figure title.
        path: where to save the figure (PNG/PDF by extension); None to only return it.

    Returns:
        The saved path, or the matplotlib Figure when ``path`` is None.

    Raises:
        ConfigError: an array of the wrong shape.
    """
    from matplotlib.figure import Figure

    d = _fit_arrays(wavelength_um, flux, error, model_flux, band68, band95, residuals, mask)
    fig = Figure(figsize=(9, 6.2), layout="constrained")
    ax, ax_res = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    _draw_fit(ax, d)
    _fit_legend(ax, d.wl.size)
    ax.set_ylabel(flux_label)
    ax.grid(True, color="0.92", lw=0.6, zorder=0)
    ax.set_axisbelow(True)
    ax.tick_params(labelbottom=False)
    if title:
        ax.set_title(title, fontsize=11)
    _draw_fit_residuals(ax_res, d)
    return save_figure(fig, path)


# --------------------------------------------------------------------------- #
# Corner plot
# --------------------------------------------------------------------------- #

def _decimals(err: float) -> int:
    """Decimals that show ``err`` to two significant digits (at most 6)."""
    if not np.isfinite(err) or err <= 0:
        return 2
    return int(np.clip(1 - np.floor(np.log10(err)), 0, 6))


def _summary_title(name: str, unit: str, q16: float, q50: float, q84: float) -> str:
    """``name = median^{+up}_{-down} unit`` as mathtext."""
    up, down = q84 - q50, q50 - q16
    d = _decimals(min(up, down) if min(up, down) > 0 else max(up, down))

    def f(v):
        return f"{v:.{d}f}"

    text = f"{name} = ${f(q50)}^{{+{f(up)}}}_{{-{f(down)}}}$"
    return f"{text} {unit}" if unit else text


def _range(x: np.ndarray) -> tuple[float, float]:
    """Axis range: the central 99.6 % of ``x``, padded by 5 %."""
    lo, hi = (float(v) for v in np.quantile(x, [0.002, 0.998]))
    if hi <= lo:
        spread = max(abs(lo) * 0.01, 1e-3)
        return lo - spread, hi + spread
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _corner_inputs(samples, names, units, truths):
    """Validated ``(samples, names, units, truths)``: finite (n, k) samples, k of the rest."""
    samples = np.asarray(samples, dtype=float)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.shape[0] < 2:
        raise ConfigError(f"samples must have shape (n, k) with n >= 2, got {samples.shape}")
    samples = samples[np.isfinite(samples).all(axis=1)]
    if samples.shape[0] < 2:
        raise ConfigError("fewer than 2 samples with all values finite")
    k = samples.shape[1]
    names, units = names_and_units(names, units, k, "parameters")
    if truths is not None:
        truths = list(np.atleast_1d(np.asarray(truths, dtype=object)))
        if len(truths) != k:
            raise ConfigError(f"{len(truths)} truths for {k} parameters")
    return samples, names, units, truths


def plot_corner(samples, names, units=None, truths=None, path: str | Path | None = None):
    """A corner plot of samples, drawn by the ``corner`` package (Foreman-Mackey 2016).

    Diagonal: 1-D histograms with dashed lines at the 16, 50 and 84 % quantiles and
    ``median +err −err`` (with the unit) as the panel title. Below the diagonal:
    smoothed 2-D densities with contours enclosing 68 % and 95 % of the samples.
    ``truths`` are marked with vermillion lines (None entries skipped).

    Args:
        samples: array of shape (n, k) (or (n,) for one parameter).
        names: the k parameter names.
        units: the k unit strings (``""`` for dimensionless); None for none.
        truths: the k true values to mark, or None.
        path: where to save the figure (PNG/PDF/SVG by extension); None to only return it.

    Returns:
        The saved path, or the matplotlib Figure when ``path`` is None.

    Raises:
        ConfigError: fewer than 2 finite samples, or names, units or truths not k long.
    """
    import corner
    from matplotlib.figure import Figure

    samples, names, units, truths = _corner_inputs(samples, names, units, truths)
    n, k = samples.shape
    labels = [axis_label(name, unit) for name, unit in zip(names, units, strict=True)]
    titles = [_summary_title(name, unit, *np.quantile(samples[:, j], [0.16, 0.5, 0.84]))
              for j, (name, unit) in enumerate(zip(names, units, strict=True))]
    size = 2.3 if k > 1 else 3.2
    fig = Figure(figsize=(size * k + 0.6, size * k + 0.5))
    # explicit ranges (never empty, even for a constant column) keep corner from refusing
    corner.corner(samples, fig=fig, range=[_range(samples[:, j]) for j in range(k)],
                  bins=int(np.clip(np.sqrt(n) / 1.5, 15, 50)), labels=labels, titles=titles,
                  show_titles=True, title_fmt=None,
                  quantiles=(0.16, 0.5, 0.84), levels=(0.68, 0.95), smooth=0.9,
                  plot_datapoints=False, fill_contours=True, color=OKABE_ITO["blue"],
                  truths=None if truths is None else [None if t is None else float(t)
                                                      for t in truths],
                  truth_color=OKABE_ITO["vermillion"], max_n_ticks=4, quiet=True,
                  label_kwargs={"fontsize": 10}, title_kwargs={"fontsize": 9.5})
    if k > 1:
        fig.text(0.98, 0.98, f"{n:,} samples\ncontours: 68 %, 95 %", ha="right", va="top",
                 fontsize=9, color="0.25")
    return save_figure(fig, path)


# --------------------------------------------------------------------------- #
# Sensitivity
# --------------------------------------------------------------------------- #

def _sensitivity_inputs(wavelength_um, sensitivity, names, spectrum):
    """Validated ``(wl, sens, names, spec)`` sorted by wavelength; ``spec`` scaled to a
    peak of 1 (None when not given or all zero)."""
    wl = np.asarray(wavelength_um, dtype=float)
    sens = np.asarray(sensitivity, dtype=float)
    if sens.ndim == 1:
        sens = sens[None, :]
    if sens.ndim != 2 or sens.shape[1] != wl.size:
        raise ConfigError(f"sensitivity must have shape (k, {wl.size}), got {sens.shape}")
    k = sens.shape[0]
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != k:
        raise ConfigError(f"{len(names)} names for {k} rows of sensitivity")
    if np.any(sens[np.isfinite(sens)] < 0):
        raise ConfigError("sensitivity must be non-negative")
    order = np.argsort(wl, kind="stable")
    wl, sens = wl[order], sens[:, order]
    spec = None
    if spectrum is not None:
        spec = np.asarray(spectrum, dtype=float)
        if spec.shape != (wl.size,):
            raise ConfigError(f"spectrum has shape {spec.shape}, expected ({wl.size},)")
        spec = spec[order]
        finite = spec[np.isfinite(spec)]
        top = float(np.max(np.abs(finite))) if finite.size else 0.0
        spec = spec / top if top > 0 else None
    return wl, sens, names, spec


def plot_sensitivity(wavelength_um, sensitivity, names, spectrum=None,
                     path: str | Path | None = None):
    """Where in the spectrum each parameter is decided: one filled curve per parameter.

    Args:
        wavelength_um: wavelengths in µm, shape (n_wl,).
        sensitivity: non-negative sensitivity per parameter and pixel (e.g.
            ``|∂parameter/∂flux|`` times the flux error), shape (k, n_wl) (or (n_wl,)).
            Each row keeps its own y scale.
        names: the k parameter names, one per row.
        spectrum: optional flux, shape (n_wl,); drawn faintly behind every row,
            scaled to the row's range.
        path: where to save the figure (PNG/PDF by extension); None to only return it.

    Returns:
        The saved path, or the matplotlib Figure when ``path`` is None.

    Raises:
        ConfigError: arrays of the wrong shape, a negative sensitivity, or not k names.
    """
    from matplotlib.figure import Figure

    wl, sens, names, spec = _sensitivity_inputs(wavelength_um, sensitivity, names, spectrum)
    k = sens.shape[0]
    fig = Figure(figsize=(9, 1.45 * k + 1.0), layout="constrained")
    axes = fig.subplots(k, 1, sharex=True, squeeze=False)[:, 0]
    for j, ax in enumerate(axes):
        colour = _CYCLE[j % len(_CYCLE)]
        row = np.where(np.isfinite(sens[j]), sens[j], 0.0)
        top = float(row.max()) if row.size and row.max() > 0 else 1.0
        if spec is not None:
            ax.plot(wl, spec * top, color="0.6", lw=0.8, alpha=0.7, zorder=1,
                    label="spectrum (normalised)" if j == 0 else None)
        ax.fill_between(wl, 0, row, color=colour, alpha=0.45, lw=0, zorder=2)
        ax.plot(wl, row, color=colour, lw=1.1, zorder=3)
        ax.set_ylim(0, top * 1.12)
        ax.set_ylabel(names[j], fontsize=10, color=colour, fontweight="bold")
        ax.tick_params(labelsize=8)
        ax.yaxis.get_offset_text().set_fontsize(7)
        ax.grid(True, axis="x", color="0.92", lw=0.6)
        ax.set_axisbelow(True)
    if spec is not None:
        axes[0].legend(loc="upper right", fontsize=8, frameon=False)
    axes[0].set_title("sensitivity per parameter (each row on its own scale)", fontsize=10)
    fig.supylabel("|Δ estimate| when the pixels are masked [σ of the training set]",
                  fontsize=9)
    axes[-1].set_xlabel("wavelength [µm]")
    axes[-1].set_xlim(wl.min(), wl.max())
    return save_figure(fig, path)
