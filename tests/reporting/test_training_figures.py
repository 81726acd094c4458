"""Training figures: parity, residual histograms, loss and calibration curves, grid spectra."""

import re

import numpy as np
import pytest
from sklearn.metrics import r2_score

from atmoscope.errors import ConfigError
from atmoscope.reporting import (
    plot_calibration,
    plot_grid_spectra,
    plot_loss_curves,
    plot_parity,
    plot_residuals,
)
from atmoscope.synthetic import synthetic_grid
from tests.reporting.helpers import HISTORY, NAMES, PNG_SIGNATURE, UNITS


def _predictions(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y_true = np.column_stack([
        rng.uniform(500, 2500, n),
        rng.uniform(3.5, 5.5, n),
        rng.uniform(-1.0, 0.5, n),
    ])
    noise = rng.normal(size=(n, 3)) * [60.0, 0.15, 0.1] + [10.0, -0.02, 0.0]
    return y_true, y_true + noise


def _check_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000


def _check_pdf(path):
    data = path.read_bytes()
    assert data[:5] == b"%PDF-"
    assert len(data) > 1_000


def _stats_text(ax) -> str:
    texts = [t.get_text() for t in ax.texts if t.get_gid() == "parity-stats"]
    assert len(texts) == 1
    return texts[0]


@pytest.mark.parametrize("plot", ["parity", "residuals", "loss"])
def test_writes_png_and_pdf(tmp_path, plot):
    y_true, y_pred = _predictions(400)
    for suffix, check in [("png", _check_png), ("pdf", _check_pdf)]:
        target = tmp_path / "nested" / suffix / f"{plot}.{suffix}"  # parents created
        if plot == "parity":
            out = plot_parity(y_true, y_pred, NAMES, UNITS, path=target)
        elif plot == "residuals":
            out = plot_residuals(y_true, y_pred, NAMES, UNITS, path=target)
        else:
            out = plot_loss_curves(HISTORY, path=target)
        assert out == target
        check(target)


def test_parity_figure_axes_and_labels():
    y_true, y_pred = _predictions(300)
    fig = plot_parity(y_true, y_pred, NAMES, UNITS)
    assert len(fig.axes) == 3
    assert fig.axes[0].get_xlabel() == "true temperature [K]"
    assert fig.axes[1].get_ylabel() == "predicted log g [dex]"
    # a dimensionless target gets no empty brackets
    fig = plot_parity(y_true[:, :2], y_pred[:, :2], ["a", "b"], ["", "K"])
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xlabel() == "true a"


def test_parity_r2_text_matches_sklearn():
    y_true, y_pred = _predictions(500, seed=3)
    fig = plot_parity(y_true, y_pred, NAMES, UNITS)
    for j, ax in enumerate(fig.axes):
        text = _stats_text(ax)
        match = re.search(r"R² = (\S+)", text)
        assert match, text
        shown = float(match.group(1).replace("\u2212", "-"))
        expected = r2_score(y_true[:, j], y_pred[:, j])
        assert match.group(1) == f"{expected:.3f}".replace("-", "\u2212")
        assert shown == pytest.approx(expected, abs=5e-4)
        rmse = np.sqrt(np.mean((y_pred[:, j] - y_true[:, j]) ** 2))
        assert f"RMSE = {rmse:#.3g} {UNITS[j]}" in text
        assert "bias = " in text


def test_parity_negative_r2_and_one_dimensional_input():
    rng = np.random.default_rng(1)
    y_true = rng.normal(size=200)
    y_pred = rng.normal(size=200)  # unrelated: R² < 0
    fig = plot_parity(y_true, y_pred, "x")
    expected = r2_score(y_true, y_pred)
    assert expected < 0
    assert f"R² = {expected:.3f}".replace("-", "\u2212") in _stats_text(fig.axes[0])


def test_parity_uses_density_for_many_points(tmp_path):
    y_true, y_pred = _predictions(6000)
    fig = plot_parity(y_true[:, :2], y_pred[:, :2], NAMES[:2], UNITS[:2])
    # two panels, each with its own colour bar for the hexbin counts
    assert len(fig.axes) == 4
    panel = fig.axes[0]
    assert not any(c.__class__.__name__ == "PathCollection" for c in panel.collections)
    assert any(c.__class__.__name__ == "PolyCollection" for c in panel.collections)
    expected = r2_score(y_true[:, 0], y_pred[:, 0])
    assert f"R² = {expected:.3f}" in _stats_text(panel)
    _check_png(plot_parity(y_true, y_pred, NAMES, UNITS, path=tmp_path / "dense.png"))


def test_parity_rejects_mismatched_inputs():
    y_true, y_pred = _predictions(50)
    with pytest.raises(ConfigError, match="must both be"):
        plot_parity(y_true, y_pred[:, :2], NAMES)
    with pytest.raises(ConfigError, match="2 names for 3 targets"):
        plot_parity(y_true, y_pred, NAMES[:2])
    with pytest.raises(ConfigError, match="1 units for 3 targets"):
        plot_parity(y_true, y_pred, NAMES, ["K"])


def test_residual_lines_at_zero_and_q68():
    y_true, y_pred = _predictions(400)
    fig = plot_residuals(y_true, y_pred, NAMES, UNITS)
    assert len(fig.axes) == 3
    ax = fig.axes[0]
    q68 = np.quantile(np.abs(y_pred[:, 0] - y_true[:, 0]), 0.68)
    xs = sorted(line.get_xdata()[0] for line in ax.get_lines())
    assert xs == pytest.approx([-q68, 0.0, q68])
    labels = ax.get_legend_handles_labels()[1]
    assert "zero" in labels
    assert any(label.startswith("±q68 = ") and label.endswith(" K") for label in labels)
    assert ax.get_xlabel() == "temperature residual (pred \u2212 true) [K]"


def test_loss_curves_axes_and_best_epoch():
    fig = plot_loss_curves(HISTORY)
    assert len(fig.axes) == 2
    ax, ax_lr = fig.axes
    assert ax.get_yscale() == "log"
    assert ax_lr.get_ylabel() == "learning rate"
    best = int(np.argmin(HISTORY["val_loss"])) + 1
    assert any(f"epoch {best} " in label for label in ax.get_legend_handles_labels()[1])

    no_lr = {k: v for k, v in HISTORY.items() if k != "lr"}
    fig = plot_loss_curves(no_lr)
    assert len(fig.axes) == 1
    assert fig.axes[0].get_xlabel() == "epoch"

    with pytest.raises(ConfigError, match="history lacks"):
        plot_loss_curves({"train_loss": [1.0]})


def test_calibration_figure_panels(tmp_path):
    levels = np.linspace(0, 1, 11)
    ranks = np.random.default_rng(0).integers(0, 100, size=(50, 2))
    report = {"coverage": {"temperature": levels**1.1, "gravity": levels**0.9},
              "joint": levels**1.3, "levels": levels, "ranks": ranks, "n_samples": 100,
              "n_spectra": 50, "snr_range": [10, 50]}
    fig = plot_calibration(report, ["Teff", "log g"])
    assert len(fig.axes) == 3  # coverage curves + one rank histogram per parameter
    assert fig.axes[0].get_legend_handles_labels()[1] == ["calibrated", "Teff", "log g", "joint"]
    assert fig.axes[2].get_title() == "SBC ranks: log g"
    report["monte_carlo"] = {"coverage": report["coverage"], "joint": report["joint"]}
    labels = plot_calibration(report).axes[0].get_legend_handles_labels()[1]
    assert labels[-1] == "dotted: Monte-Carlo only"
    assert labels[1:3] == ["temperature", "gravity"]  # the report's keys without names
    _check_png(plot_calibration(report, path=tmp_path / "calibration.png"))


def test_grid_spectra_slice_and_colour(tmp_path):
    grid = synthetic_grid()
    fig = plot_grid_spectra(grid, color_by="temperature", max_spectra=50)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert 2 <= len(ax.get_lines()) <= 50
    assert fig.axes[1].get_ylabel() == "temperature"  # the colour bar
    _check_png(plot_grid_spectra(grid, path=tmp_path / "grid.png"))
    with pytest.raises(ConfigError, match="no parameter"):
        plot_grid_spectra(grid, color_by="radius")
