"""Neural posterior estimation with a conditional neural spline flow (Durkan et al. 2019;
zuko's ``NSF``) on a residual-CNN embedding of the spectrum and its relative errors:
any shape of joint posterior (curved degeneracies, hard prior edges), sampled in
microseconds."""

from __future__ import annotations

import torch

from atmoscope.models.base import PosteriorNetwork
from atmoscope.models.registry import register_model
from atmoscope.models.rescnn import ResidualCNN

__all__ = ["FlowPosterior"]


@register_model("posterior")
class FlowPosterior(PosteriorNetwork):
    """Neural posterior estimation with a conditional neural spline flow.

    Args:
        context: size of the spectrum embedding the flow is conditioned on.
        width, stages, hidden: of the residual-CNN embedding (two input channels:
            flux and relative error).
        transforms, flow_hidden, bins: the flow's number of spline transforms, the
            width of their conditioner networks, and spline bins. The transforms are
            coupling layers (two passes), so sampling — the inverse direction — costs
            two conditioner evaluations per transform rather than one per parameter.
        mask_input: a third input channel, the data mask (trained with random gaps).

    The defaults (architecture, learning rate, batch, scaling) are the winner of
    ``atmoscope tune --model posterior`` on the Sonora Bobcat grid with five Teff nodes
    held out (57 trials of 120 s; BENCHMARKS.md section 9).
    """

    accepts_mask = True
    training_defaults = {**PosteriorNetwork.training_defaults, "lr": 5.6e-3,
                         "weight_decay": 1e-4, "batch_size": 128, "spectrum_mode": "row",
                         "extra_features": "minmax"}

    @classmethod
    def search_space(cls, trial) -> None:
        """The shared training space, plus the embedding's size and the flow's."""
        super().search_space(trial)
        trial.suggest_categorical("width", [16, 24, 32, 48])
        trial.suggest_int("stages", 1, 3)
        trial.suggest_categorical("hidden", [128, 256])
        trial.suggest_categorical("context", [16, 32, 64])
        trial.suggest_int("transforms", 2, 5)
        trial.suggest_categorical("flow_hidden", [32, 64, 128])
        trial.suggest_categorical("bins", [4, 8, 16])

    def __init__(self, n_wavelengths: int, n_extra: int, n_targets: int, context: int = 32,
                 width: int = 16, stages: int = 1, hidden: int = 128, transforms: int = 4,
                 flow_hidden: int = 64, bins: int = 4, mask_input: bool = False) -> None:
        super().__init__()
        import zuko

        self.n_targets = n_targets
        self.embedding = ResidualCNN(n_wavelengths, n_extra, context, width=width,
                                     stages=stages, hidden=hidden, in_channels=2 + mask_input)
        self.flow = zuko.flows.NSF(features=n_targets, context=context, transforms=transforms,
                                   hidden_features=(flow_hidden, flow_hidden), bins=bins,
                                   passes=2)

    def distribution(self, spectrum: torch.Tensor, extra: torch.Tensor):
        return self.flow(self.embedding(spectrum, extra))

    def embed(self, spectrum: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        """The context the flow is conditioned on, ``(B, context)``."""
        return self.embedding(spectrum, extra)

    def sample_embedded(self, embedding: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        # the flow's base is a standard normal: samples are its transform's inverse at
        # the context (the embedding)
        context = embedding
        x = z.transpose(0, 1)  # (samples, spectra, k): the context broadcasts over samples
        for transform in reversed(self.flow.transform.transforms):
            x = _inverse(transform, context, x)
        return x.transpose(0, 1)


def _inverse(transform, context: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``transform(context).inv(y)`` for ``y`` of shape ``(samples, spectra, k)``, with the
    first pass of a masked autoregressive (here: coupling) transform on one row per
    spectrum: it starts from x = 0, so its conditioner sees the context alone, the same
    for every sample. The conditioner evaluations — most of sampling's cost — then fall
    from ``passes`` × samples per spectrum to (``passes`` − 1) × samples + 1; the result
    is zuko's own inverse (its remaining passes recompute every feature)."""
    import zuko

    if not isinstance(transform, zuko.flows.MaskedAutoregressiveTransform):
        return transform(context).inv(y)
    x = transform.meta(context, torch.zeros_like(y[0])).inv(y)
    for _ in range(transform.passes - 1):
        x = transform.meta(context, x).inv(y)
    return x
