"""The novelty score: Mahalanobis distance of an embedding, threshold at a held-out quantile."""

import numpy as np
import pytest

from atmoscope.errors import BundleError, ConfigError
from atmoscope.models.novelty import NoveltyScore


def test_threshold_is_the_held_out_quantile_and_far_points_score_high():
    rng = np.random.default_rng(0)
    cov = np.diag([1.0, 4.0, 0.25])
    train = rng.multivariate_normal(np.zeros(3), cov, 5000)
    held_out = rng.multivariate_normal(np.zeros(3), cov, 2000)
    score = NoveltyScore(quantile=0.9).fit(train).calibrate(held_out)
    assert np.mean(score.score(held_out) <= 1.0) == pytest.approx(0.9, abs=1e-3)
    # χ²_3 90 % quantile is 6.25: the threshold is its square root
    assert score.threshold_ == pytest.approx(np.sqrt(6.25), rel=0.05)
    far = np.array([[0.0, 0.0, 3.0]])  # 6σ along the narrow axis
    assert score.score(far)[0] > 2.0
    again = NoveltyScore.from_dict(score.to_dict())
    np.testing.assert_allclose(again.score(far), score.score(far))


def test_novelty_state_is_checked():
    with pytest.raises(ConfigError, match="not fitted"):
        NoveltyScore().score(np.zeros((1, 2)))
    with pytest.raises(BundleError, match="invalid novelty state"):
        NoveltyScore.from_dict({"quantile": 0.99, "mean": [0, 0], "precision": [[1.0]],
                                "threshold": 1.0, "n_fit": 1, "n_calibration": 1})
