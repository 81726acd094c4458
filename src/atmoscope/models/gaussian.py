"""A full-covariance Gaussian posterior; with ``--ensemble N`` a deep ensemble
(Lakshminarayanan et al. 2017), sampled as an equal mixture of its members."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from atmoscope.models.base import PosteriorNetwork
from atmoscope.models.registry import register_model
from atmoscope.models.rescnn import ResidualCNN

__all__ = ["GaussianPosterior"]


@register_model("gaussian")
class GaussianPosterior(PosteriorNetwork):
    """A multivariate Gaussian posterior: mean and full covariance (Cholesky factor
    with a softplus diagonal) from a residual-CNN on flux and relative error (and, with
    ``mask_input``, the data mask)."""

    accepts_mask = True

    @classmethod
    def search_space(cls, trial) -> None:
        """The shared training space, plus the residual CNN's size."""
        super().search_space(trial)
        trial.suggest_categorical("width", [16, 24, 32, 48])
        trial.suggest_int("stages", 1, 3)
        trial.suggest_categorical("hidden", [64, 128, 256, 512])

    def __init__(self, n_wavelengths: int, n_extra: int, n_targets: int, width: int = 32,
                 stages: int = 2, hidden: int = 256, mask_input: bool = False) -> None:
        super().__init__()
        self.k = self.n_targets = n_targets
        self.register_buffer("tril", torch.tril_indices(n_targets, n_targets, offset=-1),
                             persistent=False)
        self.net = ResidualCNN(n_wavelengths, n_extra, n_targets * (n_targets + 3) // 2,
                               width=width, stages=stages, hidden=hidden,
                               in_channels=2 + mask_input)

    def distribution(self, spectrum: torch.Tensor, extra: torch.Tensor):
        return self._gaussian(self.net(spectrum, extra))

    def _gaussian(self, out: torch.Tensor):
        k = self.k
        mean, diag, off = out[:, :k], out[:, k:2 * k], out[:, 2 * k:]
        scale = torch.diag_embed(F.softplus(diag) + 1e-4)
        scale[:, self.tril[0], self.tril[1]] = off
        return torch.distributions.MultivariateNormal(mean, scale_tril=scale)

    def sample_embedded(self, embedding: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        d = self._gaussian(self.net.head[-1](embedding))
        return d.mean[:, None] + (d.scale_tril[:, None] @ z[..., None])[..., 0]

    def embed(self, spectrum: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        return self.net.embed(spectrum, extra)

    def forward(self, spectrum: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        """Posterior mean (exact: the Gaussian's mean)."""
        return self.net(spectrum, extra)[:, :self.k]
