"""``SpectralGrid``: immutable and consistent."""

import numpy as np
import pandas as pd
import pytest

from atmoscope.data import SpectralGrid
from atmoscope.errors import GridError


def test_grid_is_immutable_and_consistent(bobcat104):
    with pytest.raises(ValueError):
        bobcat104.flux[0, 0] = 1.0
    with pytest.raises(GridError, match="does not match"):
        SpectralGrid(np.arange(1.0, 4.0), np.ones((2, 2)), pd.DataFrame({"a": [1, 2]}), ("a",))
    with pytest.raises(GridError, match="parameters must be numbers"):
        SpectralGrid([1.0, 2.0], np.ones((1, 2)), pd.DataFrame({"a": ["x"]}), ("a",))
    with pytest.raises(GridError, match="wavelength unit 'furlong' is not a unit"):
        SpectralGrid([1.0, 2.0], np.ones((1, 2)), pd.DataFrame({"a": [1]}), ("a",), "furlong")
    sub = bobcat104.select(bobcat104.parameters["temperature"].to_numpy() == 800)
    assert sub.n_spectra == 15 and set(sub.parameters["temperature"]) == {800}
