"""The HTML report of one prediction, through ``atmoscope report``."""

from atmoscope.cli import main


def test_cli_report_for_the_tutorial_objects(bobcat_ensemble, shared_data, tmp_path, capsys):
    for name in ("HD3651B_spex_prism.csv", "GJ570D_spex_prism.csv",
                 "Ross458C_telescopeml_tutorial.csv"):
        out = tmp_path / f"{name}.html"
        assert main(["report", str(bobcat_ensemble), str(shared_data / "observed" / name),
                     "--out", str(out), "--draws", "20"]) == 0
        printed = capsys.readouterr().out
        assert "Teff [K]" in printed and "χ² =" in printed
        html = out.read_text()
        assert html.count("data:image/png;base64,") >= 3 and "Teff" in html
