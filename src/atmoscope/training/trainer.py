"""Training loop (TelescopeML's DeepTrainer, with validation-based early stopping,
a wall-clock budget checked every step, atomic per-epoch checkpoints and exact resume)."""

from __future__ import annotations

import math
import pickle
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from atmoscope._atomic import atomic_path
from atmoscope._device import resolve_device
from atmoscope.data.grid import SpectralGrid
from atmoscope.data.noise import log_uniform_snr, noise_profile, noisy_observation, random_gaps
from atmoscope.data.preprocessing import ROW_MODES, Preprocessor
from atmoscope.data.splits import Split
from atmoscope.errors import ConfigError, first_line
from atmoscope.models import ModelBundle, build_model
from atmoscope.models.bundle import package_versions, save_tensors
from atmoscope.models.registry import default_options, model_class
from atmoscope.models.sampling import network_error, network_flux
from atmoscope.training.augment import OffNodeSampler, interpolation_residuals, is_synthetic

__all__ = ["TrainConfig", "Trainer"]

_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
#: validation observations made with ``val_snr`` (each validation spectrum repeated)
_VAL_OBSERVATIONS = 256


@dataclass
class TrainConfig:
    """What to train and how. ``None`` means: the architecture's own default
    (its ``training_defaults``); a scale-free model (``extra_features="none"``) whose
    architecture scales spectra per wavelength by default gets ``log_row`` instead.

    Args:
        model: registered architecture name (``atmoscope.models.MODELS``).
        model_options: keyword arguments of the architecture.
        epochs: maximum number of epochs; default 300, or more on a small grid to
            reach ``min_steps``.
        budget: wall-clock limit in seconds for the training loop (None: no limit),
            checked after every optimiser step. The learning-rate schedule runs on
            ``max(epoch progress, time progress)`` so it completes within the budget.
        noise_snr: ``(low, high)``: each training spectrum gets fresh Gaussian noise
            at an S/N drawn log-uniformly in that range, every batch; ``()`` for none.
        noise_profile: relative-error shape per pixel (median 1, on the grid's
            wavelengths; see :func:`~atmoscope.data.noise.noise_profile`) for
            heteroscedastic noise; None for the same S/N in every pixel.
        offnode: fraction of every batch replaced by spectra at continuous parameter
            values (:class:`~atmoscope.training.augment.OffNodeSampler` over the training
            nodes only); posterior models default to 1.
        offnode_source: ``auto``, ``simulator`` or ``interpolate`` (see the sampler).
        mismatch: scale of the model-mismatch augmentation: each training spectrum is
            multiplied by ``10 ** (u · r)``, ``r`` a random leave-one-out interpolation
            residual of the grid (:func:`~atmoscope.training.augment.interpolation_residuals`)
            and ``u ~ N(0, mismatch²)``. Not applied when the spectra come from the
            exact generator (the embedded grid). Posterior models default to 1: the
            residuals are errors across two node spacings, as at a held-out node; between
            neighbouring nodes interpolation errs about four times less, so this is
            cautious there — and small beside the gap between any grid and real objects.
        gaps: fraction of training spectra given random gaps
            (:func:`~atmoscope.data.noise.random_gaps`), the network reading a mask
            channel; only architectures that accept a mask (posterior models, which
            default to 0.5).
        val_snr: ``(low, high)``: the validation spectra are observed with fixed noise at
            an S/N drawn log-uniformly in that range, each validation spectrum several
            times (at least 256 observations in all). None: posterior models are scored on
            one noisy copy at the training noise, point models on the noiseless spectra.
            A hyperparameter search fixes it, so that trials with different training noise
            are scored on the same spectra.
        calibrate: after training, fit the novelty score and the systematic floor on
            the validation nodes (see :class:`~atmoscope.models.ModelBundle`).
        min_steps: when ``epochs`` is not given, at least this many optimiser steps:
            on a small grid (Sonora Bobcat's 345 spectra make one batch per epoch) the
            epochs rise to reach it, and the patience to a third of them, so the model
            is not stopped after a few hundred steps.
        epoch_size: spectra per epoch (default: one pass over the training rows). With
            off-node draws (``offnode=1``) a batch's spectra are drawn anew, so an epoch is
            a number of spectra rather than the rows: cross-fitting trains networks on
            fewer nodes with the final network's batches (:mod:`~atmoscope.training.
            cross_fit`). Rows are revisited in a new order when it exceeds them.
        device: ``cpu``, ``cuda`` or ``auto`` (CUDA when torch sees a GPU, else the
            CPU): where the network trains. The augmentation runs on the CPU either way,
            and the fitted network is moved back to the CPU, so its bundle loads anywhere.
            ``resolved()`` turns ``auto`` into the device used, which the bundle's
            ``training`` records. A checkpoint resumes on any device.
    """

    model: str = "default"
    model_options: dict = field(default_factory=dict)
    epochs: int | None = None
    budget: float | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    optimizer: str | None = None
    loss: str | None = None
    schedule: str | None = None
    spectrum_mode: str | None = None
    extra_features: str | None = None
    noise_snr: tuple[float, float] | tuple | None = None
    noise_profile: tuple[float, ...] | None = None
    offnode: float | None = None
    offnode_source: str = "auto"
    mismatch: float | None = None
    gaps: float | None = None
    val_snr: tuple[float, float] | None = None
    calibrate: bool = True
    patience: int | None = None
    min_steps: int | None = None
    seed: int = 42
    device: str = "cpu"
    epoch_size: int | None = None

    def resolved(self) -> TrainConfig:
        """A copy with every ``None`` replaced by the architecture's default, checked.

        Raises:
            ConfigError: an unknown model, loss, optimizer, schedule or device, ``cuda``
                without a GPU, or a value out of range.
        """
        cls = model_class(self.model)
        values = asdict(self)
        for key, value in values.items():
            if value is None and key in cls.training_defaults:
                values[key] = cls.training_defaults[key]
        if (self.spectrum_mode is None and values["extra_features"] == "none"
                and values["spectrum_mode"] not in ROW_MODES):
            values["spectrum_mode"] = "log_row"  # scale-free: a per-spectrum scaling
        values["noise_snr"] = tuple(values["noise_snr"] or ())
        values["offnode"] = float(values["offnode"] or 0.0)
        values["mismatch"] = float(values["mismatch"] or 0.0)
        values["gaps"] = float(values["gaps"] or 0.0)
        # every option with its value (defaults too): the bundle rebuilds the same network
        # whatever later versions default to
        values["model_options"] = {**default_options(self.model), **values["model_options"]}
        if values["gaps"] > 0 and cls.accepts_mask:
            values["model_options"]["mask_input"] = True
        if values["val_snr"] is not None:
            values["val_snr"] = tuple(float(v) for v in values["val_snr"])
        if values["noise_profile"] is not None:
            values["noise_profile"] = tuple(float(v) for v in values["noise_profile"])
        values["device"] = resolve_device(values["device"]).type
        config = TrainConfig(**values)
        config._check(cls)
        return config

    def _check(self, cls) -> None:
        cls.check_loss(self.loss)
        if self.optimizer not in _OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r} (adam or adamw)")
        _lr_factor(self.schedule, 0.0)  # an unknown schedule raises here, not mid-training
        for name in ("lr", "budget"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive finite number, got {value}")
        if self.mismatch < 0:
            raise ConfigError(f"mismatch must be >= 0, got {self.mismatch}")
        if self.epoch_size is not None and self.epoch_size < 1:
            raise ConfigError(f"epoch_size must be at least 1 spectrum, got {self.epoch_size}")
        if not 0.0 <= self.gaps <= 1.0:
            raise ConfigError(f"gaps must be a fraction in [0, 1], got {self.gaps}")
        if self.gaps > 0 and not cls.accepts_mask:
            raise ConfigError(f"model {self.model!r} has no mask input: it cannot be "
                              "trained with gaps")
        if not 0.0 <= self.offnode <= 1.0:
            raise ConfigError(f"offnode must be a fraction in [0, 1], got {self.offnode}")
        if self.val_snr is not None and not (
                len(self.val_snr) == 2 and 0 < self.val_snr[0] <= self.val_snr[1]
                and math.isfinite(self.val_snr[1])):
            raise ConfigError(f"val_snr must be (low, high) with 0 < low <= high, got "
                              f"{self.val_snr}")
        if self.noise_profile is not None and not self.noise_snr:
            raise ConfigError("a noise profile shapes the training noise: give --noise-snr "
                              "LOW,HIGH too")
        if cls.reads_errors and not self.noise_snr:
            raise ConfigError(f"model {self.model!r} estimates posteriors of noisy spectra: "
                              "it needs training noise (--noise-snr LOW,HIGH)")


def _lr_factor(schedule: str, progress: float) -> float:
    if schedule == "constant":
        return 1.0
    if schedule in ("onecycle", "cosine"):
        warm = 0.05 if schedule == "onecycle" else 0.0
        if progress < warm:
            return 0.04 + 0.96 * progress / warm
        p = (min(progress, 1.0) - warm) / (1.0 - warm)
        return 0.5 * (1.0 + math.cos(math.pi * p)) * 0.999 + 0.001
    raise ConfigError(f"unknown schedule {schedule!r} (constant, cosine, onecycle)")


def _atomic_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        save_tensors(obj, tmp, path)


@dataclass
class _Progress:
    """What a checkpoint holds besides the weights: enough to continue exactly."""

    history: dict = field(default_factory=lambda: {
        "epoch": [], "train_loss": [], "val_loss": [], "lr": [], "seconds": []})
    elapsed: float = 0.0
    best_val: float = math.inf
    best_state: dict | None = None
    best_epoch: int = -1
    next_epoch: int = 0


class Trainer:
    """Fit a network on a grid split.

    Args:
        config: the training configuration.
        checkpoint: file rewritten (atomically) after every epoch; with
            ``resume=True`` training continues from it, losing at most the epoch
            that was running.
        progress: show a progress bar (epoch, losses, ETA).
        on_epoch: called after every epoch as ``on_epoch(trainer, epoch, val_loss)`` (the
            time spent so far in ``trainer.elapsed_``); an exception it raises ends the
            training and propagates (a hyperparameter search prunes trials this way).

    After :meth:`fit`: ``model_``, ``preprocessor_``, ``history_`` (per-epoch lists),
    ``config_`` (resolved), ``best_epoch_``, ``stopped_because_``, ``train_seconds_``
    (the training loop's wall time, which ``budget`` bounds), ``timings_`` (seconds
    spent in set-up, optimiser steps, validation, checkpoints and calibration), and
    ``novelty_`` and ``systematics_`` (the novelty score and the systematic floor fitted
    on the validation nodes; None with ``calibrate=False``).
    """

    def __init__(self, config: TrainConfig, checkpoint: str | Path | None = None,
                 progress: bool = True,
                 on_epoch: Callable[[Trainer, int, float], None] | None = None) -> None:
        self.config = config
        self.checkpoint = checkpoint
        self.progress = progress
        self.on_epoch = on_epoch

    def fit(self, grid: SpectralGrid, split: Split, resume: bool = False) -> Trainer:
        """Train on ``split.train``; stop early on ``split.val`` loss; keep the best epoch.

        Raises:
            ConfigError: a grid without a flux unit: a bundle must know whether it was
                trained on F_nu or F_lambda to convert observed spectra.
        """
        if grid.flux_unit is None:
            raise ConfigError(
                f"{grid.source or 'the grid'}: no flux unit stated; say what the grid holds "
                "with --flux-unit (e.g. 'erg/(s cm2 AA)' for F_lambda, 'erg/(s cm2 Hz)' for "
                "F_nu; an arbitrary constant factor is fine for --scale-free models)")
        start = time.perf_counter()
        self._setup(grid, split)
        state = self._restore(grid) if resume else _Progress()
        self.timings_ = {"setup": time.perf_counter() - start, "steps": 0.0,
                         "validation": 0.0, "checkpoints": 0.0}
        self._loop(state)
        if state.best_state is not None:
            self.model_.load_state_dict(state.best_state)
        # calibration, prediction and the saved bundle all work on CPU tensors
        self.model_.to("cpu").eval()
        self.history_, self.best_epoch_ = state.history, state.best_epoch
        self.train_seconds_ = state.elapsed
        self.novelty_, self.systematics_ = None, None
        if self.config_.calibrate and len(split.val):
            from atmoscope.evaluation.calibration import fit_novelty, fit_systematic_floor

            start = time.perf_counter()
            cfg, bundle = self.config_, self.to_bundle(grid, split)
            self.novelty_ = fit_novelty(bundle, grid, split.train, split.val,
                                        snr_range=cfg.noise_snr or (5.0, 100.0), gaps=cfg.gaps,
                                        seed=cfg.seed)
            # Monte-Carlo draws cost a forward pass each: fewer for point networks
            point = bundle.kind == "point"
            self.systematics_ = fit_systematic_floor(
                bundle, grid, split.val, seed=cfg.seed, n_observations=400 if point else 1000,
                n_samples=40 if point else 100, gaps=bundle.preprocessor.mask_channel)
            self.timings_["calibration"] = time.perf_counter() - start
        return self

    # --- set-up ---------------------------------------------------------------------------
    def _setup(self, grid: SpectralGrid, split: Split) -> None:
        """Resolve the configuration, build the augmentation, the preprocessing (fitted on
        the training rows only), the validation inputs, the network and its optimiser."""
        cfg = self.config_ = self.config.resolved()
        torch.manual_seed(cfg.seed)
        self._grid_hash = grid.content_hash
        self._reads_errors = model_class(cfg.model).reads_errors
        self._profile = None
        if cfg.noise_profile is not None:
            if len(cfg.noise_profile) != grid.n_wavelengths:
                raise ConfigError(f"noise profile has {len(cfg.noise_profile)} values for "
                                  f"{grid.n_wavelengths} wavelengths")
            self._profile = noise_profile(np.ones(grid.n_wavelengths), cfg.noise_profile)
        self._setup_augmentation(grid, split)
        y = grid.target_values
        self._train_flux, y_train = grid.flux[split.train], y[split.train]
        for name, column in zip(grid.targets, y_train.T, strict=True):
            if len(column) and np.all(column == column[0]):
                warnings.warn(f"{grid.source or 'the grid'}: target {name!r} is {column[0]:g} "
                              "in every training spectrum: the model can only predict that "
                              "value (--targets to leave it out)", stacklevel=2)
        self._wavelength = np.asarray(grid.wavelength, dtype=np.float64)
        pre = self.preprocessor_ = Preprocessor(
            grid.targets, spectrum_mode=cfg.spectrum_mode, extra_features=cfg.extra_features,
            noise_channel=self._reads_errors, mask_channel=cfg.gaps > 0
        ).fit(self._train_flux, y_train)
        val_flux, val_error, y_val = grid.flux[split.val], None, y[split.val]
        val_rng = np.random.default_rng([cfg.seed, 2**31])
        if cfg.val_snr is not None and len(val_flux):
            # fixed noise for every configuration: enough copies to average the draws
            copies = math.ceil(_VAL_OBSERVATIONS / len(val_flux))
            val_flux, y_val = np.tile(val_flux, (copies, 1)), np.tile(y_val, (copies, 1))
            val_flux, val_error = self._observe(val_flux, val_rng, cfg.val_snr)
        elif self._reads_errors:  # a posterior is scored on noisy spectra, the same every epoch
            val_flux, val_error = self._observe(val_flux, val_rng)
        device = self._device = torch.device(cfg.device)
        self._x_val, self._e_val = (torch.from_numpy(a).to(device) for a in
                                    pre.transform_spectra(val_flux, val_error))
        self._y_val = torch.from_numpy(pre.transform_targets(y_val)).to(device)
        self._y_train = pre.transform_targets(y_train)
        # built on the CPU, so the initial weights do not depend on the device
        self.model_ = build_model(cfg.model, grid.n_wavelengths, self._e_val.shape[1],
                                  len(grid.targets), **cfg.model_options).to(device)
        self._opt = _OPTIMIZERS[cfg.optimizer](self.model_.parameters(), lr=cfg.lr,
                                               weight_decay=cfg.weight_decay)

    def _setup_augmentation(self, grid: SpectralGrid, split: Split) -> None:
        """Off-node sampler and mismatch residuals, from the training nodes only:
        validation spectra stay unseen and test nodes never leak."""
        cfg = self.config_
        self._sampler, self._residuals = None, None
        if cfg.offnode > 0:
            self._sampler = OffNodeSampler(source=cfg.offnode_source).fit(grid, split.train)
        exact = (self._sampler.source_ == "simulator" if self._sampler is not None
                 else is_synthetic(grid))
        if cfg.mismatch > 0 and not exact:
            self._residuals = interpolation_residuals(grid, split.train)
            if not len(self._residuals):
                raise ConfigError("mismatch augmentation: no grid node has neighbours on "
                                  "both sides along any parameter")

    def _restore(self, grid: SpectralGrid) -> _Progress:
        """Model, optimiser and progress from the checkpoint of an interrupted run."""
        path = Path(self.checkpoint) if self.checkpoint else None
        if path is None or not path.is_file():
            raise ConfigError(f"cannot resume: no checkpoint at {path}")
        try:
            # onto the CPU: a checkpoint written on a GPU resumes anywhere (loading a state
            # moves it onto the model's and the optimiser's device)
            state = torch.load(path, weights_only=True, map_location="cpu")
            if not (isinstance(state, dict) and {"config", "grid_hash"} <= state.keys()):
                raise ValueError("not an atmoscope checkpoint")
        except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
            raise ConfigError(f"{path}: damaged checkpoint ({first_line(exc)}); delete it and "
                              "start again without --resume") from None
        # checkpoints from before the posterior options were added lack their keys
        saved = {"noise_profile": None, "offnode": 0.0, "offnode_source": "auto",
                 "mismatch": 0.0, "gaps": 0.0, "val_snr": None, "calibrate": True,
                 **state["config"]}
        # a run may resume on another device (continued on a GPU, or on a CPU after one)
        current = asdict(self.config_)
        saved["device"] = current["device"]
        if saved != current or state["grid_hash"] != grid.content_hash:
            raise ConfigError(f"{path}: checkpoint is for another configuration or grid; "
                              "start again without --resume")
        self.model_.load_state_dict(state["model"])
        self._opt.load_state_dict(state["optimizer"])
        return _Progress(history=state["history"], elapsed=state["elapsed"],
                         best_val=state["best_val"], best_state=state["best_state"],
                         best_epoch=state["best_epoch"], next_epoch=state["epoch"] + 1)

    # --- the loop -------------------------------------------------------------------------
    def _schedule(self) -> tuple[int, int, int]:
        """Steps per epoch, epochs, patience (both raised on a small grid, see min_steps)."""
        cfg = self.config_
        steps = math.ceil(self._epoch_size() / cfg.batch_size)
        epochs = cfg.epochs or max(300, math.ceil((cfg.min_steps or 0) / steps))
        raised = cfg.epochs is None and epochs > 300
        return steps, epochs, max(cfg.patience, epochs // 3) if raised else cfg.patience

    def _loop(self, state: _Progress) -> None:
        from tqdm.auto import tqdm

        cfg = self.config_
        steps, epochs, patience = self._schedule()
        self.stopped_because_ = "epochs"
        bar = tqdm(total=epochs, initial=state.next_epoch, desc=f"train {cfg.model}",
                   unit="epoch", dynamic_ncols=True, mininterval=0.5,
                   disable=None if self.progress else True)  # None: only on a terminal
        self._t0 = time.perf_counter() - state.elapsed
        for epoch in range(state.next_epoch, epochs):
            train_loss, lr, out_of_time = self._epoch(epoch, steps, epochs)
            val = self._validate()
            state.elapsed = time.perf_counter() - self._t0
            for key, value in zip(state.history, (epoch, train_loss, val, lr, state.elapsed),
                                  strict=True):
                state.history[key].append(value)
            if val < state.best_val:
                state.best_val, state.best_epoch = val, epoch
                state.best_state = {k: v.detach().clone()
                                    for k, v in self.model_.state_dict().items()}
            bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val:.4f}",
                            best=state.best_epoch, lr=f"{lr:.1e}")
            bar.update(1)
            self._checkpoint(epoch, state)
            if self.on_epoch is not None:
                self.elapsed_ = state.elapsed
                try:
                    self.on_epoch(self, epoch, val)
                except BaseException:
                    bar.close()
                    raise
            if epoch - state.best_epoch >= patience:
                self.stopped_because_ = f"no validation improvement for {patience} epochs"
                break
            if out_of_time:
                self.stopped_because_ = f"time budget of {cfg.budget:g} s"
                break
        bar.close()

    def _epoch_size(self) -> int:
        return self.config_.epoch_size or len(self._train_flux)

    def _epoch(self, epoch: int, steps: int, epochs: int) -> tuple[float, float, bool]:
        """One pass over the training rows; returns the mean training loss, the last
        learning rate, and whether the time budget ran out (the epoch then ends early)."""
        cfg, start = self.config_, time.perf_counter()
        # seeded per epoch, so a resumed run draws the same batches and noise
        rng = np.random.default_rng([cfg.seed, epoch])
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        self.model_.train()
        order, size = rng.permutation(len(self._train_flux)), self._epoch_size()
        if size != len(order):  # whole passes in new orders, then a part
            order = np.concatenate([order] + [rng.permutation(len(order))
                                              for _ in range(-(-size // len(order)) - 1)])[:size]
        total, seen, lr, out_of_time = 0.0, 0, cfg.lr, False
        for i in range(steps):
            rows = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            xb, eb, yb = self._batch(rows, rng)
            progress = (epoch * steps + i) / (epochs * steps)
            if cfg.budget:
                progress = max(progress, (time.perf_counter() - self._t0) / cfg.budget)
            lr = cfg.lr * _lr_factor(cfg.schedule, progress)
            for group in self._opt.param_groups:
                group["lr"] = lr
            self._opt.zero_grad(set_to_none=True)
            loss = self.model_.loss(xb, eb, yb, cfg.loss)
            loss.backward()
            self._opt.step()
            total, seen = total + loss.item() * len(rows), seen + len(rows)
            if cfg.budget and time.perf_counter() - self._t0 >= cfg.budget:
                out_of_time = True
                break
        self.timings_["steps"] += time.perf_counter() - start
        return total / seen, lr, out_of_time

    def _batch(self, rows: np.ndarray, rng: np.random.Generator):
        """Network inputs of one batch: the rows' spectra with off-node replacements,
        mismatch residuals and fresh noise (the evaluation's noise model)."""
        cfg, pre = self.config_, self.preprocessor_
        flux, y = self._train_flux[rows], self._y_train[rows]
        n_off = int(round(cfg.offnode * len(rows)))
        if n_off:
            theta, off_flux = self._sampler.draw(n_off, rng)
            flux = np.concatenate([flux[n_off:], off_flux])
            y = np.concatenate([y[n_off:], pre.transform_targets(theta)])
        if self._residuals is not None:
            u = rng.normal(0.0, cfg.mismatch, size=(len(flux), 1))
            picked = self._residuals[rng.integers(len(self._residuals), size=len(flux))]
            flux = flux * 10.0 ** (u * picked)
        xb, eb = (t.to(self._device) for t in self._network_batch(flux, rng))
        return xb, eb, torch.from_numpy(y).to(self._device)

    def _network_batch(self, flux: np.ndarray, rng: np.random.Generator):
        """Network inputs of noiseless spectra: observed with fresh noise, with random
        gaps filled as prediction fills them (:mod:`atmoscope.models.sampling`)."""
        flux, error = self._observe(flux, rng)
        mask = None
        if self.config_.gaps > 0:
            mask = random_gaps(len(flux), flux.shape[1], rng, self.config_.gaps)
            gapped = ~mask.all(axis=1)
            if gapped.any():
                flux = flux.copy()
                filled = network_flux(flux[gapped], mask[gapped], self._wavelength)
                if error is not None:
                    error = error.copy()
                    error[gapped] = network_error(flux[gapped], error[gapped], mask[gapped],
                                                  filled)
                flux[gapped] = filled
        return (torch.from_numpy(a) for a in
                self.preprocessor_.transform_spectra(flux, error, mask))

    def _observe(self, flux: np.ndarray, rng: np.random.Generator,
                 snr_range: tuple[float, float] | None = None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """Noisy copies of ``flux`` (and their quoted errors for networks that read them),
        at S/N in ``snr_range`` (default: the training noise)."""
        snr_range = snr_range or self.config_.noise_snr
        if not snr_range:
            return flux, None
        snr = log_uniform_snr(*snr_range, len(flux), rng)
        observed, error = noisy_observation(flux, snr, rng, self._profile)
        return observed, error if self._reads_errors else None

    def _validate(self) -> float:
        start = time.perf_counter()
        self.model_.eval()
        with torch.no_grad():
            val = self.model_.loss(self._x_val, self._e_val, self._y_val, self.config_.loss)
        self.timings_["validation"] += time.perf_counter() - start
        return val.item()

    def _checkpoint(self, epoch: int, state: _Progress) -> None:
        if not self.checkpoint:
            return
        start = time.perf_counter()
        _atomic_save({"model": self.model_.state_dict(), "optimizer": self._opt.state_dict(),
                      "epoch": epoch, "history": state.history, "elapsed": state.elapsed,
                      "best_val": state.best_val, "best_state": state.best_state,
                      "best_epoch": state.best_epoch, "config": asdict(self.config_),
                      "grid_hash": self._grid_hash}, Path(self.checkpoint))
        self.timings_["checkpoints"] += time.perf_counter() - start

    # --- result ---------------------------------------------------------------------------
    def to_bundle(self, grid: SpectralGrid, split: Split, metrics: dict | None = None
                  ) -> ModelBundle:
        """The fitted network with its preprocessing and provenance, as a bundle."""
        cfg = self.config_
        return ModelBundle(
            model=self.model_, preprocessor=self.preprocessor_,
            wavelength=np.asarray(grid.wavelength), wavelength_unit=str(grid.wavelength_unit),
            flux_unit=None if grid.flux_unit is None else str(grid.flux_unit),
            targets=tuple(grid.targets),
            architecture={"name": cfg.model, "options": cfg.model_options,
                          "n_extra": self.preprocessor_.n_extra},
            training={**asdict(cfg), "best_epoch": self.best_epoch_,
                      "epochs_run": len(self.history_["epoch"]),
                      "stopped_because": self.stopped_because_,
                      "train_seconds": self.train_seconds_, "timings": dict(self.timings_)},
            history=self.history_, metrics=metrics or {},
            grid={"source": grid.source, "content_hash": grid.content_hash,
                  "n_spectra": grid.n_spectra},
            split={**split.description, "sizes": list(split.sizes()),
                   "test_rows": split.test.tolist()},
            versions=package_versions(),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            novelty=getattr(self, "novelty_", None),
            systematics=getattr(self, "systematics_", None),
        )
