"""The self-contained HTML report, rendered in a real headless Chromium."""

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from atmoscope.errors import ConfigError
from atmoscope.reporting import plot_corner, plot_sensitivity, write_html_report
from tests.reporting.helpers import NAMES, UNITS, _samples, _sensitivity, _spectrum_figure

CHROMIUM = "/usr/bin/chromium"
WINDOW = (1280, 2400)
TITLE = "2MASS J0559−1404 <T4.5> & friends"


def _parameters():
    rows = []
    samples = _samples()
    for j, (name, unit) in enumerate(zip(NAMES, UNITS, strict=True)):
        x = samples[:, j]
        q = np.quantile(x, [0.025, 0.16, 0.5, 0.84, 0.975])
        rows.append(dict(name=name, unit=unit, mean=float(x.mean()), std=float(x.std()),
                         p2_5=q[0], p16=q[1], p50=q[2], p84=q[3], p97_5=q[4]))
    return rows


def _write_report(tmp_path: Path, figures: dict) -> Path:
    return write_html_report(
        tmp_path / "report" / "fit.html",
        title=TITLE,
        parameters=_parameters(),
        fit_quality=dict(chi2=118.3, dof=101, reduced_chi2=1.171, p_value=0.115,
                         scale=2.3e-21, implied_radius="0.98 R_Jup"),
        figures=figures,
        provenance=dict(bundle=str(tmp_path / "model"), model="rescnn",
                        grid_hash="ab12" * 16,
                        versions={"atmoscope": "0.1.0", "torch": "2.13.0"}),
        cleaning=dict(pixels=300, masked_telluric=12, non_finite=3),
        notes=["Teff is near the grid edge <2400 K>", "S/N is low below 1.0 µm"],
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    wl, sens = _sensitivity()
    figures = {
        "Spectrum and model": _spectrum_figure(tmp / "fit.png"),
        "Posterior corner plot": plot_corner(_samples(1500), NAMES, UNITS,
                                             path=tmp / "corner.png"),
        "Sensitivity": plot_sensitivity(wl, sens, NAMES, spectrum=np.exp(-((wl - 1.3) ** 2)),
                                        path=tmp / "sens.png"),
    }
    return _write_report(tmp, figures)


def test_html_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert html.escape(TITLE) in text and TITLE not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "http://" not in text and "https://" not in text
    assert text.count("src='data:image/png;base64,") == 3
    assert "&lt;2400 K&gt;" in text  # notes escaped
    assert "<link" not in text


def test_html_number_formats(report):
    text = report.read_text(encoding="utf-8")
    rows = {row["name"]: row for row in _parameters()}
    assert f">{rows['temperature']['p50']:.0f}<" in text
    assert f">{rows['log g']['p50']:.2f}<" in text
    assert f">\u2212{-rows['[M/H]']['p50']:.3f}<" in text
    assert "reduced χ²" in text and ">1.171<" in text


def test_html_accepts_figure_objects(tmp_path):
    wl, sens = _sensitivity()
    path = write_html_report(tmp_path / "r.html", title="figures as objects",
                             parameters=_parameters()[:1], fit_quality={"chi2": 1.0},
                             figures={"fit": _spectrum_figure(),
                                      "sens": plot_sensitivity(wl, sens, NAMES)},
                             provenance={"model": "rescnn"})
    assert path == tmp_path / "r.html"
    assert path.read_text().count("data:image/png;base64,") == 2
    with pytest.raises(ConfigError, match="not a PNG"):
        write_html_report(tmp_path / "bad.html", title="t", parameters=[], fit_quality={},
                          figures={"x": _spectrum_figure(tmp_path / "x.pdf")}, provenance={})


# --- real browser -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium() -> str:
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + " (required when CI is set)")
        pytest.skip(message)
    return CHROMIUM


def _run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_report_renders_in_chromium(chromium, report, tmp_path):
    url = report.resolve().as_uri()
    done = _run_chromium(chromium, tmp_path / "profile-dom", "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert 'data-images-ok="3"' in dom, dom[:500]
    for row in _parameters()[:2]:
        decimals = 0 if row["unit"] == "K" else 2
        assert f">{row['p50']:.{decimals}f}<" in dom

    shot = tmp_path / "shot.png"
    done = _run_chromium(chromium, tmp_path / "profile-shot", f"--screenshot={shot}", url)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.is_file()
    from matplotlib.image import imread

    image = imread(shot)[..., :3]
    assert image.shape[:2] == (WINDOW[1], WINDOW[0])
    assert image.std() > 0.1
    non_white = np.mean(image.min(axis=2) < 0.9)
    assert non_white > 0.05, non_white
    if os.environ.get("ATMOSCOPE_KEEP_SCREENSHOT"):  # a copy to look at by eye
        shutil.copy(shot, os.environ["ATMOSCOPE_KEEP_SCREENSHOT"])
