"""Spectrum formats (FITS, ECSV, text, CSV) and registered readers."""

import gzip
import pickle

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

import atmoscope.observed.formats as formats
from atmoscope.errors import ConfigError, SpectrumError
from atmoscope.observed import SpectrumTable, read_spectrum, register_spectrum_reader
from tests.observed.helpers import FLAM


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
    assert spec.meta["header"]["YUNITS"] == "Wm-2um-1"  # parsed on first use
    assert "HISTORY" not in spec.meta["header"] and len(spec.meta["header"]) > 10
    assert type(pickle.loads(pickle.dumps(spec)).meta["header"]) is dict
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


# --- registered readers -------------------------------------------------------------------
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


def test_corrupt_compressed_file_is_a_spectrum_error(tmp_path):
    for name in ("a.csv.gz", "b.txt.xz", "c.ecsv.bz2"):
        (tmp_path / name).write_bytes(b"not compressed at all")
        with pytest.raises(SpectrumError, match=rf"{name}: not a readable table"):
            read_spectrum(tmp_path / name)
