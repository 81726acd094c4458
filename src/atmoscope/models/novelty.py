"""Is a spectrum like anything the network was trained on? A novelty score on its embedding.

A flow's posterior samples stay inside the prior it was trained on, so the posterior
alone cannot say that a spectrum (a 5,000 K blackbody, pure noise, another physics)
lies outside the training set. The network's own summary of the spectrum can: the
Mahalanobis distance of its embedding (:meth:`~atmoscope.models.base.Network.embed`)
from the embeddings of the training spectra (mean and Ledoit–Wolf shrunk covariance;
Lee et al. 2018 use the same distance for out-of-distribution detection). The threshold
is calibrated on *held-out* grid spectra observed as in training: at the ``quantile``
(default 99 %), so about 1 % of spectra like the grid's are flagged by chance.
"""

from __future__ import annotations

import numpy as np

from atmoscope.errors import BundleError, check_fitted

__all__ = ["NoveltyScore"]


class NoveltyScore:
    """Mahalanobis distance from the training embeddings, with a calibrated threshold.

    Args:
        quantile: the fraction of held-out grid spectra that must score below the
            threshold.

    Attributes (after :meth:`fit` and :meth:`calibrate`):
        mean_, precision_: of the training embeddings.
        threshold_: the ``quantile`` of held-out spectra's distances.
        n_fit_, n_calibration_: how many embeddings each step used.
    """

    def __init__(self, quantile: float = 0.99) -> None:
        self.quantile = quantile

    def fit(self, embeddings: np.ndarray) -> NoveltyScore:
        """Mean and shrunk precision of the training embeddings ``(n, D)``; returns self."""
        from sklearn.covariance import LedoitWolf

        embeddings = np.asarray(embeddings, dtype=np.float64)
        self.mean_ = embeddings.mean(axis=0)
        self.precision_ = LedoitWolf().fit(embeddings - self.mean_).precision_
        self.n_fit_ = len(embeddings)
        return self

    def distance(self, embeddings: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each embedding ``(n, D)`` from the training ones."""
        check_fitted(self, "mean_", "fit(embeddings)")
        d = np.asarray(embeddings, dtype=np.float64) - self.mean_
        return np.sqrt(np.maximum(np.einsum("ni,ij,nj->n", d, self.precision_, d), 0.0))

    def calibrate(self, embeddings: np.ndarray) -> NoveltyScore:
        """The threshold: the ``quantile`` of held-out spectra's distances; returns self."""
        self.threshold_ = float(np.quantile(self.distance(embeddings), self.quantile))
        self.n_calibration_ = len(embeddings)
        return self

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """Distance over the threshold: above 1 is less like the training set than
        ``quantile`` of held-out grid spectra."""
        check_fitted(self, "threshold_", "calibrate(embeddings)")
        return self.distance(embeddings) / self.threshold_

    def to_dict(self) -> dict:
        """JSON-ready state (kept in ``bundle.json``)."""
        check_fitted(self, "threshold_", "calibrate(embeddings)")
        return {"quantile": self.quantile, "mean": self.mean_.tolist(),
                "precision": self.precision_.tolist(), "threshold": self.threshold_,
                "n_fit": self.n_fit_, "n_calibration": self.n_calibration_}

    @classmethod
    def from_dict(cls, state: dict) -> NoveltyScore:
        """Rebuild from :meth:`to_dict`."""
        try:
            out = cls(float(state["quantile"]))
            out.mean_ = np.asarray(state["mean"], dtype=np.float64)
            out.precision_ = np.asarray(state["precision"], dtype=np.float64)
            out.threshold_ = float(state["threshold"])
            out.n_fit_, out.n_calibration_ = int(state["n_fit"]), int(state["n_calibration"])
            if out.precision_.shape != (len(out.mean_),) * 2 or not out.threshold_ > 0:
                raise ValueError("inconsistent shapes or threshold")
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"invalid novelty state ({exc})") from None
        return out
