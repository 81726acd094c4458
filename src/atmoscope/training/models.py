"""Network architectures and the registry that names them.

Every model maps ``(spectrum (B, L), extra (B, E))`` to standardised targets ``(B, K)``
and carries ``training_defaults``: the optimiser, loss, batch size and preprocessing
it was designed with. New architectures plug in with :func:`register_model`; the
trainer never needs to change.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from atmoscope.errors import AtmoscopeError

__all__ = ["MODELS", "ResidualCNN", "ResidualMLP", "TelescopeMLCNN", "build_model",
           "count_parameters", "register_model"]

MODELS: dict[str, type[nn.Module]] = {}


def register_model(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make an architecture available as ``--model NAME``."""

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        MODELS[name] = cls
        return cls

    return decorate


def build_model(name: str, n_wavelengths: int, n_extra: int, n_targets: int,
                **options) -> nn.Module:
    """Instantiate a registered architecture for the given input and output sizes."""
    if name not in MODELS:
        raise AtmoscopeError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    try:
        return MODELS[name](n_wavelengths, n_extra, n_targets, **options)
    except TypeError as exc:
        raise AtmoscopeError(f"bad options for model {name!r}: {exc}") from None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- TelescopeML's tuned CNN ------------------------------------------------------------
@register_model("telescopeml")
class TelescopeMLCNN(nn.Module):
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


# --- atmoscope's own models -------------------------------------------------------------
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


@register_model("rescnn")
class ResidualCNN(nn.Module):
    """Compact residual 1-D CNN, atmoscope's default.

    A strided stem halves the spectrum, then stages of residual blocks (BatchNorm,
    GELU) each halve it again while doubling the channels; the flattened feature map
    (positions matter: a band's wavelength is information) joins the min/max features
    in a two-layer head. Trained with AdamW, a one-cycle learning-rate schedule,
    batch 256, MSE, and fresh Gaussian noise at a random S/N every batch.
    """

    training_defaults = {
        "optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-4, "batch_size": 256,
        "loss": "mse", "schedule": "onecycle", "spectrum_mode": "log_row", "extra_features": "moments",
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
        for stage in range(stages):
            layers.append(_ResBlock1d(channels, kernel))
            out = channels * 2
            layers += [nn.Conv1d(channels, out, 3, stride=2, padding=1, bias=False),
                       nn.BatchNorm1d(out), nn.GELU()]
            channels, length = out, (length + 1) // 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(channels * length + n_extra, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, n_targets))

    def forward(self, spectrum: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        # (B, L) for one channel, (B, C, L) for several (e.g. flux and its noise level)
        h = self.features(spectrum.unsqueeze(1) if spectrum.dim() == 2 else spectrum)
        return self.head(torch.cat([h, extra], dim=1))


@register_model("resmlp")
class ResidualMLP(nn.Module):
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


MODELS["default"] = ResidualCNN

# Posterior estimators register themselves ("posterior", "gaussian").
from atmoscope.training import posterior_models  # noqa: E402, F401
