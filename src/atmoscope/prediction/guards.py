"""Guard flags: when an answer should not be trusted as it stands.

Real brown dwarfs are not grid models. A prediction carries a list of *flags*, short
codes that catalogs, ``--json`` and the HTML report show (free-text *notes* say more):

``outside_grid``
    More than :data:`EDGE_MASS` of the networks' own samples (at the quoted errors,
    without the systematic floor or error inflation, which widen on purpose) lie at or
    beyond the edge of the training grid (within :data:`EDGE_MARGIN` of a parameter's
    range, or outside the nodes' convex hull), or the spectrum is unlike every training
    spectrum: its
    novelty score (:meth:`~atmoscope.models.ModelBundle.novelty_score`, calibrated on
    held-out grid spectra) is above 1. A flow's samples stay inside its prior, so the
    posterior alone cannot say the second.
``poor_fit``
    The best-fit model spectrum's χ² is improbable for its degrees of freedom (the
    pixels actually used): p < :data:`POOR_FIT_P`. Errors are then inflated by
    √(reduced χ²) and the uncertainty recomputed, unless asked not to.
``filled_pixels``
    More than :data:`MAX_FILLED` of the model's pixels have no data (the networks see
    them through their mask, or filled).
``implausible_scale``
    A given distance implies a radius outside :data:`RADIUS_RANGE` R_Jup.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EDGE_MARGIN", "EDGE_MASS", "FLAGS", "MAX_FILLED", "MIN_PIXELS", "POOR_FIT_P",
           "RADIUS_RANGE", "edge_fraction", "edge_fractions", "guard_flags"]

#: What each flag means, for reports and documentation.
FLAGS = {
    "outside_grid": "at or beyond the edge of the training grid, or unlike every training "
                    "spectrum: the answer is an extrapolation",
    "poor_fit": "the best-fit model spectrum does not fit the data (χ² improbable, "
                "p < 0.001): the model is not the object",
    "filled_pixels": "more than 30 % of the model's pixels have no data",
    "implausible_scale": "the distance implies a radius outside 0.4–3 R_Jup",
}
EDGE_MASS = 0.05
EDGE_MARGIN = 0.01
POOR_FIT_P = 1e-3
MAX_FILLED = 0.30
RADIUS_RANGE = (0.4, 3.0)
#: fewest pixels with data a prediction is made from
MIN_PIXELS = 10


def edge_fraction(samples: np.ndarray, targets, interpolator) -> float:
    """Fraction of ``samples`` ``(n, k)`` (``targets`` order) within :data:`EDGE_MARGIN`
    of the edge of a varying parameter's range, beyond it, or outside the convex hull of
    the grid's nodes (a fitted :class:`~atmoscope.statistics.GridInterpolator`)."""
    return float(edge_fractions(samples[None], targets, interpolator)[0])


def edge_fractions(samples: np.ndarray, targets, interpolator) -> np.ndarray:
    """:func:`edge_fraction` of each spectrum's samples ``(n_spectra, n, k)`` at once."""
    params = interpolator.params_
    points = samples[..., [list(targets).index(p) for p in params]].reshape(-1, len(params))
    lo = np.array([interpolator.bounds_[p][0] for p in params])
    hi = np.array([interpolator.bounds_[p][1] for p in params])
    margin = EDGE_MARGIN * (hi - lo)
    edge = np.any((points <= lo + margin) | (points >= hi - margin), axis=1)
    if (~edge).any():
        edge[~edge] = ~interpolator.contains(points[~edge])
    return edge.reshape(samples.shape[:-1]).mean(axis=-1)


def guard_flags(*, edge: float | None, novelty: float | None, p_value: float | None,
                n_used: int, n_pixels: int, radius_rjup: float | None) -> list[str]:
    """The flags (in :data:`FLAGS` order) a prediction's numbers raise; None means not
    known, which raises nothing."""
    raised = {
        "outside_grid": (edge is not None and edge > EDGE_MASS)
                        or (novelty is not None and novelty > 1.0),
        "poor_fit": p_value is not None and p_value < POOR_FIT_P,
        "filled_pixels": n_used < (1.0 - MAX_FILLED) * n_pixels,
        "implausible_scale": radius_rjup is not None
                             and not RADIUS_RANGE[0] <= radius_rjup <= RADIUS_RANGE[1],
    }
    return [name for name in FLAGS if raised[name]]
