"""Sphinx extension: every public object the API reference documents must have a docstring.

autodoc renders an object without a docstring as a bare signature, and leaves a class's
undocumented methods out silently. This extension turns both into warnings, which
``make docs`` (``sphinx-build -W``) turns into a failed build:

* ``autodoc-process-docstring``: an object documented by an ``auto*`` directive (module,
  class, exception, function, method, property, data) whose docstring is empty — or, for a
  dataclass, only the signature Python writes for it; for a value, only the docstring of
  its type (a module-level value is documented by a ``#:`` comment above it);
* ``autodoc-skip-member``: a public method, property or nested class that a class's
  ``:members:`` would have listed but autodoc skipped for want of a docstring.

Private names (a leading underscore) are not checked.
"""

from __future__ import annotations

import dataclasses
import inspect

from sphinx.util import logging

logger = logging.getLogger(__name__)

#: autodoc's object types that must carry a docstring when documented.
CHECKED = frozenset({"module", "class", "exception", "function", "method", "property",
                     "classmethod", "staticmethod", "decorator", "data", "attribute"})


def is_public(name: str) -> bool:
    """Whether the last component of a dotted name is public (no leading underscore)."""
    return not name.rsplit(".", 1)[-1].startswith("_")


def _generated_dataclass_doc(obj, text: str) -> bool:
    """Whether ``text`` is only the ``Name(field: type, ...)`` line Python gives a
    dataclass written without a docstring."""
    return (inspect.isclass(obj) and dataclasses.is_dataclass(obj)
            and text.startswith(f"{obj.__name__}(") and "\n" not in text.strip())


def _type_doc(obj, text: str) -> bool:
    """Whether ``text`` is only the docstring of ``obj``'s type: what autodoc falls back to
    for a module-level value that has no ``#:`` comment (a dict's, a str's, ...)."""
    own = getattr(type(obj), "__doc__", None)
    if not isinstance(own, str) or not own.strip():
        return False
    return " ".join(text.split()) == " ".join(inspect.cleandoc(own).split())


def missing_docstring(what: str, name: str, obj, lines: list[str]) -> str | None:
    """The warning for an object autodoc documents with no docstring, else None.

    Args:
        what: autodoc's type of the object (``"function"``, ``"class"``, ...).
        name: its fully qualified name.
        obj: the object itself.
        lines: the docstring lines autodoc found (after other extensions processed them).

    Returns:
        A message naming the object, or None when it is documented, private or of a
        type that is not checked.
    """
    if what not in CHECKED or not is_public(name):
        return None
    text = "\n".join(lines).strip()
    if what in ("data", "attribute"):
        if text and not _type_doc(obj, text):
            return None
    elif text and not _generated_dataclass_doc(obj, text):
        return None
    return f"{name}: public {what} without a docstring (the API reference needs one)"


def skipped_undocumented(name: str, obj, skip: bool) -> bool:
    """Whether autodoc skipped a public class member only because it has no docstring:
    a method, property or nested class (data attributes may go undocumented)."""
    if not skip or not is_public(name):
        return False
    target = obj.fget if isinstance(obj, property) else getattr(obj, "__func__", obj)
    if not (inspect.isroutine(target) or inspect.isclass(target)
            or isinstance(obj, property)):
        return False
    return not (inspect.getdoc(target) or "").strip()


def _on_docstring(app, what, name, obj, options, lines) -> None:
    message = missing_docstring(what, name, obj, lines)
    if message:
        lines[:] = []  # not the docstring of the value's type (e.g. dict's) in its place
        logger.warning(message, type="docstring", subtype="missing",
                       location=app.env.docname)


def _on_skip(app, what, name, obj, skip, options):
    if what in ("class", "exception") and skipped_undocumented(name, obj, skip):
        target = obj.fget if isinstance(obj, property) else getattr(obj, "__func__", obj)
        name = getattr(target, "__qualname__", name)
        logger.warning(f"{name}: public member of a documented class without a docstring "
                       "(left out of the API reference)", type="docstring",
                       subtype="missing", location=app.env.docname)
    return None  # leave autodoc's decision as it is


def setup(app):
    """Register the two checks (a Sphinx extension's entry point)."""
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-docstring", _on_docstring, priority=900)
    app.connect("autodoc-skip-member", _on_skip)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
