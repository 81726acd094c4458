"""The model bundle: one directory holding everything needed to use and trust a model.

``bundle.json``  architecture, training configuration, fitted preprocessing, wavelength
                 grid and units, target names, history, test metrics, the training
                 grid's content hash, the split, package versions.
``weights.pt``   the network's state dict (tensors only; loaded with
                 ``weights_only=True``, so no code is ever unpickled).
"""

from __future__ import annotations

import json
import pickle
import platform
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from torch import nn

from atmoscope._version import __version__
from atmoscope.data.preprocessing import Preprocessor
from atmoscope.errors import AtmoscopeError
from atmoscope.training.models import build_model

__all__ = ["ModelBundle", "load_model", "FORMAT", "FORMAT_VERSION"]

FORMAT = "atmoscope-model-bundle"
FORMAT_VERSION = 1
_META, _WEIGHTS = "bundle.json", "weights.pt"


def package_versions() -> dict[str, str]:
    import pandas
    import sklearn

    return {"atmoscope": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__,
            "pandas": pandas.__version__, "scikit-learn": sklearn.__version__}


@dataclass
class ModelBundle:
    """A trained network with its preprocessing and provenance.

    Use :meth:`predict` on flux arrays sampled on :attr:`wavelength`.
    """

    model: nn.Module
    preprocessor: Preprocessor
    wavelength: np.ndarray
    wavelength_unit: str
    flux_unit: str | None
    targets: tuple[str, ...]
    architecture: dict
    training: dict
    history: dict
    metrics: dict
    grid: dict
    split: dict
    versions: dict
    created: str

    @property
    def is_posterior(self) -> bool:
        """Whether the network estimates a posterior (``--model posterior``/``gaussian``)
        rather than a point."""
        return hasattr(self.model, "sample")

    @property
    def needs_errors(self) -> bool:
        """Whether the network reads the flux errors (posterior models do)."""
        return bool(self.preprocessor.noise_channel)

    @property
    def noise_profile(self) -> np.ndarray | None:
        """The relative-error shape the training noise had (None: the same S/N everywhere)."""
        profile = self.training.get("noise_profile")
        return None if profile is None else np.asarray(profile, dtype=np.float64)

    def _inputs(self, flux: np.ndarray, error: np.ndarray | None):
        if self.needs_errors and error is None:
            # no quoted errors: assume the best S/N the model was trained for
            profile = 1.0 if self.noise_profile is None else self.noise_profile
            error = np.abs(flux) * profile / max(self.training["noise_snr"])
        elif error is not None:
            error = np.broadcast_to(np.asarray(error, dtype=np.float64), flux.shape)
        return error

    @torch.no_grad()
    def predict(self, flux: np.ndarray, error: np.ndarray | None = None,
                batch_size: int = 8192) -> np.ndarray:
        """Parameters in physical units, shape ``(n, n_targets)``, in :attr:`targets` order
        (for a posterior model, the posterior mean).

        Args:
            flux: spectra on this bundle's wavelength grid, shape ``(n, n_wavelengths)``.
            error: their 1σ errors, read by posterior models (:attr:`needs_errors`);
                None there means the highest S/N of the training noise.
        """
        flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
        error = self._inputs(flux, error)
        if self.is_posterior:  # the mean of 64 samples each: bound the memory
            batch_size = min(batch_size, 2048)
        self.model.eval()
        out = []
        for i in range(0, len(flux), batch_size):
            x, e = (torch.from_numpy(a) for a in self.preprocessor.transform_spectra(
                flux[i:i + batch_size], None if error is None else error[i:i + batch_size]))
            out.append(self.model(x, e).numpy())
        z = np.concatenate(out) if out else np.zeros((0, len(self.targets)))
        return self.preprocessor.inverse_transform_targets(z)

    @torch.no_grad()
    def sample(self, flux: np.ndarray, error: np.ndarray | None = None, n_samples: int = 1000,
               seed: int = 0, batch_size: int = 131_072) -> np.ndarray:
        """Posterior samples in physical units, shape ``(n, n_samples, n_targets)``.

        Args:
            flux, error: spectra and their 1σ errors on this bundle's wavelengths.
            n_samples: samples per spectrum.
            seed: seed of the samples: row ``i`` gets base noise from
                ``default_rng([seed, i])``, so a spectrum's samples do not depend on
                the batch it came in.
            batch_size: samples drawn at once (spectra × samples), to bound memory.

        Raises:
            AtmoscopeError: the bundle holds a point estimator (sample it with
                Monte-Carlo draws over the errors instead, as the Predictor does).
        """
        if not self.is_posterior:
            raise AtmoscopeError(f"a {self.architecture['name']!r} model gives points, not "
                                 "posterior samples")
        flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
        error = self._inputs(flux, error)
        self.model.eval()
        step = max(1, batch_size // n_samples)
        k = len(self.targets)
        out = np.empty((len(flux), n_samples, k))
        for i in range(0, len(flux), step):
            x, e = (torch.from_numpy(a) for a in self.preprocessor.transform_spectra(
                flux[i:i + step], error[i:i + step]))
            noise = np.stack([np.random.default_rng([seed, row]).standard_normal((n_samples, k))
                              for row in range(i, min(i + step, len(flux)))])
            z = self.model.transform_noise(x, e, torch.from_numpy(noise.astype(np.float32)))
            out[i:i + step] = self.preprocessor.inverse_transform_targets(
                z.numpy().reshape(-1, k)).reshape(z.shape)
        return out

    def save(self, path: str | Path) -> Path:
        """Write the bundle directory (replacing an existing one only once complete)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "created": self.created,
            "targets": list(self.targets), "wavelength": self.wavelength.tolist(),
            "wavelength_unit": self.wavelength_unit, "flux_unit": self.flux_unit,
            "architecture": self.architecture, "training": self.training,
            "preprocessing": self.preprocessor.to_dict(), "history": self.history,
            "metrics": self.metrics, "grid": self.grid, "split": self.split,
            "versions": self.versions,
        }
        (tmp / _META).write_text(json.dumps(meta, indent=1))
        torch.save(self.model.state_dict(), tmp / _WEIGHTS)
        if path.exists():
            shutil.rmtree(path)
        tmp.replace(path)
        return path

    @classmethod
    def from_trainer(cls, trainer, grid, split, metrics: dict | None = None) -> ModelBundle:
        """Bundle a fitted :class:`~atmoscope.training.trainer.Trainer`."""
        cfg = trainer.config_
        return cls(
            model=trainer.model_, preprocessor=trainer.preprocessor_,
            wavelength=np.asarray(grid.wavelength), wavelength_unit=str(grid.wavelength_unit),
            flux_unit=None if grid.flux_unit is None else str(grid.flux_unit),
            targets=tuple(grid.targets),
            architecture={"name": cfg.model, "options": cfg.model_options,
                          "n_extra": trainer.preprocessor_.n_extra},
            training={**asdict(cfg), "best_epoch": trainer.best_epoch_,
                      "epochs_run": len(trainer.history_["epoch"]),
                      "stopped_because": trainer.stopped_because_,
                      "train_seconds": trainer.train_seconds_},
            history=trainer.history_, metrics=metrics or {},
            grid={"source": grid.source, "content_hash": grid.content_hash,
                  "n_spectra": grid.n_spectra},
            split={**split.description, "sizes": list(split.sizes()),
                   "test_rows": split.test.tolist()},
            versions=package_versions(),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )


def load_model(path: str | Path) -> ModelBundle:
    """Restore a bundle written by :meth:`ModelBundle.save`.

    Raises:
        AtmoscopeError: a missing, corrupt or incompatible bundle, in one line.
    """
    path = Path(path)
    if not (path / _META).is_file() or not (path / _WEIGHTS).is_file():
        raise AtmoscopeError(f"{path}: not a model bundle (needs {_META} and {_WEIGHTS})")
    try:
        meta = json.loads((path / _META).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise AtmoscopeError(f"{path / _META}: corrupt bundle metadata ({exc})") from None
    if meta.get("format") != FORMAT:
        raise AtmoscopeError(f"{path}: not an atmoscope model bundle")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise AtmoscopeError(f"{path}: bundle format {meta['format_version']} is newer than "
                             f"this atmoscope ({__version__}) reads; upgrade atmoscope")
    try:
        arch = meta["architecture"]
        pre = Preprocessor.from_dict(meta["preprocessing"])
        model = build_model(arch["name"], len(meta["wavelength"]), arch["n_extra"],
                            len(meta["targets"]), **arch["options"])
        state = torch.load(path / _WEIGHTS, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except KeyError as exc:
        raise AtmoscopeError(f"{path}: bundle metadata lacks {exc}") from None
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AtmoscopeError(f"{path / _WEIGHTS}: weights do not load ({first})") from None
    model.eval()
    return ModelBundle(
        model=model, preprocessor=pre, wavelength=np.asarray(meta["wavelength"]),
        wavelength_unit=meta["wavelength_unit"], flux_unit=meta["flux_unit"],
        targets=tuple(meta["targets"]), architecture=arch, training=meta["training"],
        history=meta["history"], metrics=meta["metrics"], grid=meta["grid"],
        split=meta["split"], versions=meta["versions"], created=meta["created"],
    )

