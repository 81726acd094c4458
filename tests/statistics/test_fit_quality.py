"""``fit_quality``: χ², degrees of freedom, p-value."""

import numpy as np
import pytest
from scipy import stats

import atmoscope
from atmoscope.errors import ConfigError, SpectrumError
from atmoscope.statistics import FitQuality, fit_quality


@pytest.fixture(scope="module")
def model_spectrum():
    wavelength = np.geomspace(0.9, 2.5, 10_000)
    return atmoscope.synthetic_spectra(
        {"gravity": 5.0, "temperature": 900.0, "c_o_ratio": 1.0, "metallicity": 0.0}, wavelength
    )[0]


def test_reduced_chi2_is_one_for_correct_errors(model_spectrum):
    rng = np.random.default_rng(4)
    sigma = 0.05 * model_spectrum
    observed = model_spectrum + sigma * rng.standard_normal(model_spectrum.size)
    q = fit_quality(observed, sigma, model_spectrum)
    assert isinstance(q, FitQuality)
    assert q.dof == 10_000 - 4 and q.n_used == 10_000 and q.scale == 1.0
    assert not q.scale_fitted
    assert q.reduced_chi2 == pytest.approx(1.0, abs=0.05)
    assert q.reduced_chi2 == pytest.approx(q.chi2 / q.dof)
    assert q.p_value == pytest.approx(stats.chi2.sf(q.chi2, q.dof))
    np.testing.assert_allclose(q.residuals, (observed - model_spectrum) / sigma)
    # Errors underestimated twofold: reduced χ² ≈ 4 and p ≈ 0.
    worse = fit_quality(observed, sigma / 2, model_spectrum)
    assert worse.reduced_chi2 == pytest.approx(4.0, rel=0.05) and worse.p_value < 1e-100


def test_p_values_are_uniform_under_the_null(model_spectrum):
    rng = np.random.default_rng(5)
    model = model_spectrum[:200]
    sigma = 0.1 * model
    p_values = [
        fit_quality(model + sigma * rng.standard_normal(model.size), sigma, model,
                    n_params=0).p_value
        for _ in range(400)
    ]
    assert stats.kstest(p_values, "uniform").pvalue > 0.01


def test_fitted_scale_recovers_the_factor_and_costs_a_dof(model_spectrum):
    rng = np.random.default_rng(6)
    sigma = 0.02 * model_spectrum
    noiseless = 3.7 * model_spectrum
    exact = fit_quality(noiseless, sigma, model_spectrum, scale="fit")
    assert exact.scale == pytest.approx(3.7, rel=1e-12) and exact.chi2 < 1e-15
    assert exact.scale_fitted and exact.dof == 10_000 - 4 - 1

    observed = noiseless + 3.7 * sigma * rng.standard_normal(model_spectrum.size)
    error = 3.7 * sigma
    fitted = fit_quality(observed, error, model_spectrum, scale="fit")
    scale_sigma = 1.0 / np.sqrt(np.sum((model_spectrum / error) ** 2))
    assert abs(fitted.scale - 3.7) < 4 * scale_sigma
    assert fitted.reduced_chi2 == pytest.approx(1.0, abs=0.05)
    unscaled = fit_quality(observed, error, model_spectrum)
    assert fitted.dof == unscaled.dof - 1
    assert unscaled.reduced_chi2 > 100
    given = fit_quality(observed, error, model_spectrum, scale=3.7)
    assert given.dof == unscaled.dof and given.scale == 3.7 and not given.scale_fitted
    assert given.chi2 >= fitted.chi2  # the fitted scale minimises χ²


def test_masked_pixels_are_excluded(model_spectrum):
    rng = np.random.default_rng(7)
    sigma = 0.05 * model_spectrum
    observed = model_spectrum + sigma * rng.standard_normal(model_spectrum.size)
    mask = np.zeros(model_spectrum.size, dtype=bool)
    mask[:50] = True
    bad_obs, bad_err = observed.copy(), sigma.copy()
    bad_obs[:25] = np.nan
    bad_obs[25:50] *= 1e3
    bad_err[:10] = -np.inf
    q = fit_quality(bad_obs, bad_err, model_spectrum, mask=mask, n_params=3, scale="fit")
    ref = fit_quality(observed[50:], sigma[50:], model_spectrum[50:], n_params=3, scale="fit")
    assert q.n_used == 9_950 and q.dof == 9_950 - 3 - 1
    assert q.chi2 == pytest.approx(ref.chi2, rel=1e-12)
    assert q.scale == pytest.approx(ref.scale, rel=1e-12)
    assert np.all(np.isnan(q.residuals[:50])) and np.all(np.isfinite(q.residuals[50:]))
    np.testing.assert_allclose(q.residuals[50:], ref.residuals, rtol=1e-12)


def test_fit_quality_refuses_bad_input(model_spectrum):
    m = model_spectrum[:10]
    e = 0.1 * m
    with pytest.raises(SpectrumError, match="observed is not finite at 1 used pixel"):
        fit_quality(np.r_[np.nan, m[1:]], e, m)
    with pytest.raises(SpectrumError, match="error is not positive at 1 used pixel"):
        fit_quality(m, np.r_[0.0, e[1:]], m)
    with pytest.raises(ConfigError, match="differ in shape"):
        fit_quality(m, e, m[:9])
    with pytest.raises(ConfigError, match="no degrees of freedom left"):
        fit_quality(m[:5], e[:5], m[:5], n_params=4, scale="fit")
    with pytest.raises(ConfigError, match="scale must be"):
        fit_quality(m, e, m, scale="best")
    with pytest.raises(ConfigError, match="mask must be a boolean array"):
        fit_quality(m, e, m, mask=np.zeros(10))
    with pytest.raises(ConfigError, match="model is not finite at 2 used pixel"):
        fit_quality(m, e, np.r_[m[:8], np.inf, np.nan])
    with pytest.raises(ConfigError, match="n_params must be a non-negative integer"):
        fit_quality(m, e, m, n_params=-1)
    with pytest.raises(ConfigError, match="model is zero at every used pixel"):
        fit_quality(m, e, np.zeros(10), scale="fit")
    # ConfigError and SpectrumError are ValueErrors too, for callers written before them
    with pytest.raises(ConfigError, match="scale must be None, a finite number"):
        fit_quality(m, e, m, scale=np.inf)


def test_fit_qualities_of_many_rows_are_each_rows_own(model_spectrum):
    """A batch's rows get what :func:`fit_quality` gives each alone, and a row it refuses
    gets its error while the others go on."""
    from atmoscope.statistics import fit_qualities

    rng = np.random.default_rng(6)
    m = np.stack([model_spectrum[:300] * (1 + 0.1 * i) for i in range(5)])
    e = 0.05 * m
    o = 2.0 * m + e * rng.standard_normal(m.shape)
    mask = np.zeros(m.shape, dtype=bool)
    mask[1, :40] = True
    o[2, 7] = np.nan  # a used pixel that is not finite: refused
    mask[3, 5:] = True  # 5 pixels left: no degrees of freedom with 4 + 1 fitted
    m[4] = 0.0  # no scale to fit
    out = fit_qualities(o, e, m, mask, n_params=4, scale="fit")
    for i in (0, 1):
        alone = fit_quality(o[i], e[i], m[i], mask[i], n_params=4, scale="fit")
        assert out[i].dof == alone.dof and out[i].n_used == alone.n_used
        for key in ("chi2", "reduced_chi2", "p_value", "scale"):
            assert getattr(out[i], key) == pytest.approx(getattr(alone, key), rel=1e-12)
        np.testing.assert_allclose(out[i].residuals, alone.residuals, rtol=1e-12)
    assert out[1].dof == 300 - 40 - 5 and out[0].scale == pytest.approx(2.0, rel=0.01)
    assert isinstance(out[2], SpectrumError) and "observed is not finite" in str(out[2])
    assert isinstance(out[3], ConfigError) and "no degrees of freedom" in str(out[3])
    assert isinstance(out[4], ConfigError) and "model is zero" in str(out[4])
    with pytest.raises(ConfigError, match="scale must be"):
        fit_qualities(o, e, m, scale="best")
    with pytest.raises(ConfigError, match="one shape"):
        fit_qualities(o, e[:, :10], m)
