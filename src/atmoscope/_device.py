"""Which torch device to compute on: the ``--device`` option."""

from __future__ import annotations

from typing import TYPE_CHECKING

from atmoscope.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICES", "resolve_device"]

#: ``auto``: a CUDA GPU when there is one, else the CPU.
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device that ``name`` (one of :data:`DEVICES`) means on this machine.

    Args:
        name: ``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda``.

    Returns:
        ``torch.device("cpu")`` or ``torch.device("cuda")`` (the current CUDA device).

    Raises:
        ConfigError: an unknown name, or ``cuda`` where torch sees no CUDA GPU (one line
            saying which torch build this is).
    """
    import torch

    if name not in DEVICES:
        raise ConfigError(f"unknown device {name!r} ({', '.join(DEVICES)})")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        version = torch.__version__.split("+")[0]
        build = "CPU build" if torch.version.cuda is None else \
            f"CUDA {torch.version.cuda} build, but no GPU or driver found"
        raise ConfigError(f"--device cuda: no CUDA GPU is available (torch {version}, {build})")
    return torch.device("cuda")
