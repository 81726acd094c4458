"""A residual multilayer perceptron on the whole spectrum."""

from __future__ import annotations

import torch
from torch import nn

from atmoscope.models.base import PointNetwork
from atmoscope.models.registry import register_model
from atmoscope.models.rescnn import ResidualCNN

__all__ = ["ResidualMLP"]


@register_model("resmlp")
class ResidualMLP(PointNetwork):
    """Residual multilayer perceptron on the whole spectrum (LayerNorm, GELU)."""

    training_defaults = dict(ResidualCNN.training_defaults)

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
