"""The cross-fitted systematic floor: folds, pooling, the out-of-sample check, the cache."""

import numpy as np
import pytest

from atmoscope.errors import ConfigError
from atmoscope.evaluation.calibration import _choose_floor, _standardised
from atmoscope.training import TrainConfig, Trainer
from atmoscope.training.cross_fit import cross_fitted_floor, fold_rows

CONFIG = TrainConfig(model="posterior", epochs=3, seed=1, calibrate=False)


def test_fold_rows_deal_every_row_once():
    rows = np.arange(10, 93)
    parts = fold_rows(rows, 4, seed=3)
    assert [len(p) for p in parts] == [21, 21, 21, 20]
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), rows)
    assert all(np.all(np.diff(p) > 0) for p in parts)
    # seeded: the same folds again, other folds for another seed
    assert all(np.array_equal(a, b) for a, b in zip(parts, fold_rows(rows, 4, seed=3),
                                                    strict=True))
    assert not np.array_equal(parts[0], fold_rows(rows, 4, seed=4)[0])
    for folds in (1, 84):
        with pytest.raises(ConfigError, match="folds of the training nodes"):
            fold_rows(rows, folds)


@pytest.fixture(scope="module")
def final(small_split):
    grid, split = small_split
    return Trainer(CONFIG, progress=False).fit(grid, split).to_bundle(grid, split)


@pytest.fixture(scope="module")
def cross_fitted(final, small_split, tmp_path_factory):
    grid, split = small_split
    cache = tmp_path_factory.mktemp("folds")
    lines = []
    result = cross_fitted_floor(final, grid, split, CONFIG, folds=2, n_observations=60,
                                n_samples=40, seed=2, cache=cache, log=lines.append)
    return result, cache, lines


def test_the_floor_is_fitted_on_every_training_node(cross_fitted, final, small_split):
    result, cache, lines = cross_fitted
    grid, split = small_split
    targets = list(grid.targets)
    assert result["targets"] == targets and result["folds"] == 2
    assert result["n_nodes"] == len(split.train) and result["n_observations"] == 120
    assert len(result["floor"]) == 4 and min(result["floor"]) >= 0
    assert len(lines) == 2 and "trained on" in lines[0]
    # the floor brings the pooled out-of-fold coverage (3 epochs: far too narrow) closer
    # to nominal at both levels
    for name in targets:
        before, after = (np.subtract(result[key][name], [0.68, 0.95])
                         for key in ("coverage_before", "coverage_after"))
        assert (after ** 2).sum() <= (before ** 2).sum()
    # each fold scored with the floor chosen on the other: a rate and its error per target
    for name in targets:
        scored = result["coverage_cross_validated"][name]
        assert all(0 <= c <= 1 for c in scored["coverage"])
        assert all(s >= 0 for s in scored["se"])
    # a mask input: the floor's growth with missing pixels, fitted on observations with gaps
    assert final.preprocessor.mask_channel
    assert len(result["floor_per_missing"]) == 4 and min(result["floor_per_missing"]) >= 0
    assert set(result["coverage_with_gaps_after"]) == set(targets)
    # what the result says is what the pooled samples give
    folds = [dict(np.load(p)) for p in sorted(cache.glob("fold-*.npz"))]
    assert len(folds) == 2 and all(f["samples"].shape[1:] == (40, 4) for f in folds)
    rows = np.concatenate([f["rows"] for f in folds])
    assert set(rows) <= set(split.train) and not set(rows) & (set(split.val) | set(split.test))
    z, truth = _standardised(final, np.concatenate([f["samples"] for f in folds]),
                             np.concatenate([f["truth"] for f in folds]))
    assert _choose_floor(z, truth, targets, 2)[0] == result["floor"]


def test_a_rerun_trains_only_what_is_missing(cross_fitted, final, small_split, monkeypatch):
    result, cache, _ = cross_fitted
    grid, split = small_split

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(Trainer, "fit", no_training)
    lines = []
    again = cross_fitted_floor(final, grid, split, CONFIG, folds=2, n_observations=60,
                               n_samples=40, seed=2, cache=cache, log=lines.append)
    assert again == result and all("from" in line for line in lines)
    # other settings are other folds: trained anew
    with pytest.raises(AssertionError, match="trained again"):
        cross_fitted_floor(final, grid, split, CONFIG, folds=2, n_observations=61,
                           n_samples=40, seed=2, cache=cache)


def test_workers_give_the_same_floor(cross_fitted, final, small_split, tmp_path):
    grid, split = small_split
    result = cross_fitted_floor(final, grid, split, CONFIG, folds=2, workers=2,
                                n_observations=60, n_samples=40, seed=2, log=lambda _: None)
    assert result == cross_fitted[0]
