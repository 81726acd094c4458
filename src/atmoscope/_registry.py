"""File formats chosen by the end of a file's name: one small registry for every reader.

Grid readers and writers (:mod:`atmoscope.data.io`) and spectrum readers
(:mod:`atmoscope.observed.formats`) each keep a :class:`SuffixRegistry`; a format is one
function, registered with a decorator, never a branch in an ``if`` chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from atmoscope.errors import ConfigError

__all__ = ["SuffixRegistry"]


class SuffixRegistry(dict):
    """File-name suffix (lower case, with its dot) → function.

    Args:
        what: what the functions are, for error messages (``"grid reader"``).
    """

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def copy(self) -> SuffixRegistry:
        """A registry with the same formats (e.g. to restore after a test adds one)."""
        new = SuffixRegistry(self.what)
        new.update(self)
        return new

    def register(self, *suffixes: str) -> Callable[[Callable], Callable]:
        """Decorator: the function handles files ending in ``suffixes`` (registering a
        suffix again replaces its function).

        Raises:
            ConfigError: no suffix, or one that is not a string starting with a dot.
        """
        bad = [s for s in suffixes
               if not (isinstance(s, str) and s.startswith(".") and len(s) > 1)]
        if not suffixes or bad:
            raise ConfigError(f"{self.what} suffixes must be strings starting with '.', "
                              f"like '.csv'; got {bad}")

        def decorate(func: Callable) -> Callable:
            for suffix in suffixes:
                self[suffix.lower()] = func
            return func

        return decorate

    def match(self, names: Iterable[str]) -> Callable | None:
        """The function of the longest suffix that the first of ``names`` (lower-cased)
        to match at all ends with; None when none matches."""
        by_length = sorted(self, key=len, reverse=True)
        for name in names:
            name = name.lower()
            for suffix in by_length:
                if name.endswith(suffix):
                    return self[suffix]
        return None
