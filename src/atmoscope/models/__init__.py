"""Models: the networks, their registry, and the estimators built from them.

* :mod:`~atmoscope.models.registry` — ``register_model``, ``build_model``, ``MODELS``;
* :mod:`~atmoscope.models.base` — the two kinds of network (point, posterior);
* one module per architecture, each registering itself: ``telescopeml``, ``rescnn``
  (``default``), ``resmlp``, ``flow`` (``posterior``), ``gaussian``;
* :mod:`~atmoscope.models.sampling` — the one path from a spectrum and its errors to a
  network's input, and Monte-Carlo draws;
* :class:`ModelBundle` and :class:`Ensemble` — estimators in physical units, with one
  interface: ``predict(flux, error)`` and ``sample(flux, error, n, seed)``.

A new architecture: subclass :class:`PointNetwork` or :class:`PosteriorNetwork` in a
module of its own, decorate it with ``@register_model("name")``, and import the module
(here, for a built-in one).
"""

from atmoscope.models import flow, gaussian, rescnn, resmlp, telescopeml  # noqa: F401  (register)
from atmoscope.models.base import KINDS, Network, PointNetwork, PosteriorNetwork
from atmoscope.models.bundle import ModelBundle, load_model
from atmoscope.models.ensemble import Ensemble, load_estimator
from atmoscope.models.flow import FlowPosterior
from atmoscope.models.gaussian import GaussianPosterior
from atmoscope.models.registry import MODELS, build_model, count_parameters, register_model
from atmoscope.models.rescnn import ResidualCNN
from atmoscope.models.resmlp import ResidualMLP
from atmoscope.models.telescopeml import TelescopeMLCNN

__all__ = ["KINDS", "MODELS", "Ensemble", "FlowPosterior", "GaussianPosterior", "ModelBundle",
           "Network", "PointNetwork", "PosteriorNetwork", "ResidualCNN", "ResidualMLP",
           "TelescopeMLCNN", "build_model", "count_parameters", "load_estimator", "load_model",
           "register_model"]
