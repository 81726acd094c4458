"""How each TelescopeML target is named and measured in tables, figures and reports."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["TARGET_LABELS", "target_label", "target_labels"]

#: Target name → (display label, unit; ``""`` for dimensionless).
TARGET_LABELS = {
    "gravity": ("log g", "dex"),
    "temperature": ("Teff", "K"),
    "c_o_ratio": ("C/O", ""),
    "metallicity": ("[M/H]", "dex"),
}


def target_label(name: str) -> tuple[str, str]:
    """Display label and unit of one target.

    Args:
        name: a target (column) name, e.g. ``"temperature"``.

    Returns:
        ``(label, unit)``, e.g. ``("Teff", "K")``; an unknown target is shown under its
        own name with no unit.
    """
    return TARGET_LABELS.get(name, (name, ""))


def target_labels(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """Display labels and units of several targets, in order.

    Args:
        names: target (column) names.

    Returns:
        ``(labels, units)``: two lists as long as ``names``.
    """
    pairs = [target_label(name) for name in names]
    return [label for label, _ in pairs], [unit for _, unit in pairs]
