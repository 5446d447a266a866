"""Shared tolerances, checkers and random parameters for the refsim.nn tests.

(Named test_nn_* so that it belongs with the nn tests; it defines no tests.)
"""
from __future__ import annotations

import numpy as np
import refsim

# Crossbar (ideal preset) vs exact digital path, and fast vs naive float64 oracles: both are
# the same real-number expression evaluated in another order (RTOL_EXACT); refsim vs PyTorch
# float64 (TOL_TORCH). Re-exported here for the nn tests.
from tolerances import RTOL_EXACT, TOL_TORCH  # noqa: F401


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


def test_rel_err_detects_a_wrong_answer():
    """The checker itself must fail on a wrong input (not only pass on a right one)."""
    a = np.array([1.0, 2.0, 3.0])
    assert rel_err(a, a) == 0.0
    assert rel_err(a + 1e-6, a) > RTOL_EXACT
    try:
        rel_err(np.array([np.nan, 1.0]), np.array([0.0, 1.0]))
    except AssertionError:
        pass
    else:
        raise AssertionError("rel_err accepted mismatched NaNs")
