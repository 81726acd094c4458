"""Exceptions that carry a message meant for the user: the one home of every error class.

The CLI prints any :class:`AtmoscopeError` as one ``error: ...`` line and exits
with status 2; everything else is a bug and is reported as such. Each subclass
names the kind of input at fault, so tests (and scripts) can expect the exact class.
The classes also derive from :class:`ValueError` where the input is a bad value,
so code written against the standard library still catches them.
"""

__all__ = ["AtmoscopeError", "BundleError", "ConfigError", "FetchError", "GridError",
           "SpectrumError"]


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
