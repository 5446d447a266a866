"""docs/MODEL.md steps 7-8 (D1-D4): input scaling, the DAC, and bit-serial input slices.

Shapes: ``x`` is ``(B, rows)`` (a batch of input vectors for one array's rows). A DAC code
``c`` drives the row voltage of (D3), so ``v_read_V`` is the full-scale read voltage (one LSB
is ``v_read_V / c_max``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np

from refsim.config import DACConfig, slice_widths
from refsim.scratch import BLOCK_ELEMENTS, Scratch, block_rows, row_blocks, row_loops, scratch_array

__all__ = ["input_range", "average_abs_max", "abs_max_np_sum", "dac_codes", "aihwkit_float32_codes", "DrivePass", "drive_passes", "code_slices", "stacked_codes", "RowDrive",
           "row_drive"]


#: Rows at least this long are reduced row-wise as fast as the whole array (see input_range).
LONG_ROWS = 256


def input_range(x: np.ndarray, cfg: DACConfig) -> np.ndarray:
    """Input value driven at full scale, ``x_max`` (D1), shape ``(B,)``: per vector
    (``range_mode="abs_max"``; an all-zero vector gets 1, its codes are 0 either way) or fixed.
    """
    if cfg.range_mode == "fixed":
        return np.full(x.shape[0], cfg.x_max)
    if cfg.range_mode == "average_abs_max":
        return average_abs_max(x, cfg.nm_decay)
    if cfg.range_mode == "abs_max_np_sum":
        return abs_max_np_sum(x, cfg)
    if cfg.range_mode == "max":  # (D8) the largest input, signed; none > 0: inf, the output is zero
        hi = np.max(x, axis=1) if x.size else np.ones(x.shape[0])
        if cfg.x_max_cap is not None:
            hi = np.minimum(hi, cfg.x_max_cap)
        return np.where(hi > 0, hi, np.inf)
    if not x.size:  # no rows, or no vectors
        return np.ones(x.shape[0])
    # max(max x, -min x) == max |x| without an |x| temporary. Row-wise reductions of short rows are
    # slow in NumPy; for inputs that are all >= 0 (after a ReLU) one suffices, and the test costs a
    # whole-array reduction (a NaN fails it and propagates through the row-wise max). Long rows of a
    # large batch reduce as fast row-wise: both row-wise reductions, block by block (max(hi, -lo) is hi where
    # every input is >= 0, and a NaN propagates).
    if x.shape[1] >= LONG_ROWS and x.size > 4 * BLOCK_ELEMENTS:  # both row-wise reductions of a block in cache
        x_max = np.empty(x.shape[0])
        for blk in row_blocks(*x.shape):
            np.maximum(np.max(x[blk], axis=1, out=x_max[blk]), -np.min(x[blk], axis=1), out=x_max[blk])
    elif x[0].min() < 0:  # signed inputs (a negative in the first vector): the whole-array test would fail
        x_max = np.maximum(np.max(x, axis=1), -np.min(x, axis=1))
    else:
        hi = np.max(x, axis=1)
        x_max = hi if x.min() >= 0 else np.maximum(hi, -np.min(x, axis=1))
    if cfg.x_max_cap is not None:  # (D8) aihwkit's nm_thres
        x_max = np.minimum(x_max, cfg.x_max_cap)
    return np.where(x_max == 0, 1.0, x_max)  # NaN and inf pass through (the caller rejects them)


def average_abs_max(x: np.ndarray, decay: float) -> np.ndarray:
    """aihwkit's ``AVERAGE_ABS_MAX`` noise management over the vectors of ``x (B, rows)`` in order, (B,):

    .. math:: a_0 = m_0,\\quad a_b = \\mathrm{fl}(\\mathrm{fl}(a_{b-1} \\mathrm{fl}(1 - d)) + \\mathrm{fl}(d\\, m_b))  \\tag{D8}

    with ``m_b = max_i |x_bi|`` and every operation in float32 (``computeNoiseManagement``); the
    range starts afresh at every call (a freshly built aihwkit layer). A zero average gives 1
    (the codes are 0 either way: aihwkit returns a zero output).
    """
    f32 = np.float32
    m = np.max(np.abs(x.astype(f32)), axis=1) if x.size else np.zeros(x.shape[0], dtype=f32)
    out = np.empty(x.shape[0])
    keep, d = f32(1.0) - f32(decay), f32(decay)
    a = None
    for b in range(x.shape[0]):
        a = m[b] if a is None else f32(f32(a * keep) + f32(d * m[b]))
        out[b] = a
    return np.where(out == 0, 1.0, out)


def abs_max_np_sum(x: np.ndarray, cfg: DACConfig) -> np.ndarray:
    """aihwkit's ``ABS_MAX_NP_SUM`` noise management, ``x (B, rows)`` -> ``x_max (B,)`` (D8), in float32:

    ``a = min(max_i |x_i|, cap)``, ``S = max(Σ x⁺, Σ x⁻)``, ``n = fl(fl(S · w_max) / B_out)``,
    ``n ← min(fl(fl(a / r) · m), n)`` with the DAC step ``r = fl(2 fl(1 / (2 c_max)))`` when
    ``m = nm_max_bm_res > 0`` and the DAC is quantized, ``x_max = max(a, n)`` (1 where 0).
    The sums are rounded once to float32 (aihwkit adds in float32 in its own order: the ranges can
    differ by float32 round-off).
    """
    f32 = np.float32
    x32 = x.astype(f32)
    a = np.max(np.abs(x32), axis=1) if x.size else np.zeros(x.shape[0], dtype=f32)
    if cfg.x_max_cap is not None:
        a = np.minimum(a, f32(cfg.x_max_cap))
    pos = np.where(x > 0, x, 0.0).sum(axis=1).astype(f32)
    neg = (-np.where(x < 0, x, 0.0)).sum(axis=1).astype(f32)
    n = (np.maximum(pos, neg) * f32(cfg.nm_assumed_wmax)) / f32(cfg.nm_out_bound)
    if cfg.nm_max_bm_res > 0 and cfg.bits is not None:
        r = f32(f32(1.0 / (2 * cfg.code_max)) * f32(2.0))
        n = np.minimum((a / r) * f32(cfg.nm_max_bm_res), n)
    out = np.maximum(a, n).astype(np.float64)
    return np.where(out == 0, 1.0, out)


def range_fills_in_loop(cfg: DACConfig) -> bool:
    """Whether :func:`dac_codes` may find the per-vector range (D1) itself, block by block
    (``fill_range``): plain ``abs_max``, no cap, exact arithmetic; other ranges come from
    :func:`input_range`."""
    return cfg.range_mode == "abs_max" and cfg.x_max_cap is None and cfg.arithmetic == "exact"


def dac_codes(x: np.ndarray, x_max: np.ndarray, cfg: DACConfig, *, out: np.ndarray | None = None,
              work: np.ndarray | None = None, fill_range: bool = False) -> tuple[np.ndarray, float]:
    """DAC codes (D2, docs/MODEL.md) and the fraction of clipped inputs.

    ``x (B, rows)`` with its input range ``x_max (B,)`` (D1) gives the codes ``c (B, rows)``, rounded
    as the exact quotient (its float64 estimate carries a second rounding: :func:`_round_exact`),
    in the code range of ``cfg`` (:attr:`refsim.DACConfig.code_range`); an ideal DAC
    (``bits=None``) gives real-valued "codes" with ``c_max = 1``.
    Returns float64 codes ``(B, rows)`` (integer-valued for a real DAC) and the
    fraction of inputs outside ``[c_lo, c_max] * x_max / c_max``. For a range so small
    that ``c_max / x_max`` overflows (subnormal ``x_max``) the estimate is formed as
    ``(x / x_max) * c_max`` instead; either estimate is rounded as the exact quotient, as in the
    integer oracle. ``out``: optional contiguous float64 array of the shape of ``x`` for the
    codes; ``work``: optional scratch of :func:`refsim.scratch.block_rows` rows (the steps run on
    blocks of rows that stay in cache). ``fill_range``: ``x_max`` is an empty ``(B,)`` array that this
    call fills with the per-vector range (D1, the values of :func:`input_range`) block by block, each
    block's just before its codes (``x`` is then read from memory once).
    """
    c_max = 1 if cfg.bits is None else cfg.code_max
    code_range = (-c_max if cfg.signed else 0, c_max) if cfg.bits is None else cfg.code_range
    if fill_range and not range_fills_in_loop(cfg):
        raise ValueError(f"fill_range: only for dac.range_mode='abs_max' without x_max_cap in exact arithmetic; "
                         f"received range_mode={cfg.range_mode!r}, x_max_cap={cfg.x_max_cap!r}, "
                         f"arithmetic={cfg.arithmetic!r} (pass x_max from input_range)")
    if cfg.arithmetic == "aihwkit_float32":
        return aihwkit_float32_codes(x, x_max, c_max, out=out)
    # with a per-vector range |x| <= x_max: a signed DAC whose top code is c_max cannot clip
    can_clip = not (cfg.range_mode == "abs_max" and cfg.x_max_cap is None and cfg.signed and code_range[1] == c_max)
    out = np.empty(x.shape) if out is None else out
    rows = block_rows(x.shape[1])
    if cfg.bits is not None and (work is None or work.shape[0] < min(rows, x.shape[0]) or work.shape[1:] != x.shape[1:]):
        work = np.empty((min(rows, x.shape[0]), x.shape[1]))
    with np.errstate(over="ignore", invalid="ignore"), row_loops(x.shape[1]):
        n_clipped = 0
        for blk in row_blocks(*x.shape):  # every row on its own: blocks only keep the passes in cache
            xb = x[blk]
            buf = out[blk] if cfg.bits is None else work[: xb.shape[0]]
            if fill_range:  # (D1): max |x| per vector, 1 for an all-zero one; NaN and inf pass through
                m = np.max(np.abs(xb, out=buf), axis=1, out=x_max[blk])
                m[m == 0] = 1.0
            scale = (c_max / x_max[blk])[:, None]  # (b, 1)
            c = np.multiply(xb, scale, out=buf)
            # x_max below ~c_max * 5.6e-309: c_max / x_max overflows; those rows are formed as (x / x_max) * c_max
            if scale.size and not np.isfinite(scale.max()):
                t = ~np.isfinite(scale[:, 0])
                c[t] = xb[t] / x_max[blk][t, None] * c_max  # (D2) without the overflow
            if cfg.bits is not None and cfg.levels == "midrise":
                c = _round_midrise(c, xb, x_max[blk], c_max, out=out[blk])
                n_clipped += _clip_codes(c, code_range)
                continue
            if cfg.bits is not None:
                c = _round_exact(c, xb, x_max[blk], c_max, out=out[blk])
            if can_clip:
                n_clipped += _clip_codes(c, code_range)
    can_clip = can_clip or cfg.levels == "midrise"
    return out, (n_clipped / x.size if can_clip and x.size else 0.0)


def aihwkit_float32_codes(x: np.ndarray, x_max: np.ndarray, c_max: int, *,
                          out: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """DAC codes in aihwkit's float32 operation order (D7), ``x (B, rows)``, ``x_max (B,)``:

    ``c = clip(rint(fl(fl(fl(x) · s) / r)), −c_max, c_max)`` with ``s = fl(1 / fl(x_max))`` and
    ``r = fl(2 · fl(1 / (2 c_max)))``, every ``fl`` a rounding to float32 and ``rint`` half to even
    (aihwkit 1.1.0 ``prepareInput``: the input scaled by ``1/nm_scale_value / bound-management
    reduction``, then ``rintf(value / res) * res`` with ``res = inp_res · 2 · inp_bound``). A value
    beyond ``±c_max`` is aihwkit's input clipped at ``±inp_bound``. Returns float64 codes and the
    fraction clipped, as :func:`dac_codes`.
    """
    f32 = np.float32
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        s = f32(1.0) / np.asarray(x_max, dtype=np.float64).astype(f32)  # (B,)
        r = f32(f32(1.0 / (2 * c_max)) * f32(2.0))
        x32 = x.astype(f32)
        v = np.rint((x32 * s[:, None]) / r)
    v[x32 == 0] = 0.0  # a range below float32's (s = inf): 0 * inf; aihwkit reads such a vector as zero
    n_clipped = int(np.count_nonzero(np.abs(v) > c_max))
    out = np.empty(x.shape) if out is None else out
    np.clip(v, -c_max, c_max, out=out, casting="unsafe")
    return out, (n_clipped / x.size if x.size else 0.0)


def _clip_codes(c: np.ndarray, code_range: tuple[int, int]) -> int:
    """Clip the codes ``c`` to ``code_range`` in place; returns the number clipped."""
    c_lo, c_hi = code_range
    n = int(np.count_nonzero((c > c_hi) | (c < c_lo)))
    if n:
        np.clip(c, c_lo, c_hi, out=c)
    return n


#: Bound on the float64 error of ``x * (c_max / x_max)``, in units of ``eps * (c_max + 1)``.
DAC_TIE_ULPS = 4.0


def _round_exact(c: np.ndarray, x: np.ndarray, x_max: np.ndarray, c_max: int, out: np.ndarray | None = None) -> np.ndarray:
    """``round_half_even(x c_max / x_max)`` from its float64 estimate ``c`` (overwritten), ``(B, rows)``,
    written into ``out`` if given.

    ``c`` carries two roundings (``c_max / x_max``, then the product), so a value within a few
    ulps of a half-integer may lie on the other side of it than the exact quotient (3.25 of a
    range of 6.5 at ``c_max = 15`` is exactly 7.5, but 3.25 * (15 / 6.5) = 7.4999...). Two
    reductions tell whether any value is that close; only those are decided again, exactly, in
    rational arithmetic (Python's ``round`` of a ``Fraction`` rounds half to even).
    """
    k = np.rint(c, out=out)
    d = np.subtract(c, k, out=c)  # |d| <= 1/2
    edge = 0.5 - DAC_TIE_ULPS * np.finfo(np.float64).eps * (c_max + 1)
    if d.size and (d.max() >= edge or d.min() <= -edge):
        for i, j in zip(*np.nonzero(np.abs(d) >= edge)):
            k[i, j] = round(Fraction(float(x[i, j])) * c_max / Fraction(float(x_max[i])))
    return k


def _round_midrise(c: np.ndarray, x: np.ndarray, x_max: np.ndarray, c_max: int, out: np.ndarray) -> np.ndarray:
    """(D5) the midrise grid: ``c = 2 round_half_even((x c_max / x_max + c_max) / 2) - c_max`` from the
    float64 estimate ``c`` of ``x c_max / x_max`` (overwritten), ``(B, rows)``, into ``out``.

    ``c_max = 2^b - 1`` is odd, so the codes are the odd integers of ``[-c_max, c_max]`` (clipped
    by the caller) and zero is not a level. As in :func:`_round_exact`, a value within a few ulps
    of a decision level (an even ``x c_max / x_max``) is decided again in rational arithmetic.
    """
    t = np.add(c, c_max, out=c)
    t *= 0.5
    k = np.rint(t, out=out)
    d = np.subtract(t, k, out=t)
    edge = 0.5 - DAC_TIE_ULPS * np.finfo(np.float64).eps * (c_max + 1)
    if d.size and (d.max() >= edge or d.min() <= -edge):
        for i, j in zip(*np.nonzero(np.abs(d) >= edge)):
            q = Fraction(float(x[i, j])) * c_max / Fraction(float(x_max[i])) if np.isfinite(x_max[i]) else 0  # (D8) inf
            k[i, j] = round((q + c_max) / 2)
    k *= 2.0
    k -= c_max
    return k


@dataclass(frozen=True)
class DrivePass:
    """One analog read of an array: the codes driven on the rows and their digital weight.

    ``codes`` ``(B, rows)`` drive the row voltages of (D3) with the pass's own full scale
    ``code_max``; the read's digital result is multiplied by ``coef``, the pass coefficient ``a_j`` of
    (D4), before summation.
    """

    codes: np.ndarray  # (B, rows) integer-valued float64 (real-valued for an ideal DAC)
    code_max: int  # full-scale code of this pass: 2^(slice bits) - 1, or c_max without slicing
    coef: float  # digital weight of this pass (shift-and-add and sign)
    label: str  # e.g. "slice0", "slice1+", "slice1-"
    v_read_V: float  # full-scale read voltage

    @cached_property
    def volts_V(self) -> np.ndarray:
        """Row voltages (D3), V, ``(B, rows)``; computed once, on demand."""
        return self.codes * (self.v_read_V / self.code_max)


def drive_passes(c: np.ndarray, cfg: DACConfig) -> list[DrivePass]:
    """Split DAC codes into the analog reads that drive them (docs/MODEL.md step 8).

    Without slicing there is one pass (two with ``signed_inputs="two_pass"``: the
    positive part ``max(c, 0)`` and the negative part ``max(-c, 0)``, the latter with
    a negative coefficient). With ``slice_bits`` the magnitude ``|c|`` is split into
    slices ``c_j`` of ``slice_bits`` bits, least significant first (the top slice takes
    the remainder) as in (D4); ``bipolar`` drives ``sign(c) c_j``, ``two_pass`` drives the slices
    of the two parts separately. With ``slice_scale="uniform"`` every pass's full scale is
    ``2^slice_bits - 1`` (D6).
    """
    c_max = 1 if cfg.bits is None else cfg.code_max
    if cfg.signed_inputs == "two_pass" and cfg.signed:
        parts = [(np.maximum(c, 0.0), 1.0, "+"), (np.maximum(-c, 0.0), -1.0, "-")]
    else:
        parts = [(c, 1.0, "")]
    if cfg.slice_bits is None:
        return [DrivePass(p, c_max, sign, f"all{tag}", cfg.v_read_V) for p, sign, tag in parts]
    widths = slice_widths(cfg.magnitude_bits, -(-cfg.magnitude_bits // cfg.slice_bits), cfg.slice_bits)
    passes = []
    # every pass's codes are one slab of a single (passes, B, rows) array (see stacked_codes)
    stack = np.empty((len(parts) * len(widths),) + c.shape)
    for i, (p, sign, tag) in enumerate(parts):
        shift = 0
        slices = code_slices(p, c_max, widths, out=stack[i * len(widths) : (i + 1) * len(widths)])
        for j, (width, cj) in enumerate(zip(widths, slices)):
            slice_max = 2**cfg.slice_bits - 1 if cfg.slice_scale == "uniform" else 2**width - 1  # (D6) or (D4)
            passes.append(DrivePass(cj, slice_max, sign * (2**shift) * slice_max / c_max, f"slice{j}{tag}",
                                    cfg.v_read_V))
            shift += width
    return passes


@dataclass(frozen=True)
class RowDrive:
    """What one block of rows is driven with (shared by the column tiles of that block):
    the inputs ``x (B, rows)``, their range ``x_max (B,)`` (D1), the DAC codes ``(B, rows)`` and
    the fraction clipped (D2), the drive passes (D4) and, for a digital offset removal, the
    per-vector sum ``d_sum = sum_i c_i / c_max`` ``(B, 1)`` (else None)."""

    x: np.ndarray
    x_max: np.ndarray
    codes: np.ndarray
    dac_clip: float
    passes: list[DrivePass]
    d_sum: np.ndarray | None


def row_drive(x: np.ndarray, x_max: np.ndarray | None, cfg: DACConfig, *, offset_sum: bool,
              scratch: Scratch | None = None, name: tuple = ()) -> RowDrive:
    """The DAC codes (D2), drive passes (D4) and, if ``offset_sum``, the code sum of ``x (B, rows)``
    driven with the range ``x_max (B,)``; ``x_max`` None: the range of ``x`` (D1), found here (with a
    per-vector range, block by block with the codes: :func:`dac_codes`). With ``scratch`` the codes are
    written into its arrays ``name + ("codes",)`` and ``name + ("dac",)``."""
    fill = x_max is None and range_fills_in_loop(cfg) and x.size > 0
    if x_max is None:
        x_max = np.empty(x.shape[0]) if fill else input_range(x, cfg)
    codes, clip = dac_codes(x, x_max, cfg, out=scratch_array(scratch, name + ("codes",), x.shape),
                            work=scratch_array(scratch, name + ("dac",), (min(block_rows(x.shape[1]), x.shape[0]),
                                                                         x.shape[1])), fill_range=fill)
    d_sum = None
    if offset_sum:
        d_sum = codes.sum(axis=1, keepdims=True) / (1 if cfg.bits is None else cfg.code_max)
    return RowDrive(x, x_max, codes, clip, drive_passes(codes, cfg), d_sum)


#: Largest ``c_max`` for which :func:`code_slices` looks the slices up in a table.
SLICE_TABLE_MAX = 2**16


def stacked_codes(passes: list[DrivePass]) -> np.ndarray | None:
    """The codes of all ``passes`` as one ``(n_passes, B, rows)`` array when they are its consecutive
    slabs (the drive passes of bit-serial inputs, :func:`drive_passes`), else None. Lets a reader
    multiply every pass in one product."""
    if len(passes) < 2:
        return None
    base = passes[0].codes.base
    if base is None or base.ndim != 3 or base.shape[0] != len(passes):
        return None
    for i, ps in enumerate(passes):
        if ps.codes.base is not base or ps.codes.ctypes.data != base[i].ctypes.data:
            return None
    return base


def code_slices(c: np.ndarray, c_max: int, widths: list[int], out: np.ndarray | None = None):
    """The signed input slices ``sign(c) c_j`` of integer-valued codes ``c`` (D4), one ``(B, rows)``
    float64 array per slice width, least significant first (a generator); written into the
    slabs of ``out`` ``(len(widths), B, rows)`` if given.

    ``c_j = floor(|c| / 2^{sigma_j}) mod 2^{w_j}`` with ``sigma_j`` the sum of the widths below ``j``.
    For ``c_max <= SLICE_TABLE_MAX`` every slice of every code ``-c_max .. c_max`` is tabulated
    once and ``c`` indexes the tables (one gather per slice); otherwise the bits are shifted and
    masked (several passes per slice). Both give the same numbers (tested).
    """
    if c_max <= SLICE_TABLE_MAX:
        vals = np.arange(-c_max, c_max + 1)
        idx = (c + c_max).astype(np.intp)  # c is integer-valued: exact
        mag = np.abs(vals)
    else:
        mag = np.abs(c).astype(np.int64)
    shift = 0
    for j, width in enumerate(widths):
        dest = None if out is None else out[j]
        if c_max <= SLICE_TABLE_MAX:
            table = np.copysign(((mag >> shift) & (2**width - 1)).astype(np.float64), vals)
            yield np.take(table, idx, out=dest, mode="clip")  # idx is in range; "clip" avoids buffering
        else:  # a zero code stays 0
            yield np.copysign(((mag >> shift) & (2**width - 1)).astype(np.float64), c, out=dest)
        shift += width
