"""The shipped pretrained models on real spectra: every observed object with every model
that covers it, and the SpeX Prism Library T dwarfs per model.

1. Each spectrum in ``../shared/data/observed`` is predicted by every built-in model that
   covers it (``atmoscope predict FILE --model all``: best reduced χ² first); one that no
   model covers whole goes to the best-covering model with ``--allow-partial``.
2. Every T dwarf of the SpeX Prism Library is predicted by each model that covers SpeX
   spectra, and the predicted Teff is tabulated and plotted against the spectral type.

Usage::

    python benchmarks/pretrained.py [--samples 500] [--spex-samples 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from atmoscope.errors import AtmoscopeError
from atmoscope.observed import read_spectrum
from atmoscope.prediction import ModelChoice, predict_catalog
from atmoscope.pretrained import available_models

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))
from real_objects import spex_t_dwarfs  # noqa: E402

#: Published values (Zhang et al. 2021) of the three TelescopeML tutorial objects.
PUBLISHED = {"HD3651B_spex_prism.csv": 818, "GJ570D_spex_prism.csv": 828,
             "Ross458C_telescopeml_tutorial.csv": 804,
             "FIRE-PRISM_Ross458C_Burgasser2010.csv": 804}


def _cell(s: dict | None, digits: int) -> str:
    return "—" if s is None else f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def objects(samples: int) -> list[str]:
    """One row per (object, model): parameters, reduced χ², pixels used, seconds."""
    lines = ["| spectrum | model | Teff (K) | published Teff | log g | [M/H] | C/O | fsed | "
             "reduced χ² | pixels | flags | s |", "|" + "---|" * 12]
    for path in sorted((DATA / "observed").glob("*.csv")):
        spectrum = read_spectrum(path)
        start = time.perf_counter()
        try:
            pairs, _ = ModelChoice("all", n_samples=samples).predict(spectrum)
            partial = ""
        except AtmoscopeError:  # no model covers it whole: the best-covering one, partially
            pairs, _ = ModelChoice(None, n_samples=samples, allow_partial=True).predict(
                spectrum)
            partial = " (partial)"
        seconds = (time.perf_counter() - start) / len(pairs)
        for p, _ in pairs:
            s = p.summary()
            fit = p.fit.reduced_chi2 if p.fit else float("nan")
            used = int(p.spectrum.mask.sum())
            lines.append(
                f"| {path.name} | {p.model}{partial} | {_cell(s['temperature'], 0)} | "
                f"{PUBLISHED.get(path.name, '')} | {_cell(s['gravity'], 2)} | "
                f"{_cell(s.get('metallicity'), 2)} | {_cell(s.get('c_o_ratio'), 2)} | "
                f"{_cell(s.get('fsed'), 1)} | {fit:.1f} | {used}/{p.spectrum.n_pixels} | "
                f"{', '.join(p.flags) or '—'} | {seconds:.1f} |")
            print(lines[-1], flush=True)
    return lines


def spex_trend(samples: int, out: Path) -> list[str]:
    """Median predicted Teff per SpeX T subtype, per model that covers SpeX spectra."""
    files, types = spex_t_dwarfs()
    spex_range = np.array([0.65, 2.55])
    names = [m.name for m in available_models()
             if m.wavelength_range[0] >= spex_range[0] and m.wavelength_range[1] <= spex_range[1]]
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    medians, colours = {}, ("#0072B2", "#D55E00", "#009E73")
    lines = []
    for k, name in enumerate(names):
        start = time.perf_counter()
        catalog = predict_catalog(ModelChoice(name, n_samples=samples), files, progress=False)
        seconds = time.perf_counter() - start
        catalog["spt"] = types
        catalog.to_csv(out / f"spex_t_dwarfs_{name}.csv", index=False)
        ok = catalog[catalog.status == "ok"]
        flags = ok["flags"].fillna("").str.split(";")
        counts = {f: int(sum(f in fl for fl in flags)) for f in
                  ("outside_grid", "poor_fit", "filled_pixels")}
        lines.append(f"* `{name}`: {len(ok)} of {len(catalog)} predicted in {seconds:.0f} s "
                     f"({len(catalog) / seconds:.1f} spectra/s); median best-fit reduced χ² "
                     f"{ok['reduced_chi2'].median():.1f}; flagged "
                     + ", ".join(f"`{f}` {n}" for f, n in counts.items())
                     + f"; none {int(sum(fl == [''] for fl in flags))}")
        medians[name] = ok.groupby(ok["spt"].round())["temperature_mean"].agg(["count", "median"])
        jitter = np.random.default_rng(k).uniform(-0.15, 0.15, len(ok))
        ax.errorbar(ok["spt"] + jitter + 0.2 * (k - 0.5), ok["temperature_mean"],
                    yerr=ok["temperature_std"], fmt="o", ms=3, alpha=0.55, elinewidth=0.6,
                    color=colours[k % 3], label=name)
    ticks = range(10, 20)
    ax.set_xticks(list(ticks), [f"T{t - 10}" for t in ticks])
    ax.set_xlabel("SpeX spectral type")
    ax.set_ylabel("predicted Teff [K]")
    ax.legend(title="pretrained model")
    ax.set_title("SpeX Prism Library T dwarfs, atmoscope's pretrained models")
    fig.savefig(out / "spex_t_dwarfs_teff.png", dpi=110)
    table = pd.concat(medians, axis=1)
    lines += ["", "| type | " + " | ".join(f"n, median Teff (K) {n}" for n in names) + " |",
              "|---|" + "---|" * len(names)]
    for t, row in table.iterrows():
        cells = [f"{int(row[(n, 'count')])}, {row[(n, 'median')]:.0f}"
                 if np.isfinite(row[(n, "count")]) else "—" for n in names]
        lines.append(f"| T{int(t) - 10} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--spex-samples", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "pretrained")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    lines = objects(args.samples)
    lines += ["", *spex_trend(args.spex_samples, args.out)]
    lines += ["", f"Command: `python benchmarks/pretrained.py --samples {args.samples} "
              f"--spex-samples {args.spex_samples}`; {time.perf_counter() - start:.0f} s."]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
