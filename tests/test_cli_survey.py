"""``atmoscope survey synthetic``: one line saying what was written, Parquet or FITS, the
same rows from the same seed, one-line errors."""

import numpy as np
from click.testing import CliRunner

from atmoscope.cli import cli, main
from atmoscope.observed import read_survey_rows


def test_synthetic_survey_parquet_and_fits(tmp_path):
    runner = CliRunner()
    lines = {}
    for suffix in ("parquet", "fits"):
        out = tmp_path / f"survey.{suffix}"
        result = runner.invoke(cli, ["survey", "synthetic", "--n", "50", "--out", str(out),
                                     "--snr", "20,200", "--seed", "3"])
        assert result.exit_code == 0, result.output
        lines[suffix] = result.output.strip().splitlines()
    assert len(lines["parquet"]) == 1
    assert lines["parquet"][0].startswith(
        f"wrote {tmp_path / 'survey.parquet'}: 50 spectra × 442 wavelengths from bobcat "
        "(S/N 20–200, seed 3; truths gravity, temperature, c_o_ratio, metallicity, snr)")
    parquet = read_survey_rows(tmp_path / "survey.parquet", 0, 50)
    fits = read_survey_rows(tmp_path / "survey.fits", 0, 50)
    assert parquet.ids == fits.ids and len(parquet) == 50
    np.testing.assert_array_equal(parquet.flux.value, fits.flux.value)
    assert parquet.truths.equals(fits.truths)
    assert parquet.truths.snr.between(20, 200).all()
    assert parquet.meta["survey"]["model"] == "bobcat"


def test_one_snr_and_one_line_errors(tmp_path, capsys):
    out = tmp_path / "s.parquet"
    assert main(["survey", "synthetic", "--n", "5", "--out", str(out), "--snr", "40",
                 "--model", "bobcat", "--seed", "1"]) == 0
    assert "(S/N 40, seed 1;" in capsys.readouterr().out
    assert (read_survey_rows(out, 0, 5).truths.snr == 40).all()
    for args, message in [
        (["--snr", "0,5"], "error: Invalid value for --snr: need 0 < LOW <= HIGH"),
        (["--snr", "lots"], "error: Invalid value for --snr: expected S or LOW,HIGH"),
        (["--model", "nope"], "error: no pretrained model 'nope'"),
        (["--out", str(tmp_path / "s.csv")],
         f"error: {tmp_path / 's.csv'}: a survey file must end in .parquet"),
    ]:
        argv = ["survey", "synthetic", "--n", "5", "--out", str(tmp_path / "x.parquet"), *args]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(message), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet"]


def test_a_batch_of_files_and_a_survey_counts_its_spectra(shared_data, tmp_path, capsys):
    """Spectrum files have no survey row (NaN in ``row``): the closing count still counts
    each file and each survey row once (joining them as text failed under pandas 3)."""
    survey = tmp_path / "s.parquet"
    assert main(["survey", "synthetic", "--n", "3", "--out", str(survey), "--seed", "1"]) == 0
    spectrum = shared_data / "observed" / "GJ570D_spex_prism.csv"
    out = tmp_path / "cat.parquet"
    capsys.readouterr()
    assert main(["predict", str(spectrum), str(survey), "--out", str(out), "--samples",
                 "20", "--workers", "1"]) == 0
    assert f"wrote {out}: 4 of 4 spectra predicted" in capsys.readouterr().out
