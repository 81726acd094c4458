"""Report figures and the self-contained HTML report, rendered in a real headless Chromium."""

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from atmoscope.data.targets import target_label, target_labels
from atmoscope.errors import ConfigError
from atmoscope.reporting import (
    plot_corner,
    plot_sensitivity,
    plot_spectrum_fit,
    write_html_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM = "/usr/bin/chromium"
WINDOW = (1280, 2400)
NAMES = ["temperature", "log g", "[M/H]"]
UNITS = ["K", "dex", "dex"]
TITLE = "2MASS J0559−1404 <T4.5> & friends"


# --------------------------------------------------------------------------- #
# Synthetic inputs
# --------------------------------------------------------------------------- #

def _spectrum(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    wl = np.linspace(0.9, 2.5, n)
    model = 1e-15 * (np.exp(-0.5 * ((wl - 1.25) / 0.12) ** 2)
                     + 0.6 * np.exp(-0.5 * ((wl - 1.6) / 0.1) ** 2)
                     + 0.3 * np.exp(-0.5 * ((wl - 2.1) / 0.12) ** 2) + 0.05)
    error = 0.05 * model + 2e-18
    flux = model + rng.normal(size=n) * error
    spread = 0.04 * model
    band68 = np.vstack([model - spread, model + spread])
    band95 = np.vstack([model - 2 * spread, model + 2 * spread])
    mask = np.zeros(n, dtype=bool)
    mask[(wl > 1.35) & (wl < 1.42)] = True
    return wl, flux, error, model, band68, band95, (flux - model) / error, mask


def _samples(n: int = 3000, seed: int = 1):
    rng = np.random.default_rng(seed)
    cov = np.array([[40.0**2, 0.6 * 40 * 0.12, 0.0],
                    [0.6 * 40 * 0.12, 0.12**2, -0.3 * 0.12 * 0.05],
                    [0.0, -0.3 * 0.12 * 0.05, 0.05**2]])
    return rng.multivariate_normal([1234.4, 4.567, -0.254], cov, size=n)


def _sensitivity(n: int = 300):
    wl = np.linspace(0.9, 2.5, n)
    sens = np.vstack([np.exp(-0.5 * ((wl - c) / 0.08) ** 2) * s
                      for c, s in ((1.25, 3.0), (1.6, 0.02), (2.2, 0.01))])
    return wl, sens


def _spectrum_figure(path=None, n=120):
    wl, flux, err, model, b68, b95, res, mask = _spectrum(n)
    return plot_spectrum_fit(wl, flux, err, model, b68, b95, res,
                             flux_label="F$_\\lambda$ [W m$^{-2}$ µm$^{-1}$]", mask=mask,
                             title="test fit", path=path)


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


def _check_png(path: Path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 10_000


def _check_pdf(path: Path):
    assert path.read_bytes()[:5] == b"%PDF-"


# --------------------------------------------------------------------------- #
# Figures
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("ext", ["png", "pdf"])
def test_figures_write_png_and_pdf(tmp_path, ext):
    check = _check_png if ext == "png" else _check_pdf
    wl, sens = _sensitivity()
    paths = [
        _spectrum_figure(tmp_path / f"fit.{ext}"),
        plot_corner(_samples(500), NAMES, UNITS, truths=[1230, 4.5, None],
                    path=tmp_path / f"corner.{ext}"),
        plot_sensitivity(wl, sens, NAMES, spectrum=np.exp(-((wl - 1.3) ** 2)),
                         path=tmp_path / f"sens.{ext}"),
    ]
    for path in paths:
        assert path.suffix == f".{ext}"
        check(path)


def test_spectrum_fit_layout_and_bands():
    fig = _spectrum_figure(n=120)
    ax, ax_res = fig.axes
    labels = ax.get_legend_handles_labels()[1]
    assert "predictive 68 %" in labels and "predictive 95 %" in labels
    assert ax_res.get_xlabel() == "wavelength [µm]"
    assert ax.get_ylabel().startswith("F")
    assert ax.get_position().height > 1.6 * ax_res.get_position().height
    levels = sorted(line.get_ydata()[0] for line in ax_res.get_lines()
                    if len(set(line.get_ydata())) == 1 and len(line.get_ydata()) == 2)
    assert levels == [-2, -1, 0, 1, 2]


def test_spectrum_fit_many_pixels_uses_envelope():
    wl, flux, err, model, b68, b95, res, mask = _spectrum(800)
    fig = plot_spectrum_fit(wl, flux, err, model, b68, b95, None, flux_label="flux [arb.]",
                            mask=mask)
    ax = fig.axes[0]
    assert not ax.containers  # no error bars above 200 pixels
    assert "observed ±1σ" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ConfigError, match="band68"):
        plot_spectrum_fit(wl, flux, err, model, b68[:, :10], b95, res, flux_label="f")


def test_corner_titles_and_shape():
    samples = _samples(2000)
    fig = plot_corner(samples, NAMES, UNITS)
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(visible) == 6  # lower triangle incl. diagonal of a 3 × 3 grid
    titles = [ax.get_title() for ax in visible if ax.get_title()]
    assert len(titles) == 3
    assert titles[0].startswith("temperature = $123") and "^{+" in titles[0]
    assert fig.axes[-1].get_xlabel() == "[M/H] [dex]"
    assert plot_corner(samples[:, 0], "temperature").axes[0].get_title()


def test_figures_reject_bad_arguments(tmp_path):
    samples = _samples(200)
    with pytest.raises(ConfigError, match="n >= 2"):
        plot_corner(samples[:1], NAMES, UNITS)
    with pytest.raises(ConfigError, match="2 truths for 3 parameters"):
        plot_corner(samples, NAMES, UNITS, truths=[1200, 4.5])
    with pytest.raises(ConfigError, match="2 names for 3 parameters"):
        plot_corner(samples, NAMES[:2])
    wl, flux, err, model, b68, b95, res, mask = _spectrum(50)
    with pytest.raises(ConfigError, match="mask has shape"):
        plot_spectrum_fit(wl, flux, err, model, b68, b95, res, flux_label="f", mask=mask[:5])
    with pytest.raises(ConfigError, match=r"\.png or \.pdf"):
        plot_spectrum_fit(wl, flux, err, model, b68, b95, res, flux_label="f",
                          path=tmp_path / "fit.jpg")


def test_sensitivity_rows_labelled():
    wl, sens = _sensitivity()
    fig = plot_sensitivity(wl, sens, NAMES)
    assert [ax.get_ylabel() for ax in fig.axes] == NAMES
    assert fig.axes[-1].get_xlabel() == "wavelength [µm]"
    with pytest.raises(ConfigError, match="non-negative"):
        plot_sensitivity(wl, -sens, NAMES)


def test_target_labels_name_known_targets_and_pass_others_through():
    assert target_label("temperature") == ("Teff", "K")
    assert target_label("radius") == ("radius", "")
    assert target_labels(["gravity", "c_o_ratio", "radius"]) == (
        ["log g", "C/O", "radius"], ["dex", "", ""])


# --------------------------------------------------------------------------- #
# HTML
# --------------------------------------------------------------------------- #

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


# --------------------------------------------------------------------------- #
# Real browser
# --------------------------------------------------------------------------- #

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
