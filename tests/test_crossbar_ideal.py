"""The ideal crossbar equals exact float64 math: ``matvec(x) == x @ W`` to round-off,
for every mapping scheme, subtraction place, offset removal and tiling.

Round-off is measured against the magnitude of the summed terms,
``sum_i |x_i| * max|W|`` (:func:`ideal_bound`), since ``|y|`` itself can cancel to 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refsim
from refsim.oracles.crossbar import matmul_naive
from strategies import SCHEMES, arrays, ideal_configs, problems, seeded_problems, tiling_changes
from tolerances import PLANTED_RELATIVE_ERROR, RTOL_EXACT

IDEAL_SETTINGS = settings(max_examples=150, deadline=None)


def ideal_bound(x: np.ndarray, w: np.ndarray, rtol: float = RTOL_EXACT) -> np.ndarray:
    """Allowed error per output: ``rtol * sum_i |x_i| * max|W|`` (shape ``(..., 1)``)."""
    w_mag = float(np.max(np.abs(w))) or 1.0  # an all-zero W gets the range w_max = 1
    return rtol * np.abs(x).sum(axis=-1, keepdims=True) * w_mag + np.finfo(float).tiny


def assert_ideal(y: np.ndarray, y_ref: np.ndarray, x: np.ndarray, w: np.ndarray, rtol: float = RTOL_EXACT):
    """Reference-first helper: ``|y - y_ref| <= ideal_bound`` elementwise, with a readable failure."""
    assert y.shape == y_ref.shape, f"shape {y.shape} != {y_ref.shape}"
    err = np.abs(y - y_ref)
    bound = ideal_bound(x, w, rtol)
    assert np.all(err <= bound), f"max error {err.max():.3e} exceeds the bound {bound.min():.3e}"


# -- the ideal preset -----------------------------------------------------------------------
@IDEAL_SETTINGS
@given(st.one_of(problems(max_in=12, max_out=6, max_batch=3), seeded_problems(max_in=200, max_out=40)))
def test_ideal_preset_equals_float64_matmul(problem):
    w, x = problem
    y = refsim.Crossbar(w, refsim.presets.get("ideal")).matvec(x)
    assert_ideal(y, x @ w, x, w)


@IDEAL_SETTINGS
@given(st.data())
def test_every_ideal_mapping_and_tiling_equals_float64_matmul(data):
    """"The mapping schemes agree when ideal": every scheme, subtraction, offset removal, tiling."""
    cfg = data.draw(ideal_configs(max_rows=12, max_cols=6))
    w, x = data.draw(st.one_of(problems(max_in=8, max_out=5, max_batch=2), seeded_problems(max_in=40, max_out=14)))
    xb = refsim.Crossbar(w, cfg)
    assert_ideal(xb.matvec(x), x @ w, x, w)
    tr = xb.trace(x)
    assert_ideal(tr.y_steps, x @ w, x, w)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_ideal_equals_naive_oracle_on_small_cases(data):
    cfg = data.draw(ideal_configs())
    w, x = data.draw(problems(max_in=6, max_out=4, max_batch=2))
    assert_ideal(refsim.Crossbar(w, cfg).matvec(x), matmul_naive(x, w), x, w)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("subtraction", ["in_array", "digital"])
@pytest.mark.parametrize("offset_removal", ["digital", "reference_column"])
def test_mapping_schemes_agree_when_ideal(scheme, subtraction, offset_removal, rng):
    w = rng.normal(size=(37, 11))
    x = rng.normal(size=(5, 37))
    cfg = refsim.presets.get("ideal").replace(**{
        "mapping.scheme": scheme, "mapping.subtraction": subtraction, "mapping.offset_removal": offset_removal,
        "array.rows_max": 16, "array.cols_max": 4,
    })
    y = refsim.Crossbar(w, cfg).matvec(x)
    y_one_sided = refsim.Crossbar(w, refsim.presets.get("ideal")).matvec(x)
    assert_ideal(y, x @ w, x, w)
    assert_ideal(y, y_one_sided, x, w)


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_tiling_leaves_ideal_result_unchanged(data):
    w, x = data.draw(seeded_problems(max_in=24, max_out=12))
    cfg = data.draw(ideal_configs(max_rows=1))  # any mapping, untiled...
    cfg = cfg.replace(**{"array.rows_max": None, "array.cols_max": None})
    tiled = cfg.replace(**data.draw(tiling_changes(max_rows=8, max_cols=5)))
    assert_ideal(refsim.Crossbar(w, tiled).matvec(x), refsim.Crossbar(w, cfg).matvec(x), x, w)


def test_ideal_handles_leading_batch_dimensions(rng):
    w = rng.normal(size=(7, 3))
    x = rng.normal(size=(2, 4, 7))
    xb = refsim.Crossbar(w, refsim.presets.get("ideal"))
    y = xb.matvec(x)
    assert y.shape == (2, 4, 3)
    assert_ideal(y, x @ w, x, w)
    assert_ideal(xb.matvec(x[0, 0]), x[0, 0] @ w, x[0, 0], w)  # a single vector (n_in,) -> (n_out,)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_linear_path_and_step_by_step_agree(data):
    """For a linear pipeline ``matvec`` uses the effective matrix; ``Trace.y_steps`` runs every step."""
    cfg = data.draw(ideal_configs())
    w, x = data.draw(problems(max_in=12, max_out=6, max_batch=3))
    tr = refsim.Crossbar(w, cfg).trace(x)
    assert tr.path == "linear_effective_matrix"
    assert_ideal(tr.y_steps, tr.y, x, w)


def test_ideal_check_catches_a_perturbed_result(rng):
    """The checker is not vacuous: a relative error of 1e-9 in one output is detected."""
    w = rng.normal(size=(9, 4))
    x = rng.normal(size=(3, 9))
    y = refsim.Crossbar(w, refsim.presets.get("ideal")).matvec(x)
    assert_ideal(y, x @ w, x, w)
    y_bad = y.copy()
    y_bad[2, 1] += PLANTED_RELATIVE_ERROR * ideal_bound(x, w, 1.0)[2, 0]
    with pytest.raises(AssertionError, match="exceeds the bound"):
        assert_ideal(y_bad, x @ w, x, w)


@settings(max_examples=40, deadline=None)
@given(arrays((5, 3)), arrays((2, 5)), st.sampled_from((1e-7, 1e-6, 1e-5)), st.sampled_from((2e-5, 1e-4)))
def test_ideal_is_independent_of_physical_units(w, x, g_min, g_max):
    """Conductances and read voltage change the currents, never the ideal result."""
    cfg = refsim.presets.get("ideal").replace(**{"mapping.g_min_S": g_min, "mapping.g_max_S": g_max,
                                                 "dac.v_read_V": 0.05})
    assert_ideal(refsim.Crossbar(w, cfg).matvec(x), x @ w, x, w)
