"""Batch cleaning, conversion and resampling give, row for row, what the single-spectrum
functions give on ``batch.spectrum(i)``: real SpeX prism spectra with injected defects
(NaN, empty and negative-error pixels, gaps, repeated, unordered and invalid wavelengths,
rows that cannot be resampled), with per-row and with shared wavelengths."""

import astropy.units as u
import numpy as np
import pytest

import atmoscope.observed.batch as batch_module
from atmoscope.observed import (
    SpectrumBatch,
    SpectrumError,
    clean_batch,
    clean_spectrum,
    convert_batch,
    read_spectrum,
    resample,
    resample_batch,
    to_flambda,
    to_fnu,
)
from tests.observed.helpers import FLAM

# SpeX prism library files with 560 pixels each (normalised, dimensionless flux)
SPEX = ["10002_10782", "10003_10830", "10005_11020", "10006_11159", "10007_11195",
        "10008_11269"]
TARGET = np.geomspace(0.8, 2.4, 200) * u.um  # inside every spectrum
WIDE = np.geomspace(0.6, 2.6, 150) * u.um  # beyond every spectrum at both ends


@pytest.fixture(scope="module")
def spex(shared_data):
    folder = shared_data / "spex_prism_library" / "spectra"
    return [read_spectrum(folder / f"{name}.fits.gz") for name in SPEX]


def _batch(wave, flux, error, unit=u.dimensionless_unscaled, source="spex.parquet"):
    n = len(flux)
    return SpectrumBatch(ids=[f"obj{i}" for i in range(n)], rows=np.arange(n),
                         wavelength=wave * u.um, flux=flux * unit, error=error * unit,
                         source=source)


@pytest.fixture(scope="module")
def per_row(spex):
    """Seven rows, per-row wavelengths, each with its own defects."""
    wave = np.array([s.wavelength.to_value(u.um) for s in spex])
    flux = np.array([s.flux.value for s in spex])
    error = np.array([s.error.value for s in spex])
    flux[1, 100:110] = np.nan  # a gap
    flux[1, 200:205] = error[1, 200:205] = np.nan  # empty rows: dropped
    wave[2, 50], wave[2, 51] = wave[2, 51], wave[2, 50]  # out of order
    wave[2, 300] = wave[2, 299]  # a repeated wavelength
    wave[2, 5], wave[2, 6] = np.nan, -1.0  # no valid wavelength: dropped
    error[3] = 0.0  # no usable error at all
    error[4, 400:403] = -np.inf
    flux[4, 410] = np.inf
    flux[5] = error[5] = np.nan  # nothing at all
    # a seventh row: the first one descending
    wave = np.vstack([wave, wave[0, ::-1]])
    flux = np.vstack([flux, flux[0, ::-1]])
    error = np.vstack([error, error[0, ::-1]])
    return _batch(wave, flux, error)


@pytest.fixture(scope="module")
def shared(spex):
    """Six rows on one grid (the first spectrum's 0.75–2.45 µm pixels, with a swapped pair,
    a repeated, a NaN and a negative wavelength), each with its own defects."""
    first = spex[0].wavelength.to_value(u.um)
    grid = first[(first > 0.75) & (first < 2.45)]
    flux = np.array([resample(s, grid * u.um, allow_partial=True).flux.value for s in spex])
    error = np.array([resample(s, grid * u.um, allow_partial=True).error.value for s in spex])
    wave = grid.copy()
    wave[50], wave[51] = wave[51], wave[50]
    wave[300] = wave[299]
    wave[5], wave[6] = np.nan, -1.0
    flux[1, 100:110] = np.nan  # a gap
    flux[1, 200:203] = error[1, 200:203] = np.nan  # dropped
    flux[1, 299] = np.nan  # the first of the repeated pair unusable: the second is kept
    error[2, 10:20] = -error[2, 10:20]
    error[3] = 0.0
    flux[5, 1:] = np.nan  # one usable pixel left
    return _batch(wave, flux, error)


def _same(single, row, rtol=0.0):
    assert single.wavelength.unit == row.wavelength.unit
    assert single.flux.unit == row.flux.unit
    np.testing.assert_array_equal(single.wavelength.value, row.wavelength.value)
    np.testing.assert_allclose(row.flux.value, single.flux.value, rtol=rtol, atol=0)
    if single.error is None:
        assert row.error is None
    else:
        np.testing.assert_allclose(row.error.value, single.error.value, rtol=rtol, atol=0)
    np.testing.assert_array_equal(single.mask, row.mask)


def _check_cleaning(batch, **options):
    cleaned, reports = clean_batch(batch, **options)
    for i in range(len(batch)):
        single, report = clean_spectrum(batch.spectrum(i), **options)
        row = cleaned.spectrum(i)
        _same(single, row)
        assert reports[i] == report
        assert row.meta["cleaning"] == report.as_dict()
        np.testing.assert_array_equal(row.meta["negative_flux"], single.meta["negative_flux"])
    return cleaned, reports


def _check_resampling(batch, target, allow_partial=False):
    out = resample_batch(batch, target, allow_partial=allow_partial)
    assert out.shared_wavelength and out.n_pixels == len(target)
    for i in range(len(batch)):
        try:
            single = resample(batch.spectrum(i), target, allow_partial=allow_partial)
        except SpectrumError as exc:
            assert out.meta["errors"][i] == str(exc)
            assert not out.mask[i].any() and np.isnan(out.flux[i].value).all()
            assert out.meta["uncovered"][i] == -1
            continue
        assert out.meta["errors"][i] is None, out.meta["errors"][i]
        _same(single, out.spectrum(i), rtol=1e-12)
        for key in ("uncovered", "gap_masked", "resampled_from"):
            assert out.meta[key][i] == single.meta[key], key
    return out


# --- cleaning -------------------------------------------------------------------------------
def test_cleaning_per_row_wavelengths(per_row):
    cleaned, reports = _check_cleaning(per_row)
    assert not cleaned.shared_wavelength
    assert [r.dropped_empty for r in reports] == [0, 5, 0, 0, 0, 560, 0]
    r = reports[2]
    assert (r.n_output, r.dropped_bad_wavelength, r.non_increasing, r.duplicate_wavelength) \
        == (558, 2, 2, 1)
    assert reports[3].bad_error == 560 and reports[3].n_good == 0
    assert reports[4].bad_error >= 3 and reports[4].nonfinite_flux == 1
    assert reports[6].non_increasing == 559  # the descending row, sorted
    assert reports[0].n_good == 555 and reports[0].negative_flux == 5
    assert reports[1].source == "spex.parquet#obj1"


def test_cleaning_shared_wavelengths(shared):
    cleaned, reports = _check_cleaning(shared)
    assert cleaned.shared_wavelength
    wave = cleaned.wavelength.value  # sorted once, for all rows (NaN last)
    assert wave[0] == -1.0 and np.isnan(wave[-1]) and np.all(np.diff(wave[1:-1]) >= 0)
    assert {r.non_increasing for r in reports} == {2}
    # row 0 is SpeX's own grid: its masked pixels 5 and 6 came out of resampling NaN (flux
    # and error), so they count as empty rather than as invalid wavelengths
    assert [r.dropped_bad_wavelength for r in reports] == [0, 2, 2, 2, 2, 2]
    assert [r.dropped_empty for r in reports] == [3, 3, 0, 0, 0, 0]
    assert [r.duplicate_wavelength for r in reports] == [1] * 6
    assert reports[1].nonfinite_flux == 11 and reports[1].n_good == 462
    assert reports[2].bad_error == 10 and reports[3].n_good == 0 and reports[5].n_good == 1


def test_cleaning_with_min_snr(per_row):
    _, reports = _check_cleaning(per_row, min_snr=20.0)
    assert reports[0].low_snr > 0 and reports[0].min_snr == 20.0
    with pytest.raises(SpectrumError, match="needs errors"):
        clean_batch(SpectrumBatch(["a"], [0], [1.0, 2.0] * u.um, [[1.0, 2.0]]), min_snr=3)


# --- conversion -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind, convert", [("fnu", to_fnu), ("flambda", to_flambda)])
def test_conversion_row_by_row(per_row, shared, kind, convert):
    for batch in (per_row, shared):
        in_flam = SpectrumBatch(batch.ids, batch.rows, batch.wavelength,
                                batch.flux.value * FLAM, batch.error.value * FLAM,
                                source=batch.source)
        cleaned, _ = clean_batch(in_flam)
        converted = convert_batch(cleaned, kind)
        for i in range(len(batch)):
            _same(convert(cleaned.spectrum(i)), converted.spectrum(i), rtol=1e-12)
        assert converted.spectrum(0).flux.unit == convert(cleaned.spectrum(0)).flux.unit
    jansky = convert_batch(clean_batch(in_flam)[0], "fnu", "mJy")
    _same(to_fnu(clean_batch(in_flam)[0].spectrum(3), "mJy"), jansky.spectrum(3), rtol=1e-12)


def test_unitless_flux_is_refused_as_to_fnu_refuses_it(per_row):
    with pytest.raises(SpectrumError) as single:
        to_fnu(per_row.spectrum(0))
    with pytest.raises(SpectrumError) as batch:
        convert_batch(per_row, "fnu")
    assert "flux is dimensionless" in str(single.value) and "flux is dimensionless" in str(
        batch.value)
    assert "spex.parquet" in str(batch.value)


# --- resampling -----------------------------------------------------------------------------
def test_resampling_per_row_wavelengths(per_row):
    cleaned, _ = clean_batch(per_row)
    out = _check_resampling(cleaned, TARGET)
    errors = out.meta["errors"]
    assert [e is None for e in errors] == [True, True, True, False, True, False, True]
    assert "error column 'error' has no usable value" in errors[3]
    assert errors[3].startswith("spex.parquet#obj3:")
    assert "fewer than 2 usable pixels" in errors[5]
    assert out.meta["gap_masked"][1] > 0 and out.meta["gap_masked"][0] == 0
    assert out.meta["resampled_from"].tolist() == [560, 555, 558, 560, 560, 0, 560]
    # the descending copy of row 0, once sorted, resamples to row 0
    np.testing.assert_allclose(out.flux[6].value, out.flux[0].value, rtol=1e-12)


def test_resampling_shared_wavelengths_with_and_without_allow_partial(shared):
    cleaned, _ = clean_batch(shared)
    out = _check_resampling(cleaned, TARGET)
    assert [e is None for e in out.meta["errors"]] == [True, True, True, False, True, False]
    partial = _check_resampling(cleaned, WIDE, allow_partial=True)
    assert partial.meta["uncovered"][0] > 0
    refused = _check_resampling(cleaned, WIDE)
    assert all("rerun with --allow-partial" in e for e in refused.meta["errors"] if e
               and "usable" not in e)
    assert sum(e is not None for e in refused.meta["errors"]) == 6


def test_one_rebin_call_per_pixel_pattern(shared, monkeypatch):
    calls, original = [], batch_module.rebin

    def counting(*args, **kwargs):
        calls.append(np.shape(args[2]))
        return original(*args, **kwargs)

    monkeypatch.setattr(batch_module, "rebin", counting)
    rows = np.repeat(shared.flux.value[[0, 4, 1]], [40, 40, 20], axis=0)
    errors = np.repeat(shared.error.value[[0, 4, 1]], [40, 40, 20], axis=0)
    cleaned, reports = clean_batch(_batch(shared.wavelength.value, rows, errors))
    out = resample_batch(cleaned, TARGET)
    # three pixel patterns (each file masks its own pixels), three calls on 2-D flux
    assert sorted(calls) == [(20, 462), (40, 474), (40, 475)]
    assert {(k, reports[i].n_good) for i, k in ((0, 40), (40, 40), (80, 20))} == set(calls)
    assert out.meta["errors"] == [None] * 100
    np.testing.assert_array_equal(out.flux.value[:40], np.repeat(out.flux.value[:1], 40, 0))


def test_identity_on_the_spectrum_own_grid(shared, spex):
    grid = shared.wavelength.value[7:]  # the clean part (no invalid wavelengths)
    order = np.argsort(grid, kind="stable")
    grid = np.unique(grid[order])
    flux = np.array([resample(s, grid * u.um).flux.value for s in spex])
    error = np.array([resample(s, grid * u.um).error.value for s in spex])
    error[:, :] = np.abs(error) + 1e-6  # every pixel usable
    batch = _batch(grid, flux, error)
    out = _check_resampling(batch, grid * u.um)
    np.testing.assert_array_equal(out.flux.value, flux)  # copied, not recomputed
    np.testing.assert_array_equal(resample(batch.spectrum(2), grid * u.um).flux.value, flux[2])
    assert out.mask.all() and out.meta["uncovered"].tolist() == [0] * 6


def test_bad_target_is_an_error_for_the_whole_batch(shared):
    with pytest.raises(SpectrumError, match="strictly increasing"):
        resample_batch(shared, [2.0, 1.0] * u.um)


@pytest.mark.parametrize("wave", [np.linspace(1.0, 2.0, 10), np.empty((0, 10))])
def test_empty_batches_pass_through(wave):
    empty = SpectrumBatch([], [], wave * u.um, np.empty((0, 10)) * FLAM)
    cleaned, reports = clean_batch(empty)
    out = resample_batch(convert_batch(cleaned, "fnu"), TARGET)
    assert reports == [] and out.flux.shape == (0, 200) and out.meta["errors"] == []
