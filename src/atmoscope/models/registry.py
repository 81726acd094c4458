"""The model registry: every architecture registers itself here under a name.

The registry imports no architecture, so architecture modules can import it without
a cycle; :mod:`atmoscope.models` imports the built-in ones, which fills it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from atmoscope.errors import ConfigError

__all__ = ["MODELS", "build_model", "count_parameters", "default_options", "model_class",
           "register_model"]

#: name → network class (a subclass of :class:`~atmoscope.models.base.Network`).
MODELS: dict[str, type[nn.Module]] = {}


def register_model(*names: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make an architecture available as ``--model NAME`` (each of
    ``names``; the first is its own name, the rest aliases)."""

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        for name in names:
            MODELS[name] = cls
        return cls

    return decorate


def model_class(name: str) -> type[nn.Module]:
    """The registered class of ``name``.

    Raises:
        ConfigError: no architecture has that name.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def default_options(name: str) -> dict:
    """The keyword arguments of architecture ``name`` with their default values: what a
    bundle records beside the options given, so that later changes of a default never
    change how a saved model is rebuilt."""
    cls = model_class(name)
    return {key: p.default for key, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


def build_model(name: str, n_wavelengths: int, n_extra: int, n_targets: int,
                **options) -> nn.Module:
    """Instantiate a registered architecture for the given input and output sizes.

    Raises:
        ConfigError: an unknown name or options the architecture does not take.
    """
    cls = model_class(name)
    try:
        return cls(n_wavelengths, n_extra, n_targets, **options)
    except TypeError as exc:
        raise ConfigError(f"bad options for model {name!r}: {exc}") from None


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of a network."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
