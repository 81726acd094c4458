"""``regression_metrics``, checked by hand."""

import json

import numpy as np
import pytest

from atmoscope.errors import ConfigError
from atmoscope.evaluation import regression_metrics


def test_regression_metrics_by_hand():
    y_true = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    y_pred = np.array([[2.0, 10.0], [2.0, 18.0], [2.0, 30.0], [6.0, 44.0]])
    m = regression_metrics(y_true, y_pred, ["a", "b"])
    # a: errors +1, 0, −1, +2
    a = m["a"]
    assert a["n"] == 4
    assert a["bias"] == pytest.approx(0.5)
    assert a["mae"] == pytest.approx(1.0)
    assert a["rmse"] == pytest.approx(np.sqrt(6 / 4))
    # SS_res = 6, SS_tot = 1.5² + 0.5² + 0.5² + 1.5² = 5  →  r2 = 1 − 6/5
    assert a["r2"] == pytest.approx(-0.2)
    # |err| sorted 0, 1, 1, 2: 68th percentile at rank 2.04 → 1.04; 95th at 2.85 → 1.85
    assert a["ae68"] == pytest.approx(1.04)
    assert a["ae95"] == pytest.approx(1.85)
    # b: errors 0, −2, 0, +4; SS_tot = 500, SS_res = 20
    b = m["b"]
    assert b["bias"] == pytest.approx(0.5)
    assert b["mae"] == pytest.approx(1.5)
    assert b["rmse"] == pytest.approx(np.sqrt(5.0))
    assert b["r2"] == pytest.approx(1 - 20 / 500)
    assert b["ae68"] == pytest.approx(2 + 0.04 * 2)  # sorted 0, 0, 2, 4: rank 2.04
    assert b["ae95"] == pytest.approx(2 + 0.85 * 2)
    # Plain Python numbers that survive JSON.
    assert all(type(v) in (float, int) for d in m.values() for v in d.values())
    assert json.loads(json.dumps(m)) == m


def test_regression_metrics_r2_is_true_first():
    y_true = np.array([[0.0], [1.0], [2.0]])
    y_pred = np.array([[0.0], [0.0], [0.0]])
    # true first: 1 − 5 / 2; the other order would divide by zero variance
    assert regression_metrics(y_true, y_pred, ["x"])["x"]["r2"] == pytest.approx(-1.5)


def test_regression_metrics_rejects_bad_shapes():
    with pytest.raises(ConfigError, match=r"y_true \(3, 2\) and y_pred \(3, 1\) must have one"):
        regression_metrics(np.zeros((3, 2)), np.zeros((3, 1)), ["a", "b"])
    with pytest.raises(ConfigError, match="1 names for 2 target columns"):
        regression_metrics(np.zeros((3, 2)), np.zeros((3, 2)), ["a"])
    with pytest.raises(ConfigError, match="no rows to score"):
        regression_metrics(np.zeros((0, 1)), np.zeros((0, 1)), ["a"])
    with pytest.raises(ConfigError, match="must be finite"):
        regression_metrics(np.array([1.0, np.nan]), np.zeros(2), ["a"])
