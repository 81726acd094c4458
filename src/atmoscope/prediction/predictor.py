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

Then the guard rails (:mod:`atmoscope.prediction.guards`): a fit that is improbable for
its degrees of freedom has its errors inflated by √(reduced χ²) and its uncertainty
recomputed (``inflate``) — the networks' samples at the inflated errors, each parameter's
spread at least √(reduced χ²) times its spread at the quoted errors, as in a least-squares
fit — and every prediction carries ``flags`` — ``outside_grid``,
``poor_fit``, ``filled_pixels``, ``implausible_scale`` — besides free-text ``notes``.
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
from atmoscope.prediction.guards import MIN_PIXELS, POOR_FIT_P, edge_fraction, guard_flags
from atmoscope.statistics import best_grid_fit

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

    ``flags`` are the guard codes raised (:mod:`atmoscope.prediction.guards`) and
    ``notes`` say in words what was assumed or done. ``novelty`` is the novelty score
    (above 1: unlike the training spectra), ``edge_fraction`` the fraction of the
    networks' own samples (quoted errors, no floor) at or beyond the grid's edge,
    ``error_inflation`` the factor the errors were multiplied by for a poor fit (1: none).
    ``best_fit`` holds the parameters of the best-fit model spectrum (the χ² minimum near
    the estimate) that ``fit``, ``scale`` and ``model_flux`` describe.
    """

    source: str
    targets: tuple[str, ...]
    point: np.ndarray
    samples: np.ndarray
    spectrum: ObservedSpectrum
    cleaning: dict
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    novelty: float | None = None
    edge_fraction: float | None = None
    error_inflation: float = 1.0
    best_fit: dict[str, float] | None = None
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
        """JSON-ready summary: parameters, fit quality, scale, flags and notes."""
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
            "uncertainty": KINDS[self.kind][0], "cleaning": self.cleaning, "flags": self.flags,
            "notes": self.notes, "novelty": self.novelty, "edge_fraction": self.edge_fraction,
            "error_inflation": self.error_inflation, "best_fit": self.best_fit})


#: the best-fit model must be detected in the data at this many σ (else: pure noise)
_MIN_DETECTION = 5.0

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
        allow_partial: mask model pixels the spectrum does not cover (networks with a
            mask input know they are missing; others see them filled by interpolation)
            instead of refusing.
        inflate: for a fit improbable for its degrees of freedom (p < 0.001), multiply
            the errors by √(reduced χ²) and recompute the uncertainty (the factor is
            reported as ``error_inflation``).
        grid_flux_kind: ``"fnu"`` or ``"flambda"``: the kind of flux density the
            grid holds, when the bundle's flux unit does not say.
        n_band_samples: samples used for the predictive band of model spectra.
    """

    def __init__(self, model, *, grid=None, n_samples: int = 1000, n_draws: int | None = None,
                 seed: int = 0,
                 distance_pc: float | None = None, radius_rjup: float | None = None,
                 allow_partial: bool = False, grid_flux_kind: str | None = None,
                 n_band_samples: int = 200, name: str | None = None,
                 inflate: bool = True) -> None:
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
        self.inflate = inflate

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

    def _prior_spread(self) -> np.ndarray:
        """Each target's standard deviation if uniform over the training grid's range
        (infinite where unknown: no grid, or a parameter it does not vary)."""
        out = np.full(len(self.estimator.targets), np.inf)
        if self.interpolator is not None:
            for j, name in enumerate(self.estimator.targets):
                if name in self.interpolator.bounds_:
                    lo, hi = self.interpolator.bounds_[name]
                    out[j] = (hi - lo) / np.sqrt(12.0)
        return out

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
        on the model wavelengths, the cleaning report and notes."""
        est = self.estimator
        clean, report = clean_spectrum(spectrum)
        notes = []
        if report.negative_flux:
            notes.append(f"{report.negative_flux} negative flux pixels kept (noise)")
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
            notes.append("flux has no unit: taken as normalised F_lambda, converted to "
                         "F_nu shape (× λ²)")
        else:
            notes.append("flux has no unit: taken as normalised F_lambda")
        target = est.wavelength * u.Unit(est.wavelength_unit)
        resampled = resample(clean, target, allow_partial=self.allow_partial)
        missing = int((~resampled.mask).sum())
        if missing:
            known = all(m.preprocessor.mask_channel for m in est.members)
            notes.append(f"{missing} of {len(target)} model pixels without data" + (
                " (the networks know which)" if known else
                ", filled by interpolation for the networks"))
        return resampled, report.as_dict(), notes

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
        """Predict one spectrum (an :class:`ObservedSpectrum` or a file to read).

        Raises:
            SpectrumError: fewer than :data:`~atmoscope.prediction.guards.MIN_PIXELS`
                pixels with data, or a best-fit model spectrum not detected at 5σ (a flux
                scale negative, zero or within its noise: e.g. pure noise).
        """
        if not isinstance(spectrum, ObservedSpectrum):
            spectrum = read_spectrum(spectrum, **read_options)
        source = str(spectrum.meta.get("source", "spectrum"))
        resampled, cleaning, notes = self.prepare(spectrum)
        net = self.network_spectrum(resampled)
        flux = net.flux.value
        error = None if net.error is None else net.error.value
        usable = usable_pixels(flux, resampled.mask)
        n_used = int(usable.sum())
        if n_used < MIN_PIXELS:
            raise SpectrumError(f"{source}: only {n_used} of {len(flux)} model pixels have "
                                f"data; at least {MIN_PIXELS} are needed for a prediction")
        est = self.estimator
        nonpositive = int(np.sum(usable & (flux <= 0)))
        if nonpositive:
            notes.append(f"{nonpositive} non-positive pixels replaced by interpolation for "
                         "the networks")
        if error is None:
            notes.append(_NO_ERRORS[est.uncertainty].format(
                snr=max(est.training.get("noise_snr") or (0,))))
        n = self.n_samples if self.n_draws is None else self.n_draws * len(est)
        if n < 2:
            raise ConfigError(f"{n} sample per spectrum gives no uncertainty: ask for at "
                              "least 2 (--samples, --draws)")
        prediction = Prediction(
            source=source, targets=est.targets, point=np.zeros(len(est.targets)),
            samples=np.zeros((0, len(est.targets))), spectrum=resampled, cleaning=cleaning,
            notes=notes, n_models=len(est.members), kind=est.kind,
            object=object_name(spectrum),
            model=self.name or (str(self.model) if isinstance(self.model, str | Path) else None))
        at_earth = resampled.flux.value
        at_earth_error = None if resampled.error is None else resampled.error.value
        try:
            self._sample(prediction, n, flux, error, usable)
            self._model_spectrum(prediction, at_earth, at_earth_error, usable)
            fit = prediction.fit
            if (self.inflate and fit is not None and fit.p_value < POOR_FIT_P
                    and fit.reduced_chi2 > 1):
                # no model fits: the residuals are error the networks must allow for (the
                # best fit, a χ² minimum over the grid, does not depend on the networks)
                factor = prediction.error_inflation = float(np.sqrt(fit.reduced_chi2))
                quoted = prediction.samples
                self._sample(prediction, n, flux, error * factor, usable)
                _widen(prediction, quoted, factor, self._prior_spread())
                prediction.notes.append(
                    f"poor fit: errors inflated ×{prediction.error_inflation:.3g} "
                    "(√ reduced χ²) for the uncertainty (--no-inflate: as quoted)")
            self._predictive_bands(prediction, at_earth, at_earth_error, usable)
        except SpectrumError as exc:
            raise SpectrumError(f"{source}: {exc}") from None
        novelty = est.novelty_score(flux[None], None if error is None else error[None],
                                    usable[None])
        prediction.novelty = None if novelty is None else float(novelty[0])
        if self.interpolator is not None and set(self.interpolator.params_) <= set(est.targets):
            # on the networks' own posterior at the quoted errors: the floor and the
            # inflation widen it on purpose, and would put mass past any edge
            own = prediction.samples
            if prediction.error_inflation != 1.0 or any(m.floor is not None
                                                        for m in est.members):
                own = est.sample(flux[None], None if error is None else error[None], n,
                                 self.seed, mask=usable[None], floor=False)[0]
            prediction.edge_fraction = edge_fraction(own, est.targets, self.interpolator)
        prediction.flags = guard_flags(
            edge=prediction.edge_fraction, novelty=prediction.novelty,
            p_value=None if prediction.fit is None else prediction.fit.p_value,
            n_used=n_used, n_pixels=len(flux), radius_rjup=prediction.implied_radius_rjup)
        return prediction

    def _sample(self, p: Prediction, n: int, flux, error, usable) -> None:
        """``n`` samples of the networks given the errors ``error``."""
        est = self.estimator
        samples = est.sample(flux[None], None if error is None else error[None], n,
                             self.seed, mask=usable[None])[0]
        p.samples, p.point = samples, samples.mean(axis=0)
        p.n_draws = len(samples) // len(est.members)

    # --- the model spectrum ------------------------------------------------------------
    def _model_spectrum(self, p: Prediction, observed: np.ndarray, error, usable) -> None:
        """The best-fit model spectrum near the estimate
        (:func:`~atmoscope.statistics.best_grid_fit`) and its χ² with a fitted scale."""
        from atmoscope.statistics import fit_quality

        if self.interpolator is None:
            p.notes.append("training grid not available: no model spectrum or χ²")
            return
        missing = [n for n in self.interpolator.params_ if n not in p.targets]
        if missing:
            p.notes.append(f"no model spectrum or χ²: the grid varies {', '.join(missing)}, "
                           "which this model does not predict")
            return
        obs, sigma = _fit_inputs(observed, error, usable)
        interp = self.interpolator
        start = p.point[[list(p.targets).index(n) for n in interp.params_]]
        theta, model, p.scale = best_grid_fit(interp, obs, sigma, usable, start)
        p.best_fit = {n: float(v) for n, v in zip(interp.params_, theta, strict=True)}
        detection = p.scale * np.sqrt(np.sum(model[usable] ** 2 / sigma[usable] ** 2))
        if not p.scale > 0 or (error is not None and detection < _MIN_DETECTION):
            raise SpectrumError(
                f"the best-fit flux scale of the model spectrum is {p.scale:.3g}, "
                f"{detection:.1f}σ from zero: the spectrum is not like any model of the grid "
                "(pure noise, or flux of the wrong sign?)")
        p.model_flux = p.scale * model
        if error is not None:
            p.fit = fit_quality(observed, sigma, model, mask=~usable, n_params=len(theta),
                                scale="fit")
        if self.distance_pc is not None and flux_kind(self.estimator.flux_unit) is not None:
            if self.estimator.grid.get("flux_scale", "absolute") == "absolute":
                p.implied_radius_rjup = float(implied_radius(p.scale, self.distance_pc).value)
            else:
                p.notes.append("no implied radius: the model grid's flux is right only up to a "
                               "constant (its unit is arbitrary)")

    def _predictive_bands(self, p: Prediction, observed, error, usable) -> None:
        """68 % and 95 % bands of the best-scaled model spectra of random samples."""
        if p.model_flux is None:  # no grid for model spectra
            return
        obs, sigma = _fit_inputs(observed, error, usable)
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
            p.notes.append(f"{outside} of {len(chosen)} samples lie outside the grid's hull: "
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


def _widen(p: Prediction, quoted: np.ndarray, factor: float, prior: np.ndarray) -> None:
    """Each parameter's samples at the inflated errors, stretched about their median where
    needed so that their spread is at least ``factor`` × the spread at the quoted errors:
    what inflating the errors by ``factor`` does to a least-squares fit (the Birge
    ratio), which a network trained on noise alone may not do for a misfit that is not
    noise — but never wider than the ``prior`` spread (knowing only the grid's range)."""
    median = np.median(p.samples, axis=0)
    spread = np.std(p.samples, axis=0)
    wanted = np.minimum(factor * np.std(quoted, axis=0), np.maximum(prior, spread))
    stretch = np.where(spread > 0, np.maximum(1.0, wanted / np.where(spread > 0, spread, 1.0)),
                       1.0)
    p.samples = median + (p.samples - median) * stretch
    p.point = p.samples.mean(axis=0)


def _fit_inputs(observed, error, usable) -> tuple[np.ndarray, np.ndarray]:
    """Flux (0 where unusable) and errors (1 where unusable or not given) for χ²."""
    sigma = np.where(usable, error, 1.0) if error is not None else np.ones_like(observed)
    return np.where(usable, observed, 0.0), sigma


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
