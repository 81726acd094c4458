"""Fixtures shared by test files in several folders: data folders, small grids and
the trained models that take a while (trained once a session)."""

import os
from pathlib import Path

import pytest

import atmoscope.observed.formats as formats
from atmoscope.data import read_grid, write_grid
from atmoscope.data.splits import node_split, random_split
from atmoscope.synthetic import synthetic_grid
from atmoscope.training import TrainConfig
from atmoscope.workflows import train_bundle
from tests.helpers import SMALL_NODES

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: skipped where absent, but a failure under CI."""
    if not SHARED_DATA.is_dir():
        message = f"shared data folder {SHARED_DATA} is missing"
        if os.environ.get("CI"):
            pytest.fail(message + " (required when CI is set)")
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(scope="session")
def grids(shared_data) -> Path:
    return shared_data / "grids"


@pytest.fixture(scope="module")
def small():
    return synthetic_grid(SMALL_NODES)  # 324 spectra


@pytest.fixture(scope="module")
def small_file(small, tmp_path_factory):
    return write_grid(small, tmp_path_factory.mktemp("grid") / "small.parquet")


@pytest.fixture(scope="session")
def small_split():
    """The small grid and a split that holds out the Teff 900 and 1200 K nodes."""
    grid = synthetic_grid(SMALL_NODES)
    return grid, node_split(grid, {"temperature": [900.0, 1200.0]}, seed=0)


@pytest.fixture(scope="session")
def posterior_bundle(small_split, tmp_path_factory):
    grid, split = small_split
    path = tmp_path_factory.mktemp("posterior") / "flow"
    bundle, _ = train_bundle(grid, split, TrainConfig(model="posterior", epochs=40, seed=1),
                             path, progress=False, snrs=(20,))
    return bundle, path


@pytest.fixture(scope="session")
def bobcat_ensemble(grids, tmp_path_factory):
    """Two small scale-free models trained on the real Bobcat grid (F_nu shape)."""
    grid = read_grid(grids / "sonora_bobcat_telescopeml104.csv", flux_unit="erg / (s cm2 Hz)")
    folder = tmp_path_factory.mktemp("ensemble")
    split = random_split(grid.n_spectra, seed=0)
    for seed in (0, 1):
        train_bundle(grid, split, TrainConfig(model="rescnn", epochs=40, seed=seed,
                                              extra_features="none"),
                     folder / f"member-{seed}", progress=False, snrs=())
    return folder


@pytest.fixture
def readers(monkeypatch):
    """A private copy of the registry, so a test's formats do not outlive it."""
    monkeypatch.setattr(formats, "SPECTRUM_READERS", formats.SPECTRUM_READERS.copy())
    return formats.SPECTRUM_READERS
