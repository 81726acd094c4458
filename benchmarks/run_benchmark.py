"""Accuracy and speed of every method in one harness, on one machine, in one run.

Methods: the ``telescopeml`` preset (TelescopeML's tuned CNN), atmoscope's ``default``
model (residual CNN), a χ² grid fit (best node + parabolic refinement) and a random
forest (HELA-style). Grids:

* ``synthetic``: the embedded 30,888-spectrum grid, leave-nodes-out split
  (every third interior Teff node held out: 9,504 test spectra);
* ``bobcat``: the real Sonora Bobcat grid (``../shared/data/grids/
  sonora_bobcat_telescopeml104.csv``), Teff nodes {700, 900, 1200, 1600, 2000} K held
  out — the split on which TelescopeML itself was measured (telescopeml_facts.md).

Each neural model gets the same wall-clock budget. Writes a markdown table (stdout and
``--out``) with per-target RMSE (noiseless and S/N 20), training time, epochs,
parameters, prediction throughput, and RMSE ratios against the ``telescopeml`` preset.

Usage::

    python benchmarks/run_benchmark.py [--budget 600] [--grids synthetic bobcat] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from atmoscope.data import read_grid
from atmoscope.data.splits import node_split
from atmoscope.evaluation import Chi2GridFit, RandomForestBaseline, evaluate_predictor
from atmoscope.models import count_parameters
from atmoscope.synthetic import synthetic_grid
from atmoscope.training import TrainConfig
from atmoscope.workflows import train_bundle

ROOT = Path(__file__).resolve().parents[1]
BOBCAT = ROOT.parent / "shared" / "data" / "grids" / "sonora_bobcat_telescopeml104.csv"
SHORT = {"gravity": "log g", "temperature": "Teff", "c_o_ratio": "C/O", "metallicity": "[M/H]"}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def throughput(predict, flux: np.ndarray, n: int = 30_000) -> float:
    """Spectra per second, batched, best of two passes over ``n`` spectra."""
    batch = np.resize(flux, (n, flux.shape[1]))
    best = np.inf
    for _ in range(2):
        start = time.perf_counter()
        predict(batch)
        best = min(best, time.perf_counter() - start)
    return n / best


def load(name: str):
    if name == "synthetic":
        grid = synthetic_grid()
        return grid, node_split(grid, {"temperature": "every3"}, seed=42)
    grid = read_grid(BOBCAT)
    return grid, node_split(grid, {"temperature": [700, 900, 1200, 1600, 2000]}, seed=42)


def run_grid(name: str, budget: float, seed: int) -> list[dict]:
    grid, split = load(name)
    print(f"\n== {name}: {grid}; split {split.sizes()} ({split.description['holdout']})",
          flush=True)
    rows = []
    train_grid = grid.select(np.concatenate([split.train, split.val]))
    for method in ("telescopeml", "default", "chi2", "random_forest"):
        print(f"-- {method}", flush=True)
        start = time.perf_counter()
        if method in ("telescopeml", "default"):
            bundle, report = train_bundle(grid, split, TrainConfig(model=method, budget=budget,
                                                                   seed=seed),
                                          None, progress=sys.stderr.isatty(), snrs=(20,))
            t = bundle.training
            extra = {"epochs": t["epochs_run"], "train_s": t["train_seconds"],
                     "params": count_parameters(bundle.model), "stopped": t["stopped_because"]}
            predict = bundle.predict
        else:
            model = (Chi2GridFit() if method == "chi2"
                     else RandomForestBaseline(random_state=seed, n_jobs=2))
            model.fit(train_grid)
            fit_s = time.perf_counter() - start
            report = evaluate_predictor(model.predict, grid, split.test, snrs=(20,))
            extra = {"epochs": None, "train_s": fit_s, "params": None, "stopped": "-"}
            predict = model.predict
        tput = throughput(predict, grid.flux[split.test],
                          n=30_000 if method != "chi2" else 5_000)
        row = {"grid": name, "method": method, "throughput": tput, **extra,
               "rmse": {k: v["rmse"] for k, v in report["metrics"].items()},
               "rmse_snr20": {k: v["rmse"] for k, v in report["noisy"]["snr20"].items()},
               "n_test": report["n_spectra"]}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def fmt(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def table(rows: list[dict], args, wall: float) -> str:
    targets = list(rows[0]["rmse"])
    head = ("| grid | method | " + " | ".join(f"RMSE {SHORT.get(t, t)}" for t in targets)
            + " | " + " | ".join(f"RMSE {SHORT.get(t, t)} S/N 20" for t in targets)
            + " | train s | epochs | parameters | spectra/s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        cells = [fmt(r["rmse"][t]) for t in targets] + [fmt(r["rmse_snr20"][t]) for t in targets]
        params = f"{r['params']:,}" if r["params"] else "-"
        lines.append(f"| {r['grid']} | {r['method']} | " + " | ".join(cells)
                     + f" | {r['train_s']:.0f} | {r['epochs'] or '-'} | {params} | "
                     f"{r['throughput']:,.0f} |")
    lines += ["", "Ratios to the `telescopeml` preset "
              "(RMSE method / RMSE telescopeml; < 1 is better):",
              "", "| grid | method | " + " | ".join(SHORT.get(t, t) for t in targets)
              + " | " + " | ".join(f"{SHORT.get(t, t)} S/N 20" for t in targets) + " |",
              "|" + "---|" * (2 + 2 * len(targets))]
    for r in rows:
        ref = next(x for x in rows if x["grid"] == r["grid"] and x["method"] == "telescopeml")
        if r is ref:
            continue
        cells = [f"{r['rmse'][t] / ref['rmse'][t]:.2f}" for t in targets]
        cells += [f"{r['rmse_snr20'][t] / ref['rmse_snr20'][t]:.2f}" for t in targets]
        lines.append(f"| {r['grid']} | {r['method']} | " + " | ".join(cells) + " |")
    lines += ["", f"Command: `python benchmarks/run_benchmark.py --budget {args.budget:g} "
              f"--grids {' '.join(args.grids)}` — {date.today().isoformat()}, "
              f"{os.cpu_count()} cores ({cpu_model()}), torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads; whole run {wall / 60:.0f} min."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=600.0,
                        help="training seconds per neural model (default 600)")
    parser.add_argument("--grids", nargs="+", default=["synthetic", "bobcat"],
                        choices=["synthetic", "bobcat"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.md")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = [row for name in args.grids for row in run_grid(name, args.budget, args.seed)]
    text = table(rows, args, time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    (args.out.with_suffix(".json")).write_text(json.dumps(rows, indent=1))
    print("\n" + text)


if __name__ == "__main__":
    main()
