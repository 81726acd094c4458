"""Survey scale: the catalog engine on the SpeX Prism Library and on a synthetic survey.

Sections 1 and 2 time the command a user types, ``atmoscope predict ... --out``, in a
process of its own: Python's start-up, imports, planning, the workers and writing the
catalog all count.

1. **SpeX Prism Library.** All 2,960 files through the default pretrained posterior
   (``bobcat``) with 200 samples each: ``atmoscope predict
   '../shared/data/spex_prism_library/spectra/*.fits.gz' --out spex.parquet --samples
   200`` (local engine, one process per core). Start-up — spawning the worker processes,
   importing torch and loading the model in each — is timed on its own as the same
   command on 64 files (two chunks, two processes), and subtracted.
2. **One table file.** ``atmoscope survey synthetic`` spectra (the embedded Bobcat grid,
   S/N 20–200) in one Parquet file, 100 samples each, through the local engine and
   through Ray (``--engine ray``, a local Ray on this machine's cores): spectra per
   second for the whole command and after start-up (the same command on the first 2,048
   rows, one chunk per process, subtracted), and whether the two catalogs agree row for
   row.
3. **Where the time goes**: one chunk of 1,024 table spectra in one process, by stage.

Usage::

    python benchmarks/survey.py [--n-synthetic 100000] [--skip-spex] [--skip-ray]
    python benchmarks/survey.py --stages-only   # section 3 alone (prints; writes nothing)

Writes ``benchmarks/survey/results.md``.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from atmoscope.evaluation import synthetic_survey

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "survey"


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def predict(inputs: list[str], out: Path, *options: str) -> tuple[pd.DataFrame, float]:
    """``atmoscope predict INPUTS --out OUT OPTIONS`` in a process of its own: the
    catalog and the command's wall time."""
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "atmoscope", "predict", *inputs, "--out", str(out),
               *options]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return pd.read_parquet(out), time.perf_counter() - start


def spex(scratch: Path) -> list[str]:
    files = sorted(glob.glob(str(DATA / "spex_prism_library" / "spectra" / "*.fits.gz")))
    _, startup = predict(files[:64], scratch / "startup.parquet", "--samples", "200")
    table, wall = predict(files, scratch / "spex.parquet", "--samples", "200")
    ok = int((table.status == "ok").sum())
    per_chunk = startup  # 64 files: start-up plus one chunk per process
    return [
        "## 1. The SpeX Prism Library (2,960 files, `--samples 200`, local engine)",
        "",
        "| | value |",
        "|---|---|",
        f"| files | {len(files)} |",
        f"| predicted (status ok) | {ok} |",
        f"| wall, whole command | {wall:.1f} s |",
        f"| wall of 64 files (start-up + one chunk per process) | {per_chunk:.1f} s |",
        f"| wall after start-up (whole − 64-file run) | {wall - per_chunk:.1f} s |",
        f"| spectra/s after start-up (the other {len(files) - 64:,} files) | "
        f"{(len(files) - 64) / max(wall - per_chunk, 1e-9):.0f} |",
        "",
    ]


def table_file(scratch: Path, n: int, ray: bool) -> list[str]:
    survey, made = timed(synthetic_survey, scratch / "synthetic.parquet", n, seed=0,
                         progress=False)
    start = scratch / "start.parquet"  # its first rows: start-up and one chunk per process
    first = min(n, 2 * 1024)
    head, batches = pq.ParquetFile(survey), []  # only its first rows read, metadata kept
    for batch in head.iter_batches(batch_size=first):
        batches.append(batch)
        if sum(map(len, batches)) >= first:
            break
    pq.write_table(pa.Table.from_batches(batches, schema=head.schema_arrow).slice(0, first),
                   start)
    options = ("--model", "bobcat", "--samples", "100")
    lines = [
        f"## 2. One table file ({n:,} synthetic spectra, 100 samples each)",
        "",
        f"Written by `atmoscope survey synthetic` in {made:.1f} s. After start-up: the "
        f"whole command less the same command on the first {first:,} rows (start-up and one "
        "chunk per process), for the other rows.",
        "",
        "| engine | whole command (s) | spectra/s | first rows (s) | spectra/s after start-up "
        "| rows ok |",
        "|---|---|---|---|---|---|",
    ]
    catalogs = {}
    for engine, label in (("local", f"local ({os.cpu_count()} processes)"),
                          ("ray", f"ray (local Ray, {os.cpu_count()} CPUs)"))[:1 + ray]:
        _, t_start = predict([str(start)], scratch / f"{engine}-start.parquet", *options,
                             "--engine", engine)
        table, wall = predict([str(survey)], scratch / f"{engine}.parquet", *options,
                              "--engine", engine)
        catalogs[engine] = table
        after = f"{(n - first) / (wall - t_start):.0f}" if n > first and wall > t_start else "–"
        lines.append(f"| {label} | {wall:.1f} | {n / wall:.0f} | {t_start:.1f} | {after} | "
                     f"{int((table.status == 'ok').sum())} |")
    local = catalogs["local"]
    if ray:
        on_ray = catalogs["ray"][local.columns]
        numeric = local.select_dtypes("number").columns
        same = np.isclose(local[numeric].to_numpy(float), on_ray[numeric].to_numpy(float),
                          rtol=1e-6, equal_nan=True).all(axis=1)
        same &= (local.select_dtypes(exclude="number").astype(str).to_numpy()
                 == on_ray.select_dtypes(exclude="number").astype(str).to_numpy()).all(axis=1)
        lines += ["", f"Rows equal to the local engine's (to 1e-6): {int(same.sum())} of "
                  f"{len(same)}."]
    truths = pd.read_parquet(survey, columns=["temperature"])["temperature"].to_numpy()
    error = local["temperature_mean"].to_numpy() - truths
    lines += ["", f"Teff error against the truths: RMSE {np.sqrt(np.mean(error ** 2)):.1f} K, "
              f"median |error| {np.median(np.abs(error)):.1f} K.", ""]
    return lines


def stages(scratch: Path) -> list[str]:
    """One chunk of 1,024 table spectra in this process on one thread (as each worker of
    the local engine on two cores), timed stage by stage."""
    from atmoscope._device import limit_threads
    from atmoscope.observed.survey import read_survey_rows
    from atmoscope.prediction import Predictor
    from atmoscope.pretrained import model_path

    limit_threads(1)
    survey = scratch / "synthetic.parquet"
    if not survey.exists():
        synthetic_survey(survey, 4096, seed=0, progress=False)
    predictor = Predictor(model_path("bobcat"), n_samples=100)
    predictor.predict_many(predictor.prepared_many(read_survey_rows(survey, 0, 64)),
                           bands=False)  # warm
    batch, t_read = timed(read_survey_rows, survey, 1024, 2048)
    prepared, t_prepare = timed(predictor.prepared_many, batch)
    clock: dict[str, float] = {}
    for name in ("_sample", "_model_spectra", "_inflate", "_guards"):
        method = getattr(predictor, name)

        def wrapped(*args, _method=method, _name=name):
            start = time.perf_counter()
            _method(*args)
            clock[_name] = clock.get(_name, 0.0) + time.perf_counter() - start

        setattr(predictor, name, wrapped)
    _, t_predict = timed(predictor.predict_many, prepared, bands=False)
    rows = [("read (Parquet)", t_read), ("clean, convert, resample", t_prepare),
            ("posterior samples (network)", clock["_sample"]),
            ("best fit and χ² (Levenberg–Marquardt)", clock["_model_spectra"]),
            ("error inflation (poor fits: samples again)", clock["_inflate"]),
            ("novelty, edge fraction, flags", clock["_guards"]),
            ("rest (building predictions)", t_predict - sum(clock.values()))]
    total = t_read + t_prepare + t_predict
    return ["## 3. Where the time goes (1,024 table spectra, one process, 100 samples)", "",
            "| stage | s | ms per spectrum |", "|---|---|---|",
            *[f"| {name} | {t:.2f} | {1000 * t / 1024:.2f} |" for name, t in rows],
            f"| **total** | {total:.2f} | {1000 * total / 1024:.2f} |", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-synthetic", type=int, default=100_000)
    parser.add_argument("--skip-spex", action="store_true")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--stages-only", action="store_true",
                        help="Only the stage timings (section 3), printed.")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/atmoscope-survey-bench"))
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    if args.stages_only:
        print("\n".join(stages(args.scratch)))
        return
    for stale in args.scratch.glob("*.parquet"):
        stale.unlink()
    for parts in args.scratch.glob(".*.parts"):  # a killed run's: it would resume
        shutil.rmtree(parts)
    lines = ["# Survey-scale benchmark", "",
             f"`python benchmarks/survey.py --n-synthetic {args.n_synthetic}`, on "
             f"{os.cpu_count()} cores.", ""]
    if not args.skip_spex:
        lines += spex(args.scratch)
    lines += table_file(args.scratch, args.n_synthetic, not args.skip_ray)
    lines += stages(args.scratch)
    OUT.mkdir(exist_ok=True)
    (OUT / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
