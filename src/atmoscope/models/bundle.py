"""The model bundle: one directory holding everything needed to use and trust a model.

``bundle.json``  architecture, training configuration, fitted preprocessing, wavelength
                 grid and units, target names, history, test metrics, the training
                 grid's content hash, the split, package versions.
``weights.pt``   the network's state dict (tensors only; loaded with
                 ``weights_only=True``, so no code is ever unpickled), float32 or,
                 to ship small, float16 (restored to float32 on loading).
``grid.parquet`` optional: the training grid itself (exact values, zstd-compressed),
                 so model spectra and χ² need nothing beside the bundle.

Two calibrations fitted after training on the validation nodes live in ``bundle.json``
too: ``novelty`` (:class:`~atmoscope.models.novelty.NoveltyScore`: how unlike the
training spectra a spectrum is) and ``systematics``, a floor ``τ`` per target (in the
standardised target space) added in quadrature to every sample: the error a network
makes at a grid node it never saw — interpolation and model error, which no S/N
removes — measured where it is known, on held-out nodes (the validation nodes, or with
cross-fitting every training node: :mod:`atmoscope.training.cross_fit`).

A :class:`ModelBundle` is an *estimator*: ``predict`` gives point estimates and
``sample`` draws its uncertainty — Monte-Carlo over the flux errors for a point
network, the learned posterior for a posterior network — in physical units, through
the one conditioning path of :mod:`atmoscope.models.sampling`.
"""

from __future__ import annotations

import json
import math
import pickle
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import nn

from atmoscope._atomic import recover_directory, replace_directory
from atmoscope._version import __version__
from atmoscope.data.preprocessing import Preprocessor
from atmoscope.errors import BundleError, ConfigError, first_line
from atmoscope.models.base import KINDS, PosteriorNetwork
from atmoscope.models.registry import build_model, default_options, model_class
from atmoscope.models.sampling import (
    missing_fraction,
    monte_carlo_samples,
    network_error,
    network_flux,
    usable_pixels,
)

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelBundle", "is_bundle", "json_safe", "load_model",
           "package_versions", "save_tensors"]

FORMAT = "atmoscope-model-bundle"
#: 2: ``architecture.options`` holds every option of the network, defaults included
FORMAT_VERSION = 2
#: Format 1 stored only the options given, and defaults have moved since (the tuned
#: defaults of ``atmoscope tune``): the earlier defaults per architecture, tried before
#: today's; the set whose parameter shapes match the weights is the network.
_FORMAT1_DEFAULTS = {
    "FlowPosterior": [{"context": 64, "width": 32, "stages": 2, "hidden": 256,
                       "transforms": 4, "flow_hidden": 128, "bins": 8}],
    "ResidualCNN": [{"width": 32, "stages": 2, "hidden": 256}],
}
_META, _WEIGHTS, _GRID = "bundle.json", "weights.pt", "grid.parquet"
_WEIGHT_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages a bundle's numbers depend on."""
    import pandas
    import sklearn

    return {"atmoscope": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__,
            "pandas": pandas.__version__, "scikit-learn": sklearn.__version__}


@dataclass
class ModelBundle:
    """A trained network with its preprocessing and provenance.

    Use :meth:`predict` and :meth:`sample` on flux arrays sampled on :attr:`wavelength`.
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
    location: Path | None = None
    novelty: dict | None = None
    systematics: dict | None = None

    # --- what kind of estimator -----------------------------------------------------------
    @property
    def kind(self) -> str:
        """``"point"`` or ``"posterior"``, as the network's class declares."""
        return self.model.kind

    @property
    def uncertainty(self) -> str:
        """``"monte_carlo"`` or ``"posterior"``: what :meth:`sample` draws."""
        return KINDS[self.kind][0]

    @property
    def sample_label(self) -> str:
        """What the samples are called in reports ("Monte-Carlo draws", ...)."""
        return KINDS[self.kind][1]

    @property
    def reads_errors(self) -> bool:
        """Whether the network reads the flux errors (posterior networks do)."""
        return self.model.reads_errors

    @property
    def uses_flux_level(self) -> bool:
        """Whether the network reads the absolute flux level (not ``--scale-free``)."""
        return self.preprocessor.extra_features != "none"

    @property
    def members(self) -> list[ModelBundle]:
        """An estimator's models: here, this one."""
        return [self]

    @property
    def noise_profile(self) -> np.ndarray | None:
        """The relative-error shape the training noise had (None: the same S/N everywhere)."""
        profile = self.training.get("noise_profile")
        return None if profile is None else np.asarray(profile, dtype=np.float64)

    def training_grid(self):
        """The training grid stored in the bundle (``train --embed-grid``), else None.

        Raises:
            BundleError: a stored grid whose content hash is not the one trained on.
        """
        from atmoscope.data import read_grid

        if self.location is None or not (self.location / _GRID).is_file():
            return None
        grid = read_grid(self.location / _GRID, self.targets, drop_duplicates="none")
        if grid.content_hash != self.grid.get("content_hash"):
            raise BundleError(f"{self.location / _GRID}: not the grid this model was trained "
                              "on (content hash differs)")
        return grid

    @property
    def floor(self) -> np.ndarray | None:
        """The systematic floor ``τ`` per target (standardised units), or None."""
        floor = (self.systematics or {}).get("floor")
        return None if floor is None else np.asarray(floor, dtype=np.float64)

    def floors(self, missing: np.ndarray | None = None) -> np.ndarray | None:
        """The floor of each spectrum, ``(n_spectra, k)``: :attr:`floor` plus its growth
        per unit fraction of model pixels without data (``floor_per_missing``, fitted on
        validation spectra with gaps), so intervals widen as coverage shrinks; ``(k,)``
        without ``missing`` or growth; None without a floor."""
        floor = self.floor
        growth = (self.systematics or {}).get("floor_per_missing")
        if floor is None or growth is None or missing is None:
            return floor
        return floor + np.asarray(missing, dtype=np.float64)[:, None] * np.asarray(growth)

    # --- estimates ------------------------------------------------------------------------
    def _network_inputs(self, flux, error, mask):
        """Filled flux, the errors the network reads (None for point networks) and the
        pixels with data, through :mod:`atmoscope.models.sampling`."""
        flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
        usable = usable_pixels(flux, mask)
        filled = network_flux(flux, usable, self.wavelength)
        if not self.reads_errors:
            return filled, None, usable
        if error is None:  # no quoted errors: the best S/N the model was trained for
            profile = 1.0 if self.noise_profile is None else self.noise_profile
            return filled, np.abs(filled) * profile / max(self.training["noise_snr"]), usable
        error = np.broadcast_to(np.asarray(error, dtype=np.float64), flux.shape)
        return filled, network_error(flux, error, usable, filled), usable

    def _inputs(self, filled, net_error, usable, rows: slice):
        """Torch inputs ``(spectrum, extra)`` of some rows, on the network's device."""
        return (torch.from_numpy(a).to(self.device) for a in self.preprocessor.transform_spectra(
            filled[rows], None if net_error is None else net_error[rows],
            None if usable is None else usable[rows]))

    @property
    def device(self) -> torch.device:
        """Where the network computes (:meth:`to`)."""
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> ModelBundle:
        """Compute on ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``, or a torch device);
        returns ``self``. Samples and estimates come back as NumPy arrays either way."""
        from atmoscope._device import resolve_device

        self.model.to(resolve_device(device) if isinstance(device, str) else device)
        return self

    @torch.no_grad()
    def predict(self, flux: np.ndarray, error: np.ndarray | None = None,
                mask: np.ndarray | None = None, batch_size: int = 8192) -> np.ndarray:
        """Point estimates in physical units, shape ``(n, n_targets)``, in :attr:`targets`
        order (for a posterior network, the posterior mean).

        Args:
            flux: spectra on this bundle's wavelength grid, shape ``(n, n_wavelengths)``.
            error: their 1σ errors, read by posterior networks (:attr:`reads_errors`);
                None there means the highest S/N of the training noise.
            mask: pixels with data (default: every finite pixel); others are filled.
        """
        filled, net_error, usable = self._network_inputs(flux, error, mask)
        return self._forward(filled, net_error, usable, batch_size)

    def _forward(self, flux: np.ndarray, error: np.ndarray | None, usable: np.ndarray | None,
                 batch_size: int = 8192) -> np.ndarray:
        batch_size = min(batch_size, self.model.max_batch)
        self.model.eval()
        out = [self.model(*self._inputs(flux, error, usable, slice(i, i + batch_size)))
               .cpu().numpy()
               for i in range(0, len(flux), batch_size)]
        z = np.concatenate(out) if out else np.zeros((0, len(self.targets)))
        return self.preprocessor.inverse_transform_targets(z)

    @torch.no_grad()
    def embed(self, flux: np.ndarray, error: np.ndarray | None = None,
              mask: np.ndarray | None = None, batch_size: int = 8192) -> np.ndarray | None:
        """The network's embedding of each spectrum, ``(n, D)`` (None when its
        architecture has none); inputs as :meth:`predict`."""
        filled, net_error, usable = self._network_inputs(flux, error, mask)
        batch_size = min(batch_size, self.model.max_batch)
        self.model.eval()
        out = [self.model.embed(*self._inputs(filled, net_error, usable,
                                              slice(i, i + batch_size)))
               for i in range(0, len(filled), batch_size)]
        return None if not out or out[0] is None else np.concatenate([o.cpu().numpy()
                                                                      for o in out])

    def novelty_score(self, flux: np.ndarray, error: np.ndarray | None = None,
                      mask: np.ndarray | None = None,
                      embedding: np.ndarray | None = None) -> np.ndarray | None:
        """How unlike the training spectra each spectrum is: the Mahalanobis distance of
        its embedding over the threshold calibrated on held-out grid spectra (above 1:
        stranger than 99 % of them; :class:`~atmoscope.models.novelty.NoveltyScore`).
        None when the bundle has no novelty calibration (older bundles). ``embedding``:
        the spectra's :meth:`embed`, when already computed (``sample(...,
        return_embedding=True)``)."""
        if not self.novelty:
            return None
        embeddings = self.embed(flux, error, mask) if embedding is None else embedding
        return None if embeddings is None else self._novelty_score.score(embeddings)

    @cached_property
    def _novelty_score(self):
        """:attr:`novelty` parsed once (a D × D precision matrix from JSON), not per call."""
        from atmoscope.models.novelty import NoveltyScore

        return NoveltyScore.from_dict(self.novelty)

    @torch.no_grad()
    def sample(self, flux: np.ndarray, error: np.ndarray | None = None, n: int = 1000,
               seed: int = 0, mask: np.ndarray | None = None, floor: bool = True,
               rows: np.ndarray | None = None, return_embedding: bool = False):
        """Samples of the uncertainty in physical units, shape ``(n_spectra, n, n_targets)``.

        A point network: its estimates of ``n`` Monte-Carlo draws of each spectrum over
        its errors (:func:`~atmoscope.models.sampling.monte_carlo_samples`; without
        errors, ``n`` copies of the estimate). A posterior network: ``n`` samples of its
        posterior given the spectrum and its errors. Either way, the systematic floor
        (:attr:`floor`), when the bundle has one, is added in quadrature
        (:meth:`add_floor`).

        Args:
            flux, error: spectra and their 1σ errors on this bundle's wavelengths.
            n: samples per spectrum.
            seed: spectrum ``i`` draws from ``default_rng([seed, rows[i]])``, so its
                samples do not depend on the batch it came in.
            mask: pixels with data (default: every finite pixel).
            floor: add the systematic floor (False: the network's own samples).
            rows: the random stream of each spectrum (default ``0, 1, …``); a batch
                whose spectra must each get what predicting it alone gives passes zeros.
            return_embedding: also return the spectra's :meth:`embed` (a posterior
                network computes it for its samples anyway; for :meth:`novelty_score`).

        Returns:
            The samples; with ``return_embedding``, ``(samples, embedding)``.
        """
        if n < 1:
            raise ConfigError(f"samples per spectrum must be at least 1, got {n}")
        flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
        rows = np.arange(len(flux)) if rows is None else np.asarray(rows, dtype=np.int64)
        usable = usable_pixels(flux, mask)
        if self.kind == "posterior":
            samples, embedding = self._posterior_samples(flux, error, n, seed, mask, rows)
        else:
            embedding = self.embed(flux, error, mask) if return_embedding else None
            error = None if error is None else np.broadcast_to(
                np.asarray(error, dtype=np.float64), flux.shape)
            samples = monte_carlo_samples(lambda f, e: self._forward(f, None, None),
                                          flux, error, n, seed, usable, self.wavelength,
                                          rows=rows)
        if floor:
            samples = self.add_floor(samples, seed, rows, missing_fraction(usable))
        return (samples, embedding) if return_embedding else samples

    def add_floor(self, samples: np.ndarray, seed: int = 0, rows: np.ndarray | None = None,
                  missing: np.ndarray | None = None) -> np.ndarray:
        """``samples`` ``(n_spectra, n, k)`` (physical units) with the systematic floor
        added in quadrature, in standardised units: noise of spectrum ``i`` from
        ``default_rng([seed, rows[i], 1])`` (batch-independent). ``missing``: each
        spectrum's fraction of model pixels without data (:meth:`floors`). Unchanged
        without a floor, so ``sample(floor=True)`` is ``add_floor(sample(floor=False))``."""
        floor = self.floors(missing)
        if floor is None:
            return samples
        rows = np.arange(len(samples)) if rows is None else np.asarray(rows)
        shape, k = samples.shape, samples.shape[-1]
        z = self.preprocessor.transform_targets(samples.reshape(-1, k)).reshape(shape)
        noise = _row_normals(seed, rows, shape[1:], stream=1)
        if floor.ndim == 2:  # one floor per spectrum
            floor = floor[:, None, :]
        return self.preprocessor.inverse_transform_targets(
            (z + noise * floor).reshape(-1, k)).reshape(shape)

    def _posterior_samples(self, flux, error, n, seed, mask, rows, batch_size: int = 16_384):
        # chunks of ~16k samples: the flow's activations stay in cache (a third faster
        # than chunks of 131k on two cores)
        filled, net_error, usable = self._network_inputs(flux, error, mask)
        self.model.eval()
        step, k = max(1, batch_size // n), len(self.targets)
        # a network that samples only through transform_noise (written before
        # sample_embedded) keeps working; its novelty score embeds the spectra again
        embedded = type(self.model).sample_embedded is not PosteriorNetwork.sample_embedded
        out, embedding = np.empty((len(flux), n, k)), []
        for i in range(0, len(flux), step):
            x, e = self._inputs(filled, net_error, usable, slice(i, i + step))
            noise = torch.from_numpy(_row_normals(seed, rows[i:i + step], (n, k))
                                     .astype(np.float32)).to(self.device)
            if embedded:
                embedding.append(self.model.embed(x, e))
                z = self.model.sample_embedded(embedding[-1], noise)
            else:
                z = self.model.transform_noise(x, e, noise)
            out[i:i + step] = self.preprocessor.inverse_transform_targets(
                z.cpu().numpy().astype(np.float64).reshape(-1, k)).reshape(z.shape)
        return out, (np.concatenate([v.cpu().numpy() for v in embedding]) if embedding
                     else None)

    # --- files ----------------------------------------------------------------------------
    def save(self, path: str | Path, *, grid=None, weights_dtype: str = "float32",
             extras: Callable[[Path], None] | None = None) -> Path:
        """Write the bundle directory: all of it under a temporary name, then moved into
        place (an existing bundle is replaced only once the new one is complete).

        Args:
            grid: the training grid, to store inside the bundle (its content hash must
                be the one recorded); default: keep the grid this bundle was loaded
                with, if any.
            weights_dtype: ``"float32"``, or ``"float16"`` to halve the weights' size.
            extras: writes more files (e.g. figures) into the folder before it is moved.
        """
        from atmoscope.data import write_grid

        path = Path(path)
        if weights_dtype not in _WEIGHT_DTYPES:
            raise ConfigError(f"weights_dtype must be one of {sorted(_WEIGHT_DTYPES)}, "
                              f"not {weights_dtype!r}")
        if grid is None:
            grid = self.training_grid()
        if grid is not None and grid.content_hash != self.grid.get("content_hash"):
            raise ConfigError("the grid to store is not the one this model was trained on")
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
            "versions": self.versions, "novelty": self.novelty,
            "systematics": self.systematics,
        }
        try:
            (tmp / _META).write_text(json.dumps(json_safe(meta), indent=1, allow_nan=False))
            dtype = _WEIGHT_DTYPES[weights_dtype]
            save_tensors({k: v.to(dtype) if v.is_floating_point() else v
                          for k, v in self.model.state_dict().items()}, tmp / _WEIGHTS, path)
            if grid is not None:
                write_grid(grid, tmp / _GRID)
            if extras is not None:
                extras(tmp)
            replace_directory(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.location = path
        return path


def save_tensors(obj, tmp: Path, path: Path) -> None:
    """``torch.save`` to ``tmp``; a failed write (disk full, size limit) is an ``OSError``
    naming ``path``, not torch's RuntimeError."""
    try:
        torch.save(obj, tmp)
    except RuntimeError as exc:
        raise OSError(f"{path}: could not write ({first_line(exc)})") from None


def json_safe(value):
    """``value`` with NaN and ±inf as None, so its JSON is valid (bundle.json, --json)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def is_bundle(path: str | Path) -> bool:
    """Whether ``path`` is a bundle directory (it holds ``bundle.json``)."""
    return (Path(path) / _META).is_file()


def _rebuild(arch: dict, n_wavelengths: int, n_targets: int, state: dict,
             format_version: int) -> nn.Module:
    """The network of a bundle's ``architecture``, its options completed in place."""
    def build(options):
        return build_model(arch["name"], n_wavelengths, arch["n_extra"], n_targets, **options)

    if format_version >= 2:
        return build(arch["options"])
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    legacy = _FORMAT1_DEFAULTS.get(model_class(arch["name"]).__name__, [])
    for options in [*({**old, **arch["options"]} for old in legacy), arch["options"]]:
        model = build(options)
        if {k: tuple(v.shape) for k, v in model.state_dict().items()} == shapes:
            break
    arch["options"] = {**default_options(arch["name"]), **options}
    return model


def load_model(path: str | Path) -> ModelBundle:
    """Restore a bundle written by :meth:`ModelBundle.save`.

    Raises:
        BundleError: a missing, corrupt or incompatible bundle, in one line.
    """
    path = recover_directory(Path(path))
    if not (path / _META).is_file() or not (path / _WEIGHTS).is_file():
        raise BundleError(f"{path}: not a model bundle (needs {_META} and {_WEIGHTS})")
    try:
        meta = json.loads((path / _META).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path / _META}: corrupt bundle metadata ({exc})") from None
    if meta.get("format") != FORMAT:
        raise BundleError(f"{path}: not an atmoscope model bundle")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise BundleError(f"{path}: bundle format {meta['format_version']} is newer than "
                          f"this atmoscope ({__version__}) reads; upgrade atmoscope")
    try:
        arch = meta["architecture"]
        pre = Preprocessor.from_dict(meta["preprocessing"])
        if len(meta["wavelength"]) != pre.n_wavelengths_:
            raise BundleError(f"{path / _META}: {len(meta['wavelength'])} wavelengths, but the "
                              f"model was fitted on {pre.n_wavelengths_}")
        state = torch.load(path / _WEIGHTS, map_location="cpu", weights_only=True)
        if not (isinstance(state, dict) and all(isinstance(v, torch.Tensor)
                                                for v in state.values())):
            raise BundleError(f"{path / _WEIGHTS}: not a state dict of tensors "
                              f"({type(state).__name__})")
        model = _rebuild(arch, len(meta["wavelength"]), len(meta["targets"]), state,
                         meta.get("format_version", 0))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in state.items()})
    except KeyError as exc:
        raise BundleError(f"{path}: bundle metadata lacks {exc}") from None
    except BundleError as exc:
        message = str(exc)
        raise BundleError(message if message.startswith(str(path)) else
                          f"{path}: {message}") from None
    except (TypeError, AttributeError) as exc:
        raise BundleError(f"{path}: damaged bundle ({first_line(exc)})") from None
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
        raise BundleError(f"{path / _WEIGHTS}: weights do not load ({first_line(exc)})") from None
    model.eval()
    return ModelBundle(
        model=model, preprocessor=pre, wavelength=np.asarray(meta["wavelength"]),
        wavelength_unit=meta["wavelength_unit"], flux_unit=meta["flux_unit"],
        targets=tuple(meta["targets"]), architecture=arch, training=meta["training"],
        history=meta["history"], metrics=meta["metrics"], grid=meta["grid"],
        split=meta["split"], versions=meta["versions"], created=meta["created"],
        location=path, novelty=meta.get("novelty"), systematics=meta.get("systematics"),
    )


def _row_normals(seed: int, rows: np.ndarray, shape: tuple, stream: int | None = None
                 ) -> np.ndarray:
    """Standard normals ``(len(rows), *shape)``, row ``r`` from ``default_rng([seed, r])``
    (``[seed, r, stream]`` for another stream); rows that repeat share one draw."""
    keys, inverse = np.unique(rows, return_inverse=True)
    draws = np.stack([np.random.default_rng([seed, int(r)] + ([] if stream is None
                                                                else [stream]))
                      .standard_normal(shape) for r in keys])
    return draws[inverse.reshape(-1)]
