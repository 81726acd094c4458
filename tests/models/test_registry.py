"""``build_model``: every registered architecture, bad names."""

import pytest
import torch

from atmoscope.errors import ConfigError
from atmoscope.models import build_model


@pytest.mark.parametrize("name", ["telescopeml", "default", "rescnn", "resmlp"])
@pytest.mark.parametrize("n_wl, n_targets", [(104, 4), (563, 4), (424, 2)])
def test_models_take_any_size(name, n_wl, n_targets):
    model = build_model(name, n_wl, 2, n_targets).eval()
    assert model(torch.randn(5, n_wl), torch.randn(5, 2)).shape == (5, n_targets)


def test_unknown_model_and_options():
    with pytest.raises(ConfigError, match="unknown model 'nope'; available: default"):
        build_model("nope", 104, 2, 4)
    with pytest.raises(ConfigError, match="bad options for model 'rescnn'"):
        build_model("rescnn", 104, 2, 4, colour="blue")
