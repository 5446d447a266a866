"""Is a crossbar computing anything? ADC code usage and the warning for a dead multiply.

An ADC whose full-scale current is far wider than the column currents it converts (its step
of (A1) much larger than the signal) rounds every current to code 0, or to a handful of codes:
the multiply returns (almost) zeros with no clipping at all, so an ADC clip fraction of 0 %
looks healthy. refsim counts the codes of every multiply: the zero-code fraction ``z`` and the
ADC levels used ``L`` of (H1, docs/MODEL.md) (``Trace.adc_zero_fraction``,
``Trace.adc_levels_used``), and warns with :class:`DeadCrossbarWarning`, once per crossbar,
when ``z >= ZERO_FRACTION_WARN`` or ``L < MIN_LEVELS_WARN`` (while some input is non-zero):
the warning names the crossbar (its layer, in a network) and the config fields that move the
ADC's range onto the signal.

``log2(L)`` is the ADC's effective resolution on this data, in bits (:func:`effective_bits`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["DeadCrossbarWarning", "CodeTally", "effective_bits", "check_codes",
           "ZERO_FRACTION_WARN", "MIN_LEVELS_WARN"]

#: Warn when at least this fraction of a multiply's ADC codes is zero (H1).
ZERO_FRACTION_WARN = 0.95
#: Warn when a multiply's ADC codes take fewer distinct values than this (H1).
MIN_LEVELS_WARN = 4
#: Widest ADC (bits) whose codes are tallied in a dense histogram; wider ones by np.unique.
_DENSE_BITS = 12
#: Codes spanning at most this many values are counted value by value (one comparison of small integers
#: each), more by np.bincount (whose increments of one counter form a dependency chain: slow on codes
#: concentrated on a few values, as an ADC's are).
_PER_VALUE_MAX = 32
#: small integer types, narrowest first, with their ranges
_SMALL_TYPES = tuple((t, (int(np.iinfo(t).min), int(np.iinfo(t).max)))
                     for t in (np.int8, np.uint8, np.int16, np.uint16))


class DeadCrossbarWarning(UserWarning):
    """A crossbar's ADC codes are (nearly) all zero or use only a few levels: its multiply
    computes (almost) nothing. Raised once per crossbar by :func:`check_codes`."""


class CodeTally:
    """Counts of the ADC codes of one or more multiplies (H1).

    Parameters
    ----------
    code_range : ``(k_lo, k_hi)``, the ADC's integer code range (``ADCConfig.code_range``).
    """

    def __init__(self, code_range: tuple[int, int]):
        self.k_lo, self.k_hi = int(code_range[0]), int(code_range[1])
        width = self.k_hi - self.k_lo + 1
        self._dense = width <= 2**_DENSE_BITS
        self.counts = np.zeros(width, dtype=np.int64) if self._dense else None  # index = code - k_lo
        self._sparse: dict[int, int] = {}
        #: the smallest integer type holding every code (None: none of 8 or 16 bits does)
        self._small = next((t for t, (t_lo, t_hi) in _SMALL_TYPES if t_lo <= self.k_lo and self.k_hi <= t_hi), None)

    def add(self, codes: np.ndarray) -> None:
        """Count an array of integer-valued ADC codes (any shape)."""
        c = np.asarray(codes)
        if not c.size:
            return
        if self._dense and self._small is not None:
            s = c.astype(self._small)  # exact: integer-valued codes in the code range
            lo, hi = int(s.min()), int(s.max())
            if hi - lo < _PER_VALUE_MAX:
                rest = s.size  # codes not counted yet: the top value's count is what is left at the end
                if lo <= 0 <= hi:  # zeros without a comparison
                    zeros = s.size - np.count_nonzero(s)
                    self.counts[-self.k_lo] += zeros
                    rest -= zeros
                eq = None
                for v in range(lo, hi):
                    if v != 0:
                        eq = np.equal(s, v, out=eq)
                        n = np.count_nonzero(eq)
                        self.counts[v - self.k_lo] += n
                        rest -= n
                self.counts[hi - self.k_lo] += rest
                return
        if self._dense:
            # one pass: the (integer-valued) codes cast to indices while the offset is subtracted
            idx = np.subtract(c, self.k_lo, dtype=np.intp, casting="unsafe").ravel()
            self.counts += np.bincount(idx, minlength=self.counts.size)[: self.counts.size]
        else:
            vals, cnt = np.unique(c, return_counts=True)
            for v, n in zip(vals.tolist(), cnt.tolist()):
                self._sparse[int(v)] = self._sparse.get(int(v), 0) + int(n)

    def merge(self, other: "CodeTally") -> None:
        """Add the counts of ``other`` (same code range) to this tally."""
        if (other.k_lo, other.k_hi) != (self.k_lo, self.k_hi):
            raise ValueError(f"other: received code range {(other.k_lo, other.k_hi)}; "
                             f"expected {(self.k_lo, self.k_hi)}")
        if self._dense:
            self.counts += other.counts
        else:
            for v, n in other._sparse.items():
                self._sparse[v] = self._sparse.get(v, 0) + n

    @property
    def n_codes(self) -> int:
        """Number of conversions counted."""
        return int(self.counts.sum()) if self._dense else sum(self._sparse.values())

    @property
    def zero_fraction(self) -> float:
        """``z`` (H1): fraction of the codes equal to 0; NaN when nothing was counted."""
        n = self.n_codes
        if n == 0:
            return float("nan")
        zeros = int(self.counts[-self.k_lo]) if self._dense and self.k_lo <= 0 else self._sparse.get(0, 0)
        return zeros / n

    @property
    def levels_used(self) -> int:
        """``L`` (H1): number of distinct codes."""
        return int(np.count_nonzero(self.counts)) if self._dense else len(self._sparse)

    @property
    def levels_available(self) -> int:
        """Number of codes the ADC can output, ``k_hi - k_lo + 1``."""
        return self.k_hi - self.k_lo + 1


def effective_bits(levels_used: int | None) -> float:
    """``log2(L)``: the resolution, in bits, of an ADC whose codes take ``L`` values (NaN if none)."""
    if not levels_used:
        return float("nan")
    return math.log2(levels_used)


def is_dead(zero_fraction: float, levels_used: int, n_codes: int, levels_available: int) -> bool:
    """True when codes are (nearly) all zero, or, with enough codes to tell, use fewer than
    ``MIN_LEVELS_WARN`` levels (fewer than the ADC has)."""
    if n_codes == 0:
        return False
    if zero_fraction >= ZERO_FRACTION_WARN:
        return True
    few = min(MIN_LEVELS_WARN, levels_available)
    return n_codes >= 4 * MIN_LEVELS_WARN and levels_used < few


def check_codes(tally: CodeTally, config, x: np.ndarray, name: str, stacklevel: int = 4) -> bool:
    """Warn (:class:`DeadCrossbarWarning`) if ``tally`` describes a dead multiply (H1) while some
    input ``x`` was non-zero (looked at only then); ``name`` names the crossbar (or its layer).
    Returns True if it warned."""
    if not is_dead(tally.zero_fraction, tally.levels_used, tally.n_codes, tally.levels_available) or not np.any(x):
        return False
    adc, arr = config.adc, config.array
    z, lv = tally.zero_fraction, tally.levels_used
    what = "computes nothing" if z == 1.0 else "computes almost nothing"
    if adc.range_mode == "max":
        why = ("its ADC range is adc.range_mode='max', the current of every row fully on at full "
               "input: far wider than the column currents of real data")
        fix = ("set adc.range_mode='fixed' with a smaller adc.range_A (e.g. the int8_bounded preset's "
               "10 unit currents), calibrate it on data (refsim calibrate, refsim.tools.calibrate), "
               "raise adc.bits, or use fewer rows per array (array.rows_max)")
    else:
        why = f"its ADC range adc.range_A={adc.range_A!r} A is far wider than the column currents"
        fix = ("lower adc.range_A (or calibrate it on data: refsim calibrate), raise adc.bits, or check "
               "the input range (dac.range_mode, dac.x_max) and array.rows_max")
    rows = "untiled" if arr.rows_max is None else f"array.rows_max={arr.rows_max}"
    warnings.warn(
        f"{name}: {what}: {z:.1%} of its ADC codes are zero and they take {lv} of "
        f"{tally.levels_available} levels (adc.bits={adc.bits}, {rows}); {why}. To fix: {fix}.",
        DeadCrossbarWarning, stacklevel=stacklevel)
    return True
