"""How well a model spectrum fits an observed one: χ², degrees of freedom, p-value.

The degrees-of-freedom convention is stated and counted explicitly (see
:func:`fit_quality`), because it decides whether a reduced χ² near 1 means a
good fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np
from scipy import special

from atmoscope.errors import ConfigError, SpectrumError

__all__ = ["FitQuality", "fit_quality"]


@dataclass(frozen=True)
class FitQuality:
    """The goodness of fit of one model spectrum to one observed spectrum.

    Attributes:
        chi2: Σ ((o − s·m) / σ)² over the used pixels.
        dof: degrees of freedom: used pixels − ``n_params`` − 1 if the scale
            was fitted (``scale="fit"``), else − 0.
        reduced_chi2: ``chi2 / dof``.
        p_value: probability of a χ² at least this large if the model were
            right and the errors Gaussian with the given σ
            (``scipy.stats.chi2.sf(chi2, dof)``).
        residuals: normalised residuals (o − s·m) / σ per pixel, NaN at masked
            pixels; same shape as the observed spectrum.
        scale: the scale ``s`` the model was multiplied by.
        scale_fitted: whether ``scale`` was fitted (and counted in ``dof``).
        n_used: number of pixels used (not masked).
        n_params: number of model parameters counted as fitted, the scale
            excluded.
    """

    chi2: float
    dof: int
    reduced_chi2: float
    p_value: float
    residuals: np.ndarray
    scale: float
    scale_fitted: bool
    n_used: int
    n_params: int


def _as_1d(name: str, values) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be numbers: {exc}") from exc
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be a 1-D spectrum, got shape {arr.shape}")
    return arr


def _checked_arrays(observed, error, model, mask
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The three spectra as float arrays and the boolean ``used`` pixels, checked:
    one shape, and finite values (positive errors) wherever a pixel is used."""
    o = _as_1d("observed", observed)
    e = _as_1d("error", error)
    m = _as_1d("model", model)
    if not (o.shape == e.shape == m.shape):
        raise ConfigError(
            f"observed, error and model differ in shape: {o.shape}, {e.shape}, {m.shape}"
        )
    if mask is None:
        used = np.ones(o.shape, dtype=bool)
    else:
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != o.shape:
            raise ConfigError(
                f"mask must be a boolean array of shape {o.shape}, got {mask.dtype} {mask.shape}"
            )
        used = ~mask
    # bad data in the observation is the spectrum's fault; in the model, the caller's
    for name, arr, error_class in (("observed", o, SpectrumError), ("model", m, ConfigError),
                                   ("error", e, SpectrumError)):
        _refuse_at_used_pixels(used & ~np.isfinite(arr), f"{name} is not finite", error_class)
    _refuse_at_used_pixels(used & ~(e > 0), "error is not positive", SpectrumError)
    return o, e, m, used


def _refuse_at_used_pixels(bad: np.ndarray, what: str, error_class: type[Exception]) -> None:
    if np.any(bad):
        raise error_class(
            f"{what} at {int(bad.sum())} used pixel(s) "
            f"(first at index {int(np.flatnonzero(bad)[0])}); mask them"
        )


def _model_scale(scale, ou: np.ndarray, eu: np.ndarray, mu: np.ndarray) -> tuple[float, bool]:
    """The scale the model is multiplied by, and whether it was fitted here."""
    if isinstance(scale, str):
        if scale != "fit":
            raise ConfigError(f"scale must be None, a number or 'fit', not {scale!r}")
        weight = 1.0 / eu**2
        denominator = float(np.sum(mu * mu * weight))
        if denominator == 0.0:
            raise ConfigError("cannot fit a scale: the model is zero at every used pixel")
        return float(np.sum(ou * mu * weight)) / denominator, True
    if scale is None:
        return 1.0, False
    if isinstance(scale, Real) and not isinstance(scale, bool) and np.isfinite(scale):
        return float(scale), False
    raise ConfigError(f"scale must be None, a finite number or 'fit', not {scale!r}")


def _degrees_of_freedom(n_used: int, n_params: int, fitted: bool) -> int:
    """Used pixels minus every fitted quantity; at least one must be left."""
    dof = n_used - n_params - (1 if fitted else 0)
    if dof <= 0:
        raise ConfigError(
            f"no degrees of freedom left: {n_used} used pixel(s) − {n_params} "
            f"parameter(s){' − 1 fitted scale' if fitted else ''} = {dof}"
        )
    return dof


def fit_quality(
    observed,
    error,
    model,
    mask=None,
    n_params: int = 4,
    scale: float | str | None = None,
) -> FitQuality:
    """χ², degrees of freedom, reduced χ² and p-value of a model spectrum.

    Degrees of freedom are counted, not assumed::

        dof = n_used − n_params − (1 if scale == "fit" else 0)

    where ``n_used`` is the number of pixels not masked and ``n_params`` the
    number of physical parameters that were fitted to obtain the model (4 for
    Teff, log g, C/O, [M/H]). A free flux scale (e.g. (R/d)², which absorbs
    radius and distance) is one more fitted parameter, counted only when it is
    fitted here. TelescopeML used ``N − 1`` regardless of what was fitted, and
    scaled its model in a way that made the radius cancel; here every fitted
    quantity, and only those, is subtracted. A scale given as a number (known
    radius and distance) is not fitted and costs no degree of freedom.

    Args:
        observed: observed flux, shape ``(n_pixels,)``.
        error: its 1σ uncertainties, same shape; must be positive and finite
            at every used pixel.
        model: model flux on the same pixels, same shape.
        mask: optional boolean array, same shape; ``True`` marks pixels to
            **exclude** (the :mod:`numpy.ma` convention). Masked pixels may hold
            any value (NaN, ``-inf`` errors).
        n_params: number of model parameters fitted, ≥ 0 (the scale excluded).
        scale: ``None`` compares ``model`` as it is (scale 1); a number
            multiplies the model by it; ``"fit"`` uses the χ²-best scale
            ``s = Σ(o·m/σ²) / Σ(m²/σ²)`` and counts it in ``dof``.

    Returns:
        A :class:`FitQuality`.

    Raises:
        SpectrumError: non-finite observed flux, or errors that are not positive
            and finite, at used pixels.
        ConfigError: mismatched shapes, a bad ``mask``, ``n_params`` or
            ``scale``, a model not finite at used pixels, no degrees of freedom
            left, or a model that is zero everywhere with ``scale="fit"``.
    """
    o, e, m, used = _checked_arrays(observed, error, model, mask)
    if isinstance(n_params, bool) or not isinstance(n_params, int | np.integer) or n_params < 0:
        raise ConfigError(f"n_params must be a non-negative integer, not {n_params!r}")
    ou, eu, mu = o[used], e[used], m[used]
    s, fitted = _model_scale(scale, ou, eu, mu)
    n_used = int(used.sum())
    dof = _degrees_of_freedom(n_used, int(n_params), fitted)
    residuals = np.full(o.shape, np.nan)
    residuals[used] = (ou - s * mu) / eu
    chi2 = float(np.sum(residuals[used] ** 2))
    return FitQuality(
        chi2=chi2,
        dof=dof,
        reduced_chi2=chi2 / dof,
        p_value=float(special.chdtrc(dof, chi2)),  # = scipy.stats.chi2.sf, 20× cheaper
        residuals=residuals,
        scale=s,
        scale_fitted=fitted,
        n_used=n_used,
        n_params=int(n_params),
    )
