"""Exceptions that carry a message meant for the user: the one home of every error class.

The CLI prints any :class:`AtmoscopeError` as one ``error: ...`` line and exits
with status 2; everything else is a bug and is reported as such. Each subclass
names the kind of input at fault, so tests (and scripts) can expect the exact class.
The classes also derive from :class:`ValueError` where the input is a bad value,
so code written against the standard library still catches them.
"""

__all__ = ["AtmoscopeError", "BundleError", "ConfigError", "FetchError", "GridError",
           "SpectrumError", "check_fitted", "first_line"]


class AtmoscopeError(Exception):
    """Base class: bad input data, bad arguments or an unusable resource."""


class GridError(AtmoscopeError, ValueError):
    """A training grid that cannot be read or fails validation."""


class SpectrumError(AtmoscopeError, ValueError):
    """An observed spectrum that cannot be read, cleaned, converted or predicted."""


class BundleError(AtmoscopeError):
    """A model bundle (or ensemble folder) that is missing, corrupt or incompatible."""


class ConfigError(AtmoscopeError, ValueError):
    """A bad setting: an unknown model, loss or schedule, an out-of-range option, or
    arrays of the wrong shape handed to a library function."""


class FetchError(AtmoscopeError):
    """A download that failed or did not verify."""


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line (its class name when it has none), for
    one-line errors that quote a library's complaint."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_fitted(obj, attribute: str, call: str = "fit(grid)") -> None:
    """Raise :class:`ConfigError` unless ``obj`` has the learned ``attribute`` (set by its
    ``fit``), scikit-learn style."""
    if not hasattr(obj, attribute):
        raise ConfigError(f"{type(obj).__name__} is not fitted; call {call} first")
