"""Figures. Uses matplotlib's object API (no pyplot), so nothing global changes on import."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atmoscope.data.grid import SpectralGrid

__all__ = ["plot_grid_spectra"]


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
        raise KeyError(f"no parameter {color_by!r}; the grid has {list(grid.parameters)}")
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
    unit = grid.flux_unit.to_string("unicode") if grid.flux_unit is not None else "arbitrary"
    ax.set_ylabel(f"flux density [{unit}]")
    held = ", ".join(f"{n} = {grid.parameters[n].iloc[rows[0]]:g}"
                     for n in grid.parameters if n != color_by)
    ax.set_title(f"{len(rows)} spectra of {Path(grid.source or 'grid').name}"
                 + (f" ({held})" if held else ""), fontsize=9)
    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label=color_by)
    if path is None:
        return fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
