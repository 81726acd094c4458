"""Fixtures of the data tests."""

import pytest

from atmoscope.data import read_grid


@pytest.fixture(scope="module")
def bobcat104(grids):
    return read_grid(grids / "sonora_bobcat_telescopeml104.csv")
