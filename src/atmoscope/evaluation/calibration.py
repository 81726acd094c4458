"""Are the uncertainties right? Coverage of credible intervals and rank statistics.

For held-out grid spectra with known parameters, made noisy at a random S/N, an
estimator's samples — from a learned posterior, or Monte-Carlo draws over the errors ×
ensemble members (TelescopeML's kind of uncertainty), drawn exactly as prediction draws
them — give central intervals at each nominal level; the *empirical* coverage is the
fraction of spectra whose true value falls inside. Calibrated uncertainties have
empirical = nominal. Simulation-based-calibration ranks (Talts et al. 2018) are the rank
of the truth among the samples: uniform when calibrated, ∪-shaped when the intervals are
too narrow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from atmoscope.data.grid import SpectralGrid
from atmoscope.data.noise import log_uniform_snr, noisy_observation, random_gaps
from atmoscope.models.sampling import missing_fraction, monte_carlo_samples, usable_pixels

__all__ = ["LEVELS", "calibrate_estimator", "central_coverage", "check_pass_chance",
           "coverage_error", "coverage_report", "fit_floor_growth", "fit_novelty",
           "fit_systematic_floor", "held_out_observations", "joint_coverage",
           "point_monte_carlo", "sbc_ranks"]

#: Nominal levels of the coverage curve.
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
# the levels whose coverage is checked, and node sets drawn for its scatter and for the
# chance that a ±5-point check passes
_CHECK_LEVELS, _SE_DRAWS, _CHECK_DRAWS, _CHECK_BAND = (0.68, 0.95), 2000, 4000, 0.05


def central_coverage(samples: np.ndarray, truth: np.ndarray,
                     levels: Sequence[float] = LEVELS) -> np.ndarray:
    """Empirical coverage of central intervals.

    Args:
        samples: shape ``(n_spectra, n_samples, k)``.
        truth: shape ``(n_spectra, k)``.
        levels: nominal probabilities of the central intervals.

    Returns:
        ``(len(levels), k)``: fraction of spectra whose truth lies in the interval.
    """
    return _covered(samples, truth, levels).mean(axis=1)


def _covered(samples: np.ndarray, truth: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """``(len(levels), n_spectra, k)``: whether each truth lies in its central interval."""
    levels = np.asarray(levels, dtype=float)
    # every bound from one partial sort of each spectrum's samples
    bounds = np.quantile(samples, np.concatenate([(1 - levels) / 2, (1 + levels) / 2]), axis=1)
    lo, hi = bounds[:len(levels)], bounds[len(levels):]
    return (truth >= lo) & (truth <= hi)


def coverage_error(samples: np.ndarray, truth: np.ndarray, rows: np.ndarray,
                   levels: Sequence[float] = _CHECK_LEVELS, n_boot: int = _SE_DRAWS,
                   seed: int = 0) -> np.ndarray:
    """Standard error of central-interval coverage, by bootstrap over grid nodes.

    Repeated observations of one held-out node share its interpolation error, so their
    coverage is not independent and the binomial error of the observations understates
    the scatter; resampling whole nodes (Efron & Tibshirani 1993, ch. 8) does not.

    Args:
        samples, truth: as for :func:`central_coverage`.
        rows: the grid row (node) each observation was made of, ``(n_spectra,)``.

    Returns:
        ``(len(levels), k)``: the bootstrap standard deviation of each coverage.
    """
    hits, counts = _node_hits(samples, truth, rows, levels)
    return _resampled(hits, counts, n_boot, seed).std(axis=1)


def check_pass_chance(samples: np.ndarray, truth: np.ndarray, rows: np.ndarray,
                      band: float = _CHECK_BAND, levels: Sequence[float] = _CHECK_LEVELS,
                      n_boot: int = _CHECK_DRAWS, seed: int = 0) -> float:
    """How often a coverage check on this many nodes would pass — every parameter's
    coverage within ``band`` of nominal at every level — for an estimator calibrated on
    average whose nodes scatter as these do.

    Each rate's hits per node are shifted so that their pooled rate is nominal (the
    scatter between nodes kept; a shifted node's own rate may leave [0, 1], which only
    pooled rates read), then whole nodes are resampled, the same nodes for every rate
    (their correlation kept). A check whose pass chance is small cannot tell a
    calibrated estimator from a miscalibrated one: it needs more nodes.

    Args:
        samples, truth, rows: as for :func:`coverage_error`.
        band: the check's tolerance (0.05: ±5 points).

    Returns:
        The fraction of resampled node sets on which every rate passes.
    """
    return _pass_chance(*_node_hits(samples, truth, rows, levels), levels, band, n_boot, seed)


def _pass_chance(hits, counts, levels, band: float, n_boot: int, seed: int) -> float:
    """:func:`check_pass_chance` from :func:`_node_hits`."""
    nominal = np.asarray(levels, dtype=float)[:, None, None]
    hits = hits + (nominal - hits.sum(axis=1, keepdims=True) / counts.sum()) * counts[:, None]
    coverage = _resampled(hits, counts, n_boot, seed)
    return float(np.mean(np.all(np.abs(coverage - nominal) <= band + 1e-12, axis=(0, 2))))


def _node_hits(samples, truth, rows, levels) -> tuple[np.ndarray, np.ndarray]:
    """Covered observations per node, ``(len(levels), n_nodes, k)``, and observations per
    node."""
    nodes, inverse = np.unique(np.asarray(rows), return_inverse=True)
    hits = np.zeros((len(levels), len(nodes), samples.shape[2]))
    np.add.at(hits, (slice(None), inverse), _covered(samples, truth, levels))
    return hits, np.bincount(inverse, minlength=len(nodes))


def _resampled(hits, counts, n_boot: int, seed: int) -> np.ndarray:
    """Pooled coverage of ``n_boot`` node sets drawn with replacement,
    ``(len(levels), n_boot, k)``."""
    n = len(counts)
    draw = np.random.default_rng(seed).integers(0, n, (n_boot, n))
    # times each node is drawn, per set: memory n_boot × nodes, not × levels × k as well
    times = np.bincount((draw + n * np.arange(n_boot)[:, None]).ravel(),
                        minlength=n_boot * n).reshape(n_boot, n).astype(float)
    return np.einsum("bn,lnk->lbk", times, hits) / (times @ counts)[None, :, None]


def joint_coverage(samples: np.ndarray, truth: np.ndarray,
                   levels: Sequence[float] = LEVELS) -> np.ndarray:
    """Coverage of joint credible regions, taken as the Gaussian ellipsoids of the samples'
    mean and covariance (squared Mahalanobis distance below the χ²_k quantile)."""
    k = samples.shape[2]
    mean = samples.mean(axis=1)
    cov = np.einsum("nsi,nsj->nij", samples - mean[:, None], samples - mean[:, None]) / (
        samples.shape[1] - 1)
    cov += np.eye(k) * 1e-12 * np.trace(cov, axis1=1, axis2=2)[:, None, None]
    diff = truth - mean
    d2 = np.einsum("ni,nij,nj->n", diff, np.linalg.pinv(cov), diff)
    return np.array([np.mean(d2 <= stats.chi2.ppf(level, k)) for level in levels])


def sbc_ranks(samples: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rank of the truth among each spectrum's samples, shape ``(n_spectra, k)``."""
    return np.sum(samples < truth[:, None, :], axis=1)


def held_out_observations(grid: SpectralGrid, rows: np.ndarray, *, n_spectra: int = 500,
                          snr_range: tuple[float, float] = (5.0, 100.0), seed: int = 0,
                          profile: np.ndarray | None = None, repeat: bool = False,
                          mask_fraction: float = 0.0) -> dict[str, np.ndarray]:
    """Noisy observations of up to ``n_spectra`` of the given (held-out) grid rows.

    Each gets Gaussian noise at an S/N drawn log-uniformly in ``snr_range`` (shaped by
    the relative-error ``profile``, if any), with the errors an observer would quote
    (:func:`~atmoscope.data.noise.noisy_observation`).

    Args:
        repeat: when there are fewer rows than ``n_spectra``, observe each several
            times (independent noise) to reach ``n_spectra``.
        mask_fraction: remove one contiguous stretch of this fraction of the pixels, at
            a random place, from every observation (its flux becomes NaN).

    Returns:
        ``{"rows", "observed", "error", "truth", "snr", "mask"}`` (``mask``: True where
        a pixel holds data).
    """
    rng = np.random.default_rng(seed)
    rows = np.asarray(rows)
    if repeat and 0 < len(rows) < n_spectra:
        rows = np.resize(rows, n_spectra)
    rows = rng.permutation(rows)[:n_spectra]
    snr = log_uniform_snr(*snr_range, len(rows), rng)
    observed, error = noisy_observation(grid.flux[rows], snr, rng, profile)
    mask = np.ones(observed.shape, dtype=bool)
    width = int(round(mask_fraction * grid.n_wavelengths))
    if width:
        for i, start in enumerate(rng.integers(0, grid.n_wavelengths - width + 1, len(rows))):
            mask[i, start:start + width] = False
        observed = np.where(mask, observed, np.nan)
    return {"rows": rows, "observed": observed, "error": error,
            "truth": grid.target_values[rows], "snr": snr[:, 0], "mask": mask}


def coverage_report(samples: np.ndarray, truth: np.ndarray, names: Sequence[str]) -> dict:
    """Coverage curves (per parameter and joint), coverage at 68 % and 95 %, SBC ranks
    and the 68 % interval widths of ``samples`` ``(n, s, k)`` against ``truth`` ``(n, k)``."""
    cov = central_coverage(samples, truth, LEVELS)
    c68, c95 = central_coverage(samples, truth, [0.68, 0.95])
    lo, hi = np.quantile(samples, [0.16, 0.84], axis=1)
    return {
        "levels": list(LEVELS),
        "coverage": {n: cov[:, j].tolist() for j, n in enumerate(names)},
        "joint": joint_coverage(samples, truth, LEVELS).tolist(),
        "parameters": {n: {"coverage_68": float(c68[j]), "coverage_95": float(c95[j]),
                           "median_width_68": float(np.median(hi[:, j] - lo[:, j]))}
                       for j, n in enumerate(names)},
        "ranks": sbc_ranks(samples, truth),
        "width68": hi - lo,
        "mean": samples.mean(axis=1),
        "n_spectra": int(len(truth)),
        "n_samples": int(samples.shape[1]),
    }


def calibrate_estimator(estimator, grid: SpectralGrid, rows: np.ndarray, *,
                        n_spectra: int = 500, n_samples: int = 100,
                        snr_range: tuple[float, float] = (5.0, 100.0), seed: int = 0,
                        repeat: bool = False, mask_fraction: float = 0.0,
                        monte_carlo: bool = True) -> dict:
    """Coverage of an estimator's uncertainties on noisy held-out grid spectra.

    The samples are exactly what prediction reports for the same spectrum, errors and
    seed: both call ``estimator.sample(flux, error, n, seed)``. For an estimator whose
    uncertainty is not already Monte-Carlo (a posterior), the Monte-Carlo uncertainty of
    its own point estimates is scored too, under ``"monte_carlo"``: TelescopeML's method
    applied to the same networks.

    Args:
        estimator: a :class:`~atmoscope.models.ModelBundle` or
            :class:`~atmoscope.models.Ensemble`.
        grid: grid holding the spectra, with the estimator's targets; ``rows``: which
            ones (held-out nodes).
        n_spectra: noisy observations to score; ``n_samples``: samples per spectrum in all
            (shared by the members of an ensemble).
        snr_range: S/N range, drawn log-uniformly; ``seed``: of observations and samples.
        repeat, mask_fraction: see :func:`held_out_observations`.
        monte_carlo: also score the Monte-Carlo uncertainty of a posterior's point
            estimates (one forward pass per draw: the slow part).

    Returns:
        :func:`coverage_report` (with ``coverage_68_se`` and ``coverage_95_se`` per
        parameter: :func:`coverage_error` over the nodes, and ``check_pass_chance``:
        :func:`check_pass_chance` of a ±5-point check on these nodes) plus ``"snr_range"``,
        per-spectrum ``"snr"``, ``"method"``
        and, for posteriors, ``"monte_carlo"``.
    """
    obs = held_out_observations(grid, rows, n_spectra=n_spectra, snr_range=snr_range,
                                seed=seed, profile=estimator.noise_profile, repeat=repeat,
                                mask_fraction=mask_fraction)
    names = list(grid.targets)
    samples = estimator.sample(obs["observed"], obs["error"], n_samples, seed, mask=obs["mask"])
    report = coverage_report(samples, obs["truth"], names)
    # which observations each interval covers, per node: once for both checks over nodes
    hits, counts = _node_hits(samples, obs["truth"], obs["rows"], _CHECK_LEVELS)
    se = _resampled(hits, counts, _SE_DRAWS, seed).std(axis=1)  # coverage_error
    for j, name in enumerate(names):
        report["parameters"][name].update(coverage_68_se=float(se[0, j]),
                                          coverage_95_se=float(se[1, j]))
    report["check_pass_chance"] = _pass_chance(hits, counts, _CHECK_LEVELS, _CHECK_BAND,
                                               _CHECK_DRAWS, seed)
    members = estimator.members
    report.update(snr_range=list(snr_range), snr=obs["snr"], mask_fraction=mask_fraction,
                  n_nodes=int(len(np.unique(obs["rows"]))),
                  method=f"{estimator.sample_label} ({len(members)} model(s) × "
                         f"{samples.shape[1] // len(members)})")
    if monte_carlo and estimator.uncertainty != "monte_carlo":
        comparison = coverage_report(point_monte_carlo(estimator, obs["observed"], obs["error"],
                                                       n_samples, seed, obs["mask"]),
                                     obs["truth"], names)
        report["monte_carlo"] = {k: comparison[k] for k in ("coverage", "joint", "parameters")}
    return report


def point_monte_carlo(estimator, flux: np.ndarray, error: np.ndarray, n_samples: int,
                      seed: int = 0, mask: np.ndarray | None = None) -> np.ndarray:
    """TelescopeML's uncertainty for any estimator: each member's point estimates of
    Monte-Carlo draws over the errors (member ``i`` with seed ``seed + i``), pooled;
    shape ``(n_spectra, n_samples rounded up to the members, k)``."""
    members = estimator.members
    per = -(-n_samples // len(members))
    usable = usable_pixels(flux, mask)
    return np.concatenate([
        monte_carlo_samples(m.predict, flux, error, per, seed + i, usable, m.wavelength,
                            pass_errors=m.reads_errors)
        for i, m in enumerate(members)], axis=1)


def fit_systematic_floor(bundle, grid: SpectralGrid, rows: np.ndarray, *,
                         n_observations: int = 1000, n_samples: int = 100,
                         snr_range: tuple[float, float] = (5.0, 100.0), seed: int = 0,
                         gaps: bool = False) -> dict:
    """The systematic floor that makes a bundle's intervals cover at held-out nodes.

    A network is calibrated for what it was trained on; at a grid node it never saw
    (and more so on a real object) it also errs by the interpolation and model error
    between nodes, which no S/N removes. Added in quadrature — a Gaussian of width
    ``τ_j`` in the standardised space of target ``j`` convolved with its samples — a
    floor ``τ_j`` is the smallest honest fix: narrow posteriors at high S/N widen most,
    noise-dominated ones barely. ``τ_j`` (≥ 0, never narrowing) is chosen on a grid of
    values to bring the coverage of the 68 % and 95 % central intervals, on noisy
    observations of the held-out ``rows`` (each observed repeatedly at S/N log-uniform
    in ``snr_range``), closest to nominal (least squares over the two levels).

    A spectrum with missing pixels knows less, and its network may not know how much
    less: with ``gaps``, the floor also grows linearly with the fraction ``f`` of model
    pixels without data, ``τ_j + γ_j f``, ``γ_j`` (≥ 0) chosen the same way on the same
    nodes observed with random gaps (2–60 % of the pixels, as in training).

    Args:
        bundle: a :class:`~atmoscope.models.ModelBundle` without a floor yet.
        grid, rows: the grid and the held-out rows (validation nodes, never test).
        gaps: also fit the growth with missing pixels (networks trained with gaps).

    Returns:
        ``{"floor": [τ per target], "targets", "n_nodes", "n_observations",
        "snr_range", "coverage_before", "coverage_after"}``, with ``gaps`` also
        ``"floor_per_missing": [γ per target]`` and ``"coverage_with_gaps_before"`` and
        ``"…_after"``; coverages are per target ``[68 %, 95 %]``.
    """
    obs = held_out_observations(grid, rows, n_spectra=n_observations, snr_range=snr_range,
                                seed=seed, profile=bundle.noise_profile, repeat=True)
    z, truth = _standardised(bundle, bundle.sample(obs["observed"], obs["error"], n_samples,
                                                   seed), obs["truth"])
    floor, before, after = _choose_floor(z, truth, bundle.targets, seed)
    result = {"floor": floor, "targets": list(bundle.targets),
              "n_nodes": int(len(np.unique(obs["rows"]))), "n_observations": int(len(z)),
              "snr_range": list(snr_range), "coverage_before": before, "coverage_after": after}
    if gaps:
        result.update(fit_floor_growth(bundle, grid, rows, np.asarray(floor),
                                        n_observations, n_samples, snr_range, seed))
    return result


def fit_floor_growth(bundle, grid: SpectralGrid, rows: np.ndarray, floor: np.ndarray,
                     n_observations: int = 1000, n_samples: int = 100,
                     snr_range: tuple[float, float] = (5.0, 100.0), seed: int = 0) -> dict:
    """The growth ``γ`` per target of a floor ``τ`` with the fraction of missing pixels
    (:func:`fit_systematic_floor`), on noisy observations of the held-out ``rows`` with
    random gaps. Returns ``{"floor_per_missing": [γ], "coverage_with_gaps_before",
    "coverage_with_gaps_after"}`` (before: ``τ`` alone)."""
    obs = held_out_observations(grid, rows, n_spectra=n_observations, snr_range=snr_range,
                                seed=seed + 1, profile=bundle.noise_profile, repeat=True)
    mask = random_gaps(len(obs["rows"]), grid.n_wavelengths,
                       np.random.default_rng([seed, 5]), fraction=1.0)
    observed = np.where(mask, obs["observed"], np.nan)
    z, truth = _standardised(bundle, bundle.sample(observed, obs["error"], n_samples, seed,
                                                   mask=mask, floor=False), obs["truth"])
    growth, before, after = _choose_growth(z, truth, missing_fraction(mask), floor,
                                           bundle.targets, seed)
    return {"floor_per_missing": growth, "coverage_with_gaps_before": before,
            "coverage_with_gaps_after": after}


#: the candidate floors τ and growths γ (standardised units; per unit missing fraction):
#: none, or geometric steps of 3.5 % from 0.001 — a floor is a scale, and Teff's posterior
#: at high S/N is ~0.01 of its spread wide, finer than a linear grid's first step
_TAUS = np.concatenate([[0.0], np.geomspace(1e-3, 2.0, 220)])
_GAMMAS = np.concatenate([[0.0], np.geomspace(1e-3, 4.0, 240)])


def _choose_floor(z: np.ndarray, truth: np.ndarray, targets: Sequence[str], seed: int):
    """The floor τ per target that brings standardised samples ``z`` ``(n, s, k)`` closest
    to nominal coverage of ``truth``; returns ``(floor, before, after)`` (coverage at
    68 / 95 % per target without and with it)."""
    noise = np.random.default_rng([seed, 3]).standard_normal(z.shape)
    floor, before, after = [], {}, {}
    for j, name in enumerate(targets):
        best, before[name], after[name] = _nearest_nominal(
            z[:, :, j:j + 1], truth[:, j:j + 1], noise[:, :, j:j + 1], _TAUS)
        floor.append(float(_TAUS[best]))
    return floor, before, after


def _choose_growth(z: np.ndarray, truth: np.ndarray, missing: np.ndarray, floor,
                   targets: Sequence[str], seed: int):
    """The growth γ per target of the floor ``τ + γ f`` (``f``: each observation's
    ``missing`` fraction) for samples without a floor, as :func:`_choose_floor`."""
    noise = np.random.default_rng([seed, 6]).standard_normal(z.shape)
    missing = np.asarray(missing)[:, None]
    growth, before, after = [], {}, {}
    for j, name in enumerate(targets):
        best, before[name], after[name] = _nearest_nominal(
            z[:, :, j:j + 1], truth[:, j:j + 1], noise[:, :, j:j + 1],
            [(floor[j] + g * missing)[:, :, None] for g in _GAMMAS])
        growth.append(float(_GAMMAS[best]))
    return growth, before, after


def _standardised(bundle, samples: np.ndarray, truth: np.ndarray):
    """Samples ``(n, s, k)`` and truths ``(n, k)`` in the bundle's standardised units."""
    pre, k = bundle.preprocessor, samples.shape[2]
    return (pre.transform_targets(samples.reshape(-1, k)).reshape(samples.shape),
            pre.transform_targets(truth))


def _nearest_nominal(z: np.ndarray, truth: np.ndarray, noise: np.ndarray,
                     widths) -> tuple[int, list, list]:
    """Of the candidate ``widths`` of ``noise`` added to one target's samples ``z``, the
    index whose 68 % and 95 % intervals cover ``truth`` closest to nominal (least
    squares), with the coverage of the first candidate and of the chosen one."""
    coverage = np.array([central_coverage(z + w * noise, truth, (0.68, 0.95))[:, 0]
                         for w in widths])
    best = int(np.argmin(((coverage - [0.68, 0.95]) ** 2).sum(axis=1)))
    return best, coverage[0].tolist(), coverage[best].tolist()


def fit_novelty(bundle, grid: SpectralGrid, train_rows: np.ndarray, held_out_rows: np.ndarray,
                *, snr_range: tuple[float, float] = (5.0, 100.0), gaps: float = 0.0,
                seed: int = 0, n_fit: int = 4096, n_calibration: int = 1000) -> dict | None:
    """A bundle's :class:`~atmoscope.models.novelty.NoveltyScore`, fitted on the embeddings
    of noisy training spectra and calibrated on noisy held-out ones.

    Both are observed as in training: S/N log-uniform in ``snr_range`` (shaped by the
    bundle's noise profile) and, for a network with a mask input, a fraction ``gaps``
    with random gaps (:func:`~atmoscope.data.noise.random_gaps`), so that neither noise
    nor partial coverage alone makes a spectrum novel.

    Returns:
        The score's state (``NoveltyScore.to_dict``), or None for an architecture
        without an embedding.
    """
    from atmoscope.models.novelty import NoveltyScore

    rng = np.random.default_rng([seed, 4])

    def embeddings(rows, n):
        rows = rng.choice(np.asarray(rows), size=n, replace=len(rows) < n)
        snr = log_uniform_snr(*snr_range, n, rng)
        observed, error = noisy_observation(grid.flux[rows], snr, rng, bundle.noise_profile)
        mask = random_gaps(n, grid.n_wavelengths, rng, gaps) if gaps else None
        if mask is not None:
            observed = np.where(mask, observed, np.nan)
        return bundle.embed(observed, error, mask)

    train = embeddings(train_rows, n_fit)
    if train is None or not len(held_out_rows):
        return None
    return NoveltyScore().fit(train).calibrate(
        embeddings(held_out_rows, n_calibration)).to_dict()
