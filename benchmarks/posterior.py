"""Are the learned posteriors calibrated, correct and fast? (issue: calibrated posteriors)

For each grid (the embedded synthetic one and the real Sonora Bobcat one, with the
leave-nodes-out splits of ``run_benchmark.py``):

1. train ``posterior`` (normalizing-flow NPE) and a deep ensemble of ``gaussian``
   members, both on fresh noise (S/N 3–300) and off-node parameters every batch;
2. make ``--n-obs`` noisy observations of the held-out test nodes (S/N log-uniform in
   5–100; each test spectrum observed several times when there are fewer);
3. coverage of central 68 % / 95 % intervals per parameter (and the whole curve,
   joint too) for: the flow, the Gaussian ensemble, and the Monte-Carlo-only
   uncertainty (the flow's posterior mean over noise draws, TelescopeML's method);
4. 68 % width against S/N;
5. time to draw 1,000 samples for one spectrum and for 1,000 spectra;
6. a reference posterior by MCMC (emcee, :mod:`atmoscope.statistics.reference`) for
   ``--n-reference`` observations: are the learned means within 1σ of the reference?

Writes ``benchmarks/posterior/results.md`` and ``.json`` and one calibration figure per
grid; bundles go to ``benchmarks/posterior/models/`` (not committed; ``--reuse`` loads
them instead of training).

Usage::

    python benchmarks/posterior.py [--budget 720] [--gaussian-budget S] [--grids synthetic bobcat]
                                   [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from atmoscope.data.noise import log_uniform_snr, noisy_observation  # noqa: E402
from atmoscope.evaluation.calibration import (  # noqa: E402
    central_coverage,
    coverage_report,
    held_out_observations,
    point_monte_carlo,
)
from atmoscope.models import Ensemble, load_model  # noqa: E402
from atmoscope.statistics.reference import reference_posterior  # noqa: E402
from atmoscope.training import TrainConfig  # noqa: E402
from atmoscope.training.augment import OffNodeSampler  # noqa: E402
from atmoscope.workflows import train_bundle  # noqa: E402
from run_benchmark import SHORT, cpu_model, load  # noqa: E402

HERE = Path(__file__).resolve().parent / "posterior"
SNR_BINS = (5, 10, 20, 50, 100)


def train_or_load(name, grid, split, model, budget, seed, reuse, members=1):
    bundles = []
    for i in range(members):
        path = HERE / "models" / f"{name}-{model}-{i}"
        if reuse and (path / "bundle.json").is_file():
            bundles.append(load_model(path))
            continue
        small = grid.n_spectra < 5000  # one batch per epoch: let the budget decide
        config = TrainConfig(model=model, budget=budget / members, seed=seed + i,
                             epochs=100_000 if small else None, patience=2000 if small else None)
        print(f"-- train {name} {model} member {i} ({budget / members:.0f} s)", flush=True)
        bundle, _ = train_bundle(grid, split, config, path, progress=sys.stderr.isatty(),
                                 snrs=(20,))
        bundles.append(bundle)
    return bundles


def run_grid(name, args) -> dict:
    grid, split = load(name)
    print(f"\n== {name}: {grid}; test {len(split.test)} spectra", flush=True)
    flow = train_or_load(name, grid, split, "posterior", args.budget, args.seed, args.reuse)[0]
    gauss = train_or_load(name, grid, split, "gaussian", args.gaussian_budget or args.budget,
                          args.seed, args.reuse, members=args.members)
    reps = -(-args.n_obs // len(split.test))
    obs = held_out_observations(grid, np.repeat(split.test, reps), n_spectra=args.n_obs,
                                snr_range=(5.0, 100.0), seed=args.seed)
    names = list(grid.targets)
    start = time.perf_counter()
    flow_samples = flow.sample(obs["observed"], obs["error"], 1000, seed=1)
    batch_s = (time.perf_counter() - start) * 1000 / len(obs["truth"])  # per 1,000 spectra
    one = []
    for i in range(30):
        start = time.perf_counter()
        flow.sample(obs["observed"][i % 10:i % 10 + 1], obs["error"][i % 10:i % 10 + 1], 1000,
                    seed=i)
        one.append(time.perf_counter() - start)
    reports = {"posterior": coverage_report(flow_samples, obs["truth"], names),
               f"gaussian x{len(gauss)}": coverage_report(
                   Ensemble(gauss).sample(obs["observed"], obs["error"], 1000),
                   obs["truth"], names)}
    reports["Monte-Carlo only"] = coverage_report(
        point_monte_carlo(flow, obs["observed"], obs["error"], args.mc_draws, seed=2),
        obs["truth"], names)

    # width and coverage against S/N (the flow)
    by_snr = []
    flow_rep = reports["posterior"]
    for lo, hi in zip(SNR_BINS[:-1], SNR_BINS[1:], strict=True):
        sel = (obs["snr"] >= lo) & (obs["snr"] < hi)
        c68 = central_coverage(flow_samples[sel], obs["truth"][sel], [0.68])[0]
        by_snr.append({"snr": [lo, hi], "n": int(sel.sum()),
                       "width68": {n: float(np.median(flow_rep["width68"][sel, j]))
                                   for j, n in enumerate(names)},
                       "coverage_68": {n: float(c68[j]) for j, n in enumerate(names)}})

    # prior-predictive check: truths drawn from the training prior itself (continuous,
    # off the nodes), where nominal coverage is guaranteed for an exact posterior
    model = OffNodeSampler().fit(grid, split.train)
    rng = np.random.default_rng([args.seed, 7])
    theta, flux = model.draw(args.n_obs, rng)
    snr = log_uniform_snr(5.0, 100.0, len(theta), rng)
    prior_obs, prior_err = noisy_observation(flux, snr, rng)
    reports["posterior, prior draws"] = coverage_report(
        flow.sample(prior_obs, prior_err, 1000, seed=3), theta, names)

    # the reference sampler
    ref = []
    start = time.perf_counter()
    for i in range(args.n_reference):
        r = reference_posterior(obs["observed"][i], obs["error"][i], model, seed=i)
        f = flow_samples[i]
        ref.append({"snr": float(obs["snr"][i]), "ref_mean": r.mean(0).tolist(),
                    "ref_std": r.std(0).tolist(), "flow_mean": f.mean(0).tolist(),
                    "flow_std": f.std(0).tolist(), "truth": obs["truth"][i].tolist()})
    ref_s = time.perf_counter() - start
    z = np.array([np.abs(np.subtract(r["flow_mean"], r["ref_mean"])) / np.array(r["ref_std"])
                  for r in ref])
    width_ratio = np.array([np.divide(r["flow_std"], r["ref_std"]) for r in ref])
    reference = {
        "n": len(ref), "seconds": ref_s,
        "within_1sigma": {n: float(np.mean(z[:, j] <= 1)) for j, n in enumerate(names)},
        "all_within_1sigma": float(np.mean(np.all(z <= 1, axis=1))),
        "median_width_ratio": {n: float(np.median(width_ratio[:, j]))
                               for j, n in enumerate(names)},
        "spectra": ref,
    }
    from atmoscope.data.targets import target_labels
    from atmoscope.reporting import plot_calibration

    figure = {**reports["posterior"], "snr_range": [5, 100],
              "monte_carlo": reports["Monte-Carlo only"]}
    plot_calibration(figure, target_labels(names)[0],
                     HERE / f"{name}_calibration.png")
    return {
        "grid": name, "n_obs": int(len(obs["truth"])), "n_test_nodes": int(len(split.test)),
        "training": {k: {"train_seconds": b.training["train_seconds"],
                         "epochs": b.training["epochs_run"],
                         "stopped": b.training["stopped_because"],
                         "test_rmse": {t: v["rmse"] for t, v in b.metrics["metrics"].items()}}
                     for k, b in (("posterior", flow), ("gaussian-0", gauss[0]))},
        "coverage": {k: r["parameters"] for k, r in reports.items()},
        "joint": {k: dict(zip(map(str, r["levels"]), r["joint"], strict=True))
                  for k, r in reports.items()},
        "by_snr": by_snr,
        "timing": {"one_spectrum_1000_samples_ms": 1000 * float(np.median(one)),
                   "1000_spectra_1000_samples_s": batch_s},
        "reference": reference,
    }


def fmt_pct(x: float) -> str:
    return f"{100 * x:.1f}"


def table(results: list[dict], args, wall: float) -> str:
    lines = []
    for res in results:
        names = list(next(iter(res["coverage"].values())))
        lines += [f"### {res['grid']} grid: {res['n_obs']} noisy observations (S/N 5–100) of "
                  f"{res['n_test_nodes']} held-out test spectra", "",
                  "Coverage of central intervals, % (nominal 68 and 95):", "",
                  "| method | " + " | ".join(f"{SHORT.get(n, n)} 68" for n in names) + " | "
                  + " | ".join(f"{SHORT.get(n, n)} 95" for n in names) + " | joint 68 | joint 95 |",
                  "|" + "---|" * (3 + 2 * len(names))]
        for method, cov in res["coverage"].items():
            joint = res["joint"][method]
            j68 = np.interp(0.68, [float(k) for k in joint], list(joint.values()))
            lines.append(f"| {method} | "
                         + " | ".join(fmt_pct(cov[n]["coverage_68"]) for n in names)
                         + " | " + " | ".join(fmt_pct(cov[n]["coverage_95"]) for n in names)
                         + f" | {fmt_pct(j68)} | {fmt_pct(joint['0.95'])} |")
        lines += ["", "Median 68 % width of the flow's posterior, and its 68 % coverage, by S/N:",
                  "", "| S/N | n | " + " | ".join(f"width {SHORT.get(n, n)}" for n in names)
                  + " | " + " | ".join(f"cov68 {SHORT.get(n, n)}" for n in names) + " |",
                  "|" + "---|" * (2 + 2 * len(names))]
        for b in res["by_snr"]:
            lines.append(f"| {b['snr'][0]}–{b['snr'][1]} | {b['n']} | "
                         + " | ".join(f"{b['width68'][n]:.3g}" for n in names) + " | "
                         + " | ".join(fmt_pct(b["coverage_68"][n]) for n in names) + " |")
        ref, t = res["reference"], res["timing"]
        lines += ["", f"Reference sampler (emcee, {ref['n']} observations, "
                  f"{ref['seconds']:.0f} s): flow mean within 1σ of the reference mean — "
                  + ", ".join(f"{SHORT.get(n, n)} {fmt_pct(v)} %"
                              for n, v in ref["within_1sigma"].items())
                  + f"; all four at once {fmt_pct(ref['all_within_1sigma'])} %. Median width "
                  "ratio flow/reference — "
                  + ", ".join(f"{SHORT.get(n, n)} {v:.2f}"
                              for n, v in ref["median_width_ratio"].items()) + ".", "",
                  f"Speed: 1,000 samples for one spectrum {t['one_spectrum_1000_samples_ms']:.1f}"
                  f" ms (median of 30); 1,000 spectra × 1,000 samples "
                  f"{t['1000_spectra_1000_samples_s']:.1f} s.", "",
                  "Training: " + "; ".join(
                      f"{k} {v['train_seconds']:.0f} s, {v['epochs']} epochs ({v['stopped']})"
                      for k, v in res["training"].items()) + ".", ""]
    gb = f" --gaussian-budget {args.gaussian_budget:g}" if args.gaussian_budget else ""
    lines.append(f"Command: `python benchmarks/posterior.py --budget {args.budget:g}{gb} --grids "
                 f"{' '.join(args.grids)}{' --reuse' if args.reuse else ''}` — "
                 f"{date.today().isoformat()}, {os.cpu_count()} cores ({cpu_model()}), torch "
                 f"{torch.__version__}; whole run {wall / 60:.0f} min.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=720.0,
                        help="training seconds per method (shared by ensemble members)")
    parser.add_argument("--grids", nargs="+", default=["synthetic", "bobcat"],
                        choices=["synthetic", "bobcat"])
    parser.add_argument("--gaussian-budget", type=float, default=None,
                        help="training seconds of the whole Gaussian ensemble (default --budget)")
    parser.add_argument("--members", type=int, default=3, help="Gaussian ensemble size")
    parser.add_argument("--n-obs", type=int, default=1000)
    parser.add_argument("--n-reference", type=int, default=20)
    parser.add_argument("--mc-draws", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reuse", action="store_true", help="load bundles trained before")
    args = parser.parse_args()
    HERE.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = [run_grid(name, args) for name in args.grids]
    text = table(results, args, time.perf_counter() - start)
    (HERE / "results.md").write_text(text + "\n")
    (HERE / "results.json").write_text(json.dumps(results, indent=1))
    print("\n" + text)


if __name__ == "__main__":
    main()
