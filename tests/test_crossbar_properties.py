"""Physics and bookkeeping invariants of the crossbar pipeline.

Weight slicing round-trips; negating W negates y (exactly where the pipeline is
symmetric); zero input gives zero output; trace == matvec bit for bit; lossless
recombination of slices and passes; clip fractions computed independently.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import refsim
from refsim.config import WeightConfig, weight_magnitude_bits
from refsim.weights import combine_slices, device_levels, quantize_weights, slice_levels
from strategies import (
    DYADIC,
    SCHEMES,
    SYMMETRIC_SCHEMES,
    arrays,
    ideal_configs,
    problems,
    quantized_configs,
    seeded_problems,
    weight_changes,
)
from tolerances import RTOL_EXACT

PROP_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def any_config():
    """Ideal or noise-free quantized configs."""
    return st.one_of(ideal_configs(), quantized_configs())


def signed_adc_bits(cfg):
    """The config's ADC bits, raised to 2 where 1 bit leaves a signed ADC no magnitude bit."""
    return None if cfg.adc.bits is None else max(cfg.adc.bits, 2)


def term_bound(x, w, cfg, rtol=RTOL_EXACT):
    x_mag = np.abs(x)
    if cfg.dac.range_mode == "fixed":
        x_mag = np.minimum(x_mag, cfg.dac.x_max)
    w_mag = max(float(np.max(np.abs(w))) or 1.0, cfg.weight.w_max or 0.0)  # all-zero W: w_max = 1
    return rtol * x_mag.sum(axis=-1, keepdims=True) * w_mag + np.finfo(float).tiny


# -- weight slicing ---------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.data())
def test_weight_slices_round_trip(data):
    scheme = data.draw(st.sampled_from(SCHEMES))
    changes = data.draw(weight_changes(scheme, max_bits=12))
    wc = WeightConfig(**{k.split(".")[1]: v for k, v in changes.items()})
    w_norm = data.draw(arrays((4, 3), bound=1.0))
    q = quantize_weights(w_norm, wc.bits)
    mag_bits = weight_magnitude_bits(wc.bits, scheme)
    for name, lv in device_levels(w_norm, q, wc.bits, scheme).items():
        assert np.all((lv >= 0) & (lv < 2**mag_bits)), name
        slices = slice_levels(lv, wc, scheme)
        assert len(slices) == wc.n_slices
        np.testing.assert_array_equal(combine_slices(slices), lv)
        shifts = [shift for _, shift, _ in slices]
        assert shifts[0] == 0 and shifts == sorted(set(shifts))
        for k, (s, shift, big_l) in enumerate(slices):
            width = (shifts[k + 1] if k + 1 < len(shifts) else mag_bits) - shift
            assert s.dtype == np.int64
            assert np.all((s >= 0) & (s <= big_l) & (s < 2**width)), (k, s, big_l)
            assert 1 <= big_l <= 2**width - 1


# -- symmetry -----------------------------------------------------------------------------
@PROP_SETTINGS
@given(st.data())
def test_negating_weights_negates_output_exactly(data):
    """Differential schemes, in-array subtraction, signed (or ideal) ADC: every step is odd in W
    (G+ and G- swap, the net current negates, round-half-even is odd), so y(-W) == -y(W) bit for bit."""
    cfg = data.draw(st.one_of(ideal_configs(schemes=SYMMETRIC_SCHEMES),
                              quantized_configs(schemes=SYMMETRIC_SCHEMES)))
    cfg = cfg.replace(**{"mapping.subtraction": "in_array", "adc.signed": True, "adc.bits": signed_adc_bits(cfg)})
    w, x = data.draw(problems(nonneg_x=not cfg.dac.signed))
    y = refsim.Crossbar(w, cfg).matvec(x)
    y_neg = refsim.Crossbar(-w, cfg).matvec(x)
    np.testing.assert_array_equal(y_neg, -y)


@PROP_SETTINGS
@given(st.data())
def test_negating_weights_with_digital_subtraction_swaps_codes(data):
    """Digital subtraction: the G+ and G- reads swap (codes equal exactly, any ADC); y negates
    up to the order of the digital sum (round-off)."""
    cfg = data.draw(quantized_configs(schemes=SYMMETRIC_SCHEMES)).replace(**{"mapping.subtraction": "digital"})
    w, x = data.draw(problems(nonneg_x=not cfg.dac.signed))
    tr, tr_neg = refsim.Crossbar(w, cfg).trace(x), refsim.Crossbar(-w, cfg).trace(x)
    codes, codes_neg = tr.adc_codes(), tr_neg.adc_codes()
    for key, val in codes.items():
        swapped = key.replace(".pos.", ".tmp.").replace(".neg.", ".pos.").replace(".tmp.", ".neg.")
        np.testing.assert_array_equal(codes_neg[swapped], val)
    assert np.all(np.abs(tr_neg.y + tr.y) <= term_bound(x, w, cfg))


@PROP_SETTINGS
@given(st.data())
def test_negating_weights_offset_scheme_ideal(data):
    """The offset scheme is not odd in W cell by cell (G(w) + G(-w) = 2 G_mid), but after exact offset
    removal an ideal one is, to round-off."""
    cfg = data.draw(ideal_configs(schemes=("offset",)))
    w, x = data.draw(problems())
    y = refsim.Crossbar(w, cfg).matvec(x)
    y_neg = refsim.Crossbar(-w, cfg).matvec(x)
    assert np.all(np.abs(y_neg + y) <= term_bound(x, w, cfg))


@PROP_SETTINGS
@given(st.data())
def test_negating_signed_inputs_negates_output(data):
    """A signed DAC with a per-vector range is odd in x; with in-array differential reads and a signed
    ADC, y(-x) == -y(x) exactly."""
    cfg = data.draw(quantized_configs(schemes=SYMMETRIC_SCHEMES))
    cfg = cfg.replace(**{
        "mapping.subtraction": "in_array", "adc.signed": True, "dac.signed": True, "dac.slice_bits": None,
        "dac.bits": 4, "dac.range_mode": "abs_max", "adc.bits": signed_adc_bits(cfg),
    })
    w, x = data.draw(problems())
    xb = refsim.Crossbar(w, cfg)
    np.testing.assert_array_equal(xb.matvec(-x), -xb.matvec(x))


# -- zeros ---------------------------------------------------------------------------------
@PROP_SETTINGS
@given(st.data())
def test_zero_input_gives_zero_output(data):
    cfg = data.draw(any_config())
    w, _ = data.draw(problems())
    batch = data.draw(st.integers(1, 3))
    xb = refsim.Crossbar(w, cfg)
    y = xb.matvec(np.zeros((batch, w.shape[0])))
    np.testing.assert_array_equal(y, np.zeros((batch, w.shape[1])))
    tr = xb.trace(np.zeros((batch, w.shape[0])))
    assert tr.adc_clip_fraction == 0.0 and tr.dac_clip_fraction == 0.0


@PROP_SETTINGS
@given(st.data())
def test_zero_weights_give_zero_output_differential(data):
    """All-zero W: G+ == G- cell by cell, so an in-array read is exactly 0."""
    cfg = data.draw(st.one_of(ideal_configs(schemes=SYMMETRIC_SCHEMES), quantized_configs(schemes=SYMMETRIC_SCHEMES)))
    cfg = cfg.replace(**{"mapping.subtraction": "in_array"})
    _, x = data.draw(problems(nonneg_x=not cfg.dac.signed))
    n_out = data.draw(st.integers(1, 4))
    y = refsim.Crossbar(np.zeros((x.shape[1], n_out)), cfg).matvec(x)
    np.testing.assert_array_equal(y, np.zeros((x.shape[0], n_out)))


# -- trace and paths -------------------------------------------------------------------------
@PROP_SETTINGS
@given(st.data())
def test_trace_y_equals_matvec_bit_for_bit(data):
    cfg = data.draw(any_config())
    w, x = data.draw(problems(nonneg_x=not cfg.dac.signed))
    xb = refsim.Crossbar(w, cfg)
    tr = xb.trace(x)
    np.testing.assert_array_equal(tr.y, xb.matvec(x))
    if tr.path == "step_by_step":
        np.testing.assert_array_equal(tr.y_steps, tr.y)
    else:
        assert np.all(np.abs(tr.y_steps - tr.y) <= term_bound(x, w, cfg))
    # each row tile of the trace records the DAC codes it drove, the sum of partials is y
    partial = sum(np.pad(t.partial, ((0, 0), (t.c0, w.shape[1] - t.c1))) for t in tr.tiles)
    scale = tr.w_max / tr.level_scale
    assert np.all(np.abs(partial * scale - tr.y_steps) <= term_bound(x, w, cfg))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_linear_path_with_quantized_weights_and_clipping_dac(data):
    """Ideal DAC and ADC (linear path), quantized or cell-rounded weights, fixed or unsigned DAC range:
    the effective-matrix result equals the step-by-step one."""
    changes = {
        "dac.range_mode": data.draw(st.sampled_from(("abs_max", "fixed"))),
        "dac.signed": data.draw(st.booleans()),
        "mapping.scheme": data.draw(st.sampled_from(SCHEMES)),
        "mapping.offset_removal": data.draw(st.sampled_from(("digital", "reference_column"))),
    }
    if data.draw(st.booleans()):
        changes["weight.bits"] = data.draw(st.integers(2, 8))
    else:
        changes["mapping.cell_bits"] = data.draw(st.integers(1, 6))
    cfg = refsim.presets.get("ideal").replace(**changes)
    w, x = data.draw(seeded_problems(max_in=20, max_out=6))
    tr = refsim.Crossbar(w, cfg).trace(x)
    assert tr.path == "linear_effective_matrix"
    assert np.all(np.abs(tr.y_steps - tr.y) <= term_bound(x, w, cfg))


def test_trace_records_conductances(rng):
    w = rng.normal(size=(4, 3))
    tr = refsim.Crossbar(w, refsim.presets.get("ideal")).trace(rng.normal(size=(1, 4)))
    assert tr.conductances_S, "Trace.conductances_S is empty"


# -- lossless recombination -------------------------------------------------------------------
@settings(max_examples=80, deadline=None)
@given(st.data())
def test_slices_and_passes_recombine_losslessly(data):
    """With an ideal ADC, splitting weights into slices and inputs into bit-serial passes (bipolar or
    two-pass, digital or analog accumulation) changes nothing but round-off."""
    scheme = data.draw(st.sampled_from(SCHEMES))
    w_ch = data.draw(weight_changes(scheme, max_bits=8))
    base = refsim.presets.get("ideal").replace(**{
        "mapping.scheme": scheme, "weight.bits": w_ch["weight.bits"], "dac.bits": data.draw(st.integers(2, 8)),
    })
    sliced = base.replace(**{
        "weight.n_slices": w_ch["weight.n_slices"], "weight.bits_per_slice": w_ch["weight.bits_per_slice"],
        "dac.slice_bits": data.draw(st.integers(1, 3)),
        "dac.signed_inputs": data.draw(st.sampled_from(("bipolar", "two_pass"))),
        "dac.accumulation": data.draw(st.sampled_from(("digital", "analog"))),
    })
    w, x = data.draw(seeded_problems(max_in=16, max_out=5, max_batch=3))
    y0 = refsim.Crossbar(w, base).matvec(x)
    y1 = refsim.Crossbar(w, sliced).matvec(x)
    # loosened x8: the sliced path adds up to ~8 times more partial sums than the unsliced one
    assert np.all(np.abs(y1 - y0) <= term_bound(x, w, base, 8 * RTOL_EXACT))


# -- clip fractions (expected values computed here, independently) ---------------------------
@settings(max_examples=60, deadline=None)
@given(arrays((6, 4)), st.sampled_from((0.25, 1.0, 3.0)), st.sampled_from(SCHEMES), st.sampled_from((None, 6)))
def test_weight_clip_fraction(w, w_max, scheme, bits):
    cfg = refsim.presets.get("ideal").replace(**{
        "weight.scaling": "fixed", "weight.w_max": w_max, "weight.bits": bits, "mapping.scheme": scheme,
    })
    tr = refsim.Crossbar(w, cfg).trace(np.ones((1, 6)))
    n_clipped = sum(1 for v in w.ravel() if abs(v) > w_max)
    assert tr.weight_clip_fraction == n_clipped / w.size
    assert np.all(np.abs(tr.w_norm) <= 1.0)


def test_weight_clip_fraction_is_zero_for_max_and_column_scaling(rng):
    w = rng.normal(size=(8, 5))
    for scaling in ("max", "column"):
        tr = refsim.Crossbar(w, refsim.presets.get("ideal").replace(**{"weight.scaling": scaling})).trace(w[:, :1].T)
        assert tr.weight_clip_fraction == 0.0
        assert np.max(np.abs(tr.w_norm)) == 1.0


# input values in units of x_max, chosen away from rounding boundaries: clipped iff |m| > 1 (signed)
MULTIPLES = (-3.0, -1.5, -0.9, -0.3, 0.0, 0.4, 0.95, 1.0, 1.7, 2.5)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_dac_clip_fraction_fixed_range(data):
    signed = data.draw(st.booleans())
    bits = data.draw(st.one_of(st.none(), st.integers(4, 8)))
    x_max = data.draw(st.sampled_from((0.5, 1.0, 2.0)))
    n_in = data.draw(st.sampled_from((4, 8)))
    rows_max = data.draw(st.sampled_from((None, 2, 4)))  # equal tiles: the tile average is the overall fraction
    m = np.array(data.draw(st.lists(st.sampled_from(MULTIPLES), min_size=2 * n_in, max_size=2 * n_in)))
    x = (m * x_max).reshape(2, n_in)
    cfg = refsim.presets.get("ideal").replace(**{
        "dac.bits": bits, "dac.signed": signed, "dac.range_mode": "fixed", "dac.x_max": x_max,
        "array.rows_max": rows_max,
    })
    tr = refsim.Crossbar(np.ones((n_in, 2)), cfg).trace(x)
    expected = sum(1 for v in m if v > 1.0 or v < (-1.0 if signed else 0.0)) / m.size
    assert tr.dac_clip_fraction == pytest.approx(expected, abs=1e-15)


def test_dac_clip_fraction_is_zero_for_signed_abs_max(rng):
    cfg = refsim.presets.get("int8")
    tr = refsim.Crossbar(rng.normal(size=(6, 3)), cfg).trace(100 * rng.normal(size=(4, 6)))
    assert tr.dac_clip_fraction == 0.0


def test_adc_clip_fraction_fixed_range_counts_reads(rng):
    """A 3-bit signed ADC (N = 3) with the range of one full-on cell at full drive: a column clips when
    its exact current exceeds 3.5 LSB. Exact currents computed here from the trace's codes and G."""
    cfg = refsim.presets.get("ideal").replace(**{
        **DYADIC, "mapping.g_min_S": 0.0, "weight.bits": 2, "dac.bits": 2,  # levels and codes in {-1, 0, 1}
        "adc.bits": 3, "adc.range_mode": "fixed", "adc.range_A": 3 * 0.25 * 2.0**-16,
    })
    w = rng.choice([-1.0, 0.0, 1.0], size=(8, 4))
    w[0, 0] = 1.0
    x = rng.choice([-1.0, 0.0, 1.0], size=(6, 8))
    x[:, 0] = 1.0
    tr = refsim.Crossbar(w, cfg).trace(x)
    dots = x.astype(int) @ w.astype(int)  # current in units of one full-on cell at full drive = one LSB
    expected = np.count_nonzero(np.abs(dots) > 3) / dots.size
    assert 0 < expected < 1
    assert tr.adc_clip_fraction == expected


# -- extreme magnitudes ------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["int8", "bitserial_int8", "ideal"])
@pytest.mark.parametrize("exponent", [-1000, -1022, -1070])
def test_tiny_inputs_give_the_codes_of_scaled_inputs(preset, exponent):
    """A per-vector DAC range is scale free: x * 2^e drives the same codes as x, even when
    x_max = 2^e is so small that c_max / x_max overflows (found by hypothesis: 2.2e-308 gave NaN)."""
    cfg = refsim.presets.get(preset)
    w = np.array([[1.0, -0.5], [0.25, 0.75], [-1.0, 0.5]])
    x = np.array([[1.0, 0.5, -0.25], [0.0, -1.0, 0.75]])
    xb = refsim.Crossbar(w, cfg)
    tr, tr_tiny = xb.trace(x), xb.trace(x * 2.0**exponent)
    np.testing.assert_array_equal(tr_tiny.tiles[0].dac_codes, tr.tiles[0].dac_codes)
    assert np.all(np.isfinite(xb.matvec(x * 2.0**exponent)))
    assert np.all(np.isfinite(tr_tiny.y_steps))


def test_tiny_inputs_equal_integer_oracle():
    from refsim.oracles.crossbar import integer_oracle

    cfg = refsim.presets.get("int8").replace(**DYADIC)
    w = np.array([[1.0, -0.5], [0.25, 0.75]])
    x = np.array([[2.2250738585072014e-308, 0.0], [1e-310, -3e-311]])
    tr = refsim.Crossbar(w, cfg).trace(x)
    ref = integer_oracle(w, x, cfg)
    for key, codes in ref["adc_codes"].items():
        np.testing.assert_array_equal(tr.adc_codes()[key], codes)
    np.testing.assert_array_equal(tr.y, ref["y"])  # subnormal outputs: exact or not at all
