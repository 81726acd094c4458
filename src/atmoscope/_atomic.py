"""Atomic writes: every file atmoscope writes goes to a temporary name in its folder and is
renamed into place, so a failure or a kill leaves the old file or the new one, never a torn
one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "recover_directory", "replace_directory"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to: renamed to ``path`` when the block
    ends without error, removed when it raises. Parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def replace_directory(new: Path, path: Path) -> None:
    """Move the complete directory ``new`` to ``path``, replacing what is there by two
    renames (the old one is set aside first and removed only afterwards), so at no time
    is there nothing: a kill between the renames leaves the old directory at
    ``.<name>.old``, where :func:`recover_directory` finds it."""
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.replace(old)
    new.replace(path)
    shutil.rmtree(old, ignore_errors=True)


def recover_directory(path: Path) -> Path:
    """``path``, or the old directory :func:`replace_directory` set aside when it was
    interrupted between its two renames."""
    old = path.with_name(f".{path.name}.old")
    return old if not path.exists() and old.is_dir() else path
