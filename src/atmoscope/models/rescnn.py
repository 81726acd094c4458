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
    (positions matter: a band's wavelength is information) joins the level features
    in a two-layer head. Trained with AdamW, a one-cycle learning-rate schedule, MSE,
    and fresh Gaussian noise at a random S/N every batch.

    The defaults (one stage of width 16, a 128-wide head; batch 64, peak learning rate
    6.6e-3, weight decay 2.7e-3, training noise S/N 10–333, log flux standardised per
    wavelength) are the winner of ``atmoscope tune`` on the Sonora Bobcat grid with five
    Teff nodes held out (94 trials of 60 s; BENCHMARKS.md section 9).
    """

    training_defaults = {
        "optimizer": "adamw", "lr": 6.6e-3, "weight_decay": 2.7e-3, "batch_size": 64,
        "loss": "mse", "schedule": "onecycle", "spectrum_mode": "column_standard",
        "extra_features": "moments",
        "noise_snr": (10.0, 333.0), "patience": 100, "min_steps": 3000,
    }

    @classmethod
    def search_space(cls, trial) -> None:
        """The shared training space, plus width, depth, kernel and head size."""
        super().search_space(trial)
        trial.suggest_categorical("width", [16, 24, 32, 48])
        trial.suggest_int("stages", 1, 3)
        trial.suggest_categorical("kernel", [3, 5, 7])
        trial.suggest_categorical("hidden", [64, 128, 256, 512])
        trial.suggest_categorical("dropout", [0.0, 0.1])

    def __init__(self, n_wavelengths: int, n_extra: int, n_targets: int,
                 width: int = 16, stages: int = 1, kernel: int = 5, hidden: int = 128,
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
