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
        # a point model's samples are Monte-Carlo draws; the scale is in the grid's unit; a
        # long path wraps instead of pushing the cleaning table out of view
        assert "percentiles of the Monte-Carlo draws" in html and "posterior" not in html
        assert "flux scale (R/d)²" in html  # the fixture's grid flux is taken as absolute
        assert f"<td class='text'>{shared_data / 'observed' / name}</td>" in html


def test_paper_figures_of_a_prediction(shared_data, tmp_path, capsys):
    hd = shared_data / "observed" / "HD3651B_spex_prism.csv"
    assert main(["predict", str(hd), "--samples", "200", "--figures", str(tmp_path / "fig"),
                 "--format", "pdf", "--report", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "grid in its own arbitrary unit" in html
    assert "percentiles of the posterior samples" in html
    names = sorted(p.name for p in (tmp_path / "fig").iterdir())
    assert names == [f"HD3651B_spex_prism_bobcat_{kind}.pdf" for kind in
                     ("corner", "sensitivity", "spectrum_fit", "training")]
    assert all((tmp_path / "fig" / n).read_bytes().startswith(b"%PDF") for n in names)
