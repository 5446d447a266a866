"""Every tutorial runs top to bottom and passes its own final check (exit code 0).

Tutorials are found by glob (``tutorials/[0-9][0-9]_*.py``), so new ones are picked up
automatically. A tutorial that reads ``REFSIM_TUTORIAL_SMALL`` is also run with it set to 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((REPO / "tutorials").glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 600


def _cases():
    for path in TUTORIALS:
        yield pytest.param(path, False, id=path.stem)
        if "REFSIM_TUTORIAL_SMALL" in path.read_text():
            yield pytest.param(path, True, id=f"{path.stem}-small")


def test_tutorials_exist():
    assert TUTORIALS, f"no tutorials found under {REPO / 'tutorials'}"
    assert TUTORIALS[0].name.startswith("01_")


@pytest.mark.slow
@pytest.mark.parametrize("path, small", list(_cases()))
def test_tutorial_runs(path: Path, small: bool):
    env = dict(os.environ)
    env.pop("REFSIM_TUTORIAL_SMALL", None)
    if small:
        env["REFSIM_TUTORIAL_SMALL"] = "1"
    proc = subprocess.run(
        [sys.executable, str(path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{path.name} (small={small}) exited with {proc.returncode}\n"
            f"--- stderr ---\n{proc.stderr[-6000:]}\n--- stdout (tail) ---\n{proc.stdout[-3000:]}",
            pytrace=False,
        )


def test_tutorial_index_lists_every_tutorial():
    index = (REPO / "tutorials" / "README.md").read_text()
    missing = [p.name for p in TUTORIALS if p.name not in index]
    assert not missing, f"tutorials/README.md does not list {missing}"
