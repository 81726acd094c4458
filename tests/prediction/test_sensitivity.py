"""Occlusion sensitivity per wavelength."""

import numpy as np

from atmoscope.data import read_grid
from atmoscope.models import load_estimator
from atmoscope.prediction import occlusion_sensitivity


def test_sensitivity_has_one_row_per_target(bobcat_ensemble, grids):
    bundle = load_estimator(bobcat_ensemble).members[0]
    grid = read_grid(grids / "sonora_bobcat_telescopeml104.csv")
    sens = occlusion_sensitivity(bundle, grid.flux[100])
    assert sens.shape == (4, 104) and np.all(sens >= 0) and sens.max() > 0
