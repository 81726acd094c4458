"""``Preprocessor``: spectrum and target scaling, round trips, the noise channel."""

import json

import numpy as np
import pytest

from atmoscope.data.preprocessing import Preprocessor
from atmoscope.errors import ConfigError
from atmoscope.synthetic import synthetic_grid
from tests.helpers import SMALL_NODES as SMALL


@pytest.mark.parametrize("mode", ["row", "log_row", "column_standard", "column_minmax"])
def test_preprocessing_round_trip(small, mode):
    y = small.target_values
    pre = Preprocessor(small.targets, spectrum_mode=mode).fit(small.flux[:200], y[:200])
    z = pre.transform_targets(y)
    np.testing.assert_allclose(pre.inverse_transform_targets(z), y, rtol=1e-5, atol=1e-6)
    # statistics come from the fitted rows only, with ddof = 0
    np.testing.assert_allclose(z[:200].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:200].std(axis=0), 1, atol=1e-5)
    j = small.targets.index("temperature")
    assert pre.y_mean_[j] == pytest.approx(np.log10(y[:200, j]).mean())
    x, extra = pre.transform_spectra(small.flux)
    assert x.shape == (324, 104) and extra.shape == (324, 2) and x.dtype == np.float32
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    np.testing.assert_array_equal(again.transform_spectra(small.flux)[0], x)
    np.testing.assert_array_equal(again.transform_targets(y), z)


def test_preprocessing_errors(small):
    pre = Preprocessor(small.targets)
    with pytest.raises(ConfigError, match="not fitted"):
        pre.transform_spectra(small.flux)
    pre.fit(small.flux, small.target_values)
    with pytest.raises(ConfigError, match="spectra have 50 wavelengths, the model expects 104"):
        pre.transform_spectra(small.flux[:, :50])
    with pytest.raises(ConfigError, match="unknown spectrum mode"):
        Preprocessor(small.targets, spectrum_mode="magic")


def test_preprocessor_noise_channel():
    grid = synthetic_grid(SMALL)
    pre = Preprocessor(grid.targets, spectrum_mode="log_row", extra_features="moments",
                       noise_channel=True).fit(grid.flux, grid.target_values)
    x, e = pre.transform_spectra(grid.flux[:3], grid.flux[:3] / 100.0)
    assert x.shape == (3, 2, grid.n_wavelengths) and e.shape == (3, 2)
    np.testing.assert_allclose(x[:, 1], np.log10(1 / 100) + 1.5, atol=1e-6)  # S/N 100 → -0.5
    with pytest.raises(ConfigError, match="needs the flux errors"):
        pre.transform_spectra(grid.flux[:3])
    assert Preprocessor.from_dict(pre.to_dict()).noise_channel is True


def test_preprocessor_mask_channel_says_which_pixels_hold_data():
    grid = synthetic_grid(SMALL)
    pre = Preprocessor(grid.targets, noise_channel=True, mask_channel=True).fit(
        grid.flux, grid.target_values)
    mask = np.ones((2, grid.n_wavelengths), dtype=bool)
    mask[1, :10] = False
    x, _ = pre.transform_spectra(grid.flux[:2], grid.flux[:2] / 50.0, mask)
    assert x.shape == (2, 3, grid.n_wavelengths)
    assert x[0, 2].min() == 1.0 and x[1, 2, :10].max() == 0.0 and x[1, 2, 10:].min() == 1.0
    x, _ = pre.transform_spectra(grid.flux[:2], grid.flux[:2] / 50.0)  # default: all data
    assert x[:, 2].min() == 1.0
    assert Preprocessor.from_dict(pre.to_dict()).mask_channel is True
    with pytest.raises(ConfigError, match="needs the noise channel"):
        Preprocessor(grid.targets, mask_channel=True)


def test_a_scale_free_model_needs_a_per_spectrum_scaling(small):
    from atmoscope.training import TrainConfig

    with pytest.raises(ConfigError, match="scale-free model .* needs a per-spectrum scaling"):
        Preprocessor(small.targets, spectrum_mode="column_standard", extra_features="none")
    # the default CNN scales per wavelength; asked to be scale-free it scales per spectrum
    assert TrainConfig(extra_features="none").resolved().spectrum_mode == "log_row"
    assert TrainConfig().resolved().spectrum_mode == "column_standard"
