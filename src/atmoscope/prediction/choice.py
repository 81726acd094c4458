"""Which model predicts a spectrum: a bundle the user gives, a built-in model by name,
the built-in model that best covers the spectrum's wavelengths, or every built-in
model that covers it (``"all"``: the model comparison grid-fitting users do by hand,
best reduced χ² first)."""

from __future__ import annotations

import astropy.units as u
import numpy as np

from atmoscope.errors import AtmoscopeError, ConfigError, SpectrumError, first_line
from atmoscope.observed import ObservedSpectrum
from atmoscope.prediction.predictor import Prediction, Predictor
from atmoscope.pretrained import FULL, available_models, choose_model, coverage, model_path

__all__ = ["ALL", "ModelChoice"]

#: ``model`` value that runs every built-in model covering the spectrum.
ALL = "all"


def _by_fit(pair: tuple[Prediction, Predictor]) -> float:
    fit = pair[0].fit
    return fit.reduced_chi2 if fit is not None else np.inf


class ModelChoice:
    """Predict spectra with the model(s) chosen for each.

    Args:
        model: ``None`` (the built-in model whose wavelengths best cover each spectrum),
            ``"all"`` (every built-in model that covers it; with ``allow_partial``, every
            one that overlaps it), a built-in model's name (``atmoscope models``), a
            bundle or ensemble folder, or a :class:`Predictor`.
        **options: :class:`Predictor` options shared by every model (``n_samples``,
            ``seed``, ``allow_partial``, ...).
    """

    def __init__(self, model=None, **options) -> None:
        self.model = model
        self.options = options
        self._predictors: dict[str, Predictor] = {}

    def _predictor(self, key: str, path) -> Predictor:
        if key not in self._predictors:
            self._predictors[key] = Predictor(path, name=key, **self.options)
        return self._predictors[key]

    def predictors(self, spectrum: ObservedSpectrum) -> tuple[list[Predictor], str | None]:
        """The predictors for one spectrum, and a note saying how they were chosen.

        Raises:
            ConfigError: an unknown model name, or no built-in model covers the spectrum.
            SpectrumError: a spectrum without usable pixels.
        """
        model = self.model
        if isinstance(model, Predictor):
            return [model], None
        if model is not None and model != ALL:
            return [self._predictor(str(model), model_path(model))], None
        lo, hi = (w.to_value(u.um) for w in spectrum.wavelength_range)  # usable pixels
        wavelength = spectrum.wavelength.to_value(u.um)[spectrum.mask]
        partial = bool(self.options.get("allow_partial"))
        if model is None:
            chosen, _ = choose_model(wavelength, allow_partial=partial)
            return [self._predictor(chosen.name, chosen.path)], (
                f"model: {chosen.name} (the built-in model that best covers "
                f"{lo:.2f}–{hi:.2f} µm; --model to choose)")
        least = 1e-9 if partial else FULL
        covering = [m for m in available_models() if coverage(m, wavelength)[0] >= least]
        if not covering:
            raise ConfigError(f"no built-in model covers {lo:.2f}–{hi:.2f} µm whole "
                              "(--allow-partial to use those that overlap it)")
        return [self._predictor(m.name, m.path) for m in covering], (
            f"models: {', '.join(m.name for m in covering)} (every built-in model covering "
            f"{lo:.2f}–{hi:.2f} µm), best reduced χ² first")

    def predict(self, spectrum: ObservedSpectrum, distance_pc: float | None = None,
                radius_rjup: float | None = None
                ) -> tuple[list[tuple[Prediction, Predictor]], str | None]:
        """Every chosen model's prediction of one spectrum with the predictor that made
        it (for reports and figures), best reduced χ² first, and the note on how the
        models were chosen. With ``"all"``, a model that refuses the spectrum is left
        out and named in the note; only when every model refuses is it an error.

        Args:
            distance_pc, radius_rjup: this object's, instead of the shared options'.
        """
        result = self.predict_many([spectrum], [(distance_pc, radius_rjup)])[0]
        if isinstance(result, AtmoscopeError):
            raise result
        return result

    def predict_many(self, spectra, distances=None, *, bands: bool | None = None) -> list:
        """:meth:`predict` for many spectra, each model's share as one batch
        (:meth:`Predictor.predict_many`).

        Args:
            spectra: :class:`ObservedSpectrum` objects.
            distances: ``(distance_pc, radius_rjup)`` per spectrum ((None, None): the
                shared options').
            bands: as :meth:`Predictor.predict_many`.

        Returns:
            Per spectrum, ``(pairs, note)`` as :meth:`predict` returns, or the
            :class:`~atmoscope.errors.AtmoscopeError` that refused it.
        """
        chosen: list = []
        for spectrum in spectra:
            try:
                chosen.append(self.predictors(spectrum))
            except AtmoscopeError as exc:
                chosen.append(exc)
        jobs: dict = {}
        for i, (spectrum, pick) in enumerate(zip(spectra, chosen, strict=True)):
            if not isinstance(pick, AtmoscopeError):
                for predictor in pick[0]:
                    jobs.setdefault(id(predictor), (predictor, []))[1].append((i, spectrum))
        results = self._run(jobs, distances, bands)
        return [pick if isinstance(pick, AtmoscopeError)
                else _assemble(results.get(i, []), pick[1], len(pick[0]))
                for i, pick in enumerate(chosen)]

    def predict_batch(self, batch, distances=None, *, bands: bool | None = None) -> list:
        """:meth:`predict_many` for the rows of a :class:`~atmoscope.observed.SpectrumBatch`
        (a chunk of a survey file): every row goes to the models chosen for the first
        (a survey file's spectra share their wavelengths), prepared all at once."""
        if not len(batch):
            return []
        try:
            predictors, note = self.predictors(batch.spectrum(0))
        except AtmoscopeError as exc:
            return [exc] * len(batch)
        jobs = {}
        for predictor in predictors:
            prepared = predictor.prepared_many(batch)
            jobs[id(predictor)] = (predictor, list(enumerate(prepared)))
        results = self._run(jobs, distances, bands)
        return [_assemble(results.get(i, []), note, len(predictors)) for i in range(len(batch))]

    @staticmethod
    def _run(jobs: dict, distances, bands) -> dict[int, list]:
        """Each predictor's spectra in batches (one per distance), as ``{spectrum index:
        [(predictor, prediction or error), ...]}``."""
        results: dict[int, list] = {}
        for predictor, items in jobs.values():
            by_distance: dict = {}
            for i, item in items:
                if isinstance(item, AtmoscopeError):
                    results.setdefault(i, []).append((predictor, item))
                    continue
                key = (None, None) if distances is None else distances[i]
                by_distance.setdefault(key, []).append((i, item))
            for (distance, radius), group in by_distance.items():
                run = predictor if distance is None else predictor.at_distance(distance, radius)
                for (i, _), result in zip(group, run.predict_many([g[1] for g in group],
                                                                  bands=bands), strict=True):
                    results.setdefault(i, []).append((run, result))
        return results


def _assemble(outcomes: list, note: str | None, n_models: int):
    """One spectrum's ``(pairs, note)`` from its models' outcomes, best reduced χ² first;
    with several models a refusal is named in the note, and only every model refusing
    is an error."""
    pairs = [(r, p) for p, r in outcomes if not isinstance(r, AtmoscopeError)]
    refused = [(p, r) for p, r in outcomes if isinstance(r, AtmoscopeError)]
    if n_models == 1 and refused:
        return refused[0][1]
    if not pairs:
        return SpectrumError("every model refused the spectrum: " + "; ".join(
            f"{p.name}: {first_line(r)}" for p, r in refused))
    if refused:
        note = f"{note}; refused: {'; '.join(f'{p.name}: {first_line(r)}' for p, r in refused)}"
    return sorted(pairs, key=_by_fit), note
