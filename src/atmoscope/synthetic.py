"""The embedded default grid: an analytic stand-in for brown-dwarf model spectra.

.. warning::
   This is **not a physical atmosphere model**. It is a deterministic,
   closed-form generator whose spectra *behave like* cloudless brown-dwarf
   models at R ~ 100 in the near infrared, so that the whole pipeline (training,
   prediction, calibration) can be demonstrated and tested offline, in seconds,
   without downloading a model grid. Never fit real data with it: train on a
   real grid (Sonora Bobcat, TelescopeML's training set) for science.

The spectrum is the surface flux density F_ν (erg s⁻¹ cm⁻² Hz⁻¹) of a Planck
function whose brightness temperature rises in the Y/J/H/K windows (flux
emerging from deeper, hotter layers), multiplied by ``exp(-τ(λ))`` with one
parametrised optical-depth term per absorber:

* H₂O bands near 0.93, 1.15, 1.4, 1.9 and 2.7 µm, deepening as Teff falls,
  scaling with metallicity and weakening as C/O rises (less free oxygen);
* CH₄ at 1.15, 1.35, 1.65, 2.2–2.4 and 3.3 µm, appearing below a transition
  temperature of ~1300 K that rises with gravity, growing with C/O and [M/H];
* CO with its 2.29 µm band head in hot objects;
* H₂ collision-induced absorption over H and K, stronger at high gravity and
  low metallicity;
* the pressure-broadened red wing of K I 0.77 µm (and Na I 0.59 µm), whose
  width grows with gravity, and FeH at 0.99/1.2/1.58 µm in L dwarfs;
* a smooth condensate reddening for the L/T transition.

Every parameter enters through at least one term with its own spectral shape,
monotonically, so distinct parameter sets give distinct spectra, on and off
the grid nodes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import expit

from atmoscope.data.grid import SpectralGrid
from atmoscope.data.telescopeml_grid import (
    TELESCOPEML_NODES,
    TELESCOPEML_TARGETS,
    telescopeml_wavelengths,
)
from atmoscope.errors import ConfigError

__all__ = ["F_NU_UNIT", "PARAMETER_NAMES", "mock_observation", "synthetic_grid",
           "synthetic_spectra"]

#: Parameters of the generator, named as in TelescopeML's training file:
#: log g (cgs dex), Teff (K), C/O (relative to solar), [M/H] (dex).
PARAMETER_NAMES = TELESCOPEML_TARGETS
#: Unit of the generator's flux: surface F_ν, as in TelescopeML's training file.
F_NU_UNIT = "erg / (s cm2 Hz)"

_HC_OVER_K = 14387.7688  # second radiation constant h c / k, in µm K
_H = 6.62607015e-27  # erg s
_C = 2.99792458e10  # cm / s


def _gauss(wl: np.ndarray, centre: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((wl - centre) / sigma) ** 2)


def _bands(wl: np.ndarray, bands: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    """Sum of Gaussian band profiles ``(centre µm, width µm, weight)``."""
    return sum(weight * _gauss(wl, centre, sigma) for centre, sigma, weight in bands)


_H2O = ((0.93, 0.030, 0.45), (1.14, 0.045, 0.8), (1.40, 0.075, 1.0), (1.88, 0.090, 1.0),
        (2.70, 0.180, 1.3))
_CH4 = ((1.15, 0.030, 0.35), (1.35, 0.050, 0.4), (1.67, 0.055, 1.0), (2.22, 0.050, 0.5),
        (2.36, 0.090, 1.1), (3.30, 0.250, 2.0))
_FEH = ((0.99, 0.012, 1.0), (1.20, 0.015, 0.45), (1.58, 0.020, 0.35))
_WINDOWS = ((1.06, 0.045, 1.0), (1.26, 0.065, 1.1), (1.59, 0.075, 0.75), (2.09, 0.100, 0.3))


def _co_profile(wl: np.ndarray) -> np.ndarray:
    # Band head at 2.293 µm: sharp blue edge, red-degraded absorption beyond it.
    return np.where(wl >= 2.293, np.exp(-(wl - 2.293) / 0.12), _gauss(wl, 2.293, 0.008))


def _as_columns(parameters) -> dict[str, np.ndarray]:
    """Parameter vectors from a mapping / DataFrame (by name) or an array (by position)."""
    if isinstance(parameters, Mapping | pd.DataFrame):
        missing = [p for p in PARAMETER_NAMES if p not in parameters]
        if missing:
            raise ConfigError(f"synthetic spectra need parameter(s) {missing}")
        try:
            cols = {p: np.atleast_1d(np.asarray(parameters[p], dtype=np.float64))
                    for p in PARAMETER_NAMES}
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"synthetic spectra: parameters must be numbers ({exc})") from None
    else:
        try:
            arr = np.atleast_2d(np.asarray(parameters, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"synthetic spectra: parameters must be numbers ({exc})") from None
        if arr.shape[1] != len(PARAMETER_NAMES):
            raise ConfigError(
                f"parameter array must have {len(PARAMETER_NAMES)} columns "
                f"{PARAMETER_NAMES}, got shape {arr.shape}"
            )
        cols = dict(zip(PARAMETER_NAMES, arr.T, strict=True))
    try:
        cols = dict(zip(cols, np.broadcast_arrays(*cols.values()), strict=True))
    except ValueError:
        shapes = {name: values.shape for name, values in cols.items()}
        raise ConfigError(
            f"synthetic spectra: parameter shapes {shapes} do not broadcast"
        ) from None
    for name, values in cols.items():
        if not np.all(np.isfinite(values)):
            raise ConfigError(f"synthetic spectra: non-finite {name}")
    for name in ("temperature", "c_o_ratio"):
        if np.any(cols[name] <= 0):
            bad = cols[name][cols[name] <= 0][0]
            raise ConfigError(f"synthetic spectra: {name} must be positive, got {bad:g}")
    return cols


def synthetic_spectra(parameters, wavelength: np.ndarray | None = None) -> np.ndarray:
    """Evaluate the analytic spectrum at any parameter vectors, on or off the grid.

    Args:
        parameters: a mapping or DataFrame with columns ``gravity``,
            ``temperature``, ``c_o_ratio``, ``metallicity`` (scalars or arrays
            that broadcast), or an array of shape ``(n, 4)`` in that order.
            Any Teff > 0 and C/O > 0 is accepted; the behaviour is tuned for
            Teff 200–2400 K, log g 3–5.5, C/O 0.25–2.5, [M/H] −1…+2.
        wavelength: wavelengths in µm (any order); default TelescopeML's 104.

    Returns:
        F_ν in erg s⁻¹ cm⁻² Hz⁻¹, shape ``(n, n_wavelengths)``, columns in the
        order of ``wavelength``.
    """
    p = _as_columns(parameters)
    try:
        wl = telescopeml_wavelengths() if wavelength is None else np.asarray(wavelength, float)
    except (TypeError, ValueError):
        raise ConfigError("synthetic spectra: wavelengths must be positive and finite") from None
    if wl.ndim != 1 or np.any(~np.isfinite(wl)) or np.any(wl <= 0):
        raise ConfigError("synthetic spectra: wavelengths must be positive and finite")
    teff, dlogg, c_o, mh = (p["temperature"][:, None], p["gravity"][:, None] - 5.0,
                            p["c_o_ratio"][:, None], p["metallicity"][:, None])
    wl = wl[None, :]

    metals = 10.0**mh
    # Chemistry: CH4 takes over from CO below a transition that rises with pressure (gravity).
    t_transition = 1300.0 + 80.0 * dlogg - 40.0 * mh
    methane_fraction = expit((t_transition - teff) / 110.0)
    oxygen = 1.0 / (0.35 + 0.65 * c_o)  # free oxygen left for water as carbon rises

    tau = (
        # H2O: deepens as Teff falls.
        0.9 * (1.0 + (900.0 / teff) ** 0.8) * metals**0.45 * oxygen**0.6 * _bands(wl, _H2O)
        # CH4: only in cool objects.
        + 2.6 * methane_fraction * c_o**0.7 * metals**0.5 * _bands(wl, _CH4)
        # CO band head: only in hot objects.
        + 1.3 * (1.0 - methane_fraction) * c_o**0.45 * metals**0.6 * _co_profile(wl)
        # H2 collision-induced absorption: pressure (gravity) up, metals down.
        + 1.5 * 10.0 ** (0.25 * dlogg) * metals**-0.3 * (1000.0 / teff) ** 0.9
        * (_gauss(wl, 2.25, 0.28) + 0.35 * _gauss(wl, 1.60, 0.12))
        # K I / Na I red wings: Lorentzian wings broadened by pressure (gravity).
        + 1.4 * expit((2000.0 - teff) / 300.0) * metals**0.5 * (
            1.0 / (1.0 + ((wl - 0.767) / (0.055 * 10.0 ** (0.22 * dlogg))) ** 2)
            + 0.6 / (1.0 + ((wl - 0.589) / (0.07 * 10.0 ** (0.22 * dlogg))) ** 2))
        # FeH: L dwarfs, weaker at low gravity.
        + 0.8 * np.exp(-0.5 * ((teff - 1850.0) / 420.0) ** 2) * metals**0.6 * 10.0 ** (0.3 * dlogg)
        * _bands(wl, _FEH)
        # Condensate reddening across the L/T transition (smooth in wavelength).
        + 0.5 * np.exp(-0.5 * ((teff - 1650.0) / 380.0) ** 2) * metals**0.4 * wl**-1.6
    )

    # Brightness temperature: windows see deeper, hotter layers, the more so in cold objects.
    boost = 0.05 + 0.9 * np.exp(-teff / 900.0)
    t_bright = teff * (1.0 + boost * (0.15 + _bands(wl, _WINDOWS)))
    x = _HC_OVER_K / (wl * t_bright)
    nu = _C / (wl * 1e-4)
    planck_nu = 2.0 * _H * nu**3 / _C**2 / np.expm1(x)
    return np.pi * planck_nu * np.exp(-tau)


def synthetic_grid(
    nodes: Mapping[str, np.ndarray] | None = None, wavelength: np.ndarray | None = None
) -> SpectralGrid:
    """The embedded default training grid.

    Args:
        nodes: values of each parameter; the grid is their full Cartesian
            product. Default: TelescopeML's nodes (39 Teff × 11 log g × 6 C/O ×
            12 [M/H] = 30,888 spectra).
        wavelength: wavelengths in µm; default TelescopeML's 104.

    Returns:
        The grid, rows ordered like TelescopeML's file (gravity slowest,
        metallicity fastest), flux in erg s⁻¹ cm⁻² Hz⁻¹.
    """
    nodes = dict(TELESCOPEML_NODES if nodes is None else nodes)
    missing = [p for p in PARAMETER_NAMES if p not in nodes]
    if missing:
        raise ConfigError(f"synthetic grid: no nodes given for {missing}")
    try:
        mesh = np.meshgrid(*(np.asarray(nodes[p], float) for p in PARAMETER_NAMES), indexing="ij")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"synthetic grid: nodes must be numbers ({exc})") from None
    params = pd.DataFrame({p: m.ravel() for p, m in zip(PARAMETER_NAMES, mesh, strict=True)})
    wl = np.sort(telescopeml_wavelengths() if wavelength is None else np.asarray(wavelength))
    return SpectralGrid(
        wavelength=wl,
        flux=synthetic_spectra(params, wl),
        parameters=params,
        targets=PARAMETER_NAMES,
        wavelength_unit="um",
        flux_unit=F_NU_UNIT,
        source="atmoscope.synthetic",
    )


def mock_observation(params: Mapping[str, float], path, snr: float = 30.0,
                     distance_pc: float = 10.0, radius_rjup: float = 1.0, seed: int = 1):
    """A noisy analytic spectrum at Earth, as an observer would have it, written as ECSV.

    400 pixels, 0.85–2.56 µm (R ≈ 300), flux density F_ν at Earth for the given distance
    and radius, Gaussian noise of σ = F/S/N plus a floor of 1 % of the peak over S/N.

    Args:
        params: the generator's parameters (:data:`PARAMETER_NAMES`).
        path: the ECSV file to write.
        snr, distance_pc, radius_rjup, seed: the observation.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    from pathlib import Path

    import astropy.units as u
    from astropy.table import Table

    wavelength = np.geomspace(0.85, 2.56, 400)
    dilution = float(((radius_rjup * u.R_jup) / (distance_pc * u.pc)).decompose() ** 2)
    flux = synthetic_spectra(params, wavelength)[0] * dilution
    error = flux / snr + 0.01 * flux.max() / snr
    noisy = flux + np.random.default_rng(seed).standard_normal(flux.size) * error
    unit = u.Unit(F_NU_UNIT)
    Table({"wavelength": wavelength * u.um, "flux": noisy * unit, "error": error * unit}
          ).write(path, format="ascii.ecsv", overwrite=True)
    return Path(path)
