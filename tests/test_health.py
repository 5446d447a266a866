"""ADC code usage (H1) and the DeadCrossbarWarning: counts against an independent tally of the
trace's recorded codes; the warning fires once per crossbar, names it and the fields to change,
and stays silent for a healthy crossbar, a zero input and an ideal ADC."""

import warnings

import numpy as np
import pytest

import refsim
from refsim.health import CodeTally, DeadCrossbarWarning, effective_bits

W = np.random.default_rng(0).normal(size=(256, 48))
X = np.random.default_rng(1).normal(size=(6, 256))


def _independent(tr):
    codes = np.concatenate([c.ravel() for c in tr.adc_codes().values()])
    return float(np.mean(codes == 0)), len(np.unique(codes))


@pytest.mark.parametrize("preset,extra", [
    ("int8_bounded", {}),
    ("int8_bounded", {"array.rows_max": 100, "array.cols_max": 20}),
    ("bitserial_int8", {"array.rows_max": 128}),
    ("int8", {"adc.bits": 5}),
    ("int8", {"adc.bits": 14, "adc.signed": False}),  # wide ADC: the sparse tally
])
def test_trace_zero_fraction_and_levels_match_recorded_codes(preset, extra):
    cfg = refsim.presets.get(preset).replace(**extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadCrossbarWarning)
        tr = refsim.Crossbar(W, cfg).trace(X)
    z, lv = _independent(tr)
    assert tr.adc_zero_fraction == z and tr.adc_levels_used == lv
    assert tr.adc_codes_tally.n_codes == sum(c.size for c in tr.adc_codes().values())


def test_ideal_adc_has_no_code_statistics():
    tr = refsim.Crossbar(W, refsim.presets.get("ideal")).trace(X)
    assert np.isnan(tr.adc_zero_fraction) and tr.adc_levels_used is None


def test_dead_crossbar_warns_once_naming_it_and_the_fields():
    xb = refsim.Crossbar(W, refsim.presets.get("int8").replace(**{"adc.bits": 4}), name="layer3.conv")
    with pytest.warns(DeadCrossbarWarning) as rec:
        y = xb.matvec(X)
        xb.matvec(X)
        xb.trace(X)
    assert len(rec) == 1
    msg = str(rec[0].message)
    for word in ("layer3.conv", "adc.range_mode", "adc.range_A", "adc.bits", "array.rows_max", "zero"):
        assert word in msg
    assert not np.any(y)


def test_healthy_and_zero_input_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadCrossbarWarning)
        refsim.Crossbar(W, refsim.presets.get("int8_bounded")).matvec(X)
        xb = refsim.Crossbar(W, refsim.presets.get("int8").replace(**{"adc.bits": 4}))
        assert not np.any(xb.matvec(np.zeros_like(X)))  # nothing to compute: all-zero codes are right


def test_tally_dense_and_sparse_agree_and_merge():
    rng = np.random.default_rng(3)
    a = rng.integers(-7, 8, size=(40, 9)).astype(float)
    b = rng.integers(-7, 8, size=(5, 9)).astype(float)
    dense, sparse = CodeTally((-7, 7)), CodeTally((-7, 7))
    sparse._dense, sparse.counts = False, None  # force the np.unique path
    for t in (dense, sparse):
        t.add(a)
        other = CodeTally((-7, 7))
        other.add(b)
        if t is sparse:
            other._dense, other.counts, other._sparse = False, None, {int(v): int(n) for v, n in
                                                                     zip(*np.unique(b, return_counts=True))}
        t.merge(other)
    both = np.concatenate([a.ravel(), b.ravel()])
    for t in (dense, sparse):
        assert t.n_codes == both.size
        assert t.zero_fraction == np.mean(both == 0)
        assert t.levels_used == len(np.unique(both))
    assert effective_bits(16) == 4.0 and np.isnan(effective_bits(0))
    with pytest.raises(ValueError, match="code range"):
        dense.merge(CodeTally((0, 7)))


@pytest.mark.parametrize("code_range", [(-127, 127), (0, 255), (-128, 127), (-2047, 2047), (-2**20, 2**20)])
def test_tally_counts_every_code_whatever_its_spread(code_range):
    """Codes spanning a few values (counted value by value), many values (np.bincount) and a range no
    small integer type holds, against np.unique."""
    lo, hi = code_range
    rng = np.random.default_rng(5)
    cases = [rng.integers(first, first + spread, size=(37, 11))
             for spread in (1, 5, 31, 32, 33, hi - lo + 1)
             for first in [rng.integers(lo, hi - min(spread, hi - lo + 1) + 2)]]
    cases += [np.full((4, 5), v) for v in (0, 1, hi)]  # one value, zero or not
    cases += [rng.integers(a, b + 1, size=(6, 7)) for a, b in ((0, 1), (-1, 0), (1, 3), (-3, -1), (-2, 2))]
    for codes in cases:
        codes = codes.clip(lo, hi).astype(float)
        tally = CodeTally(code_range)
        tally.add(codes)
        tally.add(codes[:0])  # nothing to count
        vals, cnt = np.unique(codes, return_counts=True)
        got = {int(v) + lo: int(n) for v, n in enumerate(tally.counts) if n} if tally.counts is not None \
            else dict(tally._sparse)
        assert got == {int(v): int(n) for v, n in zip(vals, cnt)}
        assert tally.levels_used == len(vals) and tally.zero_fraction == np.mean(codes == 0)
