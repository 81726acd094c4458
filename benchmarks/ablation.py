"""Why the default model is built the way it is: one change at a time, on the real grid.

Sonora Bobcat (``../shared/data/grids/sonora_bobcat_telescopeml104.csv``), Teff nodes
{700, 900, 1200, 1600, 2000} K held out, several seeds; each variant changes one
ingredient of the ``default`` configuration. Prints a markdown table of mean RMSE
(noiseless and S/N 20) over the seeds.

Usage::

    python benchmarks/ablation.py [--seeds 1 2 3] [--budget 120]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from atmoscope.data import read_grid
from atmoscope.data.splits import node_split
from atmoscope.training import TrainConfig
from atmoscope.workflows import train_bundle
from run_benchmark import BOBCAT, SHORT

VARIANTS = {
    # the defaults tuned in BENCHMARKS.md section 9 (section 2 ran with the ones before)
    "default (rescnn, column_standard, moments, noise 10–333, AdamW one-cycle, batch 64)": {},
    "log10 flux per spectrum (the scaling before tuning)": {"spectrum_mode": "log_row"},
    "no noise augmentation": {"noise_snr": ()},
    "min/max features instead of moments": {"extra_features": "minmax"},
    "TelescopeML's input scaling (row z-score of linear flux)": {"spectrum_mode": "row"},
    "constant learning rate": {"schedule": "constant", "lr": 1e-3},
    "batch 256": {"batch_size": 256},
    "residual MLP instead of CNN": {"model": "resmlp"},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--budget", type=float, default=120.0)
    args = parser.parse_args()
    grid = read_grid(BOBCAT)
    split = node_split(grid, {"temperature": [700, 900, 1200, 1600, 2000]}, seed=42)
    targets = list(grid.targets)
    lines = ["| variant | " + " | ".join(f"RMSE {SHORT[t]}" for t in targets) + " | "
             + " | ".join(f"{SHORT[t]} S/N 20" for t in targets) + " | train s |",
             "|" + "---|" * (2 + 2 * len(targets))]
    start = time.perf_counter()
    for name, change in VARIANTS.items():
        clean, noisy, seconds = [], [], []
        for seed in args.seeds:
            config = TrainConfig(**{"model": "default", "budget": args.budget, "seed": seed,
                                    **change})
            bundle, report = train_bundle(grid, split, config, None, progress=False,
                                          snrs=(20,))
            clean.append([report["metrics"][t]["rmse"] for t in targets])
            noisy.append([report["noisy"]["snr20"][t]["rmse"] for t in targets])
            seconds.append(bundle.training["train_seconds"])
        cells = [f"{v:.3g}" for v in np.mean(clean, axis=0)]
        cells += [f"{v:.3g}" for v in np.mean(noisy, axis=0)]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {np.mean(seconds):.0f} |")
        print(lines[-1], flush=True)
    print("\n".join(lines))
    print(f"\nCommand: python benchmarks/ablation.py --seeds {' '.join(map(str, args.seeds))} "
          f"--budget {args.budget:g}; mean over seeds; {time.perf_counter() - start:.0f} s in all.")


if __name__ == "__main__":
    main()
