"""A batch predicts each spectrum as predicting it alone does, and a bad spectrum does not
stop it."""

import glob

import numpy as np
import pytest

from atmoscope.errors import AtmoscopeError, SpectrumError
from atmoscope.observed import read_spectrum
from atmoscope.prediction import Predictor
from atmoscope.pretrained import model_path


@pytest.fixture(scope="module")
def spex(shared_data):
    files = sorted(glob.glob(str(shared_data / "spex_prism_library" / "spectra" / "*.fits.gz")))
    return [read_spectrum(f) for f in files[200:206]]


@pytest.fixture(scope="module")
def predictor():
    return Predictor(model_path("bobcat"), n_samples=60, seed=4)


def _same(a, b):
    # float32 networks: a batch's matrix products round differently from one spectrum's
    np.testing.assert_allclose(a.samples, b.samples, rtol=1e-4, atol=1e-3)
    assert a.flags == b.flags and a.notes == b.notes
    assert a.error_inflation == pytest.approx(b.error_inflation, rel=1e-6)
    assert a.novelty == pytest.approx(b.novelty, rel=1e-4)
    assert a.edge_fraction == pytest.approx(b.edge_fraction, abs=1 / 60 + 1e-9)
    # the best fit's search starts at the samples' mean (equal to float32 rounding) and
    # stops once a step gains under 1e-4 of χ²: the end points agree to well below the
    # grid's spacing, and χ², flat at a minimum, far closer
    for name, value in a.best_fit.items():
        assert value == pytest.approx(b.best_fit[name], rel=1e-4, abs=1e-6)
    assert a.fit.chi2 == pytest.approx(b.fit.chi2, rel=1e-6)
    assert a.scale == pytest.approx(b.scale, rel=1e-6)


def test_a_batch_gives_each_spectrum_what_predicting_it_alone_gives(spex, predictor):
    far = spex[0].replace(wavelength=spex[0].wavelength * 3)  # beyond the model: refused
    batch = predictor.predict_many([*spex[:3], far, *spex[3:]], bands=False)
    assert isinstance(batch[3], AtmoscopeError)
    alone = [predictor.predict(s) for s in spex]
    for got, want in zip([b for i, b in enumerate(batch) if i != 3], alone, strict=True):
        assert got.band68 is None and want.band68 is not None  # bands only when asked
        predictor.predictive_bands(got)
        np.testing.assert_allclose(got.band68, want.band68, rtol=1e-3)
        _same(got, want)


def test_a_spectrum_refused_in_a_batch_is_refused_alone(spex, predictor):
    flat = spex[0].replace(flux=np.full(spex[0].n_pixels, 1e-30) * spex[0].flux.unit,
                           error=np.full(spex[0].n_pixels, 1.0) * spex[0].flux.unit)
    out = predictor.predict_many([flat, spex[1]], bands=False)
    assert isinstance(out[0], SpectrumError) and "σ from zero" in str(out[0])
    assert not isinstance(out[1], AtmoscopeError)
    with pytest.raises(SpectrumError, match="σ from zero"):
        predictor.predict(flat)


def test_samples_do_not_depend_on_the_batch(spex, predictor):
    one = predictor.predict_many(spex[:2], bands=False)
    other = predictor.predict_many(spex[1:4], bands=False)
    _same(one[1], other[0])
