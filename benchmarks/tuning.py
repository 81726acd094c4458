"""What hyperparameter searches cost and found: one markdown block per search folder.

Reads a folder written by ``atmoscope tune`` (``study.db``, ``trials.csv``,
``best_config.json``, ``best/``) and prints the search's own cost (trials, states, wall
time, training seconds), the best trial and its parameters, the Pareto front of validation
loss against spectra/s, and the retrained best bundle's test RMSEs.

Usage::

    python benchmarks/tuning.py SEARCH_DIR [SEARCH_DIR ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from atmoscope.data.targets import target_label
from atmoscope.models import load_estimator
from atmoscope.training.search import pareto_front, trials_table


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def describe(folder: Path) -> str:
    import optuna

    study = optuna.load_study(study_name="atmoscope",
                              storage=f"sqlite:///{(folder / 'study.db').resolve()}")
    table = trials_table(study)
    best = json.loads((folder / "best_config.json").read_text())
    bundle = load_estimator(folder / "best")
    starts = pd.to_datetime(table["started"])
    states = table["state"].value_counts().to_dict()
    end = max(t.datetime_complete for t in study.trials if t.datetime_complete)
    lines = [f"### {bundle.training['model']}: `{folder.name}`", "",
             f"* trials: {len(table)} ({', '.join(f'{n} {s.lower()}' for s, n in states.items())}),"
             f" {bundle.training['budget']:g} s each at most; trial time "
             f"{table['duration_s'].sum() / 60:.0f} min, search wall time "
             f"{(end - starts.min().to_pydatetime()).total_seconds() / 60:.0f} min "
             f"(first start to last end), {int(table['threads'].dropna().iloc[0])} "
             "thread(s) per trial",
             f"* best: trial #{best['trial']}, validation loss {best['value']:.4g}"]
    params = {k[7:]: v for k, v in table.set_index("number").loc[best["trial"]].items()
              if k.startswith("params_")}
    lines.append("* its parameters: " + ", ".join(f"`{k}={_fmt(v)}`" for k, v in params.items()))
    front = pareto_front(table)
    lines.append("* Pareto front (validation loss, spectra/s): " + "; ".join(
        f"#{int(r.number)} {r.value:.4g}, {r.spectra_per_s:,.0f}" for r in front.itertuples()))
    metrics = bundle.metrics.get("metrics", {})
    noisy = bundle.metrics.get("noisy", {})
    cells = []
    for name, m in metrics.items():
        label, unit = target_label(name)
        cells.append(f"{label} {m['rmse']:.4g}" + (f" {unit}" if unit else "")
                     + "".join(f" (S/N {k[3:]}: {v[name]['rmse']:.4g})"
                               for k, v in noisy.items() if k == "snr20"))
    lines.append(f"* `best/` retrained ({bundle.training['epochs_run']} epochs, "
                 f"{bundle.training['train_seconds']:.0f} s), test RMSE: " + "; ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    print("\n\n".join(describe(folder) for folder in args.folders))


if __name__ == "__main__":
    main()
