"""The pieces of the crossbar's fast noise-free path against independent rules.

When nothing acts on the column currents between the array and the ADC, the crossbar forms
them directly in units of the ADC step with pre-scaled conductances (``refsim.analog``, X1'),
the ADC rounds in place (ties located by index), bit-serial inputs are sliced through lookup
tables, and the digital side recombines in one pass (``refsim.digital``). Each piece is checked
here against its rule written out again; the whole fast path is compared with the readable
reference multiply (``refsim.reference``) in ``tests/test_reference.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refsim
import refsim.dac
from refsim.adc import adc_convert
from refsim.dac import code_slices
from refsim.digital import combine_terms


# -- ADC ties located by index ----------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.data())
def test_adc_tie_rule_against_exact_rounding(data):
    """Values on half-integers, nudged by less than the tie window, round half to even; values
    nudged by more round to nearest. Oracle: Python's round() of the exact half-integer."""
    n = data.draw(st.integers(1, 300))
    gen = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    window = 1e-9
    half = gen.integers(-400, 400, size=n) / 2.0  # many exact ties
    nudge = gen.choice([0.0, 0.5, -0.5, 3.0, -3.0], size=n) * window  # inside (|.| < 1) or outside
    z = half + nudge
    inside = np.abs(nudge) < window
    expected = np.where(inside, [round(h) for h in half], np.rint(z))
    lsb = 2.0**-20
    for overwrite in (False, True):
        i = z * lsb  # exact: a power of two
        k, n_clip = adc_convert(i.reshape(1, -1), lsb, (-127, 127), window=window, overwrite=overwrite)
        np.testing.assert_array_equal(k.ravel(), np.clip(expected, -127, 127))
        assert n_clip == int(np.count_nonzero(np.abs(expected) > 127))
    k1, _ = adc_convert(z.reshape(1, -1), 1.0, (-127, 127), window=window, overwrite=True)  # currents already in LSBs
    np.testing.assert_array_equal(k1.ravel(), np.clip(expected, -127, 127))


def test_adc_overwrite_false_leaves_the_input():
    i = np.array([[0.5, 1.5, -2.5, 0.3]])
    before = i.copy()
    adc_convert(i, 1.0, (-7, 7), window=1e-9)
    np.testing.assert_array_equal(i, before)


# -- input slices: table lookup vs bit operations ------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(st.data())
def test_code_slices_table_equals_bit_operations(data):
    mag_bits = data.draw(st.integers(1, 12))
    c_max = 2**mag_bits - 1
    width = data.draw(st.integers(1, mag_bits))
    widths = [width] * (mag_bits // width) + ([mag_bits % width] if mag_bits % width else [])
    gen = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    c = gen.integers(-c_max, c_max + 1, size=(3, 17)).astype(np.float64)
    table = list(code_slices(c, c_max, widths))
    orig = refsim.dac.SLICE_TABLE_MAX
    try:
        refsim.dac.SLICE_TABLE_MAX = 0  # force the bit-operation branch
        bitops = list(code_slices(c, c_max, widths))
    finally:
        refsim.dac.SLICE_TABLE_MAX = orig
    shifts = np.cumsum([0] + widths[:-1])
    for a, b, w, s in zip(table, bitops, widths, shifts):
        np.testing.assert_array_equal(a, b)
        assert np.all((np.abs(a) <= 2**w - 1) & (a * c >= 0))  # a slice keeps the code's sign
    np.testing.assert_array_equal(sum(a * 2.0**s for a, s in zip(table, shifts)), c)  # (D4)


# -- digital recombination ------------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(st.data())
def test_combine_terms_equals_the_formula(data):
    gen = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    b, cols = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 6))
    shape = (b, cols)
    slices = []
    for _ in range(data.draw(st.integers(1, 3))):
        terms = [(gen.integers(-50, 50, size=(b, data.draw(st.sampled_from([1, cols])))).astype(float),
                  float(gen.normal())) for _ in range(data.draw(st.integers(1, 3)))]
        slices.append((terms, 2.0 ** data.draw(st.integers(0, 6))))
    x_max = np.abs(gen.normal(size=b)) + 0.1
    scale = float(gen.uniform(0.5, 2.0))
    expected = np.zeros(shape)  # the formula, from copies (combine_terms overwrites its terms)
    for terms, shift in slices:
        for a, f in terms:
            expected += shift * f * np.broadcast_to(a, shape)
    expected = expected * x_max[:, None] * scale
    got = combine_terms(slices, shape, x_max, scale)
    mag = sum(abs(f) * sh * np.abs(a).max() for terms, sh in slices for a, f in terms) + 1.0
    assert got.shape == shape
    assert np.all(np.abs(got - expected) <= 1e-13 * mag * (x_max[:, None] * scale * 2.0))


def test_combine_terms_writes_into_out_and_rounds_subnormal_results_once():
    k = np.array([[3.0, -5.0]])
    out = np.full((1, 2), np.nan)
    x_max = np.array([2.0**-1070])  # x_max * scale is subnormal
    res = combine_terms([([(k.copy(), 0.25)], 1.0)], (1, 2), x_max, 2.0**-3, out=out)
    assert res is out
    np.testing.assert_array_equal(out, k * 0.25 * 2.0**-3 * x_max[0])  # exact: the product is representable


@pytest.mark.parametrize("preset", refsim.presets.names())
def test_empty_batch_gives_an_empty_result(preset):
    """B = 0 vectors: every reduction of the pipeline sees an empty array."""
    xb = refsim.Crossbar(np.ones((3, 2)), refsim.presets.get(preset), rng=np.random.default_rng(0))
    assert xb.matvec(np.zeros((0, 3))).shape == (0, 2)
    assert xb.trace(np.zeros((0, 3))).y.shape == (0, 2)


def test_adc_clip_test_is_skipped_only_where_no_code_can_clip():
    """Noise-free with an ADC range of "max": the largest current reaches code N exactly and the
    clip test is provably idle. With programming error the conductances can exceed the range:
    the test runs, and the clipped count matches the recorded currents."""
    cfg = refsim.presets.get("int8")
    n = cfg.adc.n_levels
    w = np.array([[1.0, -1.0], [1.0, -1.0], [1.0, -1.0]])
    xb0 = refsim.Crossbar(w, cfg)
    assert max(r.z_bound for t in xb0.tiles for s in t.slices for r in s.reads) <= n * (1 + 1e-12)  # the clip test is skipped
    tr = xb0.trace(np.ones((1, 3)))
    (codes,) = tr.adc_codes().values()
    np.testing.assert_array_equal(codes, [[n, -n]])
    assert tr.adc_clip_fraction == 0.0

    noisy = cfg.replace(**{"device.prog_model": "independent", "device.prog_sigma_rel": 0.5})
    gen = np.random.default_rng(3)
    xb = refsim.Crossbar(gen.choice([-1.0, 1.0], size=(2, 64)), noisy, rng=np.random.default_rng(4))
    assert xb.direct_reads
    x = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])  # full scale on every column once
    tr = xb.trace(x)
    lsb = xb.tiles[0].slices[0].adc_range_A / n
    (read,) = tr.tiles[0].reads
    unclipped = np.rint(read.current_A / lsb)
    expected = np.count_nonzero(np.abs(unclipped) > n) / unclipped.size
    assert expected > 0 and tr.adc_clip_fraction == pytest.approx(expected)
    np.testing.assert_array_equal(read.adc_codes, np.clip(unclipped, -n, n))


# -- DAC: the rounding of the exact quotient -------------------------------------------------------
def test_dac_rounds_the_exact_quotient_at_decimal_ties():
    """3.25 of a range of 6.5 at c_max = 15 is exactly 7.5 (-> 8, half to even), but
    3.25 * (15 / 6.5) = 7.4999... in float64 (found by hypothesis against the integer oracle)."""
    from refsim.dac import dac_codes

    cfg = refsim.presets.get("ideal").replace(**{"dac.bits": 5}).dac
    x = np.array([[0.0, 3.25, 6.5]])
    codes, _ = dac_codes(x, np.array([6.5]), cfg)
    np.testing.assert_array_equal(codes, [[0.0, 8.0, 15.0]])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_dac_codes_equal_exact_rational_rounding(data):
    """Inputs on a grid of quarters and tenths (many exact decimal ties) against Fraction arithmetic."""
    from fractions import Fraction

    from refsim.dac import dac_codes, input_range

    bits = data.draw(st.integers(2, 12))
    cfg = refsim.presets.get("ideal").replace(**{"dac.bits": bits}).dac
    gen = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    step = data.draw(st.sampled_from([0.25, 0.1, 0.3, 1.0 / 3.0]))
    x = gen.integers(-40, 41, size=(3, 9)) * step
    x_max = input_range(x, cfg)
    codes, _ = dac_codes(x, x_max, cfg)
    c_max = cfg.code_max
    expected = [[round(Fraction(float(v)) * c_max / Fraction(float(m))) for v in row] for row, m in zip(x, x_max)]
    np.testing.assert_array_equal(codes, np.array(expected, dtype=float))


# -- the input range's reductions -------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 7), (40, 300), (3000, 300)])
def test_input_range_equals_max_abs_whatever_the_signs(shape):
    """D1 against ``max |x|`` per vector on each branch: signed inputs (a negative in the first vector),
    non-negative ones, a negative only after the first vector, short and long rows, small and large
    batches; an all-zero vector gets 1 and a NaN propagates."""
    from refsim.dac import input_range

    cfg = refsim.presets.get("int8").dac
    rng = np.random.default_rng(11)
    signed = rng.standard_normal(shape)
    relu = np.maximum(signed, 0.0)
    late = relu.copy()
    late[-1, -1] = -9.0
    for x in (signed, relu, late, -relu):
        x = x.copy()
        x[1] = 0.0
        expected = np.max(np.abs(x), axis=1)
        expected[1] = 1.0
        np.testing.assert_array_equal(input_range(x, cfg), expected)
        x[2, 3] = np.nan
        assert np.isnan(input_range(x, cfg)[2])


@pytest.mark.parametrize("batch", [5, 1100])
def test_non_finite_input_is_refused_before_any_read(batch):
    """With per-vector ranges the DAC finds them (one block of vectors) or the crossbar does up front
    (several blocks); either way a NaN or inf anywhere, here in the last row block, is refused before a
    read draws noise: the next multiply is that of a fresh crossbar of the same seed."""
    rng = np.random.default_rng(4)
    w, x = rng.standard_normal((30, 7)), rng.standard_normal((batch, 30))
    cfg = refsim.presets.get("int8").replace(**{"array.rows_max": 16, "device.read_model": "independent",
                                                "device.read_sigma_rel": 0.02})
    xb = refsim.Crossbar(w, cfg, rng=np.random.default_rng(9))
    for bad in (np.nan, np.inf):
        x_bad = x.copy()
        x_bad[-1, -1] = bad
        with pytest.raises(ValueError, match=r"x: received 1 non-finite"):
            xb.matvec(x_bad)
    fresh = refsim.Crossbar(w, cfg, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(xb.matvec(x), fresh.matvec(x))
