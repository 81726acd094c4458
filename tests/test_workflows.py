"""Workflows: the demo and training an ensemble into a folder."""

from atmoscope.cli import main
from tests.helpers import run


def test_demo(tmp_path):
    result = run("demo", "--out", tmp_path / "demo", "--budget", "5")
    assert result.returncode == 0, result.stderr
    assert "embedded grid: 30888 spectra × 104 wavelengths" in result.stdout
    assert "duplicate spectra: 0" in result.stdout
    assert (tmp_path / "demo" / "synthetic_grid.csv").stat().st_size > 1e7
    png = (tmp_path / "demo" / "grid_spectra.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert "Teff [K]" in result.stdout and "RMSE 20" in result.stdout
    assert (tmp_path / "demo" / "model" / "bundle.json").is_file()
    # ends with "predict my spectrum" on a mock observation, and its HTML report
    assert "mock observation" in result.stdout and "Teff [K]" in result.stdout
    report = (tmp_path / "demo" / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 3


def test_cli_trains_an_ensemble_into_a_new_folder(small_file, tmp_path, capsys):
    from atmoscope.models import load_estimator

    out = tmp_path / "new" / "ensemble"
    assert main(["train", "--grid", str(small_file), "--model", "resmlp", "--out", str(out),
                 "--epochs", "2", "--ensemble", "2", "--scale-free"]) == 0
    members = load_estimator(out).members
    assert len(members) == 2
    assert [m.training["seed"] for m in members] == [42, 43]
    assert all(m.preprocessor.extra_features == "none" for m in members)
