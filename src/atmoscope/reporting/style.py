"""The shared look of every figure: palette, saving, axis labels and number formats.

No matplotlib import here: figure modules import it inside their functions, so
importing :mod:`atmoscope.reporting` changes nothing global and stays cheap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atmoscope._atomic import atomic_path
from atmoscope.errors import ConfigError

__all__ = ["MINUS", "OKABE_ITO", "axis_label", "format_number", "format_power_of_ten",
           "format_with_unit", "names_and_units", "save_figure"]

#: Typographic minus sign (U+2212), used wherever a negative number is shown.
MINUS = "\u2212"

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}


#: The figure formats every plotting function writes, by file extension.
FIGURE_FORMATS = ("png", "pdf", "svg")


def save_figure(fig, path: str | Path | None, dpi: int = 120):
    """Save ``fig`` to ``path`` (PNG, PDF or SVG by its extension), or hand it back.

    Args:
        fig: a matplotlib Figure.
        path: where to save it (parent folders are created); None to only return it.
        dpi: resolution of raster output.

    Returns:
        The saved path, or ``fig`` when ``path`` is None.

    Raises:
        ConfigError: ``path`` ends in none of :data:`FIGURE_FORMATS`.
    """
    if path is None:
        return fig
    path = Path(path)
    if path.suffix.lower().lstrip(".") not in FIGURE_FORMATS:
        raise ConfigError(f"path must end in .png, .pdf or .svg, got {path.name!r}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lower().lstrip("."))
    return path


def names_and_units(names, units, k: int, what: str) -> tuple[list[str], list[str]]:
    """``k`` names and ``k`` units (``""`` for none) from a string or a sequence of them.

    Args:
        names: one name or a sequence of ``k`` names.
        units: one unit, a sequence of ``k`` units (None entries for none), or None.
        k: how many are expected.
        what: what is named, for the error message (e.g. ``"parameters"``).

    Returns:
        ``(names, units)`` as two lists of ``k`` strings.

    Raises:
        ConfigError: a count other than ``k``.
    """
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != k:
        raise ConfigError(f"{len(names)} names for {k} {what}")
    units = [""] * k if units is None else [units] if isinstance(units, str) else list(units)
    if len(units) != k:
        raise ConfigError(f"{len(units)} units for {k} {what}")
    return names, [u or "" for u in units]


def axis_label(text: str, unit: str) -> str:
    """``text [unit]``, or just ``text`` for a dimensionless quantity."""
    return f"{text} [{unit}]" if unit else text


def typeset_unit(unit) -> str:
    """An astropy unit as matplotlib mathtext, e.g. erg s⁻¹ cm⁻² Hz⁻¹ (empty for none)."""
    import astropy.units as u

    unit = u.Unit(unit)
    return "" if unit == u.dimensionless_unscaled else unit.to_string("latex_inline")


def flux_axis_label(unit) -> str:
    """``F_ν [erg s⁻¹ cm⁻² Hz⁻¹]`` (typeset) for the kind of flux density ``unit`` is;
    a grid whose flux unit is not known is labelled so."""
    from atmoscope.observed import flux_kind

    if unit is None:
        return "flux density [arbitrary unit]"
    symbol = {"fnu": "$F_\\nu$", "flambda": "$F_\\lambda$"}.get(flux_kind(unit))
    if symbol is None:
        return axis_label("flux density", typeset_unit(unit)) if typeset_unit(unit) else (
            "flux (normalised)")
    return axis_label(symbol, typeset_unit(unit))


def format_number(value: float) -> str:
    """Short number for annotations (3 significant digits), with a typographic minus."""
    if not np.isfinite(value):
        return "n/a"
    text = f"{value:#.3g}".rstrip(".") if abs(value) < 999.5 else f"{value:.0f}"
    if "e" in text:  # keep scientific notation short: 1.20e-05 -> 1.20e-5
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text.replace("-", MINUS)


def format_with_unit(value: float, unit: str, scale: float | None = None) -> str:
    """``value`` and ``unit``; with ``scale``, to the decimals that give ``scale`` 3 digits."""
    text = format_number(value)
    if scale is not None and np.isfinite(value) and np.isfinite(scale) and scale > 0:
        decimals = max(0, 2 - int(np.floor(np.log10(scale))))
        text = f"{value:.{decimals}f}".replace("-", MINUS)
        if float(text.replace(MINUS, "-")) == 0:
            text = text.lstrip(MINUS)
    return f"{text} {unit}" if unit else text


def format_power_of_ten(value: float) -> str:
    """Compact tick label for a power-of-ten axis: 5e-4, 1e-3."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}".replace("-", MINUS)
