"""Real-object validation: train on the real Sonora Bobcat grid, predict real T dwarfs.

1. An ensemble of scale-free default models (shape only: no distance or radius
   needed) is trained on ``../shared/data/grids/sonora_bobcat_telescopeml104.csv``.
2. HD 3651B and GJ 570D (SpeX prism) and Ross 458C (TelescopeML's tutorial spectrum)
   are predicted with Monte-Carlo draws over their flux errors, and tabulated against
   the values published by Zhang et al. (2021) and TelescopeML's own predictions.
3. Every T dwarf of the SpeX Prism Library is predicted in catalog mode, and the
   predicted Teff is plotted against the spectral type.

Usage::

    python benchmarks/real_objects.py [--members 5] [--draws 100] [--out benchmarks/real]
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from atmoscope.data import read_grid
from atmoscope.data.splits import random_split
from atmoscope.prediction import Predictor, predict_catalog
from atmoscope.training import TrainConfig
from atmoscope.workflows import train_bundle

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OBJECTS = {  # file, published (Zhang et al. 2021): Teff, log g, [M/H]; TelescopeML's Teff
    "HD 3651B": ("HD3651B_spex_prism.csv", 818, 3.94, -0.22, "785 ± 31"),
    "GJ 570D": ("GJ570D_spex_prism.csv", 828, 3.90, -0.33, "891 ± 25 (older model)"),
    "Ross 458C": ("Ross458C_telescopeml_tutorial.csv", 804, 4.09, 0.23, "958 ± 49 (older model)"),
}


def spectral_type_number(spt: str) -> float | None:
    """'T4.5' → 14.5 (L0 = 0, T0 = 10), None if not an L/T type."""
    m = re.match(r"\s*([LT])\s*(\d+(?:\.\d+)?)", str(spt))
    if not m:
        return None
    return (0 if m.group(1) == "L" else 10) + float(m.group(2))


def spex_t_dwarfs() -> tuple[list[Path], np.ndarray]:
    """The SpeX Prism Library's T dwarfs: their files and numeric types (T0 = 10)."""
    meta = pd.read_csv(DATA / "spex_prism_library" / "spectral_data.csv")
    meta["spt"] = meta["SPEX_TYPE"].map(spectral_type_number)
    t_dwarfs = meta[meta["spt"] >= 10]
    folder = DATA / "spex_prism_library" / "spectra"
    files = [folder / f if (folder / f).exists() else folder / f"{f}.gz"
             for f in t_dwarfs["DATA_FILE"]]
    return files, t_dwarfs["spt"].to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: the model's own (at least 3,000 steps)")
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "real")
    args = parser.parse_args()
    start = time.perf_counter()

    grid = read_grid(DATA / "grids" / "sonora_bobcat_telescopeml104.csv",
                     flux_unit="erg / (s cm2 Hz)")  # F_nu shape; the constant is arbitrary
    split = random_split(grid.n_spectra, seed=42)
    ensemble = args.out / "bobcat-ensemble"
    for member in range(args.members):
        if not (ensemble / f"member-{member}" / "bundle.json").is_file():
            train_bundle(grid, split, TrainConfig(model="default", epochs=args.epochs,
                                                  seed=member, extra_features="none"),
                         ensemble / f"member-{member}", progress=False)
    predictor = Predictor(ensemble, grid=grid, n_samples=args.draws * args.members, seed=0)

    lines = ["| object | published Teff (K) | atmoscope Teff (K) | TelescopeML Teff (K) | "
             "published log g | atmoscope log g | published [M/H] | atmoscope [M/H] | "
             "atmoscope C/O | reduced χ² |", "|" + "---|" * 10]
    for name, (file, teff, logg, mh, tml) in OBJECTS.items():
        p = predictor.predict(DATA / "observed" / file)
        s = p.summary()
        lines.append(
            f"| {name} | {teff} | {s['temperature']['mean']:.0f} ± {s['temperature']['std']:.0f} "
            f"| {tml} | {logg:.2f} | {s['gravity']['mean']:.2f} ± {s['gravity']['std']:.2f} | "
            f"{mh:+.2f} | {s['metallicity']['mean']:+.2f} ± {s['metallicity']['std']:.2f} | "
            f"{s['c_o_ratio']['mean']:.2f} ± {s['c_o_ratio']['std']:.2f} | "
            f"{p.fit.reduced_chi2:.1f} |")
        print(lines[-1], flush=True)

    files, types = spex_t_dwarfs()
    catalog = predict_catalog(Predictor(ensemble, grid=grid, n_samples=20 * args.members,
                                        seed=0), files, progress=False)
    catalog["spt"] = types
    args.out.mkdir(parents=True, exist_ok=True)
    catalog.to_csv(args.out / "spex_t_dwarfs.csv", index=False)
    ok = catalog[catalog.status == "ok"]

    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.errorbar(ok["spt"] + np.random.default_rng(0).uniform(-0.15, 0.15, len(ok)),
                ok["temperature_mean"], yerr=ok["temperature_std"], fmt="o", ms=3,
                color="#0072B2", alpha=0.6, elinewidth=0.6)
    ticks = range(10, 20)
    ax.set_xticks(list(ticks), [f"T{t - 10}" for t in ticks])
    ax.set_xlabel("SpeX spectral type")
    ax.set_ylabel("predicted Teff [K]")
    ax.set_title(f"{len(ok)} SpeX T dwarfs, atmoscope ensemble trained on Sonora Bobcat")
    fig.savefig(args.out / "spex_t_dwarfs_teff.png", dpi=110)

    by_type = ok.groupby(ok["spt"].round())["temperature_mean"].agg(["count", "median"])
    lines += ["", f"SpeX T dwarfs: {len(ok)} of {len(catalog)} predicted "
              f"({(catalog.status != 'ok').sum()} refused with a reason in the table).",
              "", "| type | n | median predicted Teff (K) |", "|---|---|---|"]
    lines += [f"| T{int(t) - 10} | {int(r['count'])} | {r['median']:.0f} |"
              for t, r in by_type.iterrows()]
    epochs = f" --epochs {args.epochs}" if args.epochs else ""
    lines += ["", f"Command: `python benchmarks/real_objects.py --members {args.members}{epochs} "
              f"--draws {args.draws}`; {time.perf_counter() - start:.0f} s (training included "
              "unless the ensemble was already there)."]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
