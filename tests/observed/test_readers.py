"""``read_spectrum``: the real files, column and unit guesses, one-line errors."""

import astropy.units as u
import pytest

from atmoscope.errors import AtmoscopeError, SpectrumError
from atmoscope.observed import read_spectrum
from tests.observed.helpers import FLAM

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
