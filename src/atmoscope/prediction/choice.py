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
        predictors, note = self.predictors(spectrum)
        if distance_pc is not None:
            predictors = [p.at_distance(distance_pc, radius_rjup) for p in predictors]
        pairs, refused = [], []
        for predictor in predictors:
            try:
                pairs.append((predictor.predict(spectrum), predictor))
            except AtmoscopeError as exc:
                if len(predictors) == 1:
                    raise
                refused.append(f"{predictor.name}: {first_line(exc)}")
        if not pairs:
            raise SpectrumError("every model refused the spectrum: " + "; ".join(refused))
        if refused:
            note = f"{note}; refused: {'; '.join(refused)}"
        return sorted(pairs, key=_by_fit), note
