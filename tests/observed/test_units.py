"""Unit spellings of real files."""

import astropy.units as u
import pytest

from atmoscope.errors import SpectrumError
from atmoscope.observed import parse_unit
from tests.observed.helpers import FLAM


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
