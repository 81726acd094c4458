"""Hostile inputs as a new user meets them: each gives one `error:` line (exit 2) that names
the file, column or row and value, or is handled correctly; and writes are atomic."""

import json
import os
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from atmoscope.cli import main
from atmoscope.models import Ensemble, load_model
from atmoscope.synthetic import mock_observation, synthetic_grid
from tests.helpers import SMALL_NODES

F_NU = "erg/(s cm2 Hz)"


def error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.strip().splitlines()
             if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "internal error" not in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def frame():
    """The small synthetic grid in TelescopeML's layout (324 rows)."""
    return synthetic_grid(SMALL_NODES).to_frame()


@pytest.fixture(scope="module")
def bundle(frame, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    frame.to_csv(folder / "g.csv", index=False)
    assert main(["train", "--grid", str(folder / "g.csv"), "--out", str(folder / "b"),
                 "--model", "resmlp", "--epochs", "1", "--split", "random"]) == 0
    return folder / "b"


def _csv(tmp_path, frame, name="g.csv"):
    frame.to_csv(tmp_path / name, index=False)
    return str(tmp_path / name)


# --- grids ---------------------------------------------------------------------------------
def test_bad_grids_name_file_column_row_and_value(tmp_path, frame, capsys):
    columns = list(frame.columns)
    columns[5] = columns[6]
    cases = {
        "dupwl.csv": (frame.set_axis(columns, axis=1), "column '2.462219644' appears more than"),
        "nm.csv": (frame.rename(columns={c: f"{float(c) * 1000:.1f}" for c in frame.columns[4:]}),
                   "wavelengths 896.8–2512 µm lie outside 0.05–500 µm"),
        "huge.csv": (frame.assign(**{frame.columns[10]: 1e300}),
                     f"flux column '{frame.columns[10]}', row 1: implausible flux 1e+300"),
        "teff.csv": (frame.assign(temperature=np.where(frame.index == 3, -5.0,
                                                       frame.temperature)),
                     "parameter column 'temperature', row 4: Teff -5 is not positive"),
    }
    for name, (table, message) in cases.items():
        assert main(["grid", "info", _csv(tmp_path, table, name)]) == 2
        assert message in error_line(capsys), name


def test_too_small_or_emptied_grids(tmp_path, frame, capsys):
    for n in (1, 2):
        assert main(["train", "--grid", _csv(tmp_path, frame.iloc[:n], f"{n}.csv"), "--out",
                     str(tmp_path / "b"), "--split", "random"]) == 2
        assert f"{n} spectra are too few to split" in error_line(capsys)
    conflicting = pd.concat([frame.iloc[:1], frame.iloc[:1].assign(gravity=9.0)])
    assert main(["train", "--grid", _csv(tmp_path, conflicting, "c.csv"), "--out",
                 str(tmp_path / "b"), "--drop-duplicates", "none"]) == 2
    assert "all 2 spectra were dropped as duplicates" in error_line(capsys)


def test_repeated_parameters_and_constant_targets_are_reported(tmp_path, frame, capsys):
    repeated = frame.copy()
    repeated.iloc[1, :4] = repeated.iloc[0, :4]
    assert main(["grid", "info", _csv(tmp_path, repeated)]) == 0
    assert "1 spectra repeat the parameters of another with a different flux" in \
        capsys.readouterr().out
    constant = frame[frame.c_o_ratio == 1.0]
    assert main(["train", "--grid", _csv(tmp_path, constant, "k.csv"), "--out",
                 str(tmp_path / "b"), "--model", "resmlp", "--epochs", "1",
                 "--split", "random"]) == 0
    # the CLI shows warnings as `warning:` lines
    assert "warning: " in (err := capsys.readouterr().err)
    assert "target 'c_o_ratio' is 1 in every training spectrum" in err


def test_compressed_grids(tmp_path, frame, capsys):
    plain = _csv(tmp_path, frame)
    with zipfile.ZipFile(tmp_path / "two.csv.zip", "w") as z:
        z.write(plain, "a.csv")
        z.write(plain, "b.csv")
    data = (tmp_path / "two.csv.zip").read_bytes()
    (tmp_path / "cut.csv.zip").write_bytes(data[: len(data) // 2])
    (tmp_path / "g.csv.zst").write_bytes(b"\x28\xb5\x2f\xfd")
    for name, message in (("two.csv.zip", "Multiple files found in ZIP file"),
                          ("cut.csv.zip", "not a readable CSV file"),
                          ("g.csv.zst", "unknown grid format")):
        assert main(["grid", "info", str(tmp_path / name)]) == 2
        assert message in error_line(capsys)
    assert main(["grid", "info", str(tmp_path)]) == 2
    assert "is a directory, not a grid file" in error_line(capsys)


def test_bad_training_numbers_leave_nothing_behind(tmp_path, frame, capsys):
    grid = _csv(tmp_path, frame)
    for option, value in (("--lr", "nan"), ("--lr", "inf"), ("--budget", "nan")):
        assert main(["train", "--grid", grid, "--out", str(tmp_path / "b"), option, value,
                     "--epochs", "1"]) == 2
        assert "must be a positive finite number" in error_line(capsys)
    assert not list(tmp_path.glob("b*"))


# --- bundles -------------------------------------------------------------------------------
def test_damaged_bundles_name_the_bundle(bundle, tmp_path, capsys):
    import shutil

    spectrum = mock_observation({"gravity": 4.5, "temperature": 850.0, "c_o_ratio": 1.0,
                                 "metallicity": 0.0}, tmp_path / "mock.ecsv")
    meta = json.loads((bundle / "bundle.json").read_text())
    damages = {
        "no_y_std": ("bundle.json", lambda m: m["preprocessing"].pop("y_std_"),
                     "invalid preprocessing state ('y_std_')"),
        "short": ("bundle.json", lambda m: m.__setitem__("wavelength", m["wavelength"][:-3]),
                  "101 wavelengths, but the model was fitted on 104"),
        "tensor": ("weights.pt", None, "weights.pt: not a state dict of tensors (Tensor)"),
    }
    for name, (file, change, message) in damages.items():
        broken = tmp_path / name
        shutil.copytree(bundle, broken)
        if change is None:
            torch.save(torch.zeros(3), broken / file)
        else:
            damaged = json.loads(json.dumps(meta))
            change(damaged)
            (broken / file).write_text(json.dumps(damaged))
        assert main(["predict", str(broken), str(spectrum), "--distance", "10",
                     "--radius", "1", "--samples", "10"]) == 2
        line = error_line(capsys)
        assert str(broken) in line and message in line, line


def test_truncated_checkpoint_on_resume(tmp_path, frame, capsys):
    grid = _csv(tmp_path, frame)
    (tmp_path / "b.checkpoint.pt").write_bytes(b"PK\x03\x04 not a whole checkpoint")
    assert main(["train", "--grid", grid, "--out", str(tmp_path / "b"), "--resume"]) == 2
    assert "b.checkpoint.pt: damaged checkpoint" in error_line(capsys)


def test_a_model_of_fewer_targets_predicts_without_a_model_spectrum(tmp_path, frame, capsys):
    grid = _csv(tmp_path, frame)
    assert main(["train", "--grid", grid, "--out", str(tmp_path / "b"), "--model", "resmlp",
                 "--epochs", "1", "--targets", "gravity,metallicity", "--scale-free"]) == 0
    spectrum = mock_observation({"gravity": 4.5, "temperature": 850.0, "c_o_ratio": 1.0,
                                 "metallicity": 0.0}, tmp_path / "mock.ecsv")
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "b"), str(spectrum), "--json",
                 "--samples", "10"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["parameters"]) == {"gravity", "metallicity"} and out["fit"] is None
    assert any("which this model does not predict" in f for f in out["notes"])


def test_an_ensemble_of_different_grids_warns(bundle, tmp_path):
    a = load_model(bundle)
    b = load_model(bundle)
    b.grid = {**b.grid, "content_hash": "0" * 64}
    with pytest.warns(UserWarning, match="trained on another grid"):
        Ensemble([a, b], ["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Ensemble([a, load_model(bundle)])


# --- spectra -------------------------------------------------------------------------------
def test_bad_spectra_name_the_file_and_column(bundle, tmp_path, capsys):
    wl = np.linspace(0.85, 2.6, 200)
    for name, error in (("zero.csv", np.zeros(200)), ("neg.csv", -np.ones(200)),
                        ("inf.csv", np.full(200, -np.inf))):
        pd.DataFrame({"wl_um": wl, "flux": np.ones(200), "flux_err": error}).to_csv(
            tmp_path / name, index=False)
        assert main(["predict", str(bundle), str(tmp_path / name), "--samples", "10",
                     "--distance", "10", "--radius", "1",
                     "--spectrum-flux-unit", "erg/s/cm2/AA"]) == 2
        line = error_line(capsys)
        assert str(tmp_path / name) in line and "error column 'flux_err' has no usable" in line
    assert main(["predict", str(bundle), str(tmp_path), "--json"]) == 2
    assert "is a directory, not a file" in error_line(capsys)


def test_one_sample_is_refused(bundle, tmp_path, capsys):
    spectrum = mock_observation({"gravity": 4.5, "temperature": 850.0, "c_o_ratio": 1.0,
                                 "metallicity": 0.0}, tmp_path / "mock.ecsv")
    assert main(["predict", str(bundle), str(spectrum), "--draws", "1", "--distance", "10",
                 "--radius", "1"]) == 2
    assert "1 sample per spectrum gives no uncertainty" in error_line(capsys)


def test_fits_errors_name_the_path_not_the_object(shared_data, tmp_path):
    from atmoscope.prediction import ModelChoice, predict_catalog

    spex = sorted((shared_data / "spex_prism_library" / "spectra").glob("*.fits.gz"))[0]
    table = predict_catalog(ModelChoice("bobcat-jwst", n_samples=10), [spex], progress=False)
    assert table.loc[0, "status"] == "error" and table.loc[0, "object"] == "sdssp j0539"
    assert table.loc[0, "error"].startswith(str(spex))


# --- atomic writes -------------------------------------------------------------------------
def _limited(limit_bytes: int, *args) -> subprocess.CompletedProcess:
    """The CLI in a process whose files may not grow beyond ``limit_bytes``."""
    code = ("import resource, sys; from atmoscope.cli import main; "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes})); "
            "sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_a_failed_catalog_write_keeps_the_old_table(bundle, shared_data, tmp_path):
    files = sorted((shared_data / "spex_prism_library" / "spectra").glob("*.fits.gz"))[:6]
    out = tmp_path / "cat.csv"
    out.write_text("old table\n" * 20)
    result = _limited(4000, "predict", "--model", "bobcat", *files, "--out", out,
                      "--samples", "10")
    assert result.returncode == 2 and "File too large" in result.stderr, result.stderr
    assert out.read_text() == "old table\n" * 20  # untouched, not torn
    assert not list(tmp_path.glob(".cat.csv.partial"))
    # what was finished is kept beside it (here the write of the first part failed too);
    # the rerun finishes the catalog and clears it away
    parts = tmp_path / ".cat.csv.parts"
    assert not list(parts.glob(".*partial"))
    rerun = _limited(10_000_000, "predict", "--model", "bobcat", *files, "--out", out,
                     "--samples", "10")
    assert rerun.returncode == 0, rerun.stderr
    assert len(out.read_text().splitlines()) == 7 and not parts.exists()


def test_a_failed_bundle_write_keeps_the_old_bundle(bundle, tmp_path, frame):
    import shutil

    target = tmp_path / "b"
    shutil.copytree(bundle, target)
    before = (target / "weights.pt").read_bytes()
    result = _limited(20_000, "train", "--grid", _csv(tmp_path, frame), "--out", target,
                      "--model", "rescnn", "--epochs", "1", "--split", "random")
    assert result.returncode == 2 and f"error: {target}" in result.stderr, result.stderr
    assert (target / "weights.pt").read_bytes() == before
    assert load_model(target).targets == load_model(bundle).targets
    assert not list(tmp_path.glob(".b*"))
