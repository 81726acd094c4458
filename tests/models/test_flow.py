"""``FlowPosterior``: sampling from the spectrum's embedding, pass by pass."""

import copy

import numpy as np
import pytest
import torch
import zuko

from atmoscope.models.flow import _inverse
from atmoscope.pretrained import model_path


@pytest.mark.parametrize("features, passes", [(4, 2), (3, 2), (5, 3), (4, 4)])
def test_inverse_is_zukos_without_the_repeated_work(features, passes):
    """Each sample's inverse through the flow is zuko's own: exactly in float64 (the sums
    split between per-spectrum and per-sample units), to rounding in float32."""
    torch.manual_seed(features + passes)
    flow = zuko.flows.NSF(features=features, context=16, transforms=3, hidden_features=(32, 32),
                          bins=4, passes=passes).double()
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
