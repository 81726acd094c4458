"""An ensemble of bundles is an estimator too: same interface, members pooled.

Deep ensembles (Lakshminarayanan et al. 2017) add the spread between independently
trained networks — model uncertainty — to each member's own uncertainty. The members
must agree on targets, wavelengths and kind; on disk an ensemble is a folder of
bundles (``member-0``, ``member-1``, … as ``atmoscope train --ensemble N`` writes).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from atmoscope.errors import BundleError
from atmoscope.models.bundle import ModelBundle, is_bundle, load_model

__all__ = ["Ensemble", "load_estimator", "member_path"]


def member_path(folder: str | Path, index: int) -> Path:
    """Where member ``index`` of an ensemble saved in ``folder`` lives."""
    return Path(folder) / f"member-{index}"


class Ensemble:
    """Equal mixture of model bundles, with the :class:`ModelBundle` estimator interface.

    Args:
        members: the bundles (one is fine: it then behaves exactly as that bundle).
        names: where each member came from, for error messages.

    Raises:
        BundleError: members that differ in targets, wavelengths or kind.
    """

    def __init__(self, members: Sequence[ModelBundle], names: Sequence[str] | None = None):
        self.members = list(members)
        if not self.members:
            raise BundleError("an ensemble needs at least one model")
        names = list(names) if names is not None else [f"member {i}" for i in
                                                      range(len(self.members))]
        first = self.members[0]
        for bundle, name in zip(self.members[1:], names[1:], strict=True):
            if bundle.targets != first.targets or not np.array_equal(bundle.wavelength,
                                                                     first.wavelength):
                raise BundleError(f"{name}: ensemble member differs in targets or wavelengths")
            if bundle.kind != first.kind:
                raise BundleError(f"{name}: an ensemble mixes {first.kind} and {bundle.kind} "
                                  "models")
            if bundle.grid.get("content_hash") != first.grid.get("content_hash"):
                warnings.warn(f"{name}: trained on another grid than {names[0]} (content "
                              "hashes differ): the ensemble mixes models of different grids",
                              stacklevel=2)

    def __len__(self) -> int:
        return len(self.members)

    def predict(self, flux: np.ndarray, error: np.ndarray | None = None,
                mask: np.ndarray | None = None) -> np.ndarray:
        """The members' mean point estimate, ``(n, n_targets)``."""
        return np.mean([m.predict(flux, error, mask) for m in self.members], axis=0)

    def sample(self, flux: np.ndarray, error: np.ndarray | None = None, n: int = 1000,
               seed: int = 0, mask: np.ndarray | None = None, floor: bool = True,
               rows: np.ndarray | None = None, return_embedding: bool = False):
        """An equal mixture: each member draws ``ceil(n / len(members))`` samples (member
        ``i`` with seed ``seed + i``); shape ``(n_spectra, members × per member, k)``.
        ``floor``, ``rows``: as :meth:`ModelBundle.sample`; ``return_embedding``: also
        return the members' embeddings (a list, for :meth:`novelty_score`)."""
        per = -(-n // len(self.members))
        drawn = [m.sample(flux, error, per, seed=seed + i, mask=mask, floor=floor, rows=rows,
                          return_embedding=True)
                 for i, m in enumerate(self.members)]
        samples = np.concatenate([s for s, _ in drawn], axis=1)
        return (samples, [e for _, e in drawn]) if return_embedding else samples

    def add_floor(self, samples: np.ndarray, seed: int = 0, rows: np.ndarray | None = None,
                  missing: np.ndarray | None = None) -> np.ndarray:
        """Each member's systematic floor added to its share of ``samples`` (as
        :meth:`sample` lays them out), so that ``sample(floor=True)`` is
        ``add_floor(sample(floor=False))``; ``missing`` as :meth:`ModelBundle.add_floor`."""
        per = samples.shape[1] // len(self.members)
        return np.concatenate([m.add_floor(samples[:, i * per:(i + 1) * per], seed + i, rows,
                                           missing)
                               for i, m in enumerate(self.members)], axis=1)

    def to(self, device) -> Ensemble:
        """Every member on ``device`` (:meth:`ModelBundle.to`); returns ``self``."""
        for member in self.members:
            member.to(device)
        return self

    def novelty_score(self, flux: np.ndarray, error: np.ndarray | None = None,
                      mask: np.ndarray | None = None,
                      embedding: list | None = None) -> np.ndarray | None:
        """The members' median novelty score (see
        :meth:`ModelBundle.novelty_score`), or None when a member has none.
        ``embedding``: the members' embeddings from ``sample(...,
        return_embedding=True)``."""
        embedding = embedding or [None] * len(self.members)
        scores = [m.novelty_score(flux, error, mask, e)
                  for m, e in zip(self.members, embedding, strict=True)]
        return None if any(s is None for s in scores) else np.median(scores, axis=0)

    def __repr__(self) -> str:
        first = self.members[0]
        return (f"Ensemble({len(self.members)} × {first.architecture['name']}, "
                f"{first.kind}, targets {list(first.targets)})")


def _shared(name: str) -> property:
    return property(lambda self: getattr(self.members[0], name),
                    doc=f"The members' ``{name}`` (the first member's; they agree).")


# metadata every member shares: the ensemble answers with the first member's
for _name in ("kind", "uncertainty", "sample_label", "reads_errors", "uses_flux_level",
              "noise_profile", "targets", "wavelength", "wavelength_unit", "flux_unit",
              "training", "architecture", "grid", "split", "metrics", "history", "versions",
              "created", "preprocessor", "training_grid"):
    setattr(Ensemble, _name, _shared(_name))


def load_estimator(path: str | Path) -> Ensemble:
    """A bundle, or every bundle in the sub-folders of an ensemble folder, as an
    :class:`Ensemble` (of one, for a single bundle).

    Raises:
        BundleError: neither a bundle nor a folder of bundles, or members that differ.
    """
    path = Path(path)
    if is_bundle(path):
        return Ensemble([load_model(path)], [str(path)])
    members = sorted(p for p in path.glob("*/") if is_bundle(p))
    if not members:
        raise BundleError(f"{path}: not a model bundle (nor a folder of bundles)")
    return Ensemble([load_model(p) for p in members], [str(p) for p in members])
