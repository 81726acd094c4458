"""Neural posterior estimation with a conditional neural spline flow (Durkan et al. 2019;
zuko's ``NSF``) on a residual-CNN embedding of the spectrum and its relative errors:
any shape of joint posterior (curved degeneracies, hard prior edges), sampled in
microseconds."""

from __future__ import annotations

import functools
import math
import weakref

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
      (:func:`_conditioner`);
    * zuko's rational-quadratic splines are inverted with their parameters leading
      (:func:`_spline_inverse`), other univariate transforms by zuko.

    The result is zuko's inverse, to float32 rounding (its sums split in two)."""
    import zuko

    if torch.is_grad_enabled() or not isinstance(transform,
                                                 zuko.flows.MaskedAutoregressiveTransform):
        return transform(context).inv(y)  # gradients wanted: zuko's (this works in place)
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
    spline = _spline_settings(transform)
    for p in range(transform.passes):
        wanted = transform.order == p
        # the first pass sees x = 0: one row per spectrum, broadcast over the samples
        seen = x[:1] if p == 0 else x
        if spline is None:
            phi = _conditioner(layers, context, seen, outputs[wanted].flatten())
            univariate = transform.univariate(*zuko.utils.unpack(
                phi.unflatten(-1, (-1, transform.total)), transform.shapes))
            x[..., wanted] = univariate.inv(y[..., wanted])
        else:  # parameters leading: (total, features, S, B), and y as (features, S, B)
            phi = _conditioner(layers, context, seen, outputs[wanted].T.flatten(),
                               leading=True)
            x[..., wanted] = _spline_inverse(
                phi.unflatten(0, (transform.total, -1)),
                y[..., wanted].permute(2, 0, 1).contiguous(), *spline).permute(1, 2, 0)
    return x


def _spline_settings(transform) -> tuple[int, float, float] | None:
    """``(bins, bound, slope)`` of a transform whose univariate is zuko's monotonic
    rational-quadratic spline (as ``NSF`` makes it), else None."""
    import zuko

    univariate = transform.univariate
    keywords = {}
    if isinstance(univariate, functools.partial) and not univariate.args:
        univariate, keywords = univariate.func, univariate.keywords
    if univariate is not zuko.transforms.MonotonicRQSTransform or set(keywords) - {"bound",
                                                                                   "slope"}:
        return None
    bins = transform.shapes[0][0]
    if [tuple(s) for s in transform.shapes] != [(bins,), (bins,), (bins - 1,)]:
        return None
    return bins, float(keywords.get("bound", 5.0)), float(keywords.get("slope", 1e-3))


def _spline_inverse(phi: torch.Tensor, y: torch.Tensor, bins: int, bound: float,
                    slope: float) -> torch.Tensor:
    """zuko's ``MonotonicRQSTransform(widths, heights, derivatives).inv(y)`` with the
    parameters leading: ``phi`` ``(3K - 1, ...)`` (K widths, K heights, K - 1 derivatives;
    overwritten; no gradients), its other dimensions broadcasting against ``y``'s, as many.
    zuko's arithmetic, to rounding; but where
    its parameters trail (``(..., K)``) and every softmax, cumulative sum and gather runs
    along a dimension of a few elements — most of sampling's cost — here each runs over
    whole contiguous slices, and the bin search counts in floats (boolean tensors are
    several times slower on the CPU)."""
    def bounded(t, limit):  # t / (1 + |t / limit|), zuko's soft bound, in place
        return t.div_(t.abs().div_(limit).add_(1.0))

    def step(t):  # 1.0 where t > 0, else 0.0, in place
        return t.sign_().clamp_(min=0.0)

    limit = abs(math.log(slope))
    knots = torch.zeros((2, bins + 1, *phi.shape[1:]), dtype=phi.dtype, device=phi.device)
    # the knots: -B, then B (2 × cumulative sum of the softmax - 1)
    torch.softmax(bounded(phi[:2 * bins].unflatten(0, (2, bins)), limit / 2), dim=1,
                  out=knots[:, 1:])
    torch.cumsum(knots, dim=1, out=knots)
    knots.mul_(2 * bound).sub_(bound)
    horizontal, vertical = knots
    slopes = torch.ones((bins + 1, *phi.shape[1:]), dtype=phi.dtype, device=phi.device)
    torch.exp(bounded(phi[2 * bins:], limit), out=slopes[1:bins])  # 1 at both ends
    # zuko's search: bin k holds y when knot k < y ≤ knot k + 1; outside the knots the
    # spline is the identity
    count = step(y - vertical).sum(dim=0)  # knots below y
    inside = step(count - 0.5) * step(bins + 0.5 - count)
    k = count.long().sub_(1).clamp_(0, bins - 1)[None]
    shape = (bins + 1, *torch.broadcast_shapes(horizontal.shape[1:], y.shape))

    def at(values, j):
        return values.expand(shape).gather(0, j)[0]

    x0, x1, y0, y1 = at(horizontal, k), at(horizontal, k + 1), at(vertical, k), at(vertical, k + 1)
    d0, d1 = at(slopes, k), at(slopes, k + 1)
    s = (y1 - y0) / (x1 - x0)
    y_ = inside * (y - y0)
    a = (y1 - y0) * (s - d0) + y_ * (d0 + d1 - 2 * s)
    b = (y1 - y0) * d0 - y_ * (d0 + d1 - 2 * s)
    c = -s * y_
    z = 2 * c / (-b - (b ** 2 - 4 * a * c).sqrt())  # outside (finite y): y_ = 0, so z = 0
    return torch.lerp(y, x0 + z * (x1 - x0), inside)  # exactly one or the other


#: conditioner layers that act on each unit alone (so on each part of a split apart)
_ELEMENTWISE = (torch.nn.ReLU, torch.nn.ELU, torch.nn.GELU, torch.nn.SiLU, torch.nn.Tanh,
                torch.nn.LeakyReLU, torch.nn.Softplus, torch.nn.Sigmoid)


def _conditioner(layers, context: torch.Tensor, x: torch.Tensor, rows: torch.Tensor,
                 leading: bool = False) -> torch.Tensor:
    """Outputs ``rows`` of a masked MLP on ``cat(x, context)`` (``x``: ``(S, B, k)``,
    ``context``: ``(B, D)``), each unit computed once per spectrum when its mask keeps it
    from every x, once per sample otherwise. Returns ``(S, B, len(rows))``, or with
    ``leading`` ``(len(rows), S, B)`` (the last product computed that way round: no
    copy to bring the outputs forward)."""
    k = x.shape[-1]
    units = _unit_plan(layers, k, rows)
    first = layers[0]
    weight = first.weight * first.mask
    moving = units[0]
    fixed = context @ weight[:, k:].T + first.bias
    varying = F.linear(x, weight.index_select(0, moving)[:, :k]).add_(
        fixed.index_select(1, moving))  # (S, B, H_moving)
    for i, layer in enumerate(layers[1:], start=1):
        if not isinstance(layer, torch.nn.Linear):
            fixed, varying = layer(fixed), layer(varying)
            continue
        weight, bias = layer.weight * layer.mask, layer.bias
        if i == len(layers) - 1:
            weight, bias = weight[rows], bias[rows]
        still, reached = units[i]
        out = fixed.index_select(1, still) @ weight.index_select(1, still).T + bias
        weight = weight.index_select(0, reached).index_select(1, moving)
        if leading and i == len(layers) - 1:
            varying = torch.matmul(weight, varying.flatten(0, -2).T).unflatten(
                1, varying.shape[:-1]).add_(out.index_select(1, reached).T[:, None])
        else:
            varying = F.linear(varying, weight).add_(out.index_select(1, reached))
        fixed, moving = out, reached
    if len(moving) == fixed.shape[1]:
        return varying
    if leading:
        result = fixed.T[:, None].expand(-1, x.shape[0], -1).clone()
        result[moving] = varying
    else:
        result = fixed.expand(x.shape[0], -1, -1).clone()
        result[..., moving] = varying
    return result


#: each masked conditioner's units by what they see (:func:`_unit_plan`), by its first layer
_UNITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _unit_plan(layers, k: int, rows: torch.Tensor) -> dict:
    """Which units of a masked conditioner x reaches (per sample) and which see only the
    context (per spectrum), from its masks (constant), as index tensors: ``{0: units x
    reaches in the first layer, i: (units of layer i - 1 it does not reach, units of
    linear layer i it reaches)}``. Made once per conditioner, ``k`` and ``rows``: boolean
    indexing on every call cost a tenth of sampling."""
    cache = _UNITS.setdefault(layers[0], {})
    key = (layers[0].mask.device, k, tuple(rows.tolist()))  # a model moved: its own
    if key not in cache:
        moving = layers[0].mask[:, :k].any(dim=1)
        plan = {0: torch.nonzero(moving).flatten()}
        for i, layer in enumerate(layers[1:], start=1):
            if isinstance(layer, torch.nn.Linear):
                mask = layer.mask[rows] if i == len(layers) - 1 else layer.mask
                reached = mask[:, moving].any(dim=1)
                plan[i] = (torch.nonzero(~moving).flatten(), torch.nonzero(reached).flatten())
                moving = reached
        cache[key] = plan
    return cache[key]
