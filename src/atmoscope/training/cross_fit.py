"""A systematic floor fitted by cross-fitting, on every training node rather than a few.

A posterior network errs at grid nodes it never saw by the interpolation between nodes,
which no S/N removes; the systematic floor (:func:`~atmoscope.evaluation.calibration.
fit_systematic_floor`) widens its samples to cover that. Fitted on the validation nodes
alone it rests on few of them (31 of Sonora Bobcat's 350), and a node's interpolation
error is shared by all its observations, so the floor inherits the luck of those nodes:
±5–7 points of 68 % coverage from node to node.

Cross-fitting (Chernozhukov et al. 2018, *Econometrics Journal* 21, C1) fits it on the
training nodes themselves: the training nodes are dealt into ``K`` folds; ``K`` networks,
each trained exactly as the final one but without one fold (its epoch chosen on the
same validation nodes), observe their fold's nodes noisily; the floor that makes those
out-of-fold posteriors cover — pooled over every training node — is the final network's.
The validation and test nodes stay out of it. The fold networks see as many spectra
per epoch as the final one (``TrainConfig.epoch_size``: with off-node draws a batch's
spectra are drawn anew, so only the nodes they are drawn between differ), but those are
``1 - 1/K`` of the nodes, so they err a little more than the final one: the floor errs
on the wide side. The floor's own out-of-sample coverage is measured by fitting it on
``K - 1`` folds and scoring the last (``"coverage_cross_validated"``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from multiprocessing import get_context
from pathlib import Path
from typing import NamedTuple

import numpy as np

from atmoscope._atomic import atomic_path
from atmoscope._device import torch_threads
from atmoscope.data.grid import SpectralGrid
from atmoscope.data.splits import Split
from atmoscope.errors import ConfigError

__all__ = ["cross_fitted_floor", "fold_rows"]


def fold_rows(rows: np.ndarray, folds: int, seed: int = 0) -> list[np.ndarray]:
    """``rows`` dealt at random (``seed``) into ``folds`` folds of near-equal size, each
    sorted."""
    rows = np.asarray(rows)
    if not 2 <= folds <= len(rows):
        raise ConfigError(f"cross-fitting needs 2 to {len(rows)} folds of the training nodes, "
                          f"not {folds}")
    shuffled = np.random.default_rng([seed, 7]).permutation(rows)
    return [np.sort(part) for part in np.array_split(shuffled, folds)]


def cross_fitted_floor(bundle, grid: SpectralGrid, split: Split, config, *, folds: int = 4,
                       workers: int = 1, n_observations: int = 1000, n_samples: int = 100,
                       snr_range: tuple[float, float] = (5.0, 100.0), seed: int = 0,
                       cache: str | Path | None = None,
                       log: Callable[[str], None] | None = None) -> dict:
    """The systematic floor ``τ`` (and its growth ``γ`` with missing pixels, for networks
    with a mask input) of ``bundle``, cross-fitted over ``folds`` folds of its training
    nodes.

    Args:
        bundle: the final network (its targets' standardisation is the floor's unit).
        grid, split: what it was trained on; ``config``: the
            :class:`~atmoscope.training.TrainConfig` it was trained with (each fold's
            network is trained with it, without calibration).
        folds: ``K``; ``workers``: fold networks trained at once (one process and one
            torch thread each, so results do not depend on it).
        n_observations: noisy observations of each fold's nodes (S/N log-uniform in
            ``snr_range``), and as many again with random gaps for ``γ``;
            ``n_samples``: posterior samples of each.
        cache: a folder keeping each fold's samples, so a rerun trains only the folds
            not done (keyed by grid, split, configuration and these settings).
        log: called with a line as each fold is done (default: silent).

    Returns:
        The bundle's new ``systematics``: ``floor``, ``floor_per_missing`` (mask-input
        networks), ``targets``, ``method``, ``folds``, ``n_nodes``, ``n_observations``,
        ``snr_range``, ``coverage_before`` / ``coverage_after`` (pooled out-of-fold, per
        target ``[68 %, 95 %]``), ``coverage_cross_validated`` (each fold scored with the
        floor fitted on the others, and its standard error over nodes), and with gaps the
        same ``coverage_with_gaps_*``.
    """
    from atmoscope.evaluation.calibration import (
        _choose_floor,
        _choose_growth,
        _standardised,
        central_coverage,
        coverage_error,
    )

    parts = fold_rows(split.train, folds, seed)
    gaps = bool(bundle.preprocessor.mask_channel)
    # each fold's network trained as the final one: the same configuration and the same
    # batches (spectra per epoch), on fewer nodes
    fold_config = replace(config, calibrate=False,
                          epoch_size=config.epoch_size or len(split.train))
    jobs = [_FoldJob(grid, Split(np.setdiff1d(split.train, part), split.val, part,
                                 split.description),
                     fold_config, i, n_observations, n_samples, snr_range, seed, gaps)
            for i, part in enumerate(parts)]
    results = _run(jobs, workers, None if cache is None else Path(cache),
                   log or (lambda line: None))

    def pooled(key):
        return np.concatenate([r[key] for r in results])

    targets = list(bundle.targets)
    z, truth = _standardised(bundle, pooled("samples"), pooled("truth"))
    floor, before, after = _choose_floor(z, truth, targets, seed)
    out = {"floor": floor, "targets": targets,
           "method": f"cross-fitted: {folds} networks, each without one fold of the "
                     "training nodes, observing that fold",
           "folds": folds, "n_nodes": int(len(split.train)), "n_observations": int(len(z)),
           "snr_range": list(snr_range), "coverage_before": before, "coverage_after": after}
    # out of sample: each fold with the floor chosen on the others
    fold = pooled("fold")
    scored = np.empty_like(z)
    for i in range(folds):
        rest = fold != i
        tau, _, _ = _choose_floor(z[rest], truth[rest], targets, seed)
        noise = np.random.default_rng([seed, 9, i]).standard_normal(z[~rest].shape)
        scored[~rest] = z[~rest] + noise * np.asarray(tau)
    c68, c95 = central_coverage(scored, truth, (0.68, 0.95))
    se = coverage_error(scored, truth, pooled("rows"), seed=seed)
    out["coverage_cross_validated"] = {
        name: {"coverage": [float(c68[j]), float(c95[j])], "se": se[:, j].tolist()}
        for j, name in enumerate(targets)}
    if gaps:
        zg, truth_g = _standardised(bundle, pooled("gap_samples"), pooled("truth"))
        growth, before_g, after_g = _choose_growth(zg, truth_g, pooled("missing"), floor,
                                                   targets, seed)
        out.update(floor_per_missing=growth, coverage_with_gaps_before=before_g,
                   coverage_with_gaps_after=after_g)
    return out


class _FoldJob(NamedTuple):
    """One fold: the network's training (its held-out nodes as the split's test rows) and
    how those nodes are observed. Picklable, for the worker processes."""

    grid: SpectralGrid
    split: Split
    config: object  # the TrainConfig
    index: int
    n_observations: int
    n_samples: int
    snr_range: tuple
    seed: int
    gaps: bool


def _run(jobs: list[_FoldJob], workers: int, cache: Path | None, log) -> list[dict]:
    """Each fold's samples: from ``cache`` where there, else trained (``workers`` at once)."""
    results: dict[int, dict] = {}
    todo = []
    for job in jobs:
        path = None if cache is None else cache / f"fold-{job.index}-{_key(job)}.npz"
        if path is not None and path.is_file():
            with np.load(path) as saved:
                results[job.index] = dict(saved)
            log(f"fold {job.index + 1}/{len(jobs)}: from {path}")
        else:
            todo.append((job, path))

    def done(job, path, result):
        results[job.index] = result
        if path is not None:
            with atomic_path(path) as tmp, open(tmp, "wb") as file:
                np.savez(file, **result)
        log(f"fold {job.index + 1}/{len(jobs)}: trained on {len(job.split.train)} nodes, "
            f"observed its {len(job.split.test)}")

    if workers <= 1 or len(todo) <= 1:
        for job, path in todo:
            done(job, path, _fold(job))
    else:
        # spawn: a fresh interpreter per worker (torch's threads do not survive a fork)
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=get_context("spawn")) as pool:
            futures = [(job, path, pool.submit(_fold, job)) for job, path in todo]
            for job, path, future in futures:
                done(job, path, future.result())
    return [results[i] for i in range(len(jobs))]


def _key(job: _FoldJob) -> str:
    """What a fold's samples depend on, hashed: grid, rows, configuration, settings."""
    grid, split, config, i, *settings = job
    text = json.dumps([grid.content_hash, split.train.tolist(), split.val.tolist(),
                       split.test.tolist(), asdict(config), i, settings], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _fold(job: _FoldJob) -> dict:
    """Train fold ``i``'s network (one torch thread) and sample noisy observations of its
    held-out nodes, complete and with gaps (:func:`_fold_samples`; physical units)."""
    from atmoscope.training.trainer import Trainer

    grid, split, config, i, n_observations, n_samples, snr_range, seed, gaps = job
    with torch_threads(1):  # one thread: the same numbers whether in a worker or not
        return _fold_samples(Trainer(config, progress=False).fit(grid, split)
                             .to_bundle(grid, split), grid, split.test, i, n_observations,
                             n_samples, snr_range, seed, gaps)


def _fold_samples(bundle, grid, rows, i, n_observations, n_samples, snr_range, seed, gaps):
    """Fold ``i``'s network's samples (no floor) of noisy observations of its ``rows``."""
    from atmoscope.data.noise import random_gaps
    from atmoscope.evaluation.calibration import held_out_observations
    from atmoscope.models.sampling import missing_fraction

    obs = held_out_observations(grid, rows, n_spectra=n_observations,
                                snr_range=snr_range, seed=seed + 100 * (i + 1),
                                profile=bundle.noise_profile, repeat=True)
    out = {"fold": np.full(len(obs["rows"]), i), "rows": obs["rows"], "truth": obs["truth"],
           "samples": bundle.sample(obs["observed"], obs["error"], n_samples, seed,
                                    floor=False)}
    if gaps:  # the same observations, with random gaps (as in training)
        mask = random_gaps(len(obs["rows"]), grid.n_wavelengths,
                           np.random.default_rng([seed, 5, i]), fraction=1.0)
        out["gap_samples"] = bundle.sample(np.where(mask, obs["observed"], np.nan),
                                           obs["error"], n_samples, seed, mask=mask,
                                           floor=False)
        out["missing"] = missing_fraction(mask)
    return out
