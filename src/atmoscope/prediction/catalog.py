"""Catalog mode: many spectra, one row each, a bad file never stops the batch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from atmoscope.errors import AtmoscopeError
from atmoscope.prediction.predictor import Predictor

__all__ = ["predict_catalog", "write_catalog"]


def predict_catalog(predictor: Predictor, files: Sequence[Path], progress: bool = True,
                    **read_options) -> pd.DataFrame:
    """Predict every file; one row per file with estimates, uncertainties, χ², flags.

    A file that cannot be read or predicted gets a row with ``status`` ``error`` and
    the message in ``error``; the batch goes on.
    """
    from tqdm.auto import tqdm

    rows = []
    for path in tqdm(files, desc="predict", unit="spectrum", disable=None if progress else True):
        row: dict = {"source": str(path)}
        try:
            p = predictor.predict(path, **read_options)
        except (AtmoscopeError, OSError) as exc:
            rows.append({**row, "status": "error", "error": " ".join(str(exc).split())})
            continue
        row["status"] = "ok"
        for name, s in p.summary().items():
            for key in ("mean", "std", "p16", "p50", "p84"):
                row[f"{name}_{key}"] = s[key]
        row["chi2"] = p.fit.chi2 if p.fit else None
        row["reduced_chi2"] = p.fit.reduced_chi2 if p.fit else None
        row["dof"] = p.fit.dof if p.fit else None
        row["scale"] = p.scale
        row["flags"] = "; ".join(p.flags)
        rows.append(row)
    return pd.DataFrame(rows)


def write_catalog(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a catalog: Parquet for ``.parquet``, else CSV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path
