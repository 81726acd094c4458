"""The format registry (``_registry.SuffixRegistry``), seen through the spectrum readers."""

import atmoscope.observed.formats as formats
from atmoscope.observed import register_spectrum_reader


def test_registry_chooses_the_longest_suffix(readers):
    assert formats.spectrum_reader_for("x.CSV") is formats.read_csv_table
    assert formats.spectrum_reader_for("x.fits.gz") is formats.read_fits_table
    assert formats.spectrum_reader_for("x.ecsv.bz2") is formats.read_ecsv_table
    assert formats.spectrum_reader_for("x.weird") is formats.read_text_table
    marker = register_spectrum_reader(".fits.gz")(lambda path: None)
    assert formats.spectrum_reader_for("x.fits.gz") is marker
    assert formats.spectrum_reader_for("x.fits") is formats.read_fits_table
