"""Does a refactor keep training bit-identical? Train the same three small models with
two source trees and compare.

    git worktree add /tmp/old <commit>
    python benchmarks/same_training.py /tmp/old  /tmp/old.json
    python benchmarks/same_training.py .         /tmp/new.json
    python benchmarks/same_training.py --compare /tmp/old.json /tmp/new.json

Each run trains, on the real Sonora Bobcat grid with Teff nodes {700, 900, 1200, 1600,
2000} K held out and seed 3: the default CNN for 30 epochs, the flow posterior for 4 and
the TelescopeML preset for 3 (one thread; models a tree does not have are left out), and
records the validation-loss history, the first test predictions, the sum of |weights| and,
for the flow, posterior samples.
``--threads 2`` trains with two threads instead (run it twice on one tree to see whether
multi-threaded training repeats itself at all).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def record(tree: str, out: str, threads: int = 1) -> None:
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(Path(tree) / "src"))
    from atmoscope.data import read_grid
    from atmoscope.data.splits import node_split
    from atmoscope.training import TrainConfig
    try:
        from atmoscope.models import MODELS
        from atmoscope.workflows import train_bundle
    except ImportError:  # before the redesign
        from atmoscope.training.models import MODELS
        from atmoscope.training.workflow import train_bundle

    grid = read_grid(Path(__file__).resolve().parents[2] / "shared" / "data" / "grids"
                     / "sonora_bobcat_telescopeml104.csv", flux_unit="erg/(s cm2 Hz)")
    split = node_split(grid, {"temperature": [700, 900, 1200, 1600, 2000]}, seed=42)
    result = {}
    for model, epochs in (("default", 30), ("posterior", 4), ("telescopeml", 3)):
        if model not in MODELS:  # an older tree
            continue
        bundle, report = train_bundle(grid, split, TrainConfig(model=model, epochs=epochs,
                                                               seed=3), None, progress=False)
        weights = bundle.model.state_dict().values()
        result[model] = {"history": bundle.history["val_loss"],
                         "predictions": report["predictions"][:5].tolist(),
                         "abs_weights": float(sum(w.double().abs().sum() for w in weights
                                                  if w.dtype.is_floating_point))}
        if model == "posterior":
            rows = split.test[:3]
            samples = bundle.sample(grid.flux[rows], grid.flux[rows] / 20, 50, seed=1)
            result[model]["sample_means"] = samples.mean(axis=1).tolist()
    Path(out).write_text(json.dumps(result))


def compare(old: str, new: str) -> int:
    a, b = json.loads(Path(old).read_text()), json.loads(Path(new).read_text())
    same = True
    for model in a.keys() & b.keys():
        equal = a[model] == b[model]
        same &= equal
        print(f"{model:<12} {'identical' if equal else 'DIFFERENT'} "
              f"(sum |w| {a[model]['abs_weights']:.10g} vs {b[model]['abs_weights']:.10g})")
    return 0 if same else 1


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    threads = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--threads" else 1
    record(sys.argv[1], sys.argv[2], threads)
