"""F_λ ⇄ F_ν, flux-conserving resampling and flux scaling."""

import astropy.units as u
import numpy as np
import pytest

from atmoscope.data import telescopeml_wavelengths
from atmoscope.errors import SpectrumError
from atmoscope.observed import ObservedSpectrum, best_scale, clean_spectrum, read_spectrum, resample
from atmoscope.observed.conversion import implied_radius, scale_to_surface, to_flambda, to_fnu
from tests.observed.helpers import FLAM, _spectrum

FNU = u.erg / u.s / u.cm**2 / u.Hz


# --- units --------------------------------------------------------------------------------
def test_flambda_fnu_round_trip_and_hand_value():
    spec = ObservedSpectrum(wavelength=[1.0, 2.0] * u.um, flux=[1.0, 1.0] * FLAM,
                            error=[0.1, 0.2] * FLAM)
    fnu = to_fnu(spec)
    # F_nu = F_lambda λ²/c = 1 erg/s/cm²/Å · (1e4 Å)² / 2.99792458e18 Å/s
    assert fnu.flux.unit == FNU
    assert fnu.flux.value[0] == pytest.approx(1e8 / 2.99792458e18, rel=1e-12)
    assert fnu.flux.value[0] == pytest.approx(3.33564095e-11, rel=1e-8)
    assert fnu.flux.value[1] == pytest.approx(4 * fnu.flux.value[0])
    np.testing.assert_allclose(fnu.error.value, [0.1, 0.2] * fnu.flux.value)
    assert to_fnu(spec, "Jy").flux.value[0] == pytest.approx(3.33564095e12, rel=1e-8)

    back = to_flambda(to_fnu(_spectrum()))
    np.testing.assert_allclose(back.flux.value, _spectrum().flux.value, rtol=1e-12)
    np.testing.assert_allclose(back.error.value, _spectrum().error.value, rtol=1e-12)
    si = to_flambda(spec, "W m-2 um-1")
    assert si.flux.value[0] == pytest.approx(10.0)  # 1 erg/s/cm²/Å = 10 W/m²/µm

    with pytest.raises(SpectrumError, match="dimensionless"):
        to_fnu(ObservedSpectrum(wavelength=[1.0, 2.0] * u.um, flux=[1.0, 1.0]))
    with pytest.raises(SpectrumError, match="not an F_nu unit"):
        to_fnu(spec, FLAM)


# --- resampling ---------------------------------------------------------------------------
def test_resample_conserves_flux_and_propagates_errors():
    spec = _spectrum(n=2000)
    new = np.linspace(0.9, 2.5, 150) * u.um
    out = resample(spec, new)
    assert out.good == 150 and out.meta["uncovered"] == 0

    # ∫F dλ over the target bins, before (dense analytic) and after (Σ F Δλ).
    centres = new.value
    edges = np.r_[centres[0] - 0.5 * (centres[1] - centres[0]),
                  0.5 * (centres[1:] + centres[:-1]),
                  centres[-1] + 0.5 * (centres[-1] - centres[-2])]
    dense = np.linspace(edges[0], edges[-1], 200_001)
    before = np.trapezoid(np.exp(-((dense - 1.3) / 0.4) ** 2) + 0.2, dense)
    after = np.sum(out.flux.value * np.diff(edges))
    assert after == pytest.approx(before, rel=0.01)

    # White noise averaged over k pixels: errors shrink by √k.
    k = 8
    flat = _spectrum(n=800, lo=1.0, hi=1.8, flux=lambda w: np.ones_like(w))
    centres = flat.wavelength.value.reshape(-1, k).mean(axis=1)[1:-1]
    binned = resample(flat, centres * u.um)
    np.testing.assert_allclose(binned.error.value, 0.01 / np.sqrt(k), rtol=0.02)
    np.testing.assert_allclose(binned.flux.value, 1.0)


def test_resample_skips_masked_pixels_and_masks_gaps():
    spec = _spectrum(n=300, lo=1.0, hi=2.0, flux=lambda w: np.ones_like(w))
    mask = np.ones(300, bool)
    mask[100:160] = False  # a 0.2 µm gap
    flux = spec.flux.value.copy()
    flux[100:160] = 1e6  # must not leak into the result
    spec = spec.replace(flux=flux * FLAM, mask=mask)
    out = resample(spec, np.linspace(1.05, 1.95, 46) * u.um)
    gap_wave = out.wavelength.value[~out.mask]
    assert out.meta["gap_masked"] == len(gap_wave) > 0
    assert np.all((gap_wave > 1.33) & (gap_wave < 1.54))
    np.testing.assert_allclose(out.flux.value[out.mask], 1.0)


def test_resample_partial_coverage(observed):
    fire, _ = clean_spectrum(read_spectrum(observed / "FIRE-PRISM_Ross458C_Burgasser2010.csv"))
    grid = telescopeml_wavelengths(descending=False) * u.um
    assert grid.size == 104
    with pytest.raises(SpectrumError) as info:
        resample(fire, grid)
    message = str(info.value)
    assert "0.7991–2.4982 µm" in message  # the spectrum's bins
    assert "0.8923–2.5245 µm" in message  # the target's bins
    assert "--allow-partial" in message

    out = resample(fire, grid, allow_partial=True)
    assert out.n_pixels == 104 and out.meta["uncovered"] == 2
    # The two reddest TelescopeML wavelengths (2.487, 2.512 µm) lie beyond 2.497 µm's bin.
    assert list(np.flatnonzero(~out.mask)) == [102, 103]
    assert np.all(np.isnan(out.flux.value[102:])) and np.all(np.isfinite(out.flux.value[:102]))
    with pytest.raises(SpectrumError, match="strictly increasing"):
        resample(fire, grid[::-1])
    # one bin (at most 1 % of them) beyond the spectrum is masked without asking
    one_short = resample(fire, grid[:-1])
    assert one_short.meta["uncovered"] == 1 and not one_short.mask[-1]


def test_resample_real_spectrum_with_masked_pixels(observed):
    gj, _ = clean_spectrum(read_spectrum(observed / "GJ570D_spex_prism.csv"))
    out = resample(to_fnu(gj), telescopeml_wavelengths(descending=False) * u.um)
    assert out.good == 104 and out.flux.unit == FNU
    assert np.all(out.error.value > 0)


# --- flux scale ---------------------------------------------------------------------------
def test_scale_to_surface_and_best_scale():
    spec = _spectrum()
    surface = scale_to_surface(spec, 10.0, 1.0)
    factor = float(((10 * u.pc) / (1 * u.R_jup)).decompose()) ** 2
    np.testing.assert_allclose(surface.flux.value, spec.flux.value * factor)
    np.testing.assert_allclose(surface.error.value, spec.error.value * factor)
    assert surface.meta["surface_scale"]["factor"] == pytest.approx(factor)
    assert scale_to_surface(spec, 10 * u.pc, 71492 * u.km).flux.value[0] == pytest.approx(
        surface.flux.value[0], rel=1e-4
    )

    rng = np.random.default_rng(1)
    model = 1 + np.sin(np.linspace(0, 6, 500)) ** 2
    sigma = np.full(500, 0.01)
    a_true = 2.5e-3
    observed_flux = a_true * model + rng.normal(0, sigma * a_true)
    observed_flux[::50] = np.nan  # ignored
    assert best_scale(observed_flux, model, sigma * a_true) == pytest.approx(a_true, rel=1e-3)
    assert best_scale(a_true * model, model) == pytest.approx(a_true)

    # R = d √a with a = (R/d)²: 0.8 R_Jup at 10 pc round-trips.
    a = float(((0.8 * u.R_jup) / (10 * u.pc)).decompose() ** 2)
    assert implied_radius(a, 10.0).to_value(u.R_jup) == pytest.approx(0.8)
    with pytest.raises(SpectrumError, match="scale must be one positive"):
        implied_radius(-1.0, 10.0)
    with pytest.raises(SpectrumError, match="distance must be one positive"):
        scale_to_surface(spec, 0.0, 1.0)
    with pytest.raises(SpectrumError, match="model flux is zero at all 2 usable pixels"):
        best_scale([1.0, 2.0], [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(SpectrumError, match="no pixel where observed flux, model flux and error"):
        best_scale([np.nan, 2.0], [1.0, np.nan], [1.0, 1.0])
    with pytest.raises(SpectrumError, match="must be numbers"):
        best_scale(["a", "b"], [1.0, 1.0])
    with pytest.raises(SpectrumError, match="distance must be one positive .* got 'ten'"):
        scale_to_surface(spec, "ten", 1.0)
    with pytest.raises(SpectrumError, match="radius must be one positive .* kg"):
        scale_to_surface(spec, 10.0, 1.0 * u.kg)


def test_unit_factor_is_astropys_per_pixel_conversion():
    """The conversion factor comes from a power law found once per pair of units; it is
    astropy's spectral_density conversion at every pixel, also for photon flux and
    wavelengths given as frequencies."""
    from atmoscope.observed.conversion import flux_factor

    lam = np.linspace(0.9, 2.5, 40) * u.um
    for given, target, wave in [("W m-2 um-1", "erg s-1 cm-2 Hz-1", lam),
                                ("mJy", "erg s-1 cm-2 AA-1", lam),
                                ("photon s-1 cm-2 AA-1", "W m-2 um-1", lam),
                                ("Jy", "W m-2 um-1", lam.to(u.Hz, u.spectral()))]:
        given, target = u.Unit(given), u.Unit(target)
        want = (np.ones(40) * given).to_value(target, u.spectral_density(wave))
        np.testing.assert_allclose(flux_factor("s", given, wave, target, "k", target)[1],
                                   want, rtol=1e-13)
    with pytest.raises(SpectrumError, match="'m' cannot be converted"):
        flux_factor("s", u.m, lam, FNU, "F_nu", FNU)
