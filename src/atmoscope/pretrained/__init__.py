"""Pretrained models that ship inside the package: predict without training first.

Each model is a bundle folder here (float16 weights and its training grid, so model
spectra and χ² need nothing outside the package), listed in ``catalog.json`` with the
command that retrains it (``scripts/train_pretrained.py``, from ``../shared/data``) and
a reference prediction that the tests check the shipped files against.

    >>> from atmoscope.pretrained import available_models, load_pretrained
    >>> [m.name for m in available_models()]        # doctest: +SKIP
    ['bobcat', 'bobcat-jwst', 'diamondback']
    >>> estimator = load_pretrained("bobcat")        # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from atmoscope.errors import BundleError, ConfigError

__all__ = ["CATALOG_FILE", "FOLDER", "PretrainedModel", "available_models", "choose_model",
           "coverage", "load_pretrained", "model_path", "pretrained_model",
           "reference_prediction"]

#: The folder of the shipped models (one bundle folder each, and the catalog).
FOLDER = Path(__file__).resolve().parent
#: The catalog of the shipped models in :data:`FOLDER`: name → description, grid file,
#: retraining command and reference prediction.
CATALOG_FILE = "catalog.json"
#: What a model's coverage score must reach to be said to cover a spectrum.
FULL = 0.999


@dataclass(frozen=True)
class PretrainedModel:
    """One shipped model, as ``atmoscope models`` lists it."""

    name: str
    description: str
    grid_file: str
    wavelength_range: tuple[float, float]  # µm
    n_wavelengths: int
    targets: tuple[str, ...]
    kind: str
    size_bytes: int
    grid_hash: str
    command: str
    path: Path

    def to_dict(self) -> dict:
        """As ``atmoscope models --json`` prints it: every field, the path as a string."""
        out = asdict(self)
        out["path"] = str(self.path)
        return out


@cache
def _catalog() -> dict:
    """``catalog.json``: name → description, grid file, command, reference (read once)."""
    path = FOLDER / CATALOG_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def _describe(name: str, entry: dict) -> PretrainedModel:
    path = FOLDER / name
    members = [path] if (path / "bundle.json").is_file() else sorted(
        p for p in path.glob("*/") if (p / "bundle.json").is_file())
    if not members:
        raise BundleError(f"pretrained model {name!r}: its bundle is missing from {path}")
    import astropy.units as u

    meta = json.loads((members[0] / "bundle.json").read_text())
    wavelength = (np.asarray(meta["wavelength"]) * u.Unit(meta["wavelength_unit"])).to_value(u.um)
    kind = meta["architecture"]["name"]
    kind = (f"ensemble of {len(members)} {kind}" if len(members) > 1
            else "posterior" if kind in ("posterior", "gaussian") else kind)
    return PretrainedModel(
        name=name, description=entry["description"], grid_file=entry["grid_file"],
        wavelength_range=(float(wavelength[0]), float(wavelength[-1])),
        n_wavelengths=len(wavelength),
        targets=tuple(meta["targets"]), kind=kind,
        size_bytes=sum(f.stat().st_size for f in path.rglob("*") if f.is_file()),
        grid_hash=meta["grid"]["content_hash"], command=entry["command"], path=path)


@cache
def _models() -> tuple[PretrainedModel, ...]:
    return tuple(_describe(name, entry) for name, entry in _catalog().items())


def available_models() -> list[PretrainedModel]:
    """The shipped models, in the catalog's order (the default, ``bobcat``, first)."""
    return list(_models())


def pretrained_model(name: str) -> PretrainedModel:
    """One shipped model by name.

    Raises:
        ConfigError: no model of that name (the message lists those there are).
    """
    models = {m.name: m for m in _models()}
    if name not in models:
        known = ", ".join(models) or "none installed"
        raise ConfigError(f"no pretrained model {name!r} (built-in models: {known}; "
                          "or give a bundle folder)")
    return models[name]


def model_path(model: str | Path) -> Path:
    """Where a model given by the user lives: a built-in model's folder for its name, else
    the bundle or ensemble folder the path names.

    Raises:
        ConfigError: a bare name that is neither built in nor an existing folder (the
            message lists the built-in models). A path with a folder separator is returned
            as it is, for loading to say what is wrong with it.
    """
    if isinstance(model, str) and model in _catalog():
        return pretrained_model(model).path
    if Path(model).exists() or isinstance(model, Path) or any(s in model for s in "/\\"):
        return Path(model)
    return pretrained_model(model).path  # raises, naming the built-in models


def load_pretrained(name: str):
    """A shipped model as an :class:`~atmoscope.models.Ensemble`."""
    from atmoscope.models import load_estimator

    return load_estimator(pretrained_model(name).path)


def coverage(model: PretrainedModel, wavelength_um: np.ndarray) -> tuple[float, float]:
    """How well a spectrum and a model's wavelengths match: the fraction of the model's
    range the spectrum covers, and the fraction of the spectrum's range the model uses
    (both in log wavelength, i.e. in resolution elements)."""
    lo, hi = (np.log(v) for v in model.wavelength_range)
    wl = np.log(np.asarray(wavelength_um, dtype=np.float64))
    wl = wl[np.isfinite(wl)]
    if wl.size < 2:
        return 0.0, 0.0
    s_lo, s_hi = wl.min(), wl.max()
    overlap = max(0.0, min(hi, s_hi) - max(lo, s_lo))
    return overlap / (hi - lo), overlap / max(s_hi - s_lo, 1e-12)


def choose_model(wavelength_um: np.ndarray, allow_partial: bool = False
                 ) -> tuple[PretrainedModel, list[tuple[str, float]]]:
    """The shipped model whose wavelength range best covers a spectrum: the highest
    product of the two :func:`coverage` fractions (ties: catalog order), among the
    models the spectrum covers whole when there are any (unless ``allow_partial``).

    Returns:
        The model and every model's score, best first.

    Raises:
        ConfigError: no shipped model overlaps the spectrum.
    """
    models = available_models()
    if not models:
        raise ConfigError("no pretrained models are installed: give a bundle (--model PATH)")
    fractions = [coverage(m, wavelength_um) for m in models]
    scores = [(m, float(np.prod(f)), allow_partial or f[0] >= FULL)
              for m, f in zip(models, fractions, strict=True)]
    # whole coverage first, then the score; sorted is stable: ties keep catalog order
    ranked = sorted(scores, key=lambda t: (not t[2], -t[1]))
    if ranked[0][1] <= 0:
        wl = np.asarray(wavelength_um)
        raise ConfigError(f"no built-in model overlaps the spectrum's {np.nanmin(wl):.3g}–"
                          f"{np.nanmax(wl):.3g} µm")
    return ranked[0][0], [(m.name, s) for m, s, _ in ranked]


def reference_prediction(estimator, grid, snr: float = 50.0, n: int = 200, seed: int = 0
                         ) -> dict:
    """The prediction recorded at training and checked by the tests: the first held-out
    test spectrum of the stored grid, with errors flux/S/N (no noise added), ``n``
    samples with ``seed``; mean and standard deviation per target."""
    row = int(estimator.split["test_rows"][0])
    flux = grid.flux[row]
    samples = estimator.sample(flux[None], flux[None] / snr, n, seed)[0]
    return {"row": row, "snr": snr, "n_samples": n, "seed": seed,
            "truth": grid.target_values[row].tolist(),
            "mean": samples.mean(axis=0).tolist(), "std": samples.std(axis=0, ddof=1).tolist()}
