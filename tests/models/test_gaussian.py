"""The full-covariance Gaussian posterior."""

import torch

from atmoscope.models import build_model


def test_gaussian_head_is_a_proper_multivariate_normal():
    torch.manual_seed(0)
    model = build_model("gaussian", 104, 2, 4).eval()
    x, e = torch.randn(3, 2, 104), torch.randn(3, 2)
    dist = model.distribution(x, e)
    assert torch.all(torch.diagonal(dist.scale_tril, dim1=1, dim2=2) > 0)
    y = torch.randn(3, 4)
    expected = torch.distributions.MultivariateNormal(dist.mean, dist.covariance_matrix)
    torch.testing.assert_close(model.loss(x, e, y), -expected.log_prob(y).mean())
    with torch.no_grad():
        torch.testing.assert_close(model(x, e), dist.mean)
        assert model.transform_noise(x, e, torch.randn(3, 7, 4)).shape == (3, 7, 4)
