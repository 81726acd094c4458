"""Neural posterior estimation with a conditional neural spline flow (Durkan et al. 2019;
zuko's ``NSF``) on a residual-CNN embedding of the spectrum and its relative errors:
any shape of joint posterior (curved degeneracies, hard prior edges), sampled in
microseconds."""

from __future__ import annotations

import torch
from torch.nn import functional as F

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
    """``transform(context).inv(y)`` for ``y`` of shape ``(samples, spectra, k)``, computed
    for a masked autoregressive (here: coupling) transform without conditioner work that
    is the same for every sample of a spectrum — most of sampling's cost:

    * its first pass starts from x = 0, so the conditioner sees the context alone: it
      runs on one row per spectrum;
    * each pass needs only the features it determines (those before are exact already,
      those after are the next passes'), and of the conditioner's hidden units only
      those its masks let depend on x — half of them — are per sample
      (:func:`_conditioner`).

    The result is zuko's inverse, to float32 rounding (its sums split in two)."""
    import zuko

    if not isinstance(transform, zuko.flows.MaskedAutoregressiveTransform):
        return transform(context).inv(y)
    layers = list(transform.hyper)
    if transform.order is None or not all(isinstance(layer, (zuko.nn.MaskedLinear, *_ELEMENTWISE))
                                          for layer in layers):
        # an unknown conditioner: zuko's own passes, the first on one row per spectrum
        x = transform.meta(context, torch.zeros_like(y[0])).inv(y)
        for _ in range(transform.passes - 1):
            x = transform.meta(context, x).inv(y)
        return x
    x = torch.zeros_like(y)
    outputs = torch.arange(len(transform.order) * transform.total).view(len(transform.order), -1)
    for p in range(transform.passes):
        wanted = transform.order == p
        # the first pass sees x = 0: one row per spectrum, broadcast over the samples
        phi = _conditioner(layers, context, x[:1] if p == 0 else x, outputs[wanted].flatten())
        univariate = transform.univariate(*zuko.utils.unpack(
            phi.unflatten(-1, (-1, transform.total)), transform.shapes))
        x[..., wanted] = univariate.inv(y[..., wanted])
    return x


#: conditioner layers that act on each unit alone (so on each part of a split apart)
_ELEMENTWISE = (torch.nn.ReLU, torch.nn.ELU, torch.nn.GELU, torch.nn.SiLU, torch.nn.Tanh,
                torch.nn.LeakyReLU, torch.nn.Softplus, torch.nn.Sigmoid)


def _conditioner(layers, context: torch.Tensor, x: torch.Tensor,
                 rows: torch.Tensor) -> torch.Tensor:
    """Outputs ``rows`` of a masked MLP on ``cat(x, context)`` (``x``: ``(S, B, k)``,
    ``context``: ``(B, D)``), each unit computed once per spectrum when its mask keeps it
    from every x, once per sample otherwise. Returns ``(S, B, len(rows))``."""
    k = x.shape[-1]
    first = layers[0]
    weight = first.weight * first.mask
    fixed = context @ weight[:, k:].T + first.bias  # every unit, x's part left out: (B, H)
    moving = first.mask[:, :k].any(dim=1)  # the units that x reaches
    varying = F.linear(x, weight[moving, :k]).add_(fixed[:, moving])  # (S, B, H_moving)
    for i, layer in enumerate(layers[1:], start=1):
        if not isinstance(layer, torch.nn.Linear):
            fixed, varying = layer(fixed), layer(varying)
            continue
        weight, mask, bias = layer.weight * layer.mask, layer.mask, layer.bias
        if i == len(layers) - 1:
            weight, mask, bias = weight[rows], mask[rows], bias[rows]
        out = fixed[:, ~moving] @ weight[:, ~moving].T + bias
        reached = mask[:, moving].any(dim=1)
        varying = F.linear(varying, weight[reached][:, moving]).add_(out[:, reached])
        fixed, moving = out, reached
    if moving.all():
        return varying
    result = fixed.expand(x.shape[0], -1, -1).clone()
    result[..., moving] = varying
    return result
