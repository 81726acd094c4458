"""What every network is: the interface the trainer and the bundle rely on.

A network maps ``(spectrum, extra)`` (see :class:`~atmoscope.data.preprocessing.Preprocessor`)
to standardised targets. Its *kind* is declared once, by the base class it derives from:

* :class:`PointNetwork` — one estimate per spectrum. Its uncertainty comes from
  Monte-Carlo draws over the flux errors (TelescopeML's method), done by
  :func:`~atmoscope.models.sampling.monte_carlo_samples`.
* :class:`PosteriorNetwork` — a distribution over the targets given the spectrum and
  its errors (neural posterior estimation); its uncertainty is samples of it.

Everything else (training, sampling in physical units, prediction, calibration,
reports) reads the class attributes below instead of probing the object.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from atmoscope.errors import ConfigError

__all__ = ["KINDS", "Network", "PointNetwork", "PosteriorNetwork"]

#: kind → (name of its uncertainty in outputs, what its samples are called).
KINDS = {"point": ("monte_carlo", "Monte-Carlo draws"),
         "posterior": ("posterior", "posterior samples")}


class Network(nn.Module):
    """Base class of every architecture.

    Attributes:
        kind: ``"point"`` or ``"posterior"`` (set by the two subclasses below).
        reads_errors: whether the input carries the relative-error channel.
        losses: the training criteria it accepts (``TrainConfig.loss``).
        training_defaults: optimiser, loss, batch size, preprocessing and augmentation
            the architecture was designed with (``None`` entries of a
            :class:`~atmoscope.training.TrainConfig` take these).
        max_batch: spectra per forward pass at inference.
        accepts_mask: whether the architecture takes the option ``mask_input`` (a third
            input channel saying which pixels hold data; trained with random gaps).
    """

    kind: ClassVar[str]
    reads_errors: ClassVar[bool]
    losses: ClassVar[tuple[str, ...]]
    training_defaults: ClassVar[dict]
    #: spectra per forward pass at inference, to bound memory
    max_batch: ClassVar[int] = 8192
    accepts_mask: ClassVar[bool] = False

    @classmethod
    def search_space(cls, trial) -> None:
        """Suggest a configuration on an Optuna ``trial`` (``atmoscope tune``): the
        training hyperparameters every network shares. An architecture extends this with
        its own options (calling ``super()``), so a new model brings its own space.

        Names are :class:`~atmoscope.training.TrainConfig` fields, ``snr_low`` and
        ``snr_high`` (the training noise range), or keyword arguments of the
        architecture (:func:`atmoscope.training.search.config_from_params` sorts them).

        Args:
            trial: an ``optuna.Trial`` (or Ray Tune's define-by-run stand-in for one).
        """
        trial.suggest_float("lr", 3e-4, 1e-2, log=True)
        trial.suggest_categorical("batch_size", [32, 64, 128, 256])
        trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
        low, high = cls.training_defaults.get("noise_snr") or (10.0, 1000.0)
        # the noise range around the architecture's own: from a third to three times
        trial.suggest_categorical("snr_low", sorted({low / 3, low, low * 3}))
        trial.suggest_categorical("snr_high", sorted({high / 3, high, high * 3}))
        trial.suggest_categorical("spectrum_mode", ["log_row", "row", "column_standard"])
        trial.suggest_categorical("extra_features", ["moments", "minmax"])

    def embed(self, spectrum: torch.Tensor, extra: torch.Tensor) -> torch.Tensor | None:
        """The network's summary of a spectrum, ``(B, D)``: what its estimate is computed
        from (for novelty scores; None when the architecture has no such layer)."""
        return None

    def loss(self, spectrum: torch.Tensor, extra: torch.Tensor, target: torch.Tensor,
             criterion: str) -> torch.Tensor:
        """The training loss of a batch (a scalar tensor)."""
        raise NotImplementedError

    @classmethod
    def check_loss(cls, criterion: str) -> None:
        """Raise :class:`ConfigError` unless the network can be trained with ``criterion``."""
        if criterion not in cls.losses:
            raise ConfigError(f"loss {criterion!r} does not fit a {cls.kind} model "
                              f"({cls.__name__}); use {' or '.join(cls.losses)}")


_CRITERIA = {
    "mse": F.mse_loss,
    # the mean over heads = TelescopeML's equal weights
    "huber": lambda prediction, target: F.huber_loss(prediction, target, delta=1.0),
}


class PointNetwork(Network):
    """A network that gives one estimate: ``forward`` → ``(B, K)`` standardised targets."""

    kind = "point"
    reads_errors = False
    losses = tuple(_CRITERIA)

    def loss(self, spectrum, extra, target, criterion="mse"):
        """MSE or Huber loss (δ = 1) of the estimate."""
        return _CRITERIA[criterion](self(spectrum, extra), target)


class PosteriorNetwork(Network):
    """A network that gives a posterior: ``distribution(spectrum, extra)`` → a torch
    distribution over the standardised targets (batch ``(B,)``, event ``(K,)``), trained
    by maximum likelihood of the true parameters (the NPE loss; Papamakarios & Murray
    2016, Greenberg et al. 2019). Subclasses set ``n_targets``."""

    kind = "posterior"
    reads_errors = True
    losses = ("nll",)
    max_batch = 2048  # the forward pass is a mean of 64 samples each
    # trained on pairs from the prior: fresh noise at a random S/N, off-node parameters,
    # model-mismatch residuals and (half the spectra) random gaps, read through a mask
    # channel, every batch (atmoscope.training.augment)
    training_defaults = {
        "optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "batch_size": 256,
        "loss": "nll", "schedule": "onecycle", "spectrum_mode": "log_row",
        "extra_features": "moments", "noise_snr": (3.0, 300.0), "offnode": 1.0, "mismatch": 1.0,
        "gaps": 0.5, "patience": 100, "min_steps": 3000,
    }
    n_targets: int

    def distribution(self, spectrum: torch.Tensor, extra: torch.Tensor):
        """The posterior over the standardised targets given the network's inputs: an
        object with ``log_prob`` and ``sample`` (a zuko flow, a torch distribution)."""
        raise NotImplementedError

    def loss(self, spectrum, extra, target, criterion="nll"):
        """Mean negative log posterior density of ``target``."""
        return -self.distribution(spectrum, extra).log_prob(target).mean()

    def transform_noise(self, spectrum: torch.Tensor, extra: torch.Tensor,
                        z: torch.Tensor) -> torch.Tensor:
        """Posterior samples from standard-normal base noise ``z`` ``(B, n, K)``: each
        row's samples depend only on its own noise, never on the rest of the batch."""
        return self.sample_embedded(self.embed(spectrum, extra), z)

    def sample_embedded(self, embedding: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """:meth:`transform_noise` from the spectra's :meth:`embed` (computed once, it
        serves the samples and the novelty score alike)."""
        raise NotImplementedError

    def forward(self, spectrum: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        """Posterior mean from 64 samples, the same 64 base draws for every spectrum
        (deterministic and independent of the batch; the Monte-Carlo error, 1/8 of the
        posterior width, adds under 1 % to an RMSE)."""
        # drawn on the CPU (the same draws on every device), then moved to the input's
        z = torch.randn(64, self.n_targets, generator=torch.Generator().manual_seed(0)
                        ).to(spectrum.device)
        return self.transform_noise(spectrum, extra,
                                    z.expand(spectrum.shape[0], -1, -1)).mean(dim=1)
