"""``Ensemble``: member folders read back by ``load_estimator``."""

import pytest

from atmoscope.errors import BundleError
from atmoscope.models import load_estimator
from atmoscope.training import TrainConfig
from atmoscope.workflows import train_bundle


def test_ensemble_may_not_mix_posterior_and_point_models(posterior_bundle, small_split, tmp_path):
    grid, split = small_split
    _, path = posterior_bundle
    import shutil

    shutil.copytree(path, tmp_path / "member-0")
    train_bundle(grid, split, TrainConfig(model="resmlp", epochs=1), tmp_path / "member-1",
                 progress=False, snrs=())
    with pytest.raises(BundleError, match="mixes posterior and point models"):
        load_estimator(tmp_path)
