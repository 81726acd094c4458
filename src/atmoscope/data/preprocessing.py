"""Preprocessing fitted on the training split only, saved with the model, applied identically
at inference (TelescopeML's DataMaster scaling, with its train/inference mismatches removed).

Inputs to a network are two arrays:

* ``spectrum``: one row per spectrum, one column per wavelength;
* ``extra``: per-spectrum scalar features that keep the absolute flux level the
  per-spectrum scaling removes, standardised column-wise: ``minmax``, log10 of the
  minimum and maximum flux (TelescopeML used them raw, although they span 17 orders
  of magnitude on its grid), or ``moments``, the mean and standard deviation of log10
  flux (averages over all pixels, so noise barely moves them, unlike a minimum).

Networks that estimate posteriors also need to know how noisy a spectrum is: with
``noise_channel`` the spectrum input gets a second channel, log10 of the relative
error ``σ / |flux|`` per pixel (clipped to S/N 10⁴…0.1), shifted and scaled to order
unity; it is the same function of the observed flux and its quoted error in training
and at inference. With ``mask_channel`` a third channel says which pixels hold data
(1) and which were filled by interpolation (0): a network trained with random gaps
(``TrainConfig.gaps``) then knows what it did not see, instead of reading filled
values as data.

Targets are optionally log10-transformed (TelescopeML does so for Teff) and then
standardised column-wise. All standard deviations use ddof=0, in training and at
inference alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from atmoscope.errors import BundleError, ConfigError, GridError, check_fitted

__all__ = ["EXTRA_FEATURES", "Preprocessor", "SPECTRUM_MODES"]

#: ``row``: per-spectrum z-score of the flux (TelescopeML); ``log_row``: per-spectrum
#: z-score of log10 flux (keeps the shape of deep bands that linear flux flattens);
#: ``column_standard`` / ``column_minmax``: per-wavelength scaling of log10 flux.
SPECTRUM_MODES = ("row", "log_row", "column_standard", "column_minmax")
#: the scalings that divide out each spectrum's own level (the only ones a scale-free
#: model can use)
ROW_MODES = ("row", "log_row")
EXTRA_FEATURES = ("minmax", "moments", "none")
_TINY = 1e-300


def _log10(flux: np.ndarray) -> np.ndarray:
    return np.log10(np.maximum(flux, _TINY))


def _row_standardise(x: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=1, keepdims=True)
    std = x.std(axis=1, keepdims=True)
    return (x - mean) / np.where(std > 0, std, 1.0)


@dataclass
class Preprocessor:
    """Fitted transforms of spectra and targets.

    Args:
        targets: target names, in the column order of the arrays given to it.
        log_targets: targets to log10 before standardising (default temperature).
        spectrum_mode: one of :data:`SPECTRUM_MODES`.
        extra_features: ``"minmax"``, ``"moments"`` or ``"none"`` (see module doc).
        noise_channel: add the relative-error channel (see module doc); the spectrum
            input is then ``(n, 2, n_wavelengths)`` and errors must be given.
        mask_channel: add the data-mask channel (see module doc; needs
            ``noise_channel``): ``(n, 3, n_wavelengths)``.
    """

    targets: Sequence[str]
    log_targets: Sequence[str] = ("temperature",)
    spectrum_mode: str = "log_row"
    extra_features: str = "minmax"
    noise_channel: bool = False
    mask_channel: bool = False

    def __post_init__(self) -> None:
        self.targets = tuple(self.targets)
        if self.mask_channel and not self.noise_channel:
            raise ConfigError("a mask channel needs the noise channel (posterior networks)")
        self.log_targets = tuple(t for t in self.log_targets if t in self.targets)
        if self.spectrum_mode not in SPECTRUM_MODES:
            raise ConfigError(
                f"unknown spectrum mode {self.spectrum_mode!r}; choose from {SPECTRUM_MODES}"
            )
        if self.extra_features not in EXTRA_FEATURES:
            raise ConfigError(f"unknown extra features {self.extra_features!r}; "
                                 f"choose from {EXTRA_FEATURES}")
        if self.extra_features == "none" and self.spectrum_mode not in ROW_MODES:
            # a column scaling keeps the flux level that "none" (scale-free) leaves out
            raise ConfigError(f"a scale-free model (extra features 'none') needs a "
                              f"per-spectrum scaling ({' or '.join(ROW_MODES)}), not "
                              f"{self.spectrum_mode!r}")

    # --- fitting ----------------------------------------------------------------------
    def fit(self, flux: np.ndarray, y: np.ndarray) -> Preprocessor:
        """Learn the column statistics from the TRAINING spectra and targets only.

        Args:
            flux: training spectra, shape ``(n, n_wavelengths)``.
            y: their targets, shape ``(n, n_targets)`` in the order of ``targets``.

        Returns:
            self, fitted.

        Raises:
            ConfigError: arrays of the wrong shape.
            GridError: a log-transformed target that is not positive.
        """
        flux = np.asarray(flux, dtype=np.float64)
        if flux.ndim != 2 or np.ndim(y) != 2 or len(y) != flux.shape[0]:
            raise ConfigError(
                f"fit needs flux of shape (n, n_wavelengths) and targets of shape (n, "
                f"{len(self.targets)}), got {flux.shape} and {np.shape(y)}"
            )
        y = self._forward_targets(np.asarray(y, dtype=np.float64))
        self.y_mean_ = y.mean(axis=0)
        self.y_std_ = self._safe(y.std(axis=0))
        self.n_wavelengths_ = flux.shape[1]
        logf = _log10(flux)
        if self.spectrum_mode == "column_standard":
            self.x_center_ = logf.mean(axis=0)
            self.x_scale_ = self._safe(logf.std(axis=0))
        elif self.spectrum_mode == "column_minmax":
            self.x_center_ = logf.min(axis=0)
            self.x_scale_ = self._safe(logf.max(axis=0) - logf.min(axis=0))
        if self.extra_features != "none":
            feats = self._raw_extra(logf)
            self.extra_mean_ = feats.mean(axis=0)
            self.extra_std_ = self._safe(feats.std(axis=0))
        return self

    @staticmethod
    def _safe(scale: np.ndarray) -> np.ndarray:
        return np.where(scale > 0, scale, 1.0)

    def _check_fitted(self) -> None:
        check_fitted(self, "y_mean_", "fit()")

    # --- spectra ----------------------------------------------------------------------
    @property
    def n_extra(self) -> int:
        return 0 if self.extra_features == "none" else 2

    def _raw_extra(self, logf: np.ndarray) -> np.ndarray:
        if self.extra_features == "moments":
            return np.stack([logf.mean(axis=1), logf.std(axis=1)], axis=1)
        return np.stack([logf.min(axis=1), logf.max(axis=1)], axis=1)

    def transform_spectra(self, flux: np.ndarray, error: np.ndarray | None = None,
                          mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Network inputs ``(spectrum, extra)`` as float32; ``extra`` has 0 columns when
        the extra features are off; with :attr:`noise_channel`, ``error`` (1σ, the shape
        of ``flux``) is required and ``spectrum`` has two channels; with
        :attr:`mask_channel` a third, ``mask`` (True where a pixel holds data; default
        all)."""
        self._check_fitted()
        flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
        if flux.shape[1] != self.n_wavelengths_:
            raise ConfigError(
                f"spectra have {flux.shape[1]} wavelengths, the model expects "
                f"{self.n_wavelengths_}"
            )
        logf = _log10(flux)
        if self.spectrum_mode == "row":
            x = _row_standardise(flux)
        elif self.spectrum_mode == "log_row":
            x = _row_standardise(logf)
        else:
            x = (logf - self.x_center_) / self.x_scale_
        if self.extra_features != "none":
            extra = (self._raw_extra(logf) - self.extra_mean_) / self.extra_std_
        else:
            extra = np.zeros((flux.shape[0], 0))
        if self.noise_channel:
            if error is None:
                raise ConfigError("this model needs the flux errors of the spectra")
            try:
                error = np.broadcast_to(np.asarray(error, dtype=np.float64), flux.shape)
            except ValueError:
                raise ConfigError(
                    f"errors of shape {np.shape(error)} do not match spectra of shape {flux.shape}"
                ) from None
            rel = np.abs(error) / np.maximum(np.abs(flux), _TINY)
            noise = (np.log10(np.clip(rel, 1e-4, 10.0)) + 1.5) / 1.0
            channels = [x, noise]
            if self.mask_channel:
                channels.append(np.ones_like(x) if mask is None else
                                np.broadcast_to(mask, flux.shape).astype(np.float64))
            x = np.stack(channels, axis=1)
        return x.astype(np.float32), extra.astype(np.float32)

    # --- targets ----------------------------------------------------------------------
    def _forward_targets(self, y: np.ndarray) -> np.ndarray:
        y = np.array(y, dtype=np.float64, ndmin=2)
        if y.ndim != 2 or y.shape[1] != len(self.targets):
            raise ConfigError(
                f"targets of shape {y.shape}; expected (n, {len(self.targets)}) for "
                f"{', '.join(self.targets)}"
            )
        for t in self.log_targets:
            j = self.targets.index(t)
            if np.any(y[:, j] <= 0):
                raise GridError(f"target {t!r} must be positive to take its log10")
            y[:, j] = np.log10(y[:, j])
        return y

    def transform_targets(self, y: np.ndarray) -> np.ndarray:
        """Physical targets → standardised network targets (float32)."""
        self._check_fitted()
        return ((self._forward_targets(y) - self.y_mean_) / self.y_std_).astype(np.float32)

    def inverse_transform_targets(self, z: np.ndarray) -> np.ndarray:
        """Standardised network outputs → physical units (float64)."""
        self._check_fitted()
        y = np.array(z, dtype=np.float64, ndmin=2) * self.y_std_ + self.y_mean_
        for t in self.log_targets:
            j = self.targets.index(t)
            y[:, j] = 10.0 ** y[:, j]
        return y

    # --- persistence --------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-serialisable state (configuration and fitted statistics)."""
        self._check_fitted()
        state = {
            "targets": list(self.targets),
            "log_targets": list(self.log_targets),
            "spectrum_mode": self.spectrum_mode,
            "extra_features": self.extra_features,
            "noise_channel": self.noise_channel,
            "mask_channel": self.mask_channel,
            "n_wavelengths_": int(self.n_wavelengths_),
        }
        for name in ("y_mean_", "y_std_", "x_center_", "x_scale_", "extra_mean_", "extra_std_"):
            if hasattr(self, name):
                state[name] = getattr(self, name).tolist()
        return state

    @classmethod
    def from_dict(cls, state: dict) -> Preprocessor:
        """Rebuild a fitted preprocessor from :meth:`to_dict` output."""
        try:
            pre = cls(state["targets"], state["log_targets"], state["spectrum_mode"],
                      state["extra_features"], state.get("noise_channel", False),
                      state.get("mask_channel", False))
            pre.n_wavelengths_ = int(state["n_wavelengths_"])
            for name in ("y_mean_", "y_std_"):
                if name not in state:
                    raise KeyError(name)
            for name in ("y_mean_", "y_std_", "x_center_", "x_scale_", "extra_mean_",
                         "extra_std_"):
                if name in state:
                    setattr(pre, name, np.asarray(state[name], dtype=np.float64))
            pre._check_fitted()
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"invalid preprocessing state ({exc})") from None
        return pre
