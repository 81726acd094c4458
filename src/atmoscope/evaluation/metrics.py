"""Scores for parameter predictions.

These are the yardsticks every model in atmoscope is measured with, so they
take plain arrays and return plain Python numbers (JSON-serialisable). The noise
that test spectra get is in :mod:`atmoscope.data.noise`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import r2_score

from atmoscope.errors import ConfigError

__all__ = ["regression_metrics"]


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per-target accuracy of predicted parameters.

    Args:
        y_true: true values, shape ``(n, k)`` (or ``(n,)`` for one target).
        y_pred: predicted values, same shape as ``y_true``.
        names: the ``k`` target names, in column order.

    Returns:
        ``{name: {"rmse", "mae", "r2", "bias", "ae68", "ae95", "n"}}`` where
        ``bias`` is the mean of ``pred - true``, ``ae68``/``ae95`` are the
        68th/95th percentiles (linear interpolation) of ``|pred - true|``,
        ``r2`` is :func:`sklearn.metrics.r2_score` (true values first) and ``n``
        the number of rows (an ``int``); every other value is a Python float.

    Raises:
        ConfigError: on mismatched shapes, a wrong number of names, no rows or
            non-finite values.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim == 1:
        y_true = y_true[:, None]
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    names = list(names)
    if y_true.shape != y_pred.shape or y_true.ndim != 2:
        raise ConfigError(
            f"y_true {y_true.shape} and y_pred {y_pred.shape} must have one shape (n, k)"
        )
    if y_true.shape[1] != len(names):
        raise ConfigError(f"{len(names)} names for {y_true.shape[1]} target columns")
    if y_true.shape[0] == 0:
        raise ConfigError("no rows to score")
    if not (np.all(np.isfinite(y_true)) and np.all(np.isfinite(y_pred))):
        raise ConfigError("y_true and y_pred must be finite")

    result: dict[str, dict[str, float]] = {}
    for j, name in enumerate(names):
        err = y_pred[:, j] - y_true[:, j]
        abs_err = np.abs(err)
        # r2 of one row is undefined (sklearn warns and returns nan); keep nan.
        r2 = float(r2_score(y_true[:, j], y_pred[:, j])) if len(err) > 1 else float("nan")
        result[name] = {
            "rmse": float(np.sqrt(np.mean(err**2))),
            "mae": float(np.mean(abs_err)),
            "r2": r2,
            "bias": float(np.mean(err)),
            "ae68": float(np.percentile(abs_err, 68)),
            "ae95": float(np.percentile(abs_err, 95)),
            "n": int(len(err)),
        }
    return result
