"""Output noise, column current limit and the IR-drop heuristic of [R23]/aihwkit."""

import math

import numpy as np
import pytest

from refsim.devices import (NoiseConfig, add_output_noise_A, apply_ir_drop_rasch2023_A,
                            clip_column_current_A, draw_output_noise, ir_drop_rasch2023_delta_A,
                            output_noise_sigma_A)
from refsim.devices.config import IR_DROP_G_RATIO_DEFAULT
from tolerances import N_SIGMA, RTOL_EXACT, RTOL_FORMULA

G_MAX_S = 25e-6
V_REF_V = 0.2


def ir_drop_naive_normalized(w, x, scale, g_ratio):
    """Loop oracle transcribed from aihwkit's ``applyIrDrop`` (normalized units).

    w: (rows=n_in, cols=n_out) normalized weights; x: (n_in,) normalized input.
    Returns the corrected-away amount for each output (to be subtracted).
    """
    n_in, n_out = w.shape
    a_scale = n_in / g_ratio
    out = np.zeros(n_out)
    for i in range(n_out):
        current = 0.0
        for j in range(n_in):
            current += abs(w[j, i]) * abs(x[j])
        a = a_scale * current
        c = a * (a * (0.05 * a - 0.2) + 0.5)
        acc = 0.0
        for j in range(n_in):
            p = 1.0 - j / n_in
            acc += scale * w[j, i] * x[j] * (1.0 - p * p)
        out[i] = c * acc
    return out


def test_output_noise_statistics_and_sigma():
    assert output_noise_sigma_A(0.04, 10 * G_MAX_S * V_REF_V) == 0.04 * 10 * G_MAX_S * V_REF_V
    rng = np.random.default_rng(30)
    cfg = NoiseConfig(out_noise_rel=0.04)
    i = rng.uniform(-1e-5, 1e-5, (400, 100))
    sigma = output_noise_sigma_A(cfg.out_noise_rel, 5e-5)
    out = add_output_noise_A(i, draw_output_noise(i.shape, cfg, rng)["xi_out"], sigma_A=sigma)
    z = (out - i) / sigma
    n = z.size
    assert abs(z.mean()) < N_SIGMA / math.sqrt(n)
    assert abs(z.std(ddof=1) - 1) < N_SIGMA / math.sqrt(2 * (n - 1))
    assert draw_output_noise((2, 3), NoiseConfig(), rng) == {}
    np.testing.assert_array_equal(add_output_noise_A(i, np.ones_like(i), sigma_A=0.0), i)
    with pytest.raises(ValueError, match="i_ref_A"):
        output_noise_sigma_A(0.04, 0.0)


def test_column_current_limit():
    i = np.array([[-3e-4, -1e-4, 0.0, 1e-4, 3e-4]])
    np.testing.assert_array_equal(clip_column_current_A(i, 2e-4),
                                  [[-2e-4, -1e-4, 0.0, 1e-4, 2e-4]])
    np.testing.assert_array_equal(clip_column_current_A(i, None), i)
    with pytest.raises(ValueError, match="i_col_max_A"):
        clip_column_current_A(i, -1.0)


@pytest.mark.parametrize("rows, cols, g_ratio", [(8, 3, 50.0), (64, 5, IR_DROP_G_RATIO_DEFAULT),
                                                 (33, 7, 2000.0)])
def test_ir_drop_matches_naive_aihwkit_transcription(rows, cols, g_ratio):
    rng = np.random.default_rng(rows)
    g = rng.uniform(-G_MAX_S, G_MAX_S, (rows, cols))   # signed (G+ - G-) as in aihwkit
    v = rng.uniform(-V_REF_V, V_REF_V, (4, rows))
    delta = ir_drop_rasch2023_delta_A(v, g, scale=0.7, g_ratio=g_ratio, g_max_S=G_MAX_S,
                                      v_ref_V=V_REF_V)
    for b in range(4):
        ref = ir_drop_naive_normalized(g / G_MAX_S, v[b] / V_REF_V, 0.7, g_ratio)
        np.testing.assert_allclose(delta[b], ref * G_MAX_S * V_REF_V, rtol=RTOL_FORMULA,
                                   atol=1e-15 * G_MAX_S * V_REF_V)
    i = v @ g
    np.testing.assert_allclose(apply_ir_drop_rasch2023_A(i, v, g, scale=0.7, g_ratio=g_ratio,
                                                         g_max_S=G_MAX_S, v_ref_V=V_REF_V),
                               i - delta, rtol=RTOL_EXACT)


def test_ir_drop_properties():
    rng = np.random.default_rng(31)
    g = rng.uniform(0, G_MAX_S, (128, 4))
    v = rng.uniform(0, V_REF_V, (3, 128))
    kw = dict(g_max_S=G_MAX_S, v_ref_V=V_REF_V)
    # off: zero correction exactly
    assert np.all(ir_drop_rasch2023_delta_A(v, g, scale=0.0, g_ratio=1e3, **kw) == 0)
    # positive weights and inputs: the output drops, and more so with more wire resistance
    d_small = ir_drop_rasch2023_delta_A(v, g, scale=1.0, g_ratio=1e4, **kw)
    d_large = ir_drop_rasch2023_delta_A(v, g, scale=1.0, g_ratio=1e3, **kw)
    assert np.all(d_small > 0) and np.all(d_large > d_small)
    # linear in scale
    np.testing.assert_allclose(ir_drop_rasch2023_delta_A(v, g, scale=2.0, g_ratio=1e3, **kw),
                               2 * d_large, rtol=RTOL_EXACT)
    # position weight 1 - (1 - i/n)^2 is zero at row 0: only row 0 driven -> no correction
    v0 = np.zeros((1, 128))
    v0[0, 0] = V_REF_V
    assert np.all(ir_drop_rasch2023_delta_A(v0, g, scale=1.0, g_ratio=1e3, **kw) == 0)
    # small-a limit: c -> a / 2 (a ~ 4e-12 here, so the relative a^2 term is ~ 2e-12)
    d_tiny = ir_drop_rasch2023_delta_A(v, g, scale=1.0, g_ratio=1e15, **kw)
    a = 128 / 1e15 * (np.abs(v / V_REF_V) @ np.abs(g / G_MAX_S))
    pos = 1 - (1 - np.arange(128) / 128) ** 2
    np.testing.assert_allclose(d_tiny, 0.5 * a * (((v / V_REF_V) * pos) @ (g / G_MAX_S))
                               * G_MAX_S * V_REF_V, rtol=RTOL_FORMULA)


def test_ir_drop_units_consistency():
    # the correction is in amperes: scaling g_max and G by k and v_ref and v by m scales it by k m
    rng = np.random.default_rng(32)
    g = rng.uniform(0, G_MAX_S, (16, 3))
    v = rng.uniform(0, V_REF_V, (2, 16))
    d1 = ir_drop_rasch2023_delta_A(v, g, scale=1.0, g_ratio=100.0, g_max_S=G_MAX_S, v_ref_V=V_REF_V)
    d2 = ir_drop_rasch2023_delta_A(3 * v, 7 * g, scale=1.0, g_ratio=100.0, g_max_S=7 * G_MAX_S,
                                   v_ref_V=3 * V_REF_V)
    np.testing.assert_allclose(d2, 21 * d1, rtol=1e-12)
    with pytest.raises(ValueError, match="g_S: received shape .*; expected 16 rows"):
        ir_drop_rasch2023_delta_A(v, g[:8], scale=1.0, g_ratio=1.0, g_max_S=G_MAX_S,
                                  v_ref_V=V_REF_V)
    with pytest.raises(ValueError, match="v_ref_V"):
        ir_drop_rasch2023_delta_A(v, g, scale=1.0, g_ratio=1.0, g_max_S=G_MAX_S, v_ref_V=0.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ir_drop_from_sums_in_place_has_the_same_bits(dtype):
    """``overwrite=True`` (the training forward's form) gives the bits of the plain form and uses
    ``abs_sum`` as its scratch space; ``add_output_noise_into`` is ``z + sigma xi`` in place (O1)."""
    from refsim.devices import add_output_noise_into, ir_drop_rasch2023_from_sums

    rng = np.random.default_rng(3)
    a, p = (rng.random((9, 7)) * 40).astype(dtype), (rng.random((9, 7)) * 30).astype(dtype)
    ref = ir_drop_rasch2023_from_sums(a, p, 64, scale=1.0, g_ratio=IR_DROP_G_RATIO_DEFAULT)
    a2 = a.copy()
    got = ir_drop_rasch2023_from_sums(a2, p, 64, scale=1.0, g_ratio=IR_DROP_G_RATIO_DEFAULT, overwrite=True)
    assert got.dtype == ref.dtype == dtype and np.array_equal(got, ref) and not np.array_equal(a2, a)
    z, xi = rng.normal(size=(4, 5)).astype(dtype), rng.normal(size=(4, 5)).astype(dtype)
    expect = z + dtype(0.04) * xi
    out = add_output_noise_into(z, xi.copy(), 0.04)
    assert out is z and out.dtype == dtype and np.array_equal(out, expect)
