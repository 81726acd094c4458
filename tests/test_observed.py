"""Observed spectra: readers, cleaning, units, resampling and flux scaling.

Real files come from ``../shared/data`` (the ``shared_data`` fixture); small
synthetic files are written to ``tmp_path``. Expected counts were measured with
plain numpy/pandas on the files themselves.
"""

from __future__ import annotations

import gzip

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

import atmoscope.observed.formats as formats
from atmoscope.data import telescopeml_wavelengths
from atmoscope.errors import AtmoscopeError, ConfigError, SpectrumError
from atmoscope.observed import (
    CleaningReport,
    ObservedSpectrum,
    SpectrumTable,
    best_scale,
    clean_spectrum,
    implied_radius,
    parse_unit,
    read_spectrum,
    register_spectrum_reader,
    resample,
    scale_to_surface,
    to_flambda,
    to_fnu,
)

FLAM = u.erg / u.s / u.cm**2 / u.AA
FNU = u.erg / u.s / u.cm**2 / u.Hz

# file → (rows, first wavelength µm, last wavelength µm, flux unit as read)
OBSERVED = {
    "HD3651B_spex_prism.csv": (564, 0.650856972, 2.56279993, FLAM),
    "GJ570D_spex_prism.csv": (560, 0.657971025, 2.56048989, FLAM),
    "Ross458C_telescopeml_tutorial.csv": (809, 0.6921955, 2.5433235, FLAM),
    "FIRE-PRISM_Ross458C_Burgasser2010.csv": (1969, 0.79933393, 2.4972177, u.one),
    "SPEX-PRISM_J0559-1404_Burgasser2006.csv": (563, 0.653956, 2.56399, u.one),
    "JWST-NIRSPEC-PRISM_UNCOVER33436_Burgasser2024.csv": (414, 0.58, 5.334037453577489, u.one),
    "JWST-NIRSPEC-PRISM_Wolf1130C_Burgasser2025.csv": (1001, 0.5, 6.0, u.one),
    "EUCLID_J0359-4740_Dominguez-Tagle2025.csv": (531, 1.19, 1.9002, u.one),
}


@pytest.fixture(scope="module")
def observed(shared_data):
    return shared_data / "observed"


def _spectrum(n=400, lo=0.8, hi=2.6, *, error=True, seed=0, flux=None):
    wave = np.linspace(lo, hi, n)
    values = np.exp(-((wave - 1.3) / 0.4) ** 2) + 0.2 if flux is None else flux(wave)
    err = np.full(n, 0.01) if error else None
    return ObservedSpectrum(
        wavelength=wave * u.um,
        flux=values * FLAM,
        error=None if err is None else err * FLAM,
        meta={"source": "synthetic"},
    )


# --- reading the real files ---------------------------------------------------------
def test_every_observed_file_reads_with_default_guesses(observed):
    assert sorted(p.name for p in observed.iterdir()) == sorted(OBSERVED)
    for name, (rows, first, last, unit) in OBSERVED.items():
        spec = read_spectrum(observed / name)
        assert spec.n_pixels == rows, name
        assert spec.meta["n_rows"] == rows
        assert spec.wavelength.unit == u.um
        assert spec.wavelength[0].value == pytest.approx(first, rel=1e-9), name
        assert spec.wavelength[-1].value == pytest.approx(last, rel=1e-9), name
        assert spec.flux.unit == unit, name
        assert spec.error is not None and spec.error.unit == unit
        assert spec.meta["source"] == str(observed / name)


def test_column_guesses_and_unit_sources(observed):
    tutorial = read_spectrum(observed / "Ross458C_telescopeml_tutorial.csv")
    # The 0/1 flag column also says "err"; the real error column comes first.
    assert tutorial.meta["columns"] == {
        "wavelength": "wl_um", "flux": "F_lambda_obs", "error": "F_lambda_obs_err"
    }
    assert tutorial.meta["wave_unit_from"] == "column name"
    assert tutorial.meta["flux_unit_from"] == "column name"
    euclid = read_spectrum(observed / "EUCLID_J0359-4740_Dominguez-Tagle2025.csv")
    assert euclid.meta["columns"] == {
        "wavelength": "WAVELENGTH", "flux": "SIGNAL", "error": "UNCERTAINTY"
    }
    assert euclid.meta["wave_unit_from"] == "guessed"
    assert euclid.meta["flux_unit_from"] == "assumed"
    fire = read_spectrum(observed / "FIRE-PRISM_Ross458C_Burgasser2010.csv")
    lo, hi = fire.wavelength_range
    assert (lo.to_value(u.um), hi.to_value(u.um)) == pytest.approx((0.79933393, 2.4972177))


def test_gj570d_cleaning_counts_inf_errors_and_negative_flux(observed):
    path = observed / "GJ570D_spex_prism.csv"
    raw = np.genfromtxt(path, delimiter=",", skip_header=1)
    n_neginf = int(np.isneginf(raw[:, 2]).sum())
    n_negative = int((raw[:, 1] < 0).sum())
    assert (n_neginf, n_negative) == (79, 79)

    spec, report = clean_spectrum(read_spectrum(path))
    assert isinstance(report, CleaningReport)
    assert report.bad_error == n_neginf
    assert report.negative_flux == n_negative
    assert report.nonfinite_flux == 0 and report.dropped_empty == 0
    assert (report.n_input, report.n_output, report.n_good) == (560, 560, 481)
    # Masked pixels stay; negative fluxes are neither dropped nor clipped.
    assert spec.n_pixels == 560 and spec.good == 481
    np.testing.assert_array_equal(spec.flux.value, raw[:, 1])
    np.testing.assert_array_equal(spec.meta["negative_flux"], raw[:, 1] < 0)
    # In this file every -inf error sits on a negative flux (a defect to know about).
    np.testing.assert_array_equal(~spec.mask, np.isneginf(raw[:, 2]))
    assert report.as_dict()["bad_error"] == 79
    line = report.summary()
    assert "\n" not in line and "GJ570D_spex_prism.csv" in line and "79" in line


def test_wolf1130c_empty_rows_are_dropped(observed):
    spec, report = clean_spectrum(
        read_spectrum(observed / "JWST-NIRSPEC-PRISM_Wolf1130C_Burgasser2025.csv")
    )
    assert report.dropped_empty == 146
    assert (report.n_input, report.n_output, report.n_good) == (1001, 855, 855)
    assert spec.n_pixels == 855 and np.all(np.isfinite(spec.flux.value))


def test_spex_library_fits(shared_data):
    spectra = shared_data / "spex_prism_library" / "spectra"
    spec = read_spectrum(spectra / "10001_10443.fits.gz")
    with fits.open(spectra / "10001_10443.fits.gz") as hdul:
        data = hdul[0].data.astype(float)
    assert data.shape == (3, 564)
    assert spec.n_pixels == 564 and spec.meta["format"] == "fits"
    assert spec.wavelength.unit == u.um  # XUNITS = 'um'
    assert spec.flux.unit == u.W / u.m**2 / u.um  # YUNITS = 'Wm-2um-1'
    assert spec.meta["object"] == "sdssp j0539"
    assert spec.meta["header"]["YUNITS"] == "Wm-2um-1"
    np.testing.assert_array_equal(spec.flux.value, data[1])
    np.testing.assert_array_equal(spec.error.value, data[2])

    cgs = read_spectrum(spectra / "12016_11724.fits.gz")  # (4, 811), 'ergss-1cm-2A-1'
    assert cgs.n_pixels == 811 and cgs.flux.unit == FLAM
    transposed = read_spectrum(spectra / "12204_11940.fits.gz")  # stored as (564, 3)
    assert transposed.n_pixels == 564 and transposed.meta["transposed"]
    no_error = read_spectrum(spectra / "10329_10311.fits.gz")  # (2, 563), no units
    assert no_error.error is None and no_error.flux.unit == u.one
    with pytest.raises(SpectrumError, match=r"11008_11146.*\(2, 3, 564\)"):
        read_spectrum(spectra / "11008_11146.fits.gz")  # two apertures


# --- other formats ---------------------------------------------------------------------
def test_ecsv_units_text_and_fits_table(tmp_path):
    wave = np.array([1000.0, 1100.0, 1200.0])
    table = Table({"lambda": wave * u.nm, "flux": [1.0, 2.0, 3.0] * u.mJy,
                   "flux_err": [0.1, 0.2, 0.3] * u.mJy}, meta={"object": "test star"})
    table.write(tmp_path / "s.ecsv")
    spec = read_spectrum(tmp_path / "s.ecsv")
    assert spec.wavelength.unit == u.nm and spec.flux.unit == u.mJy
    assert spec.meta["object"] == "test star" and spec.meta["format"] == "ecsv"
    with pytest.raises(SpectrumError, match=r"s\.ecsv.*'lambda'.*'nm'.*'um'"):
        read_spectrum(tmp_path / "s.ecsv", wave_unit="um")

    hand = (
        "# %ECSV 1.0\n# ---\n# datatype:\n# - {name: wave, unit: um, datatype: float64}\n"
        "# - {name: flux, unit: erg/s/cm2/A, datatype: float64}\n# schema: astropy-2.0\n"
        "wave flux\n1.0 1e-16\n1.1 \"\"\n"
    )
    (tmp_path / "hand.ecsv").write_text(hand)
    spec = read_spectrum(tmp_path / "hand.ecsv")
    assert spec.flux.unit == FLAM  # 'A' is Ångström, not Ampère
    assert np.isnan(spec.flux.value[1])  # a missing value

    text = "# a comment\n# wavelength flux sigma\n1.0 5 0.5\n1.1 6 0.5\n1.2 7 0.5\n"
    (tmp_path / "s.txt").write_text(text)
    spec = read_spectrum(tmp_path / "s.txt", flux_unit="Jy")
    assert spec.flux.unit == u.Jy and spec.meta["format"] == "text"
    assert spec.meta["columns"] == {"wavelength": "wavelength", "flux": "flux", "error": "sigma"}
    plain = tmp_path / "plain.dat.gz"
    with gzip.open(plain, "wt") as handle:
        handle.write("1.2 7 0.5 9\n1.1 6 0.5 9\n1.0 5 0.5 9\n")
    spec = read_spectrum(plain)  # positional, descending → reversed
    assert spec.meta["columns"] == {"wavelength": "col0", "flux": "col1", "error": "col2"}
    assert spec.meta["reversed"] and list(spec.flux.value) == [5, 6, 7]
    spec = read_spectrum(plain, wave_col=0, flux_col=3, err_col=2)
    assert list(spec.flux.value) == [9, 9, 9]

    columns = fits.ColDefs([
        fits.Column(name="WAVE", format="D", unit="Angstrom", array=[9000.0, 10000.0]),
        fits.Column(name="FLUX", format="D", unit="erg/s/cm2/A", array=[1.0, 2.0]),
    ])
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns)]).writeto(
        tmp_path / "t.fits.gz"
    )
    spec = read_spectrum(tmp_path / "t.fits.gz")
    assert spec.wavelength.unit == u.AA and spec.flux.unit == FLAM and spec.error is None


# --- registered readers -----------------------------------------------------------------
@pytest.fixture
def readers(monkeypatch):
    """A private copy of the registry, so a test's formats do not outlive it."""
    monkeypatch.setattr(formats, "SPECTRUM_READERS", formats.SPECTRUM_READERS.copy())
    return formats.SPECTRUM_READERS


def test_custom_reader_is_used_by_read_spectrum(tmp_path, readers):
    calls = []

    @register_spectrum_reader(".spec")
    def read_spec(path):
        # A made-up format: "key=value" header lines, then "nm;flux" rows.
        calls.append(path)
        rows = [line.split(";") for line in _open_lines(path) if "=" not in line]
        table = {"lam_nm": [float(r[0]) for r in rows], "flux": [float(r[1]) for r in rows]}
        return SpectrumTable(["lam_nm", "flux"], table, {"lam_nm": "nm", "flux": "Jy"},
                             {"format": "spec", "object": "demo"})

    assert readers[".spec"] is read_spec
    (tmp_path / "a.spec").write_text("object=demo\n1300;3.0\n1200;2.0\n1100;1.0\n")
    spec = read_spectrum(tmp_path / "a.spec")
    assert calls == [tmp_path / "a.spec"]
    assert spec.wavelength.unit == u.nm and spec.flux.unit == u.Jy  # text units parsed
    assert list(spec.wavelength.value) == [1100.0, 1200.0, 1300.0]  # descending → reversed
    assert list(spec.flux.value) == [1.0, 2.0, 3.0]
    assert spec.meta["format"] == "spec" and spec.meta["object"] == "demo"
    assert spec.meta["wave_unit_from"] == "file" and spec.error is None
    # Compressed names match after '.gz' is taken off, as for built-in formats.
    assert formats.spectrum_reader_for(tmp_path / "b.SPEC.gz") is read_spec

    # A reader may return a DataFrame; one that returns anything else is a bad setting.
    register_spectrum_reader(".frame")(lambda path: pd.read_csv(path))
    (tmp_path / "c.frame").write_text("wave,flux\n1.0,2.0\n1.1,3.0\n")
    assert read_spectrum(tmp_path / "c.frame").meta["columns"]["flux"] == "flux"
    register_spectrum_reader(".bad")(lambda path: [1, 2, 3])
    (tmp_path / "d.bad").write_text("x")
    with pytest.raises(ConfigError, match=r"d\.bad: reader '<lambda>' returned list"):
        read_spectrum(tmp_path / "d.bad")
    with pytest.raises(ConfigError, match="starting with '.'"):
        register_spectrum_reader("spec")
    with pytest.raises(ConfigError, match="starting with '.'"):
        register_spectrum_reader()


def _open_lines(path):
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def test_registry_chooses_the_longest_suffix(readers):
    assert formats.spectrum_reader_for("x.CSV") is formats.read_csv_table
    assert formats.spectrum_reader_for("x.fits.gz") is formats.read_fits_table
    assert formats.spectrum_reader_for("x.ecsv.bz2") is formats.read_ecsv_table
    assert formats.spectrum_reader_for("x.weird") is formats.read_text_table
    marker = register_spectrum_reader(".fits.gz")(lambda path: None)
    assert formats.spectrum_reader_for("x.fits.gz") is marker
    assert formats.spectrum_reader_for("x.fits") is formats.read_fits_table


def test_corrupt_compressed_file_is_a_spectrum_error(tmp_path):
    for name in ("a.csv.gz", "b.txt.xz", "c.ecsv.bz2"):
        (tmp_path / name).write_bytes(b"not compressed at all")
        with pytest.raises(SpectrumError, match=rf"{name}: not a readable table"):
            read_spectrum(tmp_path / name)


def test_parse_unit_spellings():
    assert parse_unit("Micron") == u.um
    assert parse_unit("ergs s-1 cm-2 A-1") == FLAM
    assert parse_unit("ergss-1cm-2A-1") == FLAM
    assert parse_unit("W m-2 um-1") == u.W / u.m**2 / u.um
    assert parse_unit("erg/s/cm2/A") == FLAM  # Å, not Ampère
    assert parse_unit("normalized") == u.one
    assert parse_unit("  ") is None
    with pytest.raises(SpectrumError, match="'furlongs per fortnight'"):
        parse_unit("furlongs per fortnight")


def test_bad_inputs_give_one_line_errors(tmp_path):
    def fails(path, match, **kwargs):
        with pytest.raises(SpectrumError, match=match) as info:
            read_spectrum(path, **kwargs)
        assert isinstance(info.value, AtmoscopeError) and isinstance(info.value, ValueError)
        assert "\n" not in str(info.value) and str(path) in str(info.value)

    fails(tmp_path / "missing.csv", "no such file")
    good = tmp_path / "good.csv"
    good.write_text("wave,flux,err\n1.0,2.0,0.1\n1.1,2.0,0.1\n")
    fails(good, r"no flux column 'F'; available columns: wave, flux, err", flux_col="F")
    fails(good, r"index 7 is out of range", err_col=7)
    fails(good, r"given unit 'bananas' is not understood", wave_unit="bananas")
    bad = tmp_path / "bad.csv"
    bad.write_text("wave,flux,err\n1.0,2.0,0.1\n1.1,abc,0.1\n")
    fails(bad, r"column 'flux', row 2: non-numeric value 'abc'")
    one = tmp_path / "one.csv"
    one.write_text("wave,flux\n1.0,2.0\n")
    fails(one, r"1 data row\(s\); a spectrum needs at least 2")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    fails(empty, "file is empty")
    angstrom = tmp_path / "aa.csv"
    angstrom.write_text("wave,flux\n9000,2.0\n10000,2.0\n")
    fails(angstrom, r"column 'wave': wavelengths 9000–10000 do not look like µm.*--wave-unit")
    assert read_spectrum(angstrom, wave_unit="Angstrom").wavelength.unit == u.AA
    fails(good, r"unit 'W / m2' is not a flux density", flux_unit="W/m2")


def test_cleaning_sorts_masks_duplicates_and_min_snr():
    spec = ObservedSpectrum(
        wavelength=[1.2, 1.0, 1.1, 1.1, np.nan, 1.3, 1.4] * u.um,
        flux=[4.0, 1.0, np.nan, 3.0, 5.0, np.inf, -1.0] * FLAM,
        error=[0.1, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1] * FLAM,
    )
    cleaned, report = clean_spectrum(spec, min_snr=3)
    assert report.dropped_bad_wavelength == 1
    assert report.non_increasing == 2  # 1.2→1.0 and 1.1→1.1
    assert list(cleaned.wavelength.value) == [1.0, 1.1, 1.1, 1.2, 1.3, 1.4]
    # Of the two 1.1 µm pixels the NaN one is masked anyway; the usable one is kept.
    assert report.duplicate_wavelength == 1
    assert list(cleaned.mask) == [False, False, True, True, False, False]
    assert (report.bad_error, report.nonfinite_flux, report.negative_flux) == (1, 2, 1)
    assert report.low_snr == 1  # the negative flux: min_snr is a biased cut
    assert cleaned.flux.value[-1] == -1.0
    with pytest.raises(SpectrumError, match="min_snr"):
        clean_spectrum(_spectrum(error=False), min_snr=5)
    with pytest.raises(SpectrumError, match="min_snr must be a number, not '3'"):
        clean_spectrum(_spectrum(), min_snr="3")


# --- units -----------------------------------------------------------------------------
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


# --- resampling --------------------------------------------------------------------------
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
    assert "allow_partial" in message

    out = resample(fire, grid, allow_partial=True)
    assert out.n_pixels == 104 and out.meta["uncovered"] == 2
    # The two reddest TelescopeML wavelengths (2.487, 2.512 µm) lie beyond 2.497 µm's bin.
    assert list(np.flatnonzero(~out.mask)) == [102, 103]
    assert np.all(np.isnan(out.flux.value[102:])) and np.all(np.isfinite(out.flux.value[:102]))
    with pytest.raises(SpectrumError, match="strictly increasing"):
        resample(fire, grid[::-1])


def test_resample_real_spectrum_with_masked_pixels(observed):
    gj, _ = clean_spectrum(read_spectrum(observed / "GJ570D_spex_prism.csv"))
    out = resample(to_fnu(gj), telescopeml_wavelengths(descending=False) * u.um)
    assert out.good == 104 and out.flux.unit == FNU
    assert np.all(out.error.value > 0)


# --- flux scale --------------------------------------------------------------------------
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
    with pytest.raises(SpectrumError, match="no usable pixel"):
        best_scale([1.0, 2.0], [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(SpectrumError, match="must be numbers"):
        best_scale(["a", "b"], [1.0, 1.0])
    with pytest.raises(SpectrumError, match="distance must be one positive .* got 'ten'"):
        scale_to_surface(spec, "ten", 1.0)
    with pytest.raises(SpectrumError, match="radius must be one positive .* kg"):
        scale_to_surface(spec, 10.0, 1.0 * u.kg)


def test_spectrum_validation_and_helpers():
    spec = _spectrum(n=10)
    assert (spec.n_pixels, spec.good) == (10, 10)
    assert spec.is_flambda and not spec.is_fnu
    assert not spec.flux.flags.writeable
    assert "10 pixels" in repr(spec)
    with pytest.raises(SpectrumError, match="not a length"):
        ObservedSpectrum(wavelength=[1.0, 2.0] * u.s, flux=[1.0, 1.0])
    with pytest.raises(SpectrumError, match="3 flux values for 2 wavelengths"):
        ObservedSpectrum(wavelength=[1.0, 2.0] * u.um, flux=[1.0, 1.0, 1.0])
    with pytest.raises(SpectrumError, match="error unit"):
        ObservedSpectrum(wavelength=[1.0, 2.0] * u.um, flux=[1.0, 1.0] * FLAM,
                         error=[1.0, 1.0] * u.um)
    with pytest.raises(SpectrumError, match="flux must be numbers"):
        ObservedSpectrum(wavelength=[1.0, 2.0] * u.um, flux=["a", "b"])
    with pytest.raises(SpectrumError, match="new_wavelength must be at least 2 wavelengths"):
        resample(spec, "1.0 um")
    with pytest.raises(SpectrumError, match="target unit .* is not a unit"):
        to_fnu(spec, object())
