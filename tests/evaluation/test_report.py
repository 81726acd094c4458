"""Regression reports of an estimator on a grid: quoted errors, matching wavelengths."""

import numpy as np

from atmoscope.cli import main
from atmoscope.evaluation.report import evaluate_predictor


def test_evaluate_passes_quoted_errors_to_models_that_read_them(small_split):
    grid, _ = small_split
    seen = []

    def predict(flux, error=None):
        seen.append(error)
        return grid.target_values[: len(flux)]

    evaluate_predictor(predict, grid, np.arange(5), snrs=(10,), with_errors=True)
    assert seen[0] is None and seen[1].shape == (5, 104)


def test_evaluate_rejects_other_wavelengths(small_file, tmp_path, capsys, grids):
    out = tmp_path / "bundle"
    assert main(["train", "--grid", str(small_file), "--model", "resmlp", "--out", str(out),
                 "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--grid", str(grids / "sonora_bobcat_spex_prism.csv")]) == 2
    assert "differ from the model's" in capsys.readouterr().err
