"""TelescopeML's tuned CNN, re-created (Gharib-Nezhad et al. 2024)."""

from __future__ import annotations

import torch
from torch import nn

from atmoscope.models.base import PointNetwork
from atmoscope.models.registry import register_model

__all__ = ["TelescopeMLCNN"]


@register_model("telescopeml")
class TelescopeMLCNN(PointNetwork):
    """Re-creation of TelescopeML's tuned CNN (Gharib-Nezhad et al. 2024).

    Two blocks of three Conv1D layers (kernel 4, 'same' padding, ReLU, He-normal),
    ``filters = 32 (b + l + 1)²``, max-pool 3 after each block; dense 256-1024-2304,
    dropout, concatenation with the min/max features, dense 128-512-1152-2048,
    dropout, one linear head per target. 8,438,756 parameters for 104 wavelengths,
    2 extra features and 4 targets. Trained with Huber loss per head, Adam,
    lr 1.889e-4, batch 32 (``training_defaults``).
    """

    training_defaults = {
        "optimizer": "adam", "lr": 1.889e-4, "weight_decay": 0.0, "batch_size": 32,
        "loss": "huber", "schedule": "constant", "spectrum_mode": "row", "extra_features": "minmax",
        "noise_snr": None, "patience": 50, "min_steps": 0,
    }

    def __init__(self, n_wavelengths: int, n_extra: int, n_targets: int,
                 dropout: float = 0.0019, kernel: int = 4, pool: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, length = 1, n_wavelengths
        for block in range(2):
            for layer in range(3):
                out = 32 * (block + layer + 1) ** 2
                # Keras 'same' with an even kernel pads one more on the right
                pad = (kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2
                layers += [nn.ConstantPad1d(pad, 0.0), nn.Conv1d(channels, out, kernel), nn.ReLU()]
                channels = out
            layers.append(nn.MaxPool1d(pool))
            length //= pool
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.dense1 = nn.Sequential(
            nn.Linear(channels * length, 256), nn.ReLU(), nn.Linear(256, 1024), nn.ReLU(),
            nn.Linear(1024, 2304), nn.ReLU(), nn.Dropout(dropout))
        self.dense2 = nn.Sequential(
            nn.Linear(2304 + n_extra, 128), nn.ReLU(), nn.Linear(128, 512), nn.ReLU(),
            nn.Linear(512, 1152), nn.ReLU(), nn.Linear(1152, 2048), nn.ReLU(),
            nn.Dropout(dropout))
        self.heads = nn.ModuleList(nn.Linear(2048, 1) for _ in range(n_targets))
        for module in self.modules():
            if isinstance(module, nn.Conv1d | nn.Linear):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, spectrum: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        h = self.dense1(self.features(spectrum.unsqueeze(1)))
        h = self.dense2(torch.cat([h, extra], dim=1))
        return torch.cat([head(h) for head in self.heads], dim=1)
