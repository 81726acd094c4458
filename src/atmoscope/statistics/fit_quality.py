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

__all__ = ["FitQuality", "fit_qualities", "fit_quality"]


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


def _checked_scale(scale) -> bool:
    """Whether ``scale`` asks for a fitted scale; refuses one that is not None, a finite
    number or ``"fit"``."""
    if isinstance(scale, str):
        if scale != "fit":
            raise ConfigError(f"scale must be None, a number or 'fit', not {scale!r}")
        return True
    if scale is None or (isinstance(scale, Real) and not isinstance(scale, bool)
                         and np.isfinite(scale)):
        return False
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
    n_params = _checked_n_params(n_params)
    fitted = _checked_scale(scale)
    if fitted and float(np.sum(m[used] ** 2 / e[used] ** 2)) == 0.0:
        raise ConfigError("cannot fit a scale: the model is zero at every used pixel")
    _degrees_of_freedom(int(used.sum()), n_params, fitted)
    return _fit_rows(o[None], e[None], m[None], used[None], n_params, scale)[0]


def fit_qualities(observed, error, model, mask=None, n_params: int = 4,
                  scale: float | str | None = None) -> list[FitQuality | Exception]:
    """:func:`fit_quality` of many spectra at once (rows of ``(n, n_pixels)`` arrays; a
    catalog's batch), each row's numbers those of :func:`fit_quality` on it alone; a row
    that :func:`fit_quality` refuses gets the error it raises, not a result.

    Raises:
        ConfigError: arrays not 2-D and of one shape, or a bad ``n_params``.
    """
    o, e, m = (np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in (observed, error, model))
    if not (o.ndim == 2 and o.shape == e.shape == m.shape):
        raise ConfigError(f"observed, error and model must be 2-D arrays of one shape, got "
                          f"{o.shape}, {e.shape}, {m.shape}")
    used = np.ones(o.shape, dtype=bool) if mask is None else ~np.asarray(mask, dtype=bool)
    n_params = _checked_n_params(n_params)
    fitted = _checked_scale(scale)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # what fit_quality refuses: bad values at used pixels, no degrees of freedom, a
        # scale to fit to a model that is zero wherever used
        refused = (np.any(used & ~(np.isfinite(o) & np.isfinite(m) & np.isfinite(e) & (e > 0)),
                          axis=1)
                   | (used.sum(axis=1) - n_params - fitted <= 0)
                   | (fitted & (np.sum(np.where(used, m * m / e ** 2, 0.0), axis=1) == 0.0)))
    out: list = [None] * len(o)
    for i in np.flatnonzero(refused):
        try:
            out[i] = fit_quality(o[i], e[i], m[i], ~used[i], n_params, scale)
        except (ConfigError, SpectrumError) as exc:
            out[i] = exc
    fine = np.flatnonzero(~refused)
    if fine.size:
        for i, quality in zip(fine, _fit_rows(o[fine], e[fine], m[fine], used[fine], n_params,
                                              scale), strict=True):
            out[i] = quality
    return out


def _checked_n_params(n_params) -> int:
    if isinstance(n_params, bool) or not isinstance(n_params, int | np.integer) or n_params < 0:
        raise ConfigError(f"n_params must be a non-negative integer, not {n_params!r}")
    return int(n_params)


def _fit_rows(o, e, m, used, n_params: int, scale) -> list[FitQuality]:
    """The :class:`FitQuality` of rows already checked (:func:`fit_quality`'s numbers)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(used, 1.0 / e ** 2, 0.0)
        if isinstance(scale, str):
            s = (np.sum(np.where(used, o * m, 0.0) * weight, axis=1)
                 / np.sum(np.where(used, m * m, 0.0) * weight, axis=1))
        else:
            s = np.full(len(o), 1.0 if scale is None else float(scale))
        residuals = np.where(used, (o - s[:, None] * m) / e, np.nan)
    chi2 = np.sum(np.where(used, residuals, 0.0) ** 2, axis=1)
    n_used = used.sum(axis=1)
    fitted = isinstance(scale, str)
    dof = n_used - n_params - int(fitted)
    p_value = special.chdtrc(dof, chi2)  # = scipy.stats.chi2.sf, 20× cheaper
    return [FitQuality(chi2=float(chi2[i]), dof=int(dof[i]), reduced_chi2=float(chi2[i] / dof[i]),
                       p_value=float(p_value[i]), residuals=residuals[i], scale=float(s[i]),
                       scale_fitted=fitted, n_used=int(n_used[i]), n_params=n_params)
            for i in range(len(o))]
