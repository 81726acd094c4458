"""Training loop (TelescopeML's DeepTrainer, with validation-based early stopping,
a wall-clock budget, atomic per-epoch checkpoints and exact resume)."""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from atmoscope.data.augment import (OffNodeSampler, interpolation_residuals, is_synthetic,
                                   noise_profile)
from atmoscope.data.grid import SpectralGrid
from atmoscope.data.preprocessing import Preprocessor
from atmoscope.data.splits import Split
from atmoscope.errors import AtmoscopeError
from atmoscope.evaluation.metrics import log_uniform_snr, noisy_observation
from atmoscope.training.models import MODELS, build_model

__all__ = ["TrainConfig", "Trainer"]


@dataclass
class TrainConfig:
    """What to train and how. ``None`` means: the architecture's own default
    (its ``training_defaults``).

    Args:
        model: registered architecture name (``atmoscope.training.models.MODELS``).
        model_options: keyword arguments of the architecture.
        epochs: maximum number of epochs; default 300, or more on a small grid to
            reach ``min_steps``.
        budget: wall-clock limit in seconds (None: no limit). The learning-rate
            schedule runs on ``max(epoch progress, time progress)`` so it completes
            within the budget.
        noise_snr: ``(low, high)``: each training spectrum gets fresh Gaussian noise
            at an S/N drawn log-uniformly in that range, every batch; ``()`` for none.
        noise_profile: relative-error shape per pixel (median 1, on the grid's
            wavelengths; see :func:`~atmoscope.data.augment.noise_profile`) for
            heteroscedastic noise; None for the same S/N in every pixel.
        offnode: fraction of every batch replaced by spectra at continuous parameter
            values (:class:`~atmoscope.data.augment.OffNodeSampler` over the training
            nodes only); posterior models default to 1.
        offnode_source: ``auto``, ``simulator`` or ``interpolate`` (see the sampler).
        mismatch: scale of the model-mismatch augmentation: each training spectrum is
            multiplied by ``10 ** (u · r)``, ``r`` a random leave-one-out interpolation
            residual of the grid (:func:`~atmoscope.data.augment.interpolation_residuals`)
            and ``u ~ N(0, mismatch²)``. Not applied when the spectra come from the
            exact generator (the embedded grid). Posterior models default to 1: the
            residuals are errors across two node spacings, as at a held-out node; between
            neighbouring nodes interpolation errs about four times less, so this is
            cautious there — and small beside the gap between any grid and real objects.
        min_steps: when ``epochs`` is not given, at least this many optimiser steps:
            on a small grid (Sonora Bobcat's 345 spectra make one batch per epoch) the
            epochs rise to reach it, and the patience to a third of them, so the model
            is not stopped after a few hundred steps.
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
    patience: int | None = None
    min_steps: int | None = None
    seed: int = 42

    def resolved(self) -> TrainConfig:
        """A copy with every ``None`` replaced by the architecture's default."""
        if self.model not in MODELS:
            raise AtmoscopeError(f"unknown model {self.model!r}; available: "
                                 f"{', '.join(sorted(MODELS))}")
        defaults = MODELS[self.model].training_defaults
        values = asdict(self)
        for key, value in values.items():
            if value is None and key in defaults:
                values[key] = defaults[key]
        values["noise_snr"] = tuple(values["noise_snr"] or ())
        values["offnode"] = float(values["offnode"] or 0.0)
        values["mismatch"] = float(values["mismatch"] or 0.0)
        if values["mismatch"] < 0:
            raise AtmoscopeError(f"mismatch must be >= 0, got {values['mismatch']}")
        if values["noise_profile"] is not None:
            values["noise_profile"] = tuple(float(v) for v in values["noise_profile"])
        if not 0.0 <= values["offnode"] <= 1.0:
            raise AtmoscopeError(f"offnode must be a fraction in [0, 1], got {values['offnode']}")
        if values["noise_profile"] is not None and not values["noise_snr"]:
            raise AtmoscopeError("a noise profile shapes the training noise: give --noise-snr "
                                 "LOW,HIGH too")
        if getattr(MODELS[self.model], "needs_errors", False) and not values["noise_snr"]:
            raise AtmoscopeError(f"model {self.model!r} estimates posteriors of noisy spectra: "
                                 "it needs training noise (--noise-snr LOW,HIGH)")
        return TrainConfig(**values)


def _lr_factor(schedule: str, progress: float) -> float:
    if schedule == "constant":
        return 1.0
    if schedule in ("onecycle", "cosine"):
        warm = 0.05 if schedule == "onecycle" else 0.0
        if progress < warm:
            return 0.04 + 0.96 * progress / warm
        p = (min(progress, 1.0) - warm) / (1.0 - warm)
        return 0.5 * (1.0 + math.cos(math.pi * p)) * 0.999 + 0.001
    raise AtmoscopeError(f"unknown schedule {schedule!r} (constant, cosine, onecycle)")


def _loss_fn(name: str) -> nn.Module | None:
    if name == "nll":
        return None  # the model's own negative log-likelihood (posterior models)
    if name == "huber":
        return nn.HuberLoss(delta=1.0)  # the mean over heads = TelescopeML's equal weights
    if name == "mse":
        return nn.MSELoss()
    raise AtmoscopeError(f"unknown loss {name!r} (huber, mse, or nll for posterior models)")


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


class Trainer:
    """Fit a network on a grid split.

    Args:
        config: the training configuration.
        checkpoint: file rewritten (atomically) after every epoch; with
            ``resume=True`` training continues from it, losing at most the epoch
            that was running.
        progress: show a progress bar (epoch, losses, ETA).

    After :meth:`fit`: ``model_``, ``preprocessor_``, ``history_`` (per-epoch lists),
    ``config_`` (resolved), ``best_epoch_``, ``stopped_because_``, ``train_seconds_``.
    """

    def __init__(self, config: TrainConfig, checkpoint: str | Path | None = None,
                 progress: bool = True) -> None:
        self.config = config
        self.checkpoint = checkpoint
        self.progress = progress

    def _observe(self, flux: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """Noisy copies of ``flux`` (and their quoted errors for posterior models), with
        the noise model the evaluation uses."""
        cfg = self.config_
        if not cfg.noise_snr:
            return flux, None
        snr = log_uniform_snr(*cfg.noise_snr, len(flux), rng)
        observed, error = noisy_observation(flux, snr, rng, self._profile)
        return observed, error if self._needs_errors else None

    def _loss(self, model: nn.Module, loss_fn, x, e, y) -> torch.Tensor:
        return model.loss(x, e, y) if loss_fn is None else loss_fn(model(x, e), y)

    def fit(self, grid: SpectralGrid, split: Split, resume: bool = False) -> Trainer:
        """Train on ``split.train``; stop early on ``split.val`` loss; keep the best epoch."""
        cfg = self.config_ = self.config.resolved()
        torch.manual_seed(cfg.seed)
        self._needs_errors = getattr(MODELS[cfg.model], "needs_errors", False)
        self._profile = None
        if cfg.noise_profile is not None:
            if len(cfg.noise_profile) != grid.n_wavelengths:
                raise AtmoscopeError(f"noise profile has {len(cfg.noise_profile)} values for "
                                     f"{grid.n_wavelengths} wavelengths")
            self._profile = noise_profile(np.ones(grid.n_wavelengths), cfg.noise_profile)
        sampler, residuals = None, None
        # only the training nodes: validation spectra stay unseen, test nodes never leak
        if cfg.offnode > 0:
            sampler = OffNodeSampler(grid, split.train, source=cfg.offnode_source)
        exact = sampler.source_ == "simulator" if sampler is not None else is_synthetic(grid)
        if cfg.mismatch > 0 and not exact:
            residuals = interpolation_residuals(grid, split.train)
            if not len(residuals):
                raise AtmoscopeError("mismatch augmentation: no grid node has neighbours on "
                                     "both sides along any parameter")
        y = grid.target_values
        pre = Preprocessor(grid.targets, spectrum_mode=cfg.spectrum_mode,
                           extra_features=cfg.extra_features, noise_channel=self._needs_errors)
        self.preprocessor_ = pre.fit(grid.flux[split.train], y[split.train])
        val_flux, val_error = grid.flux[split.val], None
        if self._needs_errors:  # a posterior is scored on noisy spectra, the same every epoch
            val_flux, val_error = self._observe(val_flux, np.random.default_rng([cfg.seed, 2**31]))
        x_val, e_val = (torch.from_numpy(a) for a in pre.transform_spectra(val_flux, val_error))
        y_val = torch.from_numpy(pre.transform_targets(y[split.val]))
        train_flux, y_train = grid.flux[split.train], pre.transform_targets(y[split.train])

        model = self.model_ = build_model(cfg.model, grid.n_wavelengths, e_val.shape[1],
                                          len(grid.targets), **cfg.model_options)
        if cfg.optimizer == "adam":
            opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "adamw":
            opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            raise AtmoscopeError(f"unknown optimizer {cfg.optimizer!r} (adam or adamw)")
        loss_fn = _loss_fn(cfg.loss)
        if loss_fn is None and not hasattr(model, "loss"):
            raise AtmoscopeError(f"loss 'nll' needs a posterior model, not {cfg.model!r}")

        history = {"epoch": [], "train_loss": [], "val_loss": [], "lr": [], "seconds": []}
        start_epoch, elapsed, best_val, best_state, best_epoch = 0, 0.0, math.inf, None, -1
        ckpt_path = Path(self.checkpoint) if self.checkpoint else None
        if resume:
            if ckpt_path is None or not ckpt_path.is_file():
                raise AtmoscopeError(f"cannot resume: no checkpoint at {ckpt_path}")
            state = torch.load(ckpt_path, weights_only=True)
            # checkpoints from before the posterior options were added lack their keys
            saved = {"noise_profile": None, "offnode": 0.0, "offnode_source": "auto",
                     "mismatch": 0.0, **state["config"]}
            if saved != asdict(cfg) or state["grid_hash"] != grid.content_hash:
                raise AtmoscopeError(f"{ckpt_path}: checkpoint is for another configuration "
                                     "or grid; start again without --resume")
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            history, elapsed = state["history"], state["elapsed"]
            best_val, best_state, best_epoch = state["best_val"], state["best_state"], \
                state["best_epoch"]
            start_epoch = state["epoch"] + 1

        from tqdm.auto import tqdm

        n, bs = len(train_flux), cfg.batch_size
        steps_per_epoch = math.ceil(n / bs)
        epochs = cfg.epochs or max(300, math.ceil((cfg.min_steps or 0) / steps_per_epoch))
        raised = cfg.epochs is None and epochs > 300
        patience = max(cfg.patience, epochs // 3) if raised else cfg.patience
        total_steps = epochs * steps_per_epoch
        self.stopped_because_ = "epochs"
        bar = tqdm(total=epochs, initial=start_epoch, desc=f"train {cfg.model}",
                   unit="epoch", dynamic_ncols=True, mininterval=0.5,
                   disable=None if self.progress else True)  # None: only on a terminal
        t0 = time.perf_counter() - elapsed
        for epoch in range(start_epoch, epochs):
            # seeded per epoch, so a resumed run draws the same batches and noise
            rng = np.random.default_rng([cfg.seed, epoch])
            torch.manual_seed(cfg.seed * 100_003 + epoch)
            model.train()
            order = rng.permutation(n)
            total, lr = 0.0, cfg.lr
            for i in range(steps_per_epoch):
                rows = order[i * bs:(i + 1) * bs]
                flux, yb = train_flux[rows], y_train[rows]
                n_off = int(round(cfg.offnode * len(rows)))
                if n_off:
                    theta, off_flux = sampler.draw(n_off, rng)
                    flux = np.concatenate([flux[n_off:], off_flux])
                    yb = np.concatenate([yb[n_off:], pre.transform_targets(theta)])
                if residuals is not None:
                    u = rng.normal(0.0, cfg.mismatch, size=(len(flux), 1))
                    flux = flux * 10.0 ** (u * residuals[rng.integers(len(residuals),
                                                                      size=len(flux))])
                flux, error = self._observe(flux, rng)
                xb, eb = (torch.from_numpy(a) for a in pre.transform_spectra(flux, error))
                progress = (epoch * steps_per_epoch + i) / total_steps
                if cfg.budget:
                    progress = max(progress, (time.perf_counter() - t0) / cfg.budget)
                lr = cfg.lr * _lr_factor(cfg.schedule, progress)
                for group in opt.param_groups:
                    group["lr"] = lr
                opt.zero_grad(set_to_none=True)
                loss = self._loss(model, loss_fn, xb, eb, torch.from_numpy(yb))
                loss.backward()
                opt.step()
                total += loss.item() * len(rows)
            model.eval()
            with torch.no_grad():
                val = self._loss(model, loss_fn, x_val, e_val, y_val).item()
            elapsed = time.perf_counter() - t0
            for key, value in zip(history, (epoch, total / n, val, lr, elapsed), strict=True):
                history[key].append(value)
            if val < best_val:
                best_val, best_epoch = val, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            bar.set_postfix(train=f"{total / n:.4f}", val=f"{val:.4f}", best=best_epoch,
                            lr=f"{lr:.1e}")
            bar.update(1)
            if ckpt_path is not None:
                _atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                              "epoch": epoch, "history": history, "elapsed": elapsed,
                              "best_val": best_val, "best_state": best_state,
                              "best_epoch": best_epoch, "config": asdict(cfg),
                              "grid_hash": grid.content_hash}, ckpt_path)
            if epoch - best_epoch >= patience:
                self.stopped_because_ = f"no validation improvement for {patience} epochs"
                break
            if cfg.budget and elapsed >= cfg.budget:
                self.stopped_because_ = f"time budget of {cfg.budget:g} s"
                break
        bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        self.history_, self.best_epoch_, self.train_seconds_ = history, best_epoch, elapsed
        return self
