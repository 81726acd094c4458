"""The command line as a user meets it: outputs, JSON, exit codes, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atmoscope.cli import main

SCRIPT = Path(sys.executable).with_name("atmoscope")


def run(*args):
    """The installed console script, as a user runs it."""
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "100"}, timeout=300)


def single_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    return lines[0]


def test_synthetic_grid_then_info_json(tmp_path):
    out = tmp_path / "grid.csv"
    result = run("grid", "synthetic", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "30888 spectra × 104 wavelengths" in result.stdout
    header = out.open().readline().strip().split(",")
    assert header[:4] == ["gravity", "temperature", "c_o_ratio", "metallicity"]
    assert header[4] == "2.511960199" and header[-1] == "0.896779578"  # descending µm
    info = run("grid", "info", out, "--json")
    assert info.returncode == 0, info.stderr
    summary = json.loads(info.stdout)
    assert summary["n_spectra"] == 30888
    assert summary["n_wavelengths"] == 104
    assert summary["duplicate_spectra"] == 0
    assert summary["parameters"]["c_o_ratio"] == [0.25, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert len(summary["parameters"]["temperature"]) == 39


@pytest.mark.parametrize("suffix", [".parquet", ".csv.bz2"])
def test_synthetic_other_formats(tmp_path, capsys, suffix):
    out = tmp_path / f"grid{suffix}"
    assert main(["grid", "synthetic", "--out", str(out)]) == 0
    assert main(["grid", "info", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert summary["n_spectra"] == 30888


def test_info_human_readable(grids, capsys):
    assert main(["grid", "info", str(grids / "sonora_diamondback_nir.csv")]) == 0
    out = capsys.readouterr().out
    assert "spectra      864" in out
    assert "wavelengths  424 (0.8521–2.399 um)" in out
    assert "fsed           target   6 values: 1, 2, 3, 4, 8, 10" in out


def test_info_reports_and_drops_duplicates(tmp_path, capsys):
    frame = pd.DataFrame({"gravity": [5.0, 5.0, 5.0], "temperature": [800, 900, 800],
                          "metallicity": [0.0, 0.0, 0.5], "1.0": [1.0, 2.0, 1.0]})
    path = tmp_path / "dups.csv"
    frame.to_csv(path, index=False)
    assert main(["grid", "info", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["duplicate_spectra"] == 1
    assert captured.err.startswith("warning: ") and "1 spectra repeat the flux" in captured.err
    assert main(["grid", "info", str(path), "--json", "--drop-duplicates", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["n_spectra"] == 1


@pytest.fixture
def real_frame(grids):
    return pd.read_csv(grids / "sonora_bobcat_telescopeml104.csv")


def test_nan_flux_is_a_one_line_error(tmp_path, real_frame):
    real_frame.loc[6, "1.260"] = np.nan
    path = tmp_path / "nan.csv"
    real_frame.to_csv(path, index=False)
    result = run("grid", "info", path)
    assert result.returncode == 2
    line = single_error_line(result.stderr)
    assert f"{path}: flux column '1.260', row 7: non-finite value nan" in line


def test_missing_temperature_is_a_one_line_error(tmp_path, real_frame):
    path = tmp_path / "no_teff.csv"
    real_frame.drop(columns="temperature").to_csv(path, index=False)
    result = run("grid", "info", path)
    assert result.returncode == 2
    assert "missing target column(s) 'temperature'" in single_error_line(result.stderr)


@pytest.mark.parametrize("args, message", [
    (["grid", "info", "/nonexistent/grid.csv"], "no such file"),
    (["grid", "info"], "Missing argument 'PATH'"),
    (["grid", "synthetic", "--out", "x.hdf5"], "unknown grid format"),
    (["grid", "info", "x.csv", "--flux-unit", "furlongs"], "not a unit astropy knows"),
    (["grid", "frobnicate"], "No such command 'frobnicate'"),
    (["--nope"], "No such option '--nope'"),
])
def test_argument_errors(capsys, args, message):
    assert main(args) == 2
    assert message in single_error_line(capsys.readouterr().err)


def test_help_and_version(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("grid", "fetch", "demo"):
        assert command in out
    assert main(["--version"]) == 0
    assert "atmoscope, version" in capsys.readouterr().out


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
