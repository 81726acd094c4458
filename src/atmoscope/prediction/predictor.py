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

Many spectra go through as one batch (:meth:`Predictor.predict_many`: one pass of the
networks, the sampler and the best fit over all of them), each getting what predicting it
alone gives; :meth:`Predictor.predict` is a batch of one.

Then the guard rails (:mod:`atmoscope.prediction.guards`): a fit that is improbable for
its degrees of freedom has its errors inflated by √(reduced χ²) and its uncertainty
recomputed (``inflate``) — the networks' samples at the inflated errors, each parameter's
spread at least √(reduced χ²) times its spread at the quoted errors, as in a least-squares
fit — and every prediction carries ``flags`` — ``outside_grid``,
``poor_fit``, ``filled_pixels``, ``implausible_scale`` — besides free-text ``notes``.
"""

from __future__ import annotations

import copy
import dataclasses
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
from atmoscope.models.sampling import missing_fraction, usable_pixels
from atmoscope.observed import (
    ObservedSpectrum,
    clean_spectrum,
    flux_kind,
    implied_radius,
    read_spectrum,
    resample,
    scale_to_surface,
    to_flambda,
    to_fnu,
)
from atmoscope.observed.readers import file_stem, object_name
from atmoscope.prediction.guards import MIN_PIXELS, POOR_FIT_P, edge_fractions, guard_flags
from atmoscope.statistics import best_grid_fits

__all__ = ["PERCENTILES", "Prediction", "Predictor", "Prepared", "as_estimator"]

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
        return summaries([self])[0]

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


@dataclass
class Prepared:
    """A spectrum ready for the networks: cleaned, converted and resampled to the model's
    wavelengths (:meth:`Predictor.prepared`), with what that did."""

    source: str
    object: str | None
    spectrum: ObservedSpectrum
    cleaning: dict
    notes: list[str]


@dataclass
class _Batch:
    """The arrays of a batch of predictions: what the networks read (``flux``,
    ``error``), the spectra at Earth for χ², the usable pixels, the networks' own samples
    at the quoted errors and their embeddings of the spectra (for the novelty score),
    and the error that refused each spectrum (None: none)."""

    predictions: list[Prediction]
    flux: np.ndarray
    error: np.ndarray | None
    usable: np.ndarray
    at_earth: np.ndarray
    at_earth_error: np.ndarray | None
    errors: list
    own: np.ndarray | None = None
    embedding: list | None = None

    @classmethod
    def of(cls, predictions, flux, error, usable) -> _Batch:
        errors = [p.spectrum.error for p in predictions]
        return cls(predictions, flux, error, usable,
                   np.stack([p.spectrum.flux.value for p in predictions]),
                   None if errors[0] is None else np.stack([e.value for e in errors]),
                   [None] * len(predictions))


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
        device: where the networks compute (``auto``, ``cpu``, ``cuda``).
    """

    def __init__(self, model, *, grid=None, n_samples: int = 1000, n_draws: int | None = None,
                 seed: int = 0,
                 distance_pc: float | None = None, radius_rjup: float | None = None,
                 allow_partial: bool = False, grid_flux_kind: str | None = None,
                 n_band_samples: int = 200, name: str | None = None,
                 inflate: bool = True, device: str = "cpu") -> None:
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
        self.device = device

    # --- set-up ------------------------------------------------------------------------
    @cached_property
    def estimator(self) -> Ensemble:
        """The model as an :class:`~atmoscope.models.Ensemble` (loaded on first use)."""
        estimator = as_estimator(self.model)
        return estimator if self.device == "cpu" else estimator.to(self.device)

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

    # --- preparation -------------------------------------------------------------------
    def prepare(self, spectrum: ObservedSpectrum) -> tuple[ObservedSpectrum, dict, list[str]]:
        """Clean, convert and resample to the model grid; returns the spectrum at Earth
        on the model wavelengths, the cleaning report and notes."""
        clean, report = clean_spectrum(spectrum)
        notes = _negative_note(report.negative_flux)
        clean, more = self._model_flux(clean, str(spectrum.meta.get("source", "spectrum")),
                                       lambda s: to_fnu(s) if self._kind() == "fnu"
                                       else to_flambda(s))
        resampled = resample(clean, self._target(), allow_partial=self.allow_partial)
        return resampled, report.as_dict(), notes + more + self._missing_note(
            int((~resampled.mask).sum()))

    def prepared_many(self, batch) -> list[Prepared | AtmoscopeError]:
        """:meth:`prepared` for every row of a
        :class:`~atmoscope.observed.SpectrumBatch` (a chunk of a survey file) at once:
        the same cleaning, conversion and resampling, vectorised; a row that cannot be
        prepared gets its error."""
        from atmoscope.observed.batch import clean_batch, convert_batch, resample_batch

        try:
            clean, reports = clean_batch(batch)
            clean, notes = self._model_flux(clean, batch.source,
                                            lambda b: convert_batch(b, self._kind()))
            resampled = resample_batch(clean, self._target(), allow_partial=self.allow_partial)
        except AtmoscopeError as exc:
            return [exc] * len(batch)
        out: list = []
        for i, report in enumerate(reports):
            problem = resampled.meta["errors"][i]
            if problem:
                out.append(SpectrumError(problem))
                continue
            spectrum = resampled.spectrum(i)
            out.append(Prepared(
                batch.row_source(i), batch.ids[i], spectrum,
                report.as_dict(), _negative_note(report.negative_flux) + notes
                + self._missing_note(int((~spectrum.mask).sum()))))
        return out

    def _target(self) -> u.Quantity:
        est = self.estimator
        return est.wavelength * u.Unit(est.wavelength_unit)

    def _model_flux(self, clean, source: str, convert):
        """``clean`` (a spectrum or a batch) in the kind of flux density the model reads,
        and notes on what was assumed."""
        if clean.flux.unit.physical_type != "dimensionless":
            return convert(clean), []
        if self.estimator.uses_flux_level:
            raise SpectrumError(f"{source}: flux has no unit, but this model needs flux in "
                                "physical units")
        if self._kind() == "flambda":
            return clean, ["flux has no unit: taken as normalised F_lambda"]
        # unitless spectra (e.g. the SpeX library's normalised ones) are F_lambda
        lam2 = clean.wavelength.to_value(u.um) ** 2
        return (dataclasses.replace(clean, flux=clean.flux * lam2,
                                    error=None if clean.error is None else clean.error * lam2),
                ["flux has no unit: taken as normalised F_lambda, converted to F_nu shape "
                 "(× λ²)"])

    def _missing_note(self, missing: int) -> list[str]:
        if not missing:
            return []
        known = all(m.preprocessor.mask_channel for m in self.estimator.members)
        return [f"{missing} of {len(self.estimator.wavelength)} model pixels without data" + (
            " (the networks know which)" if known else
            ", filled by interpolation for the networks")]

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
        """Predict one spectrum (an :class:`ObservedSpectrum` or a file to read): a batch
        of one through :meth:`predict_many`.

        Raises:
            SpectrumError: fewer than :data:`~atmoscope.prediction.guards.MIN_PIXELS`
                pixels with data, or a best-fit model spectrum not detected at 5σ (a flux
                scale negative, zero or within its noise: e.g. pure noise).
        """
        if not isinstance(spectrum, ObservedSpectrum):
            spectrum = read_spectrum(spectrum, **read_options)
        result = self.predict_many([spectrum])[0]
        if isinstance(result, AtmoscopeError):
            raise result
        return result

    def prepared(self, spectrum: ObservedSpectrum) -> Prepared:
        """:meth:`prepare` as a :class:`Prepared` (what :meth:`predict_many` takes)."""
        resampled, cleaning, notes = self.prepare(spectrum)
        return Prepared(str(spectrum.meta.get("source", "spectrum")), object_name(spectrum),
                        resampled, cleaning, notes)

    def predict_many(self, spectra: Sequence[ObservedSpectrum | Prepared], *,
                     bands: bool | None = None) -> list[Prediction | AtmoscopeError]:
        """Predict many spectra as one batch: the networks, the posterior sampler, the best
        fit, χ², the novelty score and the guard flags each run once over all of them
        (what a catalog needs), and every spectrum gets what predicting it alone gives
        (its random numbers depend on the seed only, not on its place in the batch).

        Args:
            spectra: spectra, or spectra already through :meth:`prepared` (e.g. by the
                processes that read a catalog's files).
            bands: compute the predictive bands of model spectra (for figures; default
                ``n_band_samples > 0``).

        Returns:
            One entry per spectrum, in order: its :class:`Prediction`, or the
            :class:`~atmoscope.errors.AtmoscopeError` that refused it (a batch is not
            stopped by one bad spectrum).

        Raises:
            ConfigError: fewer than 2 samples per spectrum asked for.
        """
        est = self.estimator
        n = self.n_samples if self.n_draws is None else self.n_draws * len(est)
        if n < 2:
            raise ConfigError(f"{n} sample per spectrum gives no uncertainty: ask for at "
                              "least 2 (--samples, --draws)")
        out: list = [None] * len(spectra)
        ready: dict[bool, list] = {True: [], False: []}
        for i, item in enumerate(spectra):
            try:
                item = item if isinstance(item, Prepared) else self.prepared(item)
                net = self.network_spectrum(item.spectrum)
            except AtmoscopeError as exc:
                out[i] = exc
                continue
            error = None if net.error is None else net.error.value
            ready[error is not None].append((i, item, net.flux.value, error))
        for group in ready.values():  # spectra with errors, and without: one batch each
            if group:
                for i, result in zip([g[0] for g in group], self._predict_batch(group, n, bands),
                                     strict=True):
                    out[i] = result
        return out

    def _predict_batch(self, group, n: int, bands: bool | None) -> list:
        """:meth:`predict_many` for spectra that all have errors, or all have none."""
        est = self.estimator
        items = [g[1] for g in group]
        flux = np.stack([g[2] for g in group])
        error = None if group[0][3] is None else np.stack([g[3] for g in group])
        usable = usable_pixels(flux, np.stack([it.spectrum.mask for it in items]))
        results: list = [None] * len(items)
        predictions = []
        model = self.name or (str(self.model) if isinstance(self.model, str | Path) else None)
        for j, item in enumerate(items):
            n_used = int(usable[j].sum())
            if n_used < MIN_PIXELS:
                results[j] = SpectrumError(
                    f"{item.source}: only {n_used} of {flux.shape[1]} model pixels have "
                    f"data; at least {MIN_PIXELS} are needed for a prediction")
                continue
            if error is not None and not np.any(usable[j] & (flux[j] != 0)
                                                & np.isfinite(error[j]) & (error[j] > 0)):
                results[j] = SpectrumError(
                    f"{item.source}: no pixel has a usable flux error (finite and positive, "
                    "where the flux is)")
                continue
            notes = list(item.notes)
            nonpositive = int(np.sum(usable[j] & (flux[j] <= 0)))
            if nonpositive:
                notes.append(f"{nonpositive} non-positive pixels replaced by interpolation "
                             "for the networks")
            if error is None:
                notes.append(_NO_ERRORS[est.uncertainty].format(
                    snr=max(est.training.get("noise_snr") or (0,))))
            predictions.append((j, Prediction(
                source=item.source, targets=est.targets, point=np.zeros(len(est.targets)),
                samples=np.zeros((0, len(est.targets))), spectrum=item.spectrum,
                cleaning=item.cleaning, notes=notes, n_models=len(est.members), kind=est.kind,
                object=item.object, model=model)))
        if not predictions:
            return results
        rows = np.array([j for j, _ in predictions])
        batch = _Batch.of([p for _, p in predictions], flux[rows],
                          None if error is None else error[rows], usable[rows])
        self._sample(batch, n)
        self._model_spectra(batch)
        if self.inflate:
            self._inflate(batch, n)
        if bands if bands is not None else self.n_band_samples > 0:
            self._predictive_bands(batch)
        self._guards(batch)
        for j, p, problem in zip(rows, batch.predictions, batch.errors, strict=True):
            results[j] = p if problem is None else problem
        return results

    def _sample(self, b: _Batch, n: int) -> None:
        """Each spectrum's samples (with the systematic floor) and the networks' own
        samples at the quoted errors (without: for the edge check), from one draw."""
        est = self.estimator
        keys = np.zeros(len(b.flux), dtype=np.int64)  # each as if predicted alone
        b.own, b.embedding = est.sample(b.flux, b.error, n, self.seed, mask=b.usable,
                                        floor=False, rows=keys, return_embedding=True)
        samples = est.add_floor(b.own, self.seed, keys, missing_fraction(b.usable))
        for p, s in zip(b.predictions, samples, strict=True):
            p.samples, p.point = s, s.mean(axis=0)
            p.n_draws = len(s) // len(est.members)

    # --- the model spectrum ------------------------------------------------------------
    def _model_spectra(self, b: _Batch) -> None:
        """The best-fit model spectrum near each estimate
        (:func:`~atmoscope.statistics.best_grid_fits`) and its χ² with a fitted scale."""
        from atmoscope.statistics import fit_qualities

        if self.interpolator is None:
            for p in b.predictions:
                p.notes.append("training grid not available: no model spectrum or χ²")
            return
        interp = self.interpolator
        targets = list(self.estimator.targets)
        missing = [n for n in interp.params_ if n not in targets]
        if missing:
            for p in b.predictions:
                p.notes.append(f"no model spectrum or χ²: the grid varies "
                               f"{', '.join(missing)}, which this model does not predict")
            return
        obs, sigma = _fit_inputs(b.at_earth, b.at_earth_error, b.usable)
        index = [targets.index(n) for n in interp.params_]
        start = np.stack([p.point[index] for p in b.predictions])
        theta, model, scale = best_grid_fits(interp, obs, sigma, b.usable, start)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            detection = scale * np.sqrt(np.sum(np.where(b.usable, model ** 2 / sigma ** 2,
                                                        0.0), axis=1))
        absolute = self.estimator.grid.get("flux_scale", "absolute") == "absolute"
        fits = (fit_qualities(b.at_earth, sigma, model, ~b.usable, len(interp.params_), "fit")
                if b.error is not None else None)
        for j, p in enumerate(b.predictions):
            p.scale = float(scale[j])
            p.best_fit = {n: float(v) for n, v in zip(interp.params_, theta[j], strict=True)}
            if not p.scale > 0 or (b.error is not None and detection[j] < _MIN_DETECTION):
                b.errors[j] = SpectrumError(
                    f"{p.source}: the best-fit flux scale of the model spectrum is "
                    f"{p.scale:.3g}, {detection[j]:.1f}σ from zero: the spectrum is not like "
                    "any model of the grid (pure noise, or flux of the wrong sign?)")
                continue
            p.model_flux = p.scale * model[j]
            if fits is not None:
                if isinstance(fits[j], AtmoscopeError):
                    b.errors[j] = SpectrumError(f"{p.source}: {fits[j]}")
                    continue
                p.fit = fits[j]
            if self.distance_pc is not None and flux_kind(self.estimator.flux_unit) is not None:
                if absolute:
                    p.implied_radius_rjup = float(implied_radius(p.scale,
                                                                 self.distance_pc).value)
                else:
                    p.notes.append("no implied radius: the model grid's flux is right only up "
                                   "to a constant (its unit is arbitrary)")

    def _inflate(self, b: _Batch, n: int) -> None:
        """For fits improbable for their degrees of freedom, the networks' samples at
        errors × √(reduced χ²), each parameter at least that factor wider (the best fit,
        a χ² minimum over the grid, does not depend on the networks)."""
        poor = [j for j, p in enumerate(b.predictions)
                if b.errors[j] is None and p.fit is not None and p.fit.p_value < POOR_FIT_P
                and p.fit.reduced_chi2 > 1]
        if not poor:
            return
        rows = np.array(poor)
        factor = np.array([np.sqrt(b.predictions[j].fit.reduced_chi2) for j in poor])
        samples = self.estimator.sample(b.flux[rows], b.error[rows] * factor[:, None], n,
                                        self.seed, mask=b.usable[rows],
                                        rows=np.zeros(len(rows), dtype=np.int64))
        prior = self._prior_spread()
        for j, f, s in zip(poor, factor, samples, strict=True):
            p = b.predictions[j]
            quoted, p.samples, p.error_inflation = p.samples, s, float(f)
            _widen(p, quoted, float(f), prior)
            p.notes.append(f"poor fit: errors inflated ×{p.error_inflation:.3g} (√ reduced "
                           "χ²) for the uncertainty (--no-inflate: as quoted)")

    def _guards(self, b: _Batch) -> None:
        """Novelty, the edge fraction of the networks' own samples, and the flags."""
        est = self.estimator
        novelty = est.novelty_score(b.flux, b.error, b.usable, b.embedding)
        edges = None
        if self.interpolator is not None and set(self.interpolator.params_) <= set(est.targets):
            edges = edge_fractions(b.own, est.targets, self.interpolator)
        for j, p in enumerate(b.predictions):
            p.novelty = None if novelty is None else float(novelty[j])
            p.edge_fraction = None if edges is None else float(edges[j])
            p.flags = guard_flags(
                edge=p.edge_fraction, novelty=p.novelty,
                p_value=None if p.fit is None else p.fit.p_value,
                n_used=int(b.usable[j].sum()), n_pixels=b.flux.shape[1],
                radius_rjup=p.implied_radius_rjup)

    def predictive_bands(self, p: Prediction) -> None:
        """Fill ``p.band68`` and ``p.band95``, the 68 % and 95 % bands of the best-scaled
        model spectra of random samples, when :meth:`predict_many` computed none."""
        if p.band68 is None and p.model_flux is not None:
            flux = p.spectrum.flux.value
            self._predictive_bands(_Batch.of([p], flux[None], None,
                                             usable_pixels(flux, p.spectrum.mask)[None]))

    def _predictive_bands(self, b: _Batch) -> None:
        """68 % and 95 % bands of the best-scaled model spectra of random samples."""
        chosen = [(j, p) for j, p in enumerate(b.predictions)
                  if b.errors[j] is None and p.model_flux is not None]
        if not chosen or self.n_band_samples < 1:
            return
        obs, sigma = _fit_inputs(b.at_earth, b.at_earth_error, b.usable)
        picked = []
        for _, p in chosen:  # the same samples for a spectrum in a batch as alone
            order = np.random.default_rng(self.seed + 1).permutation(len(p.samples))
            picked.append(p.samples[order[: self.n_band_samples]])
        models, outside = self._models_at(np.concatenate(picked))
        first = 0
        for (j, p), rows in zip(chosen, picked, strict=True):
            m, out = models[first:first + len(rows)], outside[first:first + len(rows)]
            first += len(rows)
            w = np.where(b.usable[j], 1.0 / sigma[j] ** 2, 0.0)
            scale = (m * (obs[j] * w)).sum(axis=1) / (m * m * w).sum(axis=1)
            if len(rows) >= 10:
                lo95, lo68, hi68, hi95 = np.percentile(scale[:, None] * m, [2.5, 16, 84, 97.5],
                                                       axis=0)
                p.band68, p.band95 = np.stack([lo68, hi68]), np.stack([lo95, hi95])
            if out.any():
                p.notes.append(f"{int(out.sum())} of {len(rows)} samples lie outside the "
                               "grid's hull: their model spectra come from the nearest nodes")

    def _models_at(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The grid interpolated at ``points`` (targets order), and whether each lay
        outside the grid (its spectrum then the nearest nodes')."""
        interp = self.interpolator
        index = [list(self.estimator.targets).index(n) for n in interp.params_]
        models = interp(points[:, index], outside="nan")
        outside = np.isnan(models).any(axis=1)
        if outside.any():
            models[outside] = self._nearest_nodes_models(points[outside][:, index])
        return models, outside

    def _nearest_nodes_models(self, points: np.ndarray, k: int = 4) -> np.ndarray:
        """Inverse-distance means (in log flux) of the ``k`` nodes nearest to each point,
        distances measured in units of each parameter's range."""
        nodes, log_flux, span = self._nodes
        d = np.linalg.norm((nodes[None] - points[:, None]) / span, axis=2)
        nearest = np.argsort(d, axis=1)[:, :k]
        w = 1.0 / np.maximum(np.take_along_axis(d, nearest, axis=1), 1e-9)
        return 10 ** (np.einsum("pk,pkl->pl", w, log_flux[nearest]) / w.sum(axis=1)[:, None])

    @cached_property
    def _nodes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The grid's nodes, their log flux, and each parameter's range (for distances)."""
        interp = self.interpolator
        span = np.array([hi - lo for lo, hi in (interp.bounds_[n] for n in interp.params_)])
        return (interp.grid_.parameters[interp.params_].to_numpy(float),
                np.log10(interp.grid_.flux), np.where(span > 0, span, 1.0))


def summaries(predictions: Sequence[Prediction]) -> list[dict[str, dict[str, float]]]:
    """:meth:`Prediction.summary` of many predictions, those with samples of one shape
    computed together (a catalog's rows: per-row NumPy calls would cost more than the
    numbers)."""
    out: list = [None] * len(predictions)
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(predictions):
        groups.setdefault((p.samples.shape, p.targets), []).append(i)
    for (shape, targets), members in groups.items():
        s = np.stack([predictions[i].samples for i in members])
        stats = {"mean": s.mean(axis=1),
                 "std": s.std(axis=1, ddof=1) if shape[0] > 1 else np.zeros((len(s), shape[1])),
                 "point": np.stack([predictions[i].point for i in members])}
        percentiles = _percentiles(s, PERCENTILES)
        stats.update(zip(_PERCENTILE_KEYS, np.moveaxis(percentiles, -2, 0), strict=True))
        columns = {key: value.tolist() for key, value in stats.items()}
        for row, i in enumerate(members):
            out[i] = {name: {key: float(columns[key][row][j]) for key in columns}
                      for j, name in enumerate(targets)}
    return out


def _percentiles(samples: np.ndarray, q) -> np.ndarray:
    """``np.percentile(samples, q, axis=-2)`` (its default, linear interpolation between
    order statistics) without its overhead, a tenth of a millisecond a call: samples
    ``(..., n, k)`` → ``(..., len(q), k)``."""
    ordered = np.sort(samples, axis=-2)
    n = ordered.shape[-2]
    position = (n - 1) * np.asarray(q, dtype=float) / 100.0
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, n - 1)
    t = (position - below)[:, None]
    lo, hi = ordered[..., below, :], ordered[..., above, :]
    # numpy's lerp: from the nearer end, so that equal neighbours give exactly their value
    return np.where(t < 0.5, lo + (hi - lo) * t, hi - (hi - lo) * (1.0 - t))


def _negative_note(count: int) -> list[str]:
    return [f"{count} negative flux pixels kept (noise)"] if count else []


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
