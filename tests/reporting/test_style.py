"""The shared style: saving figures, number formats."""

import pytest

from atmoscope.errors import ConfigError
from atmoscope.reporting import plot_loss_curves
from atmoscope.reporting.style import (
    flux_axis_label,
    format_number,
    format_with_unit,
    save_figure,
    typeset_unit,
)
from tests.reporting.helpers import HISTORY


def test_save_figure_writes_paper_formats_and_rejects_others(tmp_path):
    fig = plot_loss_curves(HISTORY)
    assert save_figure(fig, None) is fig
    for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")):
        assert save_figure(fig, tmp_path / f"loss.{ext}").read_bytes().startswith(magic)
    with pytest.raises(ConfigError, match=r"\.png, \.pdf or \.svg"):
        save_figure(fig, tmp_path / "loss.jpg")
    assert not (tmp_path / "loss.jpg").exists()


def test_units_are_typeset_for_axis_labels():
    assert typeset_unit("erg/(s cm2 Hz)") == r"$\mathrm{erg\,Hz^{-1}\,s^{-1}\,cm^{-2}}$"
    assert typeset_unit("") == ""
    fnu = r"$\mathrm{erg\,Hz^{-1}\,s^{-1}\,cm^{-2}}$"
    assert flux_axis_label("erg/(s cm2 Hz)") == rf"$F_\nu$ [{fnu}]"
    assert flux_axis_label("W / (m2 um)").startswith(r"$F_\lambda$ [")
    assert flux_axis_label(None) == "flux density [arbitrary unit]"


def test_number_formats_use_a_typographic_minus():
    assert format_number(-0.0123) == "\u22120.0123"
    assert format_number(1.2e-5) == "1.20e\u22125"
    assert format_number(12345.6) == "12346"
    assert format_number(float("nan")) == "n/a"
    assert format_with_unit(-0.00004, "K", scale=12.0) == "0.0 K"  # no "−0.0"
    assert format_with_unit(-3.14159, "dex", scale=0.05) == "\u22123.1416 dex"  # 0.0500
