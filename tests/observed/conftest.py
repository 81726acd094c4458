"""Fixtures of the observed-spectra tests.

Real files come from ``../shared/data`` (the ``shared_data`` fixture); small
synthetic files are written to ``tmp_path``. Expected counts were measured with
plain numpy/pandas on the files themselves.
"""

import pytest


@pytest.fixture(scope="module")
def observed(shared_data):
    return shared_data / "observed"
