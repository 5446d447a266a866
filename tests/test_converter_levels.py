"""Level conventions of the converters: sign-magnitude (2^b - 1 levels, symmetric) versus
two's complement (2^b levels, codes -2^(b-1) .. 2^(b-1) - 1), as peers use them.

Oracle: refsim.oracles.crossbar.integer_oracle (exact rationals) with dyadic parameters, and the
code ranges written out by hand."""

import numpy as np
import pytest
from hypothesis import given, settings

import refsim
from strategies import DYADIC, twos_complement_problems
from checks import check_against_oracle


@settings(max_examples=40, deadline=None)
@given(twos_complement_problems())
def test_twos_complement_pipelines_equal_the_integer_oracle(problem):
    """ADC codes bit for bit, y to round-off (the same checks as every quantized config)."""
    cfg, w, x = problem
    check_against_oracle(cfg, w, x)


def test_code_ranges_of_both_conventions():
    base = refsim.presets.get("int8")
    assert base.dac.code_range == (-127, 127) and base.adc.code_range == (-127, 127)
    tc = base.replace(**{"dac.levels": "twos_complement", "adc.levels": "twos_complement"})
    assert (tc.dac.code_max, tc.dac.code_range) == (128, (-128, 127))
    assert (tc.adc.n_levels, tc.adc.code_range) == (128, (-128, 127))
    # x = +x_max maps to 128, which a two's-complement DAC clips to 127; -x_max is -128
    w = np.eye(2)
    cfg = tc.replace(**DYADIC).replace(**{"adc.bits": None})
    tr = refsim.Crossbar(w, cfg).trace(np.array([[1.0, -1.0]]))
    np.testing.assert_array_equal(tr.tiles[0].dac_codes, [[127.0, -128.0]])
    assert tr.dac_clip_fraction == 0.5


def test_twos_complement_adc_uses_all_2b_levels():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 8))
    x = rng.normal(size=(400, 16))
    cfg = refsim.presets.get("int8").replace(**DYADIC).replace(**{
        "adc.bits": 3, "adc.levels": "twos_complement", "adc.range_mode": "fixed", "adc.range_A": 2.0**-19})
    codes = refsim.Crossbar(w, cfg).trace(x).adc_codes()["t0.s0.net.all"]
    assert set(np.unique(codes)) == set(range(-4, 4))


def test_invalid_level_conventions_are_refused():
    with pytest.raises(ValueError, match="dac.levels"):
        refsim.presets.get("int8").replace(**{"dac.signed": False, "dac.levels": "twos_complement"})
    with pytest.raises(ValueError, match="adc.levels"):
        refsim.presets.get("int8").replace(**{"adc.signed": False, "adc.levels": "twos_complement"})
    with pytest.raises(ValueError, match="adc.levels"):
        refsim.presets.get("int8").replace(**{"adc.levels": "offset_binary"})
    with pytest.raises(NotImplementedError, match="dac.slice_bits"):
        refsim.presets.get("bitserial_int8").replace(**{"dac.levels": "twos_complement"})
