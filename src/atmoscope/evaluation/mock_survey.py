"""Synthetic surveys: many noisy spectra with known parameters, drawn from a model's grid.

:func:`synthetic_survey` writes a survey file (:mod:`atmoscope.observed.survey`) of
``n`` spectra: parameters drawn uniformly inside the grid of a built-in model (or any
:class:`~atmoscope.data.SpectralGrid`), the model spectrum interpolated there
(:class:`~atmoscope.statistics.GridInterpolator`), Gaussian noise added at an S/N drawn
per spectrum. The parameters and the S/N are stored as truth columns, so a catalog
predicted from the file can be scored against them.

Randomness is drawn in blocks of :data:`RANDOM_BLOCK` rows, block ``b`` from
``np.random.SeedSequence([seed, b])``: row ``i`` depends only on the seed and ``i``, not on
``n`` nor on ``chunk_size`` (the rows per write). Memory holds about one block and one
chunk, so a survey of millions of spectra streams to a Parquet file.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from atmoscope.data.grid import SpectralGrid
from atmoscope.data.noise import log_uniform_snr
from atmoscope.errors import ConfigError
from atmoscope.observed.survey import SurveyWriter, _format_of
from atmoscope.statistics.interpolation import GridInterpolator

__all__ = ["RANDOM_BLOCK", "synthetic_survey"]

#: Rows per block of randomness: block ``b`` (rows ``b·RANDOM_BLOCK`` onwards) draws from
#: ``SeedSequence([seed, b])``, whatever the number of rows and the chunk size.
RANDOM_BLOCK = 10_000
# Give up when this many blocks of candidates in a row yield no point inside the grid.
_MAX_EMPTY_ROUNDS = 100


class _Sampler:
    """Parameter vectors drawn uniformly inside a grid (its convex hull, for an irregular
    one) and the grid's spectra interpolated there."""

    def __init__(self, grid: SpectralGrid) -> None:
        self.interpolator = GridInterpolator().fit(grid)
        self.params = list(self.interpolator.params_)
        self.low = np.array([self.interpolator.bounds_[p][0] for p in self.params])
        self.high = np.array([self.interpolator.bounds_[p][1] for p in self.params])
        self.facets = None
        if not self.interpolator.is_regular_:
            self.facets = self._hull_facets(grid)

    def _hull_facets(self, grid: SpectralGrid) -> np.ndarray | None:
        """The facets of the nodes' convex hull in unit-scaled parameters, or None."""
        from scipy.spatial import ConvexHull, QhullError

        nodes = np.unique(grid.parameters[self.params].to_numpy(dtype=np.float64), axis=0)
        try:
            return ConvexHull(self._unit(nodes)).equations
        except (QhullError, ValueError):
            return None  # no screen: the interpolator alone decides

    def _unit(self, points: np.ndarray) -> np.ndarray:
        return (points - self.low) / (self.high - self.low)

    def _screen(self, points: np.ndarray) -> np.ndarray:
        """A cheap first test: inside the hull's facets (with a margin, so it never rejects
        a point the interpolator takes). Locating a point outside the hull is the
        interpolator's slow case (a search over every simplex)."""
        if self.facets is None:
            return np.ones(len(points), dtype=bool)
        distance = self._unit(points) @ self.facets[:, :-1].T + self.facets[:, -1]
        return np.all(distance <= 1e-9, axis=1)

    def draw(self, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``k`` parameter vectors ``(k, d)`` (in the order of :attr:`params`) and their
        spectra ``(k, L)``. Candidates come in rounds of :data:`RANDOM_BLOCK`, uniform in
        the grid's range, and are taken in order; the first ``k`` accepted do not depend
        on ``k``."""
        points, spectra, have, rounds = [], [], 0, 0
        pool = np.empty((0, len(self.params)))
        while have < k:
            if not len(pool):
                if rounds >= _MAX_EMPTY_ROUNDS and not have:
                    raise ConfigError("no parameter vector drawn in the grid's range lies "
                                      f"inside its nodes' hull ({rounds * RANDOM_BLOCK} tried)")
                candidates = rng.uniform(self.low, self.high, size=(RANDOM_BLOCK,
                                                                    len(self.params)))
                pool = candidates[self._screen(candidates)]
                rounds += 1
                continue
            take, pool = pool[:k - have], pool[k - have:]
            # outside="nan" marks what contains() rejects, in the same pass as the spectra
            flux = self.interpolator(take, outside="nan")
            inside = ~np.isnan(flux[:, 0])
            points.append(take[inside])
            spectra.append(flux[inside])
            have += int(inside.sum())
        return np.concatenate(points), np.concatenate(spectra)


def _grid_of(model) -> tuple[SpectralGrid, str]:
    if isinstance(model, SpectralGrid):
        return model, str(model.source or "grid")
    from atmoscope.models import load_estimator
    from atmoscope.pretrained import model_path

    grid = load_estimator(model_path(model)).training_grid()
    if grid is None:
        raise ConfigError(f"model {str(model)!r} stores no training grid (trained without "
                          "--embed-grid): a synthetic survey draws its spectra from it")
    return grid, str(model)


def _snr_range(snr) -> tuple[float, float]:
    if isinstance(snr, numbers.Real) and not isinstance(snr, bool):
        low = high = float(snr)
    else:
        try:
            low, high = (float(v) for v in snr)
        except (TypeError, ValueError):
            raise ConfigError(f"snr must be a number or (low, high), not {snr!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
        raise ConfigError(f"snr must satisfy 0 < low <= high, finite, not {snr!r}")
    return low, high


def _block(sampler: _Sampler, grid: SpectralGrid, seed: int, block: int, k: int,
           snr: tuple[float, float]) -> dict:
    """Rows ``block·RANDOM_BLOCK`` to ``+ k`` (k ≤ RANDOM_BLOCK), from their own seeds."""
    params_seed, snr_seed, noise_seed = np.random.SeedSequence([seed, block]).spawn(3)
    points, model = sampler.draw(np.random.default_rng(params_seed), k)
    low, high = snr
    snrs = (np.full((k, 1), low) if low == high
            else log_uniform_snr(low, high, k, np.random.default_rng(snr_seed)))
    error = model / snrs  # the true σ: the noiseless flux over the row's S/N
    flux = model + np.random.default_rng(noise_seed).standard_normal(model.shape) * error
    truths = {}
    for name in grid.parameters.columns:
        if name in sampler.params:
            truths[name] = points[:, sampler.params.index(name)]
        else:  # a parameter constant in the grid
            truths[name] = np.full(k, sampler.interpolator.ignored_params_[name])
    truths["snr"] = snrs[:, 0]
    first = block * RANDOM_BLOCK
    ids = [f"syn-{i + 1:07d}" for i in range(first, first + k)]
    return {"ids": ids, "flux": flux, "error": error, "truths": truths}


def _rows(parts: list[dict], lo: int, hi: int | None = None) -> dict:
    """Rows ``lo:hi`` of the concatenated parts."""
    if len(parts) == 1:
        part = parts[0]
    else:
        part = {"ids": [i for p in parts for i in p["ids"]],
                "flux": np.concatenate([p["flux"] for p in parts]),
                "error": np.concatenate([p["error"] for p in parts]),
                "truths": {k: np.concatenate([p["truths"][k] for p in parts])
                           for k in parts[0]["truths"]}}
    cut = slice(lo, hi)
    return {"ids": part["ids"][cut], "flux": part["flux"][cut], "error": part["error"][cut],
            "truths": {k: v[cut] for k, v in part["truths"].items()}}


def _chunks(blocks: Iterator[dict], size: int) -> Iterator[dict]:
    """The blocks' rows regrouped into chunks of ``size`` (the last may be shorter)."""
    pending, have = [], 0
    for block in blocks:
        pending.append(block)
        have += len(block["ids"])
        while have >= size:
            yield _rows(pending, 0, size)
            rest = _rows(pending, size)
            pending, have = ([rest] if len(rest["ids"]) else []), have - size
    if have:
        yield _rows(pending, 0)


def _positive_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"{name} must be an integer of at least {minimum}, not {value!r}")
    return int(value)


def synthetic_survey(out: str | Path, n: int, *, model="bobcat",
                     snr: float | tuple[float, float] = (20.0, 200.0), seed: int = 0,
                     chunk_size: int = 10_000, progress: bool = True) -> Path:
    """Write a survey of ``n`` noisy spectra with known parameters.

    Each row: parameters drawn uniformly in each parameter's range and kept when inside
    the grid (its nodes' convex hull for an irregular grid, the test
    :meth:`~atmoscope.statistics.GridInterpolator.contains` makes); the grid's spectrum
    interpolated there (log flux); an S/N drawn log-uniformly in ``snr``; errors
    ``model flux / S/N`` per pixel (the true σ) and flux ``model + N(0, error)``, negative
    values kept. Ids ``syn-0000001``, …; truth columns: the grid's parameters and ``snr``;
    the wavelengths stored once, in the grid's unit; flux in the grid's unit.

    Rows depend only on ``seed`` and their number (see :data:`RANDOM_BLOCK`), so the same
    seed gives the same file, and the first rows of a longer survey are a shorter one.

    Args:
        out: the file: ``.parquet``/``.pq`` (streamed: any ``n``) or ``.fits``/``.fit``/
            ``.fts`` (held in memory until written).
        n: the number of spectra.
        model: a built-in model's name or a bundle folder (its embedded training grid is
            used), or a :class:`~atmoscope.data.SpectralGrid`.
        snr: the S/N range ``(low, high)``, or one S/N for every row.
        seed: the random seed (≥ 0).
        chunk_size: rows per write (a Parquet row group); does not change the values.
        progress: show a progress bar.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: a bad ``n``, ``snr``, ``seed`` or ``chunk_size``, an unknown model, a
            model without an embedded grid, or an output name that is no survey format.
        GridError: a grid that cannot be interpolated (e.g. zero flux).
    """
    from tqdm.auto import tqdm

    n = _positive_int(n, "n", 1)
    seed = _positive_int(seed, "seed", 0)
    chunk_size = _positive_int(chunk_size, "chunk_size", 1)
    snr_range = _snr_range(snr)
    if _format_of(Path(out)) is None:  # before loading the model
        raise ConfigError(f"{out}: a survey file must end in .parquet, .pq, .fits, .fit, .fts "
                          "or .fits.gz")
    grid, name = _grid_of(model)
    sampler = _Sampler(grid)
    truths = [*grid.parameters.columns, "snr"]
    meta = {
        "generator": "atmoscope.evaluation.synthetic_survey",
        "model": name, "grid_content_hash": grid.content_hash, "n": n, "seed": seed,
        "snr": list(snr_range), "random_block": RANDOM_BLOCK,
        "noise": "error = model flux / snr per pixel; flux = model + N(0, error)",
        "sampling": "uniform in each parameter, inside the grid's nodes (convex hull)",
    }
    blocks = (_block(sampler, grid, seed, b, min(RANDOM_BLOCK, n - b * RANDOM_BLOCK),
                     snr_range)
              for b in range(-(-n // RANDOM_BLOCK)))
    with SurveyWriter(out, grid.wavelength_quantity, grid.flux_unit, truths_names=truths,
                      meta=meta) as writer, \
            tqdm(total=n, unit="spectra", disable=not progress, desc="synthetic survey") as bar:
        for chunk in _chunks(blocks, chunk_size):
            writer.write(chunk["ids"], chunk["flux"], chunk["error"], chunk["truths"])
            bar.update(len(chunk["ids"]))
    return Path(out)
