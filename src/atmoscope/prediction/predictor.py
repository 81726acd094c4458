"""Parameters of observed spectra with uncertainties (TelescopeML's Predictor, done right).

For one spectrum: clean it, convert it to the model grid's kind of flux density
(F_ν or F_λ, errors propagated), resample it onto the model's wavelengths
(flux-conserving, errors propagated), then predict with

* Monte-Carlo over the flux errors — ``n_draws`` noisy copies drawn from the
  resampled errors (TelescopeML's method), and
* model uncertainty — every member of an ensemble of independently trained
  networks predicts every draw,

so the samples carry both. A posterior model (``--model posterior`` or ``gaussian``)
reads the errors itself and gives samples of its posterior directly (every member
contributes equally); no Monte-Carlo over the errors is needed or done. The model
spectrum at the estimate is the training grid
interpolated there, compared with the observation through χ² with an analytic
best-fit flux scale (the (R/d)² that TelescopeML let cancel), which also gives the
implied radius for a known distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np

from atmoscope.errors import AtmoscopeError
from atmoscope.observed import (ObservedSpectrum, best_scale, clean_spectrum, implied_radius,
                                read_spectrum, resample, scale_to_surface, to_flambda, to_fnu)
from atmoscope.training.bundle import ModelBundle, load_model

__all__ = ["Prediction", "Predictor", "load_ensemble", "sample_ensemble", "PERCENTILES"]

PERCENTILES = (2.5, 16, 50, 84, 97.5)
_PERCENTILE_KEYS = ("p2_5", "p16", "p50", "p84", "p97_5")


def load_ensemble(path: str | Path) -> list[ModelBundle]:
    """One bundle, or every bundle in the sub-folders of an ensemble folder."""
    path = Path(path)
    if (path / "bundle.json").is_file():
        return [load_model(path)]
    members = sorted(p for p in path.glob("*/") if (p / "bundle.json").is_file())
    if not members:
        raise AtmoscopeError(f"{path}: neither a model bundle nor a folder of bundles")
    bundles = [load_model(p) for p in members]
    first = bundles[0]
    for b, p in zip(bundles[1:], members[1:], strict=True):
        if b.targets != first.targets or not np.array_equal(b.wavelength, first.wavelength):
            raise AtmoscopeError(f"{p}: ensemble member differs in targets or wavelengths")
        if b.is_posterior != first.is_posterior:
            raise AtmoscopeError(f"{p}: an ensemble mixes posterior and point models")
    return bundles


def sample_ensemble(members: Sequence[ModelBundle], flux: np.ndarray, error: np.ndarray | None,
                    n_samples: int, seed: int = 0) -> np.ndarray:
    """Posterior samples of an ensemble of posterior models, an equal mixture: each member
    draws ``ceil(n_samples / len(members))`` (member ``i`` with seed ``seed + i``).

    Returns:
        ``(n_spectra, members × per-member samples, n_targets)`` in physical units.
    """
    per = -(-n_samples // len(members))
    return np.concatenate([b.sample(flux, error, per, seed=seed + i)
                           for i, b in enumerate(members)], axis=1)


def _flux_kind(unit) -> str | None:
    if unit is None:
        return None
    unit = u.Unit(unit)
    if unit.is_equivalent(u.erg / u.s / u.cm**2 / u.Hz):
        return "fnu"
    if unit.is_equivalent(u.erg / u.s / u.cm**2 / u.AA):
        return "flambda"
    return None


@dataclass
class Prediction:
    """Everything known about one spectrum's parameters.

    ``samples`` has one row per (ensemble member, Monte-Carlo draw) — or, for posterior
    models, per posterior sample (``posterior=True``; ``n_draws`` then counts samples
    per member) — in physical units, columns in ``targets`` order.
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
    posterior: bool = False

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
        return {"source": self.source, "parameters": self.summary(), "fit": fit,
                "scale": self.scale, "implied_radius_rjup": self.implied_radius_rjup,
                "n_models": self.n_models, "n_draws": self.n_draws,
                "uncertainty": "posterior" if self.posterior else "monte_carlo",
                "cleaning": self.cleaning, "flags": self.flags}


class Predictor:
    """Predict parameters of observed spectra with a bundle or an ensemble of bundles.

    Args:
        bundles: one :class:`ModelBundle`, a list of them (an ensemble), or a path
            (see :func:`load_ensemble`).
        grid: the training grid, for the model spectrum and χ² (default: the grid
            file recorded in the bundle, when it still exists).
        n_draws: Monte-Carlo draws over the flux errors per model (0: none).
        n_samples: posterior samples in all, for posterior models (split equally among
            the members of an ensemble).
        seed: seed of the draws.
        distance_pc, radius_rjup: when both are given the spectrum is scaled to
            surface flux by (d/R)² before prediction — needed by models that use
            the absolute flux level (trained without ``--scale-free``).
        allow_partial: mask model pixels the spectrum does not cover and fill them
            by interpolation for the networks (flagged) instead of refusing.
        grid_flux_kind: ``"fnu"`` or ``"flambda"``: the kind of flux density the
            grid holds, when the bundle's flux unit does not say.
        n_band_samples: samples used for the predictive band of model spectra.
    """

    def __init__(self, bundles, *, grid=None, n_draws: int = 100, n_samples: int = 1000,
                 seed: int = 0,
                 distance_pc: float | None = None, radius_rjup: float | None = None,
                 allow_partial: bool = False, grid_flux_kind: str | None = None,
                 n_band_samples: int = 200) -> None:
        self.bundles = bundles
        self.grid = grid
        self.n_draws = n_draws
        self.n_samples = n_samples
        self.seed = seed
        self.distance_pc = distance_pc
        self.radius_rjup = radius_rjup
        self.allow_partial = allow_partial
        self.grid_flux_kind = grid_flux_kind
        self.n_band_samples = n_band_samples

    # --- set-up ------------------------------------------------------------------------
    @property
    def members(self) -> list[ModelBundle]:
        if not hasattr(self, "_members"):
            b = self.bundles
            self._members = (load_ensemble(b) if isinstance(b, str | Path)
                             else [b] if isinstance(b, ModelBundle) else list(b))
        return self._members

    @property
    def interpolator(self):
        """Grid interpolator for model spectra, or None when no grid is at hand."""
        if not hasattr(self, "_interpolator"):
            from atmoscope.data import read_grid
            from atmoscope.statistics import GridInterpolator

            grid, first = self.grid, self.members[0]
            source = first.grid.get("source")
            if grid is None and source and Path(source).is_file():
                grid = source
            if isinstance(grid, str | Path):
                grid = read_grid(grid, first.targets, drop_duplicates="none")
            self._interpolator = GridInterpolator(grid) if grid is not None else None
        return self._interpolator

    def _kind(self) -> str:
        kind = self.grid_flux_kind or _flux_kind(self.members[0].flux_unit)
        if kind not in ("fnu", "flambda"):
            raise AtmoscopeError(
                "the model's flux kind is unknown (its grid had no flux unit): say whether "
                "the grid holds F_nu or F_lambda (--grid-flux fnu|flambda)")
        return kind

    def _needs_level(self) -> bool:
        return any(b.preprocessor.extra_features != "none" for b in self.members)

    # --- one spectrum ------------------------------------------------------------------
    def prepare(self, spectrum: ObservedSpectrum) -> tuple[ObservedSpectrum, dict, list[str]]:
        """Clean, convert and resample to the model grid; returns the spectrum at Earth
        on the model wavelengths, the cleaning report and flags."""
        first = self.members[0]
        clean, report = clean_spectrum(spectrum)
        flags = []
        if report.negative_flux:
            flags.append(f"{report.negative_flux} negative flux pixels kept (noise)")
        if clean.flux.unit.physical_type != "dimensionless":
            clean = to_fnu(clean) if self._kind() == "fnu" else to_flambda(clean)
        elif self._needs_level():
            raise AtmoscopeError(f"{spectrum.meta.get('source', 'spectrum')}: flux has no "
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
        target = first.wavelength * u.Unit(first.wavelength_unit)
        resampled = resample(clean, target, allow_partial=self.allow_partial)
        missing = int((~resampled.mask).sum())
        if missing:
            flags.append(f"{missing} of {len(target)} model pixels without data, filled by "
                         "interpolation for the networks")
        return resampled, report.as_dict(), flags

    def _network_flux(self, flux: np.ndarray, usable: np.ndarray, wl: np.ndarray) -> np.ndarray:
        """Pixels without data, or at or below zero (noise in deep bands, which has no
        log), are filled by log-linear interpolation from their neighbours; every other
        pixel, however faint, is kept, since band depths carry the temperature."""
        flux = np.array(flux, dtype=float, ndmin=2)
        flux = np.where(usable & (flux > 0), flux, np.nan)
        out = np.empty_like(flux)
        for i, row in enumerate(flux):
            ok = np.isfinite(row)
            out[i] = 10 ** np.interp(wl, wl[ok], np.log10(row[ok])) if ok.any() else np.nan
        return np.where(np.isfinite(flux), flux, out)

    def predict(self, spectrum: ObservedSpectrum | str | Path, **read_options) -> Prediction:
        """Predict one spectrum (an :class:`ObservedSpectrum` or a file to read)."""
        if not isinstance(spectrum, ObservedSpectrum):
            spectrum = read_spectrum(spectrum, **read_options)
        resampled, cleaning, flags = self.prepare(spectrum)
        first = self.members[0]
        wl = first.wavelength
        usable = resampled.mask & np.isfinite(resampled.flux.value)
        at_earth = resampled.flux.value
        error = None if resampled.error is None else resampled.error.value
        net_flux = at_earth
        if self.distance_pc is not None and self.radius_rjup is not None:
            net_flux = scale_to_surface(resampled, self.distance_pc, self.radius_rjup).flux.value
        elif self._needs_level():
            raise AtmoscopeError(
                "this model uses the absolute flux level: give the distance and radius "
                "(--distance, --radius), or use a model trained with --scale-free")
        if np.sum(usable & (net_flux <= 0)):
            flags.append(f"{int(np.sum(usable & (net_flux <= 0)))} non-positive pixels "
                         "replaced by interpolation for the networks")
        base = self._network_flux(net_flux, usable, wl)
        draws = np.zeros((0, len(wl)))
        if first.is_posterior:
            return self._posterior(spectrum, resampled, cleaning, flags, net_flux, base,
                                   at_earth, error, usable)
        if self.n_draws and error is not None:
            rng = np.random.default_rng(self.seed)
            factor = net_flux / np.where(at_earth != 0, at_earth, 1.0)  # surface scaling
            noise = rng.standard_normal((self.n_draws, len(wl))) * np.where(usable, error, 0)
            draws = self._network_flux(net_flux + noise * factor, usable, wl)
        elif self.n_draws:
            flags.append("no flux errors: no Monte-Carlo draws (model spread only)")
        point = np.mean([b.predict(base)[0] for b in self.members], axis=0)
        samples = np.concatenate([b.predict(draws if len(draws) else base)
                                  for b in self.members])
        prediction = Prediction(
            source=str(spectrum.meta.get("source", "spectrum")), targets=first.targets,
            point=point, samples=samples, spectrum=resampled, cleaning=cleaning, flags=flags,
            n_models=len(self.members), n_draws=len(draws))
        self._model_spectrum(prediction, at_earth, error, usable)
        return prediction

    def _posterior(self, spectrum, resampled, cleaning, flags, net_flux, base, at_earth,
                   error, usable) -> Prediction:
        """Samples of the members' posteriors at the observed spectrum and its errors."""
        first = self.members[0]
        if error is None:
            snr = max(first.training["noise_snr"])
            flags.append(f"no flux errors: the posterior assumes S/N {snr:g} (the highest "
                         "the model was trained for), so it is too narrow if the data are "
                         "noisier")
            net_error = None
        else:
            rel = np.abs(error) / np.abs(np.where(at_earth != 0, at_earth, np.nan))
            ok = usable & np.isfinite(rel) & (rel > 0)
            if not ok.any():
                raise AtmoscopeError(f"{spectrum.meta.get('source', 'spectrum')}: no pixel "
                                     "has a usable flux error")
            # pixels filled by interpolation get the typical relative error; a running
            # median over 5 pixels keeps the scatter of σ/|F| in noisy data (the
            # networks were trained on smooth relative errors) out of the input
            from scipy.ndimage import median_filter

            rel = median_filter(np.where(ok, rel, np.median(rel[ok])), size=5, mode="nearest")
            net_error = np.abs(base[0]) * rel[None]
        samples = sample_ensemble(self.members, base, net_error, self.n_samples, self.seed)[0]
        n = len(samples) // len(self.members)
        prediction = Prediction(
            source=str(spectrum.meta.get("source", "spectrum")), targets=first.targets,
            point=samples.mean(axis=0), samples=samples, spectrum=resampled,
            cleaning=cleaning, flags=flags, n_models=len(self.members), n_draws=n,
            posterior=True)
        self._model_spectrum(prediction, at_earth, error, usable)
        return prediction

    def _model_spectrum(self, p: Prediction, observed: np.ndarray, error, usable) -> None:
        """Model spectrum at the estimate, χ² with a fitted scale, and predictive bands."""
        from atmoscope.statistics import fit_quality

        interp = self.interpolator
        if interp is None:
            p.flags.append("training grid not available: no model spectrum or χ²")
            return
        names = list(p.targets)
        index = [names.index(n) for n in interp.params_]

        def model_at(points: np.ndarray) -> np.ndarray:
            return interp(points[:, index])

        try:
            model = model_at(p.point[None])[0]
        except AtmoscopeError as exc:
            # e.g. between the arms of a non-factorial grid: use the nearest nodes instead
            model = self._nearest_nodes_model(p.point[index])
            p.flags.append(f"model spectrum from the nearest grid nodes ({exc})")
        sigma = np.where(usable, error, 1.0) if error is not None else np.ones_like(observed)
        obs = np.where(usable, observed, 0.0)
        p.scale = best_scale(obs[usable], model[usable], sigma[usable])
        p.model_flux = p.scale * model
        if error is not None:
            p.fit = fit_quality(observed, sigma, model, mask=~usable, n_params=len(names),
                                scale="fit")
        if self.distance_pc is not None and self._grid_is_physical():
            p.implied_radius_rjup = float(implied_radius(p.scale, self.distance_pc).value)
        rng = np.random.default_rng(self.seed + 1)
        chosen = p.samples[rng.permutation(len(p.samples))[: self.n_band_samples]]
        spectra = []
        outside = 0
        for row in chosen:
            try:
                m = model_at(row[None])[0]
            except AtmoscopeError:
                outside += 1
                m = self._nearest_nodes_model(row[index])
            spectra.append(best_scale(obs[usable], m[usable], sigma[usable]) * m)
        if len(spectra) >= 10:
            lo95, lo68, hi68, hi95 = np.percentile(spectra, [2.5, 16, 84, 97.5], axis=0)
            p.band68, p.band95 = np.stack([lo68, hi68]), np.stack([lo95, hi95])
        if outside:
            p.flags.append(f"{outside} of {len(chosen)} samples lie outside the grid's hull: "
                           "their model spectra come from the nearest nodes")

    def _nearest_nodes_model(self, point: np.ndarray, k: int = 4) -> np.ndarray:
        """Inverse-distance mean (in log flux) of the ``k`` nodes nearest to ``point``,
        distances measured in units of each parameter's range."""
        interp = self.interpolator
        nodes = interp.grid.parameters[interp.params_].to_numpy()
        span = np.array([hi - lo for lo, hi in (interp.bounds_[n] for n in interp.params_)])
        d = np.linalg.norm((nodes - point) / np.where(span > 0, span, 1.0), axis=1)
        nearest = np.argsort(d)[:k]
        w = 1.0 / np.maximum(d[nearest], 1e-9)
        logf = np.log10(interp.grid.flux[nearest])
        return 10 ** (w @ logf / w.sum())

    def _grid_is_physical(self) -> bool:
        return _flux_kind(self.members[0].flux_unit) is not None


def spectrum_files(patterns: Sequence[str]) -> list[Path]:
    """Expand files and glob patterns, keeping the given order, without repeats."""
    import glob

    seen, out = set(), []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise AtmoscopeError(f"no file matches {pattern!r}")
        for m in matches:
            if m not in seen:
                seen.add(m)
                out.append(Path(m))
    return out
