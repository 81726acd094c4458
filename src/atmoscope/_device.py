"""Which torch device to compute on: the ``--device`` option."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from atmoscope.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICES", "limit_threads", "resolve_device", "settle_worker", "torch_threads"]

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


def limit_threads(threads: int) -> None:
    """Torch and BLAS threads of this process, for the rest of it: a worker of a catalog
    engine gets its share of the cores (torch and BLAS would otherwise each start one
    thread per core in every worker, and the workers would thrash)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)  # not as a context: for the rest of the process


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Torch on ``threads`` threads for the block, then as before: float32 sums round by
    the thread count on some CPUs, so work that must give the same numbers in a worker
    process (one thread) and in this one runs on one here too."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def settle_worker() -> None:
    """In a process that only runs catalog chunks, once its worker is made: everything
    alive now (torch, astropy, the model: millions of objects) is left out of the garbage
    collector's full passes, which otherwise scan it all every few chunks (≈ 0.2 s, a
    tenth of a chunk of 1,024 table spectra). Not for a user's own process: what is alive
    now would never be freed."""
    import gc

    gc.collect()
    gc.freeze()
