"""Shared fixtures of the test suite.

``shared_data`` finds the shared data folder (``$REFSIM_DATA`` or ``<repo>/../shared/data``)
and skips the test with a clear reason when it is absent. ``run`` runs the ``refsim`` command
line in-process (with ``infer`` / ``eval`` registered).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Hypothesis: no per-example deadline (the suite runs on shared, loaded machines; tests that
# guard against hangs set their own), and a fixed example sequence in CI (CI=true) so that a
# submission is judged on the same examples every time; local runs keep exploring new ones.
settings.register_profile("refsim", deadline=None)
settings.register_profile("refsim-ci", deadline=None, derandomize=True)
settings.load_profile("refsim-ci" if os.environ.get("CI") == "true" else "refsim")


def shared_data_path() -> Path:
    """``$REFSIM_DATA`` if set, else ``shared/data`` next to the repository."""
    env = os.environ.get("REFSIM_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder; skips when it does not exist."""
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path} (set REFSIM_DATA to the data folder)")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator: every test that uses it is reproducible."""
    return np.random.default_rng(20240601)


@pytest.fixture
def run(capsys):
    """``run(*argv) -> (code, stdout, stderr)`` of the ``refsim`` command line."""
    from refsim import cli

    def _run(*argv):
        code = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return _run
