"""Constants and helpers shared by test files in several folders."""

import os
import subprocess
import sys
from pathlib import Path

#: A small full-factorial synthetic grid: 4 × 9 × 3 × 3 = 324 spectra.
SMALL_NODES = {"gravity": [4.0, 4.5, 5.0, 5.5], "temperature": list(range(600, 1401, 100)),
               "c_o_ratio": [0.5, 1.0, 2.0], "metallicity": [-0.5, 0.0, 0.5]}

SCRIPT = Path(sys.executable).with_name("atmoscope")


def run(*args):
    """The installed console script, as a user runs it."""
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "100"}, timeout=300)
