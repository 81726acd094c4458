"""Prediction figures: spectrum fit, corner plot, sensitivity."""

from pathlib import Path

import numpy as np
import pytest

from atmoscope.errors import ConfigError
from atmoscope.reporting import plot_corner, plot_sensitivity, plot_spectrum_fit
from tests.reporting.helpers import (
    NAMES,
    PNG_SIGNATURE,
    UNITS,
    _samples,
    _sensitivity,
    _spectrum,
    _spectrum_figure,
)


def _check_png(path: Path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 10_000


def _check_pdf(path: Path):
    assert path.read_bytes()[:5] == b"%PDF-"


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
    visible = [ax for ax in fig.axes if ax.axison and ax.get_frame_on()]
    assert len(visible) == 6  # lower triangle incl. diagonal of a 3 × 3 grid (corner package)
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
    with pytest.raises(ConfigError, match=r"\.png, \.pdf or \.svg"):
        plot_spectrum_fit(wl, flux, err, model, b68, b95, res, flux_label="f",
                          path=tmp_path / "fit.jpg")


def test_sensitivity_rows_labelled():
    wl, sens = _sensitivity()
    fig = plot_sensitivity(wl, sens, NAMES)
    assert [ax.get_ylabel() for ax in fig.axes] == NAMES
    assert fig.axes[-1].get_xlabel() == "wavelength [µm]"
    with pytest.raises(ConfigError, match="non-negative"):
        plot_sensitivity(wl, -sens, NAMES)
