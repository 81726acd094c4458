"""Exceptions that carry a message meant for the user.

The CLI prints any :class:`AtmoscopeError` as one ``error: ...`` line and exits
with status 2; everything else is a bug and is reported as such.
"""

__all__ = ["AtmoscopeError", "GridError", "FetchError"]


class AtmoscopeError(Exception):
    """Base class: bad input data, bad arguments or an unusable resource."""


class GridError(AtmoscopeError, ValueError):
    """A training grid that cannot be read or fails validation."""


class FetchError(AtmoscopeError):
    """A download that failed or did not verify."""
