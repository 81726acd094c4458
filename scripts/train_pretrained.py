"""Retrain the pretrained models that ship in ``atmoscope/pretrained/`` from ``../shared/data``.

    python scripts/train_pretrained.py                 # all of them
    python scripts/train_pretrained.py --only bobcat   # one
    python scripts/train_pretrained.py --recalibrate   # refit the floor's growth only
    python scripts/train_pretrained.py --cross-fit 4 --workers 2  # cross-fit the floor

Each model is a normalizing-flow posterior (``--model posterior``), scale-free (shape only,
so no distance or radius is needed), trained on a REAL Sonora grid with fixed seeds, a
fixed number of epochs and a fixed number of torch threads (``--threads``, default 2; the
catalog's command names it), so a rerun on the same machine reproduces it.
The bundle stores the training grid (exact values, zstd Parquet) and its weights in
float16; ``catalog.json`` records, for each model, the command that retrains it and a
reference prediction (a held-out grid spectrum at S/N 50, fixed seed) that
``tests/pretrained/test_models.py`` checks the shipped files against.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from atmoscope.data import read_grid
from atmoscope.data.splits import random_split, split_again
from atmoscope.errors import ConfigError
from atmoscope.models import load_estimator, load_model
from atmoscope.pretrained import CATALOG_FILE, FOLDER, reference_prediction
from atmoscope.training import TrainConfig
from atmoscope.workflows import train_bundle

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "grids"
#: An embedding small enough to ship (float16: 1.4–2.3 MB each) and train in minutes, and
#: the flow and optimiser they were trained with, stated in full: the library's defaults
#: may move (``atmoscope tune``) without changing what this script reproduces.
OPTIONS = {"width": 16, "stages": 3, "hidden": 128, "context": 64, "transforms": 4,
           "flow_hidden": 128, "bins": 8}
TRAINING = {"lr": 1e-3, "batch_size": 256, "weight_decay": 1e-4, "spectrum_mode": "log_row"}

#: name → what it is, the grid file, its flux unit (the files state none), the
#: wavelength range kept (µm) and the epochs (about 2,000 optimiser steps each).
MODELS = {
    "bobcat": {
        "description": "Sonora Bobcat (cloudless; Marley et al. 2021) at SpeX prism "
                       "resolution, 0.9–2.5 µm: SpeX, IRTF, FIRE, Euclid-like spectra",
        "grid": "sonora_bobcat_spex_prism.csv", "flux_unit": "erg / (s cm2 AA)",
        "wavelength_range": (0.9, 2.49), "epochs": 1000,
    },
    "bobcat-jwst": {
        "description": "Sonora Bobcat at JWST NIRSpec PRISM resolution, 0.6–5.3 µm, "
                       "3–5 µm CH4/CO/CO2 bands included",
        "grid": "sonora_bobcat_jwst_nirspec_prism.csv", "flux_unit": "erg / (s cm2 AA)",
        "wavelength_range": (0.6, 5.3), "epochs": 1000,
    },
    "diamondback": {
        "description": "Sonora Diamondback (cloudy, with sedimentation efficiency fsed; "
                       "Morley et al. 2024), 0.9–2.4 µm: L and early-T dwarfs",
        "grid": "sonora_diamondback_nir.csv", "flux_unit": "erg / (s cm2 AA)",
        "wavelength_range": (0.9, 2.4), "epochs": 700,
    },
}
SEED = 0


def train_config(spec: dict) -> TrainConfig:
    """How a model is trained: the whole one-cycle schedule runs (no early stop: 31
    validation spectra give a noisy loss); the best validation epoch is kept."""
    return TrainConfig(model="posterior", model_options=OPTIONS, epochs=spec["epochs"],
                       patience=spec["epochs"], extra_features="none", seed=SEED, **TRAINING)


def train(name: str, spec: dict, data: Path, threads: int = 2) -> dict:
    """Train one model into the package folder; returns its catalog entry."""
    grid = read_grid(data / spec["grid"], flux_unit=spec["flux_unit"], drop_duplicates="none")
    grid = grid.crop(*spec["wavelength_range"])
    split = random_split(grid.n_spectra, seed=SEED)
    config = train_config(spec)
    start = time.perf_counter()
    # the grids' flux is right only up to a constant: no radius from a distance
    bundle, _ = train_bundle(grid, split, config, None, flux_scale="arbitrary")
    seconds = time.perf_counter() - start
    target = bundle.save(FOLDER / name, grid=grid, weights_dtype="float16")
    estimator = load_estimator(target)  # the float16 weights as shipped
    return {
        "description": spec["description"],
        "grid_file": spec["grid"],
        "command": f"python scripts/train_pretrained.py --only {name}"
                   + (f" --threads {threads}" if threads != 2 else ""),
        "train_seconds": round(seconds, 1),
        "reference": reference_prediction(estimator, estimator.training_grid()),
    }


def shipped(name: str):
    """A shipped model's bundle, training grid and split (checked against the shipped)."""
    bundle = load_model(FOLDER / name)
    grid = bundle.training_grid()
    try:
        return bundle, grid, split_again(grid, bundle.split)
    except ConfigError as exc:
        raise SystemExit(f"{name}: {exc}") from None


def cross_fit(name: str, spec: dict, folds: int, workers: int, cache: Path) -> dict:
    """Replace the shipped model's systematic floor (fitted on its 31 validation nodes) by
    one cross-fitted on its training nodes (:func:`~atmoscope.training.cross_fit.
    cross_fitted_floor`: ``folds`` networks trained as it was, each without one fold),
    keeping its weights and novelty score. Returns its reference prediction."""
    from atmoscope.training.cross_fit import cross_fitted_floor

    bundle, grid, split = shipped(name)
    config = train_config(spec)
    # the options as the architecture records them (older bundles' training lacks some),
    # and neither calibration nor the device (CPU then, recorded since) changes the weights
    resolved = {k: v for k, v in asdict(config.resolved()).items()
                if k not in ("calibrate", "device")}
    trained = {**{k: bundle.training.get(k) for k in resolved},
               "model_options": bundle.architecture["options"]}
    if json.dumps(resolved, default=list) != json.dumps(trained, default=list):
        raise SystemExit(f"{name}: the shipped model was trained with another configuration")
    bundle.systematics = cross_fitted_floor(bundle, grid, split, config, folds=folds,
                                            workers=workers, seed=SEED, cache=cache / name,
                                            log=lambda line: print(f"{name}: {line}",
                                                                   flush=True))
    bundle.save(FOLDER / name, grid=grid, weights_dtype="float16")
    estimator = load_estimator(FOLDER / name)
    return reference_prediction(estimator, estimator.training_grid())


def recalibrate(name: str) -> dict:
    """Fit the shipped model's floor growth with missing pixels (``floor_per_missing``)
    on its validation nodes, keeping its weights, novelty score and floor: what training
    now fits at its end, here on the shipped (float16) weights. Returns its reference
    prediction."""
    from atmoscope.evaluation.calibration import fit_floor_growth

    bundle, grid, split = shipped(name)
    floor = np.asarray(bundle.systematics["floor"])
    bundle.systematics = {**bundle.systematics, **fit_floor_growth(
        bundle, grid, split.val, floor, seed=SEED)}
    bundle.save(FOLDER / name, grid=grid, weights_dtype="float16")
    estimator = load_estimator(FOLDER / name)
    return reference_prediction(estimator, estimator.training_grid())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(MODELS), default=None)
    parser.add_argument("--data", type=Path, default=DATA, help="Folder of the grids.")
    parser.add_argument("--threads", type=int, default=2,
                        help="Torch threads (results reproduce for the same count).")
    parser.add_argument("--recalibrate", action="store_true",
                        help="Keep the weights; refit the floor's growth with missing pixels.")
    parser.add_argument("--cross-fit", type=int, metavar="K", default=0,
                        help="Keep the weights; cross-fit the systematic floor over K folds "
                             "of the training nodes (K trainings).")
    parser.add_argument("--workers", type=int, default=1,
                        help="With --cross-fit: fold networks trained at once (one thread "
                             "each).")
    parser.add_argument("--cache", type=Path, default=REPO / ".cross-fit",
                        help="With --cross-fit: where each fold's samples are kept, so a "
                             "rerun trains only the folds not done.")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    catalog_path = FOLDER / CATALOG_FILE
    for name in args.only or MODELS:
        print(f"== {name}", flush=True)
        if args.cross_fit:
            reference = cross_fit(name, MODELS[name], args.cross_fit, args.workers, args.cache)
        elif args.recalibrate:
            reference = recalibrate(name)
        else:
            entry = train(name, MODELS[name], args.data, args.threads)
        # read again: another run (--only another model) may have written meanwhile
        catalog = json.loads(catalog_path.read_text()) if catalog_path.is_file() else {}
        catalog[name] = ({**catalog[name], "reference": reference}
                         if args.recalibrate or args.cross_fit else entry)
        ref = catalog[name]["reference"]
        print(f"{name}: {catalog[name]['train_seconds']} s; reference mean "
              f"{np.round(ref['mean'], 3).tolist()}", flush=True)
        catalog_path.write_text(json.dumps(catalog, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
