"""``FlowPosterior``: sampling from the spectrum's embedding, pass by pass."""

import copy

import numpy as np
import pytest
import torch
import zuko

from atmoscope.models.flow import _inverse, _spline_inverse, _spline_settings
from atmoscope.pretrained import model_path


@pytest.mark.parametrize("features, passes, bins", [(4, 2, 4), (3, 2, 4), (5, 3, 4), (4, 4, 4),
                                                   (4, 2, 8)])
def test_inverse_is_zukos_without_the_repeated_work(features, passes, bins):
    """Each sample's inverse through the flow is zuko's own: exactly in float64 (the sums
    split between per-spectrum and per-sample units, the spline's parameters leading),
    to rounding in float32."""
    torch.manual_seed(features + passes + bins)
    flow = zuko.flows.NSF(features=features, context=16, transforms=3, hidden_features=(32, 32),
                          bins=bins, passes=passes).double()
    for parameter in flow.parameters():  # far from the identity an untrained flow is
        parameter.data.normal_(0.0, 0.3)
    context, y = torch.randn(7, 16, dtype=torch.float64), torch.randn(50, 7, features,
                                                                     dtype=torch.float64)
    with torch.no_grad():
        want = flow.transform(context).inv(y)
        x = y
        for transform in reversed(flow.transform.transforms):
            x = _inverse(transform, context, x)
    torch.testing.assert_close(x, want, rtol=1e-10, atol=1e-10)


def test_pretrained_samples_share_their_embedding_with_the_novelty_score():
    from atmoscope.models import load_model

    bundle = load_model(model_path("bobcat"))
    grid = bundle.training_grid()
    flux = grid.flux[:5] * (1 + 0.02 * np.random.default_rng(0).standard_normal(
        grid.flux[:5].shape))
    error = 0.02 * grid.flux[:5]
    samples, embedding = bundle.sample(flux, error, 40, seed=3, return_embedding=True)
    np.testing.assert_array_equal(samples, bundle.sample(flux, error, 40, seed=3))
    np.testing.assert_allclose(embedding, bundle.embed(flux, error), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bundle.novelty_score(flux, error, embedding=embedding),
                               bundle.novelty_score(flux, error), rtol=1e-5)


def test_float32_flow_matches_its_float64_copy():
    torch.manual_seed(0)
    flow = zuko.flows.NSF(features=4, context=8, transforms=2, hidden_features=(16, 16), bins=4,
                          passes=2)
    wide = copy.deepcopy(flow).double()
    context, y = torch.randn(3, 8), torch.randn(20, 3, 4)
    with torch.no_grad():
        x32, x64 = y, y.double()
        for t32, t64 in zip(reversed(flow.transform.transforms),
                            reversed(wide.transform.transforms), strict=True):
            x32, x64 = _inverse(t32, context, x32), _inverse(t64, context.double(), x64)
    torch.testing.assert_close(x32.double(), x64, rtol=1e-4, atol=1e-4)


def test_other_transforms_take_zukos_own_inverse():
    """An affine autoregressive flow (no spline) goes through zuko's univariate inverse."""
    torch.manual_seed(1)
    flow = zuko.flows.MAF(features=4, context=8, transforms=2, hidden_features=(16, 16),
                          passes=2).double()
    assert _spline_settings(flow.transform.transforms[0]) is None
    context, y = torch.randn(3, 8, dtype=torch.float64), torch.randn(20, 3, 4,
                                                                     dtype=torch.float64)
    with torch.no_grad():
        x = y
        for transform in reversed(flow.transform.transforms):
            x = _inverse(transform, context, x)
        torch.testing.assert_close(x, flow.transform(context).inv(y), rtol=1e-10, atol=1e-10)


def test_the_spline_follows_points_beyond_its_knots_and_on_them():
    """Outside ±bound the spline is the identity; on a knot, zuko's bin (the one below)."""
    torch.manual_seed(2)
    phi = torch.randn(11, 1, 1, dtype=torch.float64)
    knots = zuko.transforms.MonotonicRQSTransform(*zuko.utils.unpack(
        phi[:, 0, 0], [(4,), (4,), (3,)])).vertical
    y = torch.cat([torch.tensor([-7.0, -5.0, 5.0, 6.5], dtype=torch.float64), knots[1:-1],
                   torch.linspace(-4.9, 4.9, 9, dtype=torch.float64)])[None, :]
    want = zuko.transforms.MonotonicRQSTransform(*zuko.utils.unpack(
        phi[:, 0].T.expand(y.shape[1], -1), [(4,), (4,), (3,)])).inv(y[0])
    got = _spline_inverse(phi.clone(), y, 4, 5.0, 1e-3)[0]
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert got[0] == -7.0 and got[3] == 6.5


def test_sampling_follows_weights_changed_in_place():
    """What sampling remembers of a conditioner is only which units see what (its masks):
    weights changed in place between two samplings, as training does, are the ones used."""
    torch.manual_seed(3)
    flow = zuko.flows.NSF(features=4, context=8, transforms=2, hidden_features=(16, 16), bins=4,
                          passes=2).double()
    context, y = torch.randn(3, 8, dtype=torch.float64), torch.randn(10, 3, 4,
                                                                     dtype=torch.float64)

    def inverse():
        with torch.no_grad():
            x = y
            for transform in reversed(flow.transform.transforms):
                x = _inverse(transform, context, x)
        return x

    before = inverse()
    for parameter in flow.parameters():
        parameter.data.mul_(1.5)
    after = inverse()
    assert not torch.allclose(before, after)
    with torch.no_grad():
        torch.testing.assert_close(after, flow.transform(context).inv(y), rtol=1e-10,
                                   atol=1e-10)


def test_with_gradients_wanted_the_inverse_is_zukos_and_differentiable():
    """The spline inverse with its parameters leading works in place; where gradients are
    wanted (a user's own forward pass) zuko's splines serve, and the result is the same."""
    torch.manual_seed(4)
    flow = zuko.flows.NSF(features=4, context=8, transforms=2, hidden_features=(16, 16), bins=4,
                          passes=2).double()
    context, y = torch.randn(3, 8, dtype=torch.float64), torch.randn(10, 3, 4,
                                                                     dtype=torch.float64)
    x = y
    for transform in reversed(flow.transform.transforms):
        x = _inverse(transform, context, x)
    with torch.no_grad():
        torch.testing.assert_close(x, flow.transform(context).inv(y), rtol=1e-10, atol=1e-10)
    x.square().sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in flow.parameters())
