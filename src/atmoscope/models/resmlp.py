"""A residual multilayer perceptron on the whole spectrum."""

from __future__ import annotations

import torch
from torch import nn

from atmoscope.models.base import PointNetwork
from atmoscope.models.registry import register_model

__all__ = ["ResidualMLP"]


@register_model("resmlp")
class ResidualMLP(PointNetwork):
    """Residual multilayer perceptron on the whole spectrum (LayerNorm, GELU)."""

    training_defaults = {
        "optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-4, "batch_size": 256,
        "loss": "mse", "schedule": "onecycle", "spectrum_mode": "log_row",
        "extra_features": "moments",
        "noise_snr": (10.0, 1000.0), "patience": 100, "min_steps": 3000,
    }

    @classmethod
    def search_space(cls, trial) -> None:
        """The shared training space, plus width and number of residual blocks."""
        super().search_space(trial)
        trial.suggest_categorical("hidden", [128, 256, 512, 1024])
        trial.suggest_int("blocks", 1, 4)

    def __init__(self, n_wavelengths: int, n_extra: int, n_targets: int,
                 hidden: int = 512, blocks: int = 3) -> None:
        super().__init__()
        self.inp = nn.Linear(n_wavelengths + n_extra, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(),
                          nn.Linear(hidden, hidden)) for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, n_targets))

    def forward(self, spectrum: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        h = self.inp(torch.cat([spectrum, extra], dim=1))
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)
