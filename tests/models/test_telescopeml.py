"""TelescopeML's tuned CNN, re-created."""

import torch

from atmoscope.models import MODELS, build_model, count_parameters


def test_telescopeml_preset_has_their_parameter_count():
    model = build_model("telescopeml", 104, 2, 4)
    assert count_parameters(model) == 8_438_756
    out = model(torch.zeros(3, 104), torch.zeros(3, 2))
    assert out.shape == (3, 4)
    assert MODELS["telescopeml"].training_defaults["lr"] == 1.889e-4
    assert MODELS["telescopeml"].training_defaults["batch_size"] == 32
