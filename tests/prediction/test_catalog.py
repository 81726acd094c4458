"""Catalog mode: many files, one row each."""

from atmoscope.prediction import Predictor, predict_catalog


def test_catalog_mode_survives_bad_files(bobcat_ensemble, shared_data, tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("wl_um,F_lambda\nnot,numbers\n")
    files = [shared_data / "observed" / "GJ570D_spex_prism.csv", bad,
             shared_data / "observed" / "HD3651B_spex_prism.csv"]
    table = predict_catalog(Predictor(bobcat_ensemble, n_samples=10), files, progress=False)
    assert table["status"].tolist() == ["ok", "error", "ok"]
    assert "broken.csv" in table.loc[1, "source"] and table.loc[1, "error"]
    assert table.loc[0, "temperature_std"] > 0


def test_unitless_spex_library_file(bobcat_ensemble, shared_data):
    import glob

    files = sorted(glob.glob(str(shared_data / "spex_prism_library" / "spectra" / "*.fits.gz")))
    table = predict_catalog(Predictor(bobcat_ensemble, n_samples=5), files[:8], progress=False)
    assert len(table) == 8 and (table.status == "ok").sum() >= 6
