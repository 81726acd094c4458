"""atmoscope's default: a compact residual 1-D CNN (also the posterior networks' embedding)."""

from __future__ import annotations

import torch
from torch import nn

from atmoscope.models.base import PointNetwork
from atmoscope.models.registry import register_model

__all__ = ["ResidualCNN"]


class _ResBlock1d(nn.Module):
    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(channels, channels, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm1d(channels), nn.GELU(),
            nn.Conv1d(channels, channels, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm1d(channels))
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


@register_model("rescnn", "default")
class ResidualCNN(PointNetwork):
    """Compact residual 1-D CNN, atmoscope's default.

    A strided stem halves the spectrum, then stages of residual blocks (BatchNorm,
    GELU) each halve it again while doubling the channels; the flattened feature map
    (positions matter: a band's wavelength is information) joins the min/max features
    in a two-layer head. Trained with AdamW, a one-cycle learning-rate schedule,
    batch 256, MSE, and fresh Gaussian noise at a random S/N every batch.
    """

    training_defaults = {
        "optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-4, "batch_size": 256,
        "loss": "mse", "schedule": "onecycle", "spectrum_mode": "log_row",
        "extra_features": "moments",
        "noise_snr": (10.0, 1000.0), "patience": 100, "min_steps": 3000,
    }

    def __init__(self, n_wavelengths: int, n_extra: int, n_targets: int,
                 width: int = 32, stages: int = 2, kernel: int = 5, hidden: int = 256,
                 dropout: float = 0.0, in_channels: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv1d(in_channels, width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm1d(width), nn.GELU()]
        channels, length = width, (n_wavelengths + 1) // 2
        for _ in range(stages):
            layers.append(_ResBlock1d(channels, kernel))
            out = channels * 2
            layers += [nn.Conv1d(channels, out, 3, stride=2, padding=1, bias=False),
                       nn.BatchNorm1d(out), nn.GELU()]
            channels, length = out, (length + 1) // 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(channels * length + n_extra, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, n_targets))

    def _features(self, spectrum: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        # (B, L) for one channel, (B, C, L) for several (e.g. flux and its noise level)
        h = self.features(spectrum.unsqueeze(1) if spectrum.dim() == 2 else spectrum)
        return torch.cat([h, extra], dim=1)

    def forward(self, spectrum: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        return self.head(self._features(spectrum, extra))

    def embed(self, spectrum: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        """The head's last hidden layer, ``(B, hidden)``."""
        return self.head[:-1](self._features(spectrum, extra))
