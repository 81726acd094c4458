"""Train / validation / test splits of a grid.

Two kinds:

* :func:`random_split` — TelescopeML's: test 10 %, validation 10 % of the rest, with
  scikit-learn's ``train_test_split`` and the same seed, so the very same rows (25,019 /
  2,780 / 3,089 of 30,888 for seed 42). Test spectra then sit between training spectra
  on all sides, which flatters every model.
* :func:`node_split` — leave-nodes-out: whole grid values of chosen parameters (e.g.
  every third Teff node) are held out, so the test measures interpolation *between*
  grid nodes — what a real spectrum, which never sits on a node, needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from atmoscope.data.grid import SpectralGrid
from atmoscope.errors import ConfigError

__all__ = ["MIN_SPECTRA", "Split", "node_split", "random_split", "parse_holdout", "make_split",
           "split_again"]

#: The fewest spectra :func:`make_split` splits (each part needs some).
MIN_SPECTRA = 10


@dataclass(frozen=True)
class Split:
    """Row indices of the three parts, and how they were made."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    description: dict

    def sizes(self) -> tuple[int, int, int]:
        """Spectra in the training, validation and test parts."""
        return len(self.train), len(self.val), len(self.test)


def random_split(n: int, test_size: float = 0.1, val_size: float = 0.1, seed: int = 42) -> Split:
    """TelescopeML's random row split (identical rows for the same seed)."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(n)
    try:
        train_val, test = train_test_split(rows, test_size=test_size, random_state=seed)
        train, val = train_test_split(train_val, test_size=val_size, random_state=seed)
    except ValueError as exc:  # sklearn: sizes out of range, or too few rows
        raise ConfigError(f"random split of {n} rows: {exc}") from None
    return Split(np.asarray(train), np.asarray(val), np.asarray(test),
                 {"kind": "random", "test_size": test_size, "val_size": val_size, "seed": seed})


def _every_step(rule: str) -> int:
    """N of ``"everyN"`` (3 for a bare ``"every"``)."""
    try:
        step = int(rule[5:] or 3)
    except ValueError:
        step = 0
    if step < 1:
        raise ConfigError(f"hold-out rule {rule!r}: N of everyN must be a whole number >= 1")
    return step


def _held_nodes(nodes: np.ndarray, rule) -> np.ndarray:
    if isinstance(rule, str):
        if rule.startswith("every"):
            step = _every_step(rule)
            # every step-th node, never the first or last, so the test stays interpolation
            return nodes[1:-1][1::step]
        if rule == "interior":
            return nodes[1:-1]
        raise ConfigError(f"unknown hold-out rule {rule!r} (use everyN, interior or values)")
    try:
        values = np.asarray(rule, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"hold-out values {rule!r} are not numbers") from None
    missing = values[~np.isin(values, nodes)]
    if missing.size:
        raise ConfigError(f"hold-out value(s) {missing.tolist()} are not grid nodes")
    return values


def node_split(
    grid: SpectralGrid,
    holdout: Mapping[str, str | Sequence[float]] | None = None,
    val_size: float = 0.1,
    seed: int = 42,
) -> Split:
    """Leave-nodes-out split.

    Args:
        grid: the grid.
        holdout: parameter → nodes to hold out: a list of values, ``"everyN"`` (every
            N-th interior node, e.g. ``"every3"``) or ``"interior"``. A spectrum goes to
            the test set when any of its parameters takes a held-out value. Default
            ``{"temperature": "every3"}``.
        val_size: fraction of the remaining spectra used for validation (random, seeded).
        seed: seed of the validation shuffle.

    Returns:
        The split; ``description["holdout"]`` lists the held-out values.
    """
    holdout = dict(holdout or {"temperature": "every3"})
    nodes = grid.unique_values()
    test_mask = np.zeros(grid.n_spectra, dtype=bool)
    held = {}
    for name, rule in holdout.items():
        if name not in nodes:
            raise ConfigError(f"cannot hold out {name!r}: not a parameter of the grid")
        values = _held_nodes(nodes[name], rule)
        held[name] = values.tolist()
        test_mask |= np.isin(grid.parameters[name].to_numpy(), values)
    rest = np.flatnonzero(~test_mask)
    if test_mask.sum() == 0 or rest.size < 2:
        raise ConfigError(f"hold-out {held} leaves an empty test or training set")
    rest = np.random.default_rng(seed).permutation(rest)
    n_val = int(round(val_size * rest.size))
    return Split(np.sort(rest[n_val:]), np.sort(rest[:n_val]), np.flatnonzero(test_mask),
                 {"kind": "nodes", "holdout": held, "val_size": val_size, "seed": seed})


def parse_holdout(text: str) -> dict[str, str | list[float]]:
    """``"temperature=700,900;gravity=every3"`` → ``{"temperature": [700, 900], ...}``."""
    out: dict[str, str | list[float]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, rule = part.partition("=")
        if not sep or not name.strip() or not rule.strip():
            raise ConfigError(f"hold-out {part!r} is not NAME=VALUES or NAME=everyN")
        rule = rule.strip()
        try:
            out[name.strip()] = [float(v) for v in rule.split(",")]
        except ValueError:
            out[name.strip()] = rule
    return out


def make_split(grid: SpectralGrid, kind: str, seed: int = 42, holdout: str | None = None) -> Split:
    """The split the CLI asks for: ``random`` or ``nodes``.

    Raises:
        ConfigError: an unknown kind, or a grid too small to split (under
            :data:`MIN_SPECTRA` spectra).
    """
    if grid.n_spectra < MIN_SPECTRA:
        raise ConfigError(f"{grid.source or 'the grid'}: {grid.n_spectra} spectra are too few "
                          f"to split into training, validation and test sets (need at least "
                          f"{MIN_SPECTRA})")
    if kind == "random":
        return random_split(grid.n_spectra, seed=seed)
    if kind == "nodes":
        return node_split(grid, parse_holdout(holdout) if holdout else None, seed=seed)
    raise ConfigError(f"unknown split {kind!r} (random or nodes)")


def split_again(grid: SpectralGrid, description: Mapping) -> Split:
    """A split made again from what it recorded: its ``description``, or a bundle's
    ``split`` (which adds the test rows, then checked), on the same grid.

    Args:
        grid: the grid it split (e.g. ``bundle.training_grid()``).
        description: ``kind`` (``random`` or ``nodes``) and the arguments it was made
            with; optionally ``test_rows``.

    Raises:
        ConfigError: an unknown kind, or test rows other than the recorded ones (another
            grid, or a split made otherwise).
    """
    kind = description.get("kind")
    if kind == "random":
        split = random_split(grid.n_spectra, test_size=description["test_size"],
                             val_size=description["val_size"], seed=description["seed"])
    elif kind == "nodes":
        split = node_split(grid, description["holdout"], val_size=description["val_size"],
                           seed=description["seed"])
    else:
        raise ConfigError(f"cannot make a {kind!r} split again (random or nodes)")
    recorded = description.get("test_rows")
    if recorded is not None and split.test.tolist() != list(recorded):
        raise ConfigError(f"the {kind} split made again holds other test rows than the "
                          f"recorded ones ({len(split.test)} against {len(recorded)}): another "
                          "grid, or a split made otherwise")
    return split
