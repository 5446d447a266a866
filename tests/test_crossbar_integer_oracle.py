"""Noise-free quantized crossbars against the exact integer oracle (refsim.oracles.crossbar.integer_oracle).

The strongest check of the suite: every ADC code equal to the bit, and ``y`` equal to the
exactly computed result to float64 round-off. Physical parameters are dyadic
(``strategies.DYADIC``): with decimal ones a decimal tie of the ADC is not a binary tie
and float64 cannot resolve it (refsim/adc.py). Shapes are tiny because the oracle is
exact rational arithmetic (slow).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import refsim
import refsim.reads
from refsim.oracles.crossbar import integer_oracle
from checks import assert_codes_equal, assert_y_exact, check_against_oracle, term_scale
from strategies import DYADIC, arrays, quantized_configs, quantized_problems
from tolerances import PLANTED_RELATIVE_ERROR, RTOL_EXACT

# ~10 ms per example (tiny shapes), so 200 examples take ~2 s; a 4000-example run found no failure.
ORACLE_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the property ----------------------------------------------------------------------
@ORACLE_SETTINGS
@given(quantized_problems())
def test_quantized_pipeline_equals_integer_oracle(problem):
    cfg, w, x = problem
    check_against_oracle(cfg, w, x)


@pytest.mark.parametrize("preset", ["int8", "bitserial_int8"])
def test_presets_equal_integer_oracle(preset, rng):
    cfg = refsim.presets.get(preset).replace(**DYADIC)
    w = rng.normal(size=(6, 4))
    x = rng.normal(size=(2, 6))
    check_against_oracle(cfg, w, x)


def test_tiled_preset_equals_integer_oracle(rng):
    # xiao2022 uses decimal conductances; make them dyadic and shrink the arrays so tiling happens
    cfg = refsim.presets.get("xiao2022_resnet50").replace(
        **DYADIC, **{"array.rows_max": 4, "array.cols_max": 2}
    )
    w = rng.normal(size=(6, 4))
    x = rng.normal(size=(2, 6))
    tr, _ = check_against_oracle(cfg, w, x)
    assert len(tr.tiles) == 4


# -- lossless reads equal the digital integer computation ------------------------------
def lossless_config(scheme="differential_one_sided", w_bits=4, dac_bits=4, adc_bits=10, **more):
    """An ADC whose LSB is exactly one unit of ``c * q`` current, so nothing is rounded:

    ``I = v_read/c_max * dG/L * sum_i c_i q_i`` (g_min = 0, one-sided, in-array), so with
    ``range_A = N * v_read * dG / (L * c_max)`` the code is the integer dot product ``sum_i c_i q_i``.
    """
    cfg = refsim.presets.get("ideal").replace(**{
        **DYADIC, "mapping.g_min_S": 0.0, "mapping.scheme": scheme, "weight.bits": w_bits, "dac.bits": dac_bits,
    })
    big_l = 2 ** (w_bits - 1) - 1
    c_max = cfg.dac.code_max
    n_levels = 2 ** (adc_bits - 1) - 1
    unit = cfg.dac.v_read_V * cfg.mapping.g_max_S / (big_l * c_max)
    return cfg.replace(**{"adc.bits": adc_bits, "adc.range_mode": "fixed", "adc.range_A": n_levels * unit}, **more)


def digital_integer_parts(w, x, cfg):
    """DAC codes c, weight levels q and the scales of the digital computation, computed here by hand."""
    big_q = 2 ** (cfg.weight.bits - 1) - 1
    c_max = cfg.dac.code_max
    w_max = np.max(np.abs(w)) or 1.0  # an all-zero matrix gets range 1 (its levels are 0 anyway)
    q = np.rint(w / w_max * big_q).astype(np.int64)
    x_max = np.max(np.abs(x), axis=1, keepdims=True)
    x_max[x_max == 0] = 1.0
    # (D2) rounds the exact quotient x c_max / x_max (float64's x / x_max * c_max rounds twice and can
    # cross a tie: 1/3 of a range of 6 at c_max = 63 is 3.4999..., code 3, not 4)
    c = np.array([[round(Fraction(float(v)) * c_max / Fraction(float(m))) for v in row]
                  for row, m in zip(x, x_max[:, 0])], dtype=np.int64).reshape(x.shape)
    return c, q, x_max / c_max, w_max / big_q


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_lossless_adc_equals_digital_integer_matmul(data):
    n_in, n_out, batch = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3))
    w = data.draw(arrays((n_in, n_out)))
    x = data.draw(arrays((batch, n_in)))
    cfg = lossless_config()
    tr = refsim.Crossbar(w, cfg).trace(x)
    c, q, x_unit, w_unit = digital_integer_parts(w, x, cfg)
    codes = tr.adc_codes()["t0.s0.net.all"]
    np.testing.assert_array_equal(codes, c @ q)  # bit exact: ADC code == integer dot product
    y_digital = (c @ q) * x_unit * w_unit
    assert_y_exact(tr.y, y_digital, x, w, cfg)
    assert tr.adc_clip_fraction == 0.0


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_ideal_adc_equals_digital_quantized_matmul(data):
    """Ideal ADC, quantized weights and DAC: y = (DAC-quantized x) @ (quantized W), every scheme."""
    scheme = data.draw(st.sampled_from(("differential_one_sided", "differential_two_sided", "offset")))
    n_in, n_out, batch = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3))
    w = data.draw(arrays((n_in, n_out)))
    x = data.draw(arrays((batch, n_in)))
    cfg = refsim.presets.get("ideal").replace(**{
        "mapping.scheme": scheme, "weight.bits": data.draw(st.integers(2, 8)), "dac.bits": data.draw(st.integers(2, 8)),
    })
    c, q, x_unit, w_unit = digital_integer_parts(w, x, cfg)
    y = refsim.Crossbar(w, cfg).matvec(x)
    assert_y_exact(y, (c @ q) * x_unit * w_unit, x, w, cfg)


def test_adc_clip_fraction_counts_clipped_dot_products(rng):
    """With a lossless LSB and a 5-bit ADC (N = 15), a code clips exactly when |c @ q| > 15."""
    cfg = lossless_config(adc_bits=5)
    w = rng.normal(size=(6, 4))
    x = rng.normal(size=(20, 6))
    tr = refsim.Crossbar(w, cfg).trace(x)
    c, q, _, _ = digital_integer_parts(w, x, cfg)
    dots = c @ q
    expected = np.count_nonzero(np.abs(dots) > 15) / dots.size
    assert 0 < expected < 1  # the data exercises both sides
    assert tr.adc_clip_fraction == expected
    np.testing.assert_array_equal(tr.adc_codes()["t0.s0.net.all"], np.clip(dots, -15, 15))


def test_adc_clip_fraction_unsigned_clips_negative_currents(rng):
    cfg = lossless_config(adc_bits=10).replace(**{"adc.signed": False, "adc.range_A": 1023 * lossless_unit()})
    w = rng.normal(size=(6, 4))
    x = rng.normal(size=(20, 6))
    tr = refsim.Crossbar(w, cfg).trace(x)
    c, q, _, _ = digital_integer_parts(w, x, cfg)
    dots = c @ q
    assert tr.adc_clip_fraction == np.count_nonzero(dots < 0) / dots.size
    np.testing.assert_array_equal(tr.adc_codes()["t0.s0.net.all"], np.maximum(dots, 0))


def lossless_unit() -> float:
    """The current of one unit of ``c * q`` in :func:`lossless_config` (4-bit weights and DAC)."""
    return DYADIC["dac.v_read_V"] * DYADIC["mapping.g_max_S"] / (7 * 7)


# -- the oracle comparison can fail ------------------------------------------------------
def test_oracle_catches_planted_off_by_one(monkeypatch, rng):
    cfg = refsim.presets.get("int8").replace(**DYADIC)
    w = rng.normal(size=(5, 3))
    x = rng.normal(size=(2, 5))
    check_against_oracle(cfg, w, x)  # correct simulator: passes

    real = refsim.reads.adc_convert

    def off_by_one(*args, **kwargs):
        k, n_clipped = real(*args, **kwargs)
        k = k.copy()
        k[0, 0] += 1  # one code of one conversion, one LSB too high
        return k, n_clipped

    monkeypatch.setattr(refsim.reads, "adc_convert", off_by_one)
    with pytest.raises(AssertionError, match="ADC codes"):
        check_against_oracle(cfg, w, x)


def test_exact_float_check_catches_perturbed_result(rng):
    cfg = refsim.presets.get("int8").replace(**DYADIC)
    w = rng.normal(size=(5, 3))
    x = rng.normal(size=(2, 5))
    ref = integer_oracle(w, x, cfg)
    y = refsim.Crossbar(w, cfg).matvec(x)
    assert_y_exact(y, ref["y"], x, w, cfg)
    y_bad = y.copy()
    y_bad[1, 2] += PLANTED_RELATIVE_ERROR * term_scale(x, w, cfg)[1, 0]
    with pytest.raises(AssertionError, match="max error"):
        assert_y_exact(y_bad, ref["y"], x, w, cfg)


@settings(max_examples=20, deadline=None)
@given(quantized_configs(schemes=("differential_one_sided",)))
def test_oracle_codes_depend_on_the_config(cfg):
    """Sanity of the harness: the keys cover every read the simulator made."""
    w = np.array([[1.0, -0.5], [0.25, 0.75]])
    x = np.array([[0.5, -1.0]]) if cfg.dac.signed else np.array([[0.5, 1.0]])
    tr, ref = check_against_oracle(cfg, w, x)
    n_reads = sum(len(t.reads) for t in tr.tiles)
    assert len(tr.adc_codes()) == (n_reads if cfg.adc.bits is not None else 0)


# -- aihwkit conventions (docs/MODEL.md D8, D7, A9) ------------------------------------
@pytest.mark.parametrize("dac_more, adc_more", [
    ({"bits": 8}, {"bits": 8}),
    ({"bits": 7, "full_scale_code": 50}, {"bits": 8, "full_scale_code": 100}),
    ({"bits": 8, "range_mode": "average_abs_max"}, {"bits": 6}),
    ({"bits": 8, "range_mode": "fixed", "x_max": 0.75}, {"bits": None, "clip_ideal": True, "range_A": 0.5}),
    ({"bits": 8, "range_mode": "max", "x_max_cap": 0.875}, {"bits": 7}),
    ({"bits": 7, "range_mode": "abs_max", "x_max_cap": 0.75}, {"bits": 7}),
    ({"bits": 7, "range_mode": "abs_max_np_sum", "nm_out_bound": 0.5, "nm_max_bm_res": 0.05}, {"bits": 8}),
])
def test_aihwkit_conventions_equal_integer_oracle(dac_more, adc_more, rng):
    """Quantized weights with aihwkit's float32 DAC codes (D7), its step counts (full_scale_code),
    its running-average range (D8) and its clipping ideal ADC (A9): every code and y exact. The
    inputs include values on DAC decision levels (x c_max / x_max = m + 1/2)."""
    base = refsim.presets.get("int8").replace(**DYADIC)
    adc_range = 4 * base.mapping.g_max_S * base.dac.v_read_V  # 4 unit currents
    dac = {"arithmetic": "aihwkit_float32", **dac_more}
    adc = {"range_mode": "fixed", **adc_more, "range_A": adc_range * adc_more.get("range_A", 1.0)}  # in unit currents
    cfg = base.replace(**{f"dac.{k}": v for k, v in dac.items()}, **{f"adc.{k}": v for k, v in adc.items()})
    w = rng.normal(size=(6, 4))
    c_max = cfg.dac.code_max
    x = (rng.integers(-c_max, c_max, size=(5, 6)) + 0.5) / c_max * rng.uniform(0.5, 2, size=(5, 1))
    x[:, 0] = np.max(np.abs(x), axis=1)  # the range itself is the first input
    x[1] = -np.abs(x[1])  # no positive input: a "max" range reads zero
    x = x.astype(np.float32).astype(np.float64)  # aihwkit's inputs are float32
    check_against_oracle(cfg, w, x)
    if adc_more.get("clip_ideal"):  # the clip acted: without it the result differs
        unclipped = cfg.replace(**{"adc.clip_ideal": False, "adc.range_mode": "max", "adc.range_A": None})
        assert not np.allclose(refsim.Crossbar(w, unclipped).matvec(x), refsim.Crossbar(w, cfg).matvec(x))


def test_aihwkit_float32_codes_decide_the_bound_management_tie(rng):
    """A bound-management re-read (x_max doubled) puts the largest input at c_max / 2 = 63.5 codes:
    the exact rule (D2) gives 64 (half to even) for every range, aihwkit's float32 order (D7) gives
    63 or 64 depending on the range's float32 rounding, as the scalar formula written out says."""
    from refsim.dac import aihwkit_float32_codes, dac_codes
    a = rng.uniform(0.1, 10.0, 400).astype(np.float32).astype(np.float64)
    x = np.stack([a, -a / 3], axis=1)
    c_f32, _ = aihwkit_float32_codes(x, 2 * a, 127)
    c_ex, _ = dac_codes(x, 2 * a, refsim.DACConfig(bits=8))
    assert np.all(c_ex[:, 0] == 64)
    r = np.float32(np.float32(1 / 254) * np.float32(2))
    for k in range(len(a)):
        s = np.float32(1) / np.float32(2 * a[k])
        assert c_f32[k, 0] == np.rint(np.float32(np.float32(np.float32(a[k]) * s) / r))
    assert set(np.unique(c_f32[:, 0])) == {63.0, 64.0}
