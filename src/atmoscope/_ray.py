"""Ray, the optional distributed engine: importing it with a one-line error naming the
extra, and starting or joining a cluster quietly. Shared by the catalog engine
(:mod:`atmoscope.prediction.ray_engine`) and the hyperparameter search
(:mod:`atmoscope.training.search`)."""

from __future__ import annotations

import importlib
import logging
import os

from atmoscope.errors import AtmoscopeError, ConfigError, first_line

__all__ = ["MISSING_RAY", "import_ray", "init_ray"]

MISSING_RAY = "--engine ray needs Ray: pip install 'atmoscope[ray]'"


def import_ray(*parts: str):
    """``ray`` with its sub-packages ``parts`` (e.g. ``"data"``, ``"tune"``) imported.

    Raises:
        ConfigError: Ray, or one of its parts, is not installed (one line naming the
            extra).
    """
    try:
        import ray

        for part in parts:
            importlib.import_module(f"ray.{part}")
    except ImportError:
        raise ConfigError(MISSING_RAY) from None
    return ray


def init_ray(ray, address: str | None, num_cpus: int | None) -> bool:
    """Start a private local Ray (``address`` None) or join the cluster at ``address``,
    unless this process has one already.

    Returns:
        Whether this call started it (the caller then shuts it down).

    Raises:
        AtmoscopeError: a wrong address, a version mismatch, no room for a node.
    """
    if ray.is_initialized():
        return False
    # no usage-statistics prompt or upload; set before the local Ray's processes start,
    # which inherit it
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray's own notices (token authentication, the workers' output) would bury ours; its
    # logs stay in the session folder (/tmp/ray/session_latest/logs)
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except Exception as exc:
        where = "a local Ray" if address is None else f"Ray at {address}"
        raise AtmoscopeError(f"could not start {where}: {first_line(exc)}") from None
    return True
