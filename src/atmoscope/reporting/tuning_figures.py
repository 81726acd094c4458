"""Figures of a hyperparameter search (``atmoscope tune``): the optimisation history, the
parameters' importances and the front of validation loss against prediction speed.

They are drawn from the trials table (:func:`atmoscope.training.search.trials_table`)
with matplotlib's object API, so nothing global changes; the importances are Optuna's
(fANOVA, Hutter et al. 2014), computed by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from atmoscope.reporting.style import OKABE_ITO, save_figure

__all__ = ["plot_search_front", "plot_search_history", "plot_search_importances"]


def plot_search_history(table: pd.DataFrame, path: str | Path | None = None):
    """Each trial's best validation loss in the order the trials ran (pruned trials
    hollow, at the loss they had reached), and the best so far.

    Args:
        table: the trials table (``number``, ``state``, ``value``).
        path: where to save (PNG, PDF, SVG); None returns the Figure.
    """
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    table = table.sort_values("number")
    value = table["value"].astype(float)
    done = (table["state"] == "COMPLETE") & np.isfinite(value)
    pruned = (table["state"] == "PRUNED") & np.isfinite(value)
    ax.scatter(table["number"][done], value[done], color=OKABE_ITO["blue"], label="complete",
               zorder=3)
    ax.scatter(table["number"][pruned], value[pruned], facecolor="none",
               edgecolor=OKABE_ITO["sky_blue"], label="pruned", zorder=3)
    if done.any():
        best = value.where(done).cummin()
        ax.step(table["number"], best, where="post", color=OKABE_ITO["vermillion"],
                label="best so far")
    ax.set_xlabel("trial")
    _loss_axis(ax, value, "Optimisation history")
    return save_figure(fig, path)


def _loss_axis(ax, values: pd.Series, title: str) -> None:
    """Label the loss axis (logarithmic when positive losses span a factor of 20)."""
    finite = values.astype(float)[np.isfinite(values.astype(float))]
    if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 20:
        ax.set_yscale("log")
    ax.set_ylabel("best validation loss")
    ax.set_title(title)
    ax.legend(frameon=False)


def plot_search_importances(importances: Mapping[str, float], path: str | Path | None = None):
    """Horizontal bars of each parameter's share of the loss's variance (fANOVA).

    Args:
        importances: parameter → importance (summing to 1), as
            ``optuna.importance.get_param_importances`` gives them.
        path: where to save; None returns the Figure.
    """
    names = list(importances)[::-1]
    fig = Figure(figsize=(6.5, 0.8 + 0.32 * max(len(names), 1)), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(names, [importances[n] for n in names], color=OKABE_ITO["bluish_green"])
    ax.set_xlabel("importance for the validation loss (fANOVA)")
    ax.set_title("Hyperparameter importances")
    return save_figure(fig, path)


def plot_search_front(table: pd.DataFrame, front: pd.DataFrame,
                      path: str | Path | None = None, reference: Mapping | None = None):
    """Validation loss against prediction speed of every complete trial, the Pareto front
    joined, and (optionally) a reference point such as today's default.

    Args:
        table: the trials table (``value``, ``spectra_per_s``, ``state``).
        front: its Pareto front (:func:`atmoscope.training.search.pareto_front`).
        reference: ``{"label", "value", "spectra_per_s"}`` to mark, or None.
        path: where to save; None returns the Figure.
    """
    fig = Figure(figsize=(7, 4.6), layout="constrained")
    ax = fig.add_subplot()
    done = table[table["state"] == "COMPLETE"]
    ax.scatter(done["spectra_per_s"], done["value"], color=OKABE_ITO["sky_blue"], alpha=0.6,
               label="trials")
    if len(front):
        ordered = front.sort_values("spectra_per_s")
        ax.plot(ordered["spectra_per_s"], ordered["value"], "o-", color=OKABE_ITO["orange"],
                label="Pareto front")
        for _, row in ordered.iterrows():
            ax.annotate(f"#{int(row['number'])}", (row["spectra_per_s"], row["value"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=8)
    if reference is not None:
        ax.scatter([reference["spectra_per_s"]], [reference["value"]], marker="*", s=160,
                   color=OKABE_ITO["reddish_purple"], label=reference["label"], zorder=4)
    ax.set_xscale("log")
    ax.set_xlabel("prediction speed (spectra/s)")
    _loss_axis(ax, done["value"], "Accuracy against throughput")
    return save_figure(fig, path)
