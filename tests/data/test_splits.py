"""Random (TelescopeML's) and leave-nodes-out splits."""

import numpy as np
import pytest

from atmoscope.data.splits import node_split, parse_holdout, random_split, split_again
from atmoscope.errors import ConfigError


def test_random_split_is_telescopemls():
    split = random_split(30888, seed=42)
    assert split.sizes() == (25019, 2780, 3089)
    rows = np.concatenate([split.train, split.val, split.test])
    assert np.array_equal(np.sort(rows), np.arange(30888))
    assert np.array_equal(random_split(30888, seed=42).test, split.test)
    assert not np.array_equal(random_split(30888, seed=1).test, split.test)


def test_node_split_holds_out_whole_nodes(small):
    split = node_split(small, {"temperature": "every3"}, seed=3)
    held = split.description["holdout"]["temperature"]
    assert held == [800.0, 1100.0]  # every third interior node, with training nodes around
    teff = small.parameters["temperature"].to_numpy()
    assert set(teff[split.test]) == set(held)
    assert not set(teff[np.concatenate([split.train, split.val])]) & set(held)
    assert len(split.test) == 2 * 36 and len(split.val) == round(0.1 * (324 - 72))
    explicit = node_split(small, {"temperature": [800, 900], "gravity": [4.5]})
    p = small.parameters.iloc[explicit.test]
    assert np.all(p["temperature"].isin([800, 900]) | (p["gravity"] == 4.5))


def test_node_split_errors(small):
    with pytest.raises(ConfigError, match=r"hold-out value\(s\) \[750.0\] are not grid nodes"):
        node_split(small, {"temperature": [750]})
    with pytest.raises(ConfigError, match="not a parameter"):
        node_split(small, {"fsed": "every3"})
    assert parse_holdout("temperature=700,900;gravity=every2") == {
        "temperature": [700.0, 900.0], "gravity": "every2"}
    with pytest.raises(ConfigError, match="not NAME=VALUES"):
        parse_holdout("temperature")


def test_a_split_is_made_again_from_its_record(small):
    for split in (random_split(small.n_spectra, seed=5),
                  node_split(small, {"temperature": "every3"}, val_size=0.2, seed=3)):
        record = {**split.description, "test_rows": split.test.tolist()}  # a bundle's
        again = split_again(small, record)
        for part in ("train", "val", "test"):
            np.testing.assert_array_equal(getattr(again, part), getattr(split, part))
    with pytest.raises(ConfigError, match="other test rows than the recorded ones"):
        split_again(small, {**random_split(small.n_spectra, seed=5).description,
                            "test_rows": [0, 1, 2]})
    with pytest.raises(ConfigError, match="cannot make a 'files' split again"):
        split_again(small, {"kind": "files"})


def test_the_shipped_models_splits_are_made_again():
    from atmoscope.models import load_model
    from atmoscope.pretrained import model_path

    bundle = load_model(model_path("bobcat"))
    split = split_again(bundle.training_grid(), bundle.split)
    assert split.sizes() == tuple(bundle.split["sizes"])
