"""Parameters of observed spectra with uncertainties (TelescopeML's Predictor, done right).

For one spectrum: clean it, convert it to the model grid's kind of flux density
(F_ν or F_λ, errors propagated), resample it onto the model's wavelengths
(flux-conserving, errors propagated), scale it to surface flux if the model needs
the flux level, then ask the estimator — a bundle or an ensemble — for samples:
``estimator.sample(flux, error, n, seed, mask)``. A point network's samples are its
estimates of Monte-Carlo draws over the flux errors (TelescopeML's method); a
posterior network's are samples of its posterior; an ensemble pools its members.
Calibration draws its samples through the very same call.

The model spectrum at the estimate is the training grid interpolated there, compared
with the observation through χ² with an analytic best-fit flux scale (the (R/d)² that
TelescopeML let cancel), which also gives the implied radius for a known distance.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import astropy.units as u
import numpy as np

from atmoscope.errors import AtmoscopeError, ConfigError, SpectrumError
from atmoscope.models import Ensemble, ModelBundle, load_estimator
from atmoscope.models.base import KINDS
from atmoscope.models.bundle import json_safe
from atmoscope.models.sampling import usable_pixels
from atmoscope.observed import (
    ObservedSpectrum,
    best_scale,
    clean_spectrum,
    flux_kind,
    implied_radius,
    read_spectrum,
    resample,
    scale_to_surface,
    to_flambda,
    to_fnu,
)

__all__ = ["PERCENTILES", "Prediction", "Predictor", "as_estimator", "file_stem",
           "object_name", "spectrum_files"]

PERCENTILES = (2.5, 16, 50, 84, 97.5)
_PERCENTILE_KEYS = ("p2_5", "p16", "p50", "p84", "p97_5")


def as_estimator(model) -> Ensemble:
    """An :class:`~atmoscope.models.Ensemble` from a bundle, a list of bundles, an
    ensemble, or a path to a bundle or a folder of bundles."""
    if isinstance(model, Ensemble):
        return model
    if isinstance(model, str | Path):
        return load_estimator(model)
    return Ensemble([model] if isinstance(model, ModelBundle) else list(model))


def object_name(spectrum: ObservedSpectrum) -> str | None:
    """The object a spectrum's file names (FITS ``OBJECT``, ECSV ``object``), if any."""
    name = spectrum.meta.get("object")
    return str(name).strip() or None if name else None


def file_stem(path: str | Path) -> str:
    """A file's name without its format and compression suffixes (``x.fits.gz`` → ``x``)."""
    name = Path(path).name
    for suffix in (".gz", ".bz2", ".xz", ".zip"):
        name = name.removesuffix(suffix)
    return Path(name).stem


@dataclass
class Prediction:
    """Everything known about one spectrum's parameters.

    ``samples`` has one row per sample of the estimator's uncertainty (``kind`` says
    which: Monte-Carlo draws of a point network, or posterior samples), pooled over
    the members of an ensemble (``n_draws`` per member), in physical units, columns in
    ``targets`` order; ``point`` is their mean.
    """

    source: str
    targets: tuple[str, ...]
    point: np.ndarray
    samples: np.ndarray
    spectrum: ObservedSpectrum
    cleaning: dict
    flags: list[str] = field(default_factory=list)
    model_flux: np.ndarray | None = None
    band68: np.ndarray | None = None
    band95: np.ndarray | None = None
    fit: object | None = None
    scale: float | None = None
    implied_radius_rjup: float | None = None
    n_models: int = 1
    n_draws: int = 0
    kind: str = "point"
    object: str | None = None
    model: str | None = None

    @property
    def name(self) -> str:
        """The object's name: the file's (FITS ``OBJECT``), else the file name's stem."""
        return self.object or file_stem(self.source)

    @property
    def sample_label(self) -> str:
        """What the samples are ("Monte-Carlo draws", "posterior samples")."""
        return KINDS[self.kind][1]

    def summary(self) -> dict[str, dict[str, float]]:
        """Per parameter: mean, std and the 2.5/16/50/84/97.5 % percentiles."""
        out = {}
        for j, name in enumerate(self.targets):
            s = self.samples[:, j]
            out[name] = {"mean": float(s.mean()), "std": float(s.std(ddof=1)) if len(s) > 1
                         else 0.0, "point": float(self.point[j])}
            out[name].update({k: float(v) for k, v in
                              zip(_PERCENTILE_KEYS, np.percentile(s, PERCENTILES), strict=True)})
        return out

    def to_dict(self) -> dict:
        """JSON-ready summary: parameters, fit quality, scale, flags."""
        fit = None
        if self.fit is not None:
            fit = {"chi2": self.fit.chi2, "dof": self.fit.dof,
                   "reduced_chi2": self.fit.reduced_chi2, "p_value": self.fit.p_value}
        wl = self.spectrum.wavelength.to_value(u.um)[self.spectrum.mask]
        pixels = {"used": int(self.spectrum.mask.sum()), "model": int(self.spectrum.n_pixels),
                  "range_um": [float(wl.min()), float(wl.max())] if wl.size else None}
        # non-finite numbers (e.g. a χ² over an absurd error) become null: valid JSON
        return json_safe({
            "source": self.source, "object": self.name, "model": self.model,
            "parameters": self.summary(), "fit": fit, "pixels": pixels,
            "scale": self.scale, "implied_radius_rjup": self.implied_radius_rjup,
            "n_models": self.n_models, "n_draws": self.n_draws,
            "uncertainty": KINDS[self.kind][0], "cleaning": self.cleaning, "flags": self.flags})


#: What a spectrum without errors means for each kind of uncertainty.
_NO_ERRORS = {
    "monte_carlo": "no flux errors: no Monte-Carlo draws (model spread only)",
    "posterior": "no flux errors: the posterior assumes S/N {snr:g} (the highest the model "
                 "was trained for), so it is too narrow if the data are noisier",
}


class Predictor:
    """Predict parameters of observed spectra with a bundle or an ensemble of bundles.

    Args:
        model: a :class:`~atmoscope.models.ModelBundle`, a list of them, an
            :class:`~atmoscope.models.Ensemble`, or a path (see
            :func:`~atmoscope.models.load_estimator`).
        grid: the training grid, for the model spectrum and χ² (default: the grid
            stored in the bundle, else the grid file it records, when that exists).
        name: what to call the model in results (default: the path given, if any).
        n_samples: samples per spectrum in all, shared by the members of an ensemble
            (Monte-Carlo draws for point networks, posterior samples for posteriors).
        n_draws: samples per member instead (``n_samples`` = this × members).
        seed: seed of the samples.
        distance_pc, radius_rjup: a distance alone gives the radius the fitted flux
            scale implies; with a radius too the spectrum is scaled to surface flux by
            (d/R)² before prediction — needed by models that use the absolute flux
            level (trained without ``--scale-free``). :meth:`at_distance` changes them
            per object.
        allow_partial: mask model pixels the spectrum does not cover (the networks see
            them filled by interpolation; flagged) instead of refusing.
        grid_flux_kind: ``"fnu"`` or ``"flambda"``: the kind of flux density the
            grid holds, when the bundle's flux unit does not say.
        n_band_samples: samples used for the predictive band of model spectra.
    """

    def __init__(self, model, *, grid=None, n_samples: int = 1000, n_draws: int | None = None,
                 seed: int = 0,
                 distance_pc: float | None = None, radius_rjup: float | None = None,
                 allow_partial: bool = False, grid_flux_kind: str | None = None,
                 n_band_samples: int = 200, name: str | None = None) -> None:
        self.model = model
        self.name = name
        self.grid = grid
        self.n_samples = n_samples
        self.n_draws = n_draws
        self.seed = seed
        self.distance_pc = distance_pc
        self.radius_rjup = radius_rjup
        self.allow_partial = allow_partial
        self.grid_flux_kind = grid_flux_kind
        self.n_band_samples = n_band_samples

    # --- set-up ------------------------------------------------------------------------
    @cached_property
    def estimator(self) -> Ensemble:
        """The model as an :class:`~atmoscope.models.Ensemble` (loaded on first use)."""
        return as_estimator(self.model)

    @cached_property
    def interpolator(self):
        """Grid interpolator for model spectra, or None when no grid is at hand."""
        from atmoscope.data import read_grid
        from atmoscope.statistics import GridInterpolator

        grid, est = self.grid, self.estimator
        source = est.grid.get("source")
        if grid is None:
            grid = est.training_grid()
        if grid is None and source and Path(source).is_file():
            grid = source
        if isinstance(grid, str | Path):
            # in the unit the model was trained with (a file may not state it)
            grid = read_grid(grid, est.targets, flux_unit=est.flux_unit, drop_duplicates="none")
        if grid is None:
            return None
        if grid.n_wavelengths != len(est.wavelength):  # e.g. trained with --wavelength-range
            grid = grid.crop(est.wavelength[0], est.wavelength[-1])
        if not (grid.n_wavelengths == len(est.wavelength)
                and np.allclose(grid.wavelength, est.wavelength, rtol=1e-9)):
            raise ConfigError(f"{grid.source or 'the grid'}: its wavelengths are not the "
                              "model's (--grid must be the grid the model was trained on)")
        return GridInterpolator().fit(grid)

    def at_distance(self, distance_pc: float | None, radius_rjup: float | None = None
                    ) -> Predictor:
        """This predictor for an object at another distance (and radius): a copy that
        shares the loaded model and grid."""
        for name in ("estimator", "interpolator"):  # loaded once here: every copy shares them
            getattr(self, name)
        other = copy.copy(self)
        other.distance_pc, other.radius_rjup = distance_pc, radius_rjup
        return other

    def _kind(self) -> str:
        kind = self.grid_flux_kind or flux_kind(self.estimator.flux_unit)
        if kind not in ("fnu", "flambda"):
            raise ConfigError(
                "the model's flux kind is unknown (its grid had no flux unit): say whether "
                "the grid holds F_nu or F_lambda (--grid-flux fnu|flambda)")
        return kind

    # --- one spectrum ------------------------------------------------------------------
    def prepare(self, spectrum: ObservedSpectrum) -> tuple[ObservedSpectrum, dict, list[str]]:
        """Clean, convert and resample to the model grid; returns the spectrum at Earth
        on the model wavelengths, the cleaning report and flags."""
        est = self.estimator
        clean, report = clean_spectrum(spectrum)
        flags = []
        if report.negative_flux:
            flags.append(f"{report.negative_flux} negative flux pixels kept (noise)")
        if clean.flux.unit.physical_type != "dimensionless":
            clean = to_fnu(clean) if self._kind() == "fnu" else to_flambda(clean)
        elif est.uses_flux_level:
            raise SpectrumError(f"{spectrum.meta.get('source', 'spectrum')}: flux has no "
                                "unit, but this model needs flux in physical units")
        elif self._kind() == "fnu":
            # unitless spectra (e.g. the SpeX library's normalised ones) are F_lambda
            lam2 = clean.wavelength.to_value(u.um) ** 2
            clean = clean.replace(flux=clean.flux * lam2,
                                  error=None if clean.error is None else clean.error * lam2)
            flags.append("flux has no unit: taken as normalised F_lambda, converted to "
                         "F_nu shape (× λ²)")
        else:
            flags.append("flux has no unit: taken as normalised F_lambda")
        target = est.wavelength * u.Unit(est.wavelength_unit)
        resampled = resample(clean, target, allow_partial=self.allow_partial)
        missing = int((~resampled.mask).sum())
        if missing:
            flags.append(f"{missing} of {len(target)} model pixels without data, filled by "
                         "interpolation for the networks")
        return resampled, report.as_dict(), flags

    def network_spectrum(self, resampled: ObservedSpectrum) -> ObservedSpectrum:
        """The spectrum the networks read: at surface flux when distance and radius are
        given, else as observed (scale-free models)."""
        if self.distance_pc is not None and self.radius_rjup is not None:
            return scale_to_surface(resampled, self.distance_pc, self.radius_rjup)
        if self.estimator.uses_flux_level:
            raise ConfigError(
                "this model uses the absolute flux level: give the distance and radius "
                "(--distance, --radius), or use a model trained with --scale-free")
        return resampled

    def predict(self, spectrum: ObservedSpectrum | str | Path, **read_options) -> Prediction:
        """Predict one spectrum (an :class:`ObservedSpectrum` or a file to read)."""
        if not isinstance(spectrum, ObservedSpectrum):
            spectrum = read_spectrum(spectrum, **read_options)
        source = str(spectrum.meta.get("source", "spectrum"))
        resampled, cleaning, flags = self.prepare(spectrum)
        net = self.network_spectrum(resampled)
        flux = net.flux.value
        error = None if net.error is None else net.error.value
        usable = usable_pixels(flux, resampled.mask)
        est = self.estimator
        nonpositive = int(np.sum(usable & (flux <= 0)))
        if nonpositive:
            flags.append(f"{nonpositive} non-positive pixels replaced by interpolation for "
                         "the networks")
        if error is None:
            flags.append(_NO_ERRORS[est.uncertainty].format(
                snr=max(est.training.get("noise_snr") or (0,))))
        n = self.n_samples if self.n_draws is None else self.n_draws * len(est)
        if n < 2:
            raise ConfigError(f"{n} sample per spectrum gives no uncertainty: ask for at "
                              "least 2 (--samples, --draws)")
        try:
            samples = est.sample(flux[None], None if error is None else error[None],
                                 n, self.seed, mask=usable[None])[0]
        except SpectrumError as exc:
            raise SpectrumError(f"{source}: {exc}") from None
        prediction = Prediction(
            source=source, targets=est.targets, point=samples.mean(axis=0), samples=samples,
            spectrum=resampled, cleaning=cleaning, flags=flags, n_models=len(est.members),
            n_draws=len(samples) // len(est.members), kind=est.kind,
            object=object_name(spectrum),
            model=self.name or (str(self.model) if isinstance(self.model, str | Path) else None))
        at_earth = resampled.flux.value
        try:
            self._model_spectrum(prediction, at_earth, None if resampled.error is None
                                 else resampled.error.value, usable)
        except SpectrumError as exc:
            raise SpectrumError(f"{source}: {exc}") from None
        return prediction

    # --- the model spectrum ------------------------------------------------------------
    def _model_spectrum(self, p: Prediction, observed: np.ndarray, error, usable) -> None:
        """Model spectrum at the estimate, χ² with a fitted scale, and predictive bands."""
        from atmoscope.statistics import fit_quality

        if self.interpolator is None:
            p.flags.append("training grid not available: no model spectrum or χ²")
            return
        missing = [n for n in self.interpolator.params_ if n not in p.targets]
        if missing:
            p.flags.append(f"no model spectrum or χ²: the grid varies {', '.join(missing)}, "
                           "which this model does not predict")
            return
        sigma = np.where(usable, error, 1.0) if error is not None else np.ones_like(observed)
        obs = np.where(usable, observed, 0.0)
        model, note = self._model_at(p.point)
        if note:
            # e.g. between the arms of a non-factorial grid: the nearest nodes instead
            p.flags.append(f"model spectrum from the nearest grid nodes ({note})")
        p.scale = best_scale(obs[usable], model[usable], sigma[usable])
        p.model_flux = p.scale * model
        if error is not None:
            p.fit = fit_quality(observed, sigma, model, mask=~usable, n_params=len(p.targets),
                                scale="fit")
        if self.distance_pc is not None and flux_kind(self.estimator.flux_unit) is not None:
            if self.estimator.grid.get("flux_scale", "absolute") == "absolute":
                p.implied_radius_rjup = float(implied_radius(p.scale, self.distance_pc).value)
            else:
                p.flags.append("no implied radius: the model grid's flux is right only up to a "
                               "constant (its unit is arbitrary)")
        self._predictive_bands(p, obs, sigma, usable)

    def _predictive_bands(self, p: Prediction, obs, sigma, usable) -> None:
        """68 % and 95 % bands of the best-scaled model spectra of random samples."""
        rng = np.random.default_rng(self.seed + 1)
        chosen = p.samples[rng.permutation(len(p.samples))[: self.n_band_samples]]
        spectra, outside = [], 0
        for row in chosen:
            m, note = self._model_at(row)
            outside += bool(note)
            spectra.append(best_scale(obs[usable], m[usable], sigma[usable]) * m)
        if len(spectra) >= 10:
            lo95, lo68, hi68, hi95 = np.percentile(spectra, [2.5, 16, 84, 97.5], axis=0)
            p.band68, p.band95 = np.stack([lo68, hi68]), np.stack([lo95, hi95])
        if outside:
            p.flags.append(f"{outside} of {len(chosen)} samples lie outside the grid's hull: "
                           "their model spectra come from the nearest nodes")

    def _model_at(self, point: np.ndarray) -> tuple[np.ndarray, str]:
        """The grid interpolated at ``point`` (targets order), or where it cannot be, the
        nearest nodes' spectrum and the reason."""
        interp = self.interpolator
        index = [list(self.estimator.targets).index(n) for n in interp.params_]
        try:
            return interp(point[None, index])[0], ""
        except AtmoscopeError as exc:
            return self._nearest_nodes_model(point[index]), str(exc)

    def _nearest_nodes_model(self, point: np.ndarray, k: int = 4) -> np.ndarray:
        """Inverse-distance mean (in log flux) of the ``k`` nodes nearest to ``point``,
        distances measured in units of each parameter's range."""
        interp = self.interpolator
        nodes = interp.grid_.parameters[interp.params_].to_numpy()
        span = np.array([hi - lo for lo, hi in (interp.bounds_[n] for n in interp.params_)])
        d = np.linalg.norm((nodes - point) / np.where(span > 0, span, 1.0), axis=1)
        nearest = np.argsort(d)[:k]
        w = 1.0 / np.maximum(d[nearest], 1e-9)
        logf = np.log10(interp.grid_.flux[nearest])
        return 10 ** (w @ logf / w.sum())


def spectrum_files(patterns: Sequence[str]) -> list[Path]:
    """Expand files and glob patterns, keeping the given order, without repeats."""
    import glob

    seen, out = set(), []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise SpectrumError(f"no file matches {pattern!r}")
        for m in matches:
            if m not in seen:
                seen.add(m)
                out.append(Path(m))
    return out
