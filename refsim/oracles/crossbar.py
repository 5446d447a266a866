"""Deliberately naive reference implementations, shared by tests and tutorials.

Nothing here is fast and nothing here calls the functions it checks: loops over
Python scalars, exact rational arithmetic (:class:`fractions.Fraction`) where
the pipeline is integer, and the equations written out again from the docs.

* :func:`matmul_naive` — float64 ``x @ W`` by explicit sums (``math.fsum``).
* :func:`integer_oracle` — the whole noise-free quantized pipeline of a
  :class:`~refsim.Crossbar` in exact arithmetic: DAC codes, slices, integer dot
  products, ADC codes (round half to even, exact) and the recombined output.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__ = ["matmul_naive", "integer_oracle", "tile_ranges_naive"]


def matmul_naive(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``y[b, j] = fsum_i x[b, i] * w[i, j]`` with correctly rounded sums; shapes (B, n), (n, m) -> (B, m)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    out = np.empty((x.shape[0], w.shape[1]))
    for b in range(x.shape[0]):
        for j in range(w.shape[1]):
            out[b, j] = math.fsum(float(x[b, i]) * float(w[i, j]) for i in range(w.shape[0]))
    return out


def tile_ranges_naive(n: int, n_max: int | None, mode: str) -> list[tuple[int, int]]:
    """Tile ranges written out again: ``even`` deals indices round-robin sizes, ``fill`` takes n_max at a time."""
    if n_max is None or n <= n_max:
        return [(0, n)]
    count = 0
    while count * n_max < n:
        count += 1
    if mode.startswith("crosssim"):  # CrossSim 3.2 AnalogCore: equal when count divides n, else MAX or EQUAL
        if n % count == 0:
            size = n // count
        elif mode == "crosssim_max":
            size = n_max
        else:  # round half to even of n / count, written out with Fractions
            f = Fraction(n, count)
            size = math.floor(f + Fraction(1, 2))
            if f - math.floor(f) == Fraction(1, 2) and size % 2:
                size -= 1
        sizes = [size] * (count - 1) + [n - size * (count - 1)]
    elif mode == "fill":
        sizes = [min(n_max, n - i * n_max) for i in range(count)]
    else:
        sizes = [0] * count
        for i in range(n):
            sizes[i % count] += 1
    out, start = [], 0
    for size in sizes:
        out.append((start, start + size))
        start += size
    return out


def _bits_of(value: int, lo: int, width: int) -> int:
    return (value // 2**lo) % 2**width


def _slices(total_bits: int, n: int, per: int | None) -> list[tuple[int, int]]:
    """[(shift, width)] least significant first; top slice takes the remainder."""
    if per is None:
        per = -(-total_bits // n)
    out = [(i * per, per) for i in range(n - 1)]
    out.append(((n - 1) * per, total_bits - (n - 1) * per))
    return out


def _device_int_levels(q: int, bits: int, scheme: str) -> dict[str, int]:
    big_q = 2 ** (bits - 1) - 1
    if scheme == "differential_one_sided":
        return {"pos": q if q > 0 else 0, "neg": -q if q < 0 else 0}
    if scheme == "differential_two_sided":
        return {"pos": big_q + q, "neg": big_q - q}
    return {"single": q + 2 ** (bits - 1)}


def integer_oracle(w: np.ndarray, x: np.ndarray, cfg) -> dict:
    """The noise-free quantized pipeline in exact arithmetic.

    Requires quantized weights and a quantized DAC (``weight.bits`` and ``dac.bits``
    set); the ADC may be ideal or quantized. Returns ``{"y": (B, n_out) float64,
    "adc_codes": {key: (B, cols) int array}, "y_exact": nested lists of Fraction}``
    with keys ``t{tile}.s{k}.{read}.{pass}`` as in :meth:`refsim.Trace.adc_codes`.
    """
    wc, m, dac, adc = cfg.weight, cfg.mapping, cfg.dac, cfg.adc
    if wc.bits is None or dac.bits is None:
        raise ValueError("integer_oracle: needs weight.bits and dac.bits (a quantized pipeline)")
    w = np.asarray(w, dtype=np.float64)
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    n_in, n_out = w.shape
    big_b = x.shape[0]
    # step 1: weight range, per column
    absw = np.abs(w)
    if wc.scaling == "max":
        wm = [float(absw.max())] * n_out
    elif wc.scaling == "column":
        wm = [float(absw[:, j].max()) for j in range(n_out)]
    elif wc.scaling == "percentile":
        wm = [float(np.percentile(absw, wc.percentile))] * n_out
    else:
        wm = [float(wc.w_max)] * n_out
    wm = [v if v > 0 else 1.0 for v in wm]
    # step 2: integer levels and slices (Python ints)
    big_q = 2 ** (wc.bits - 1) - 1
    q = [[round(min(max(float(w[i, j]), -wm[j]), wm[j]) / wm[j] * big_q) for j in range(n_out)] for i in range(n_in)]
    mag_bits = wc.bits - 1 if m.scheme == "differential_one_sided" else wc.bits
    w_slices = _slices(mag_bits, wc.n_slices, wc.bits_per_slice)
    p_max = {"differential_one_sided": big_q, "differential_two_sided": 2 * big_q}.get(m.scheme, 2**wc.bits - 1)
    lam = 2 * big_q if m.scheme == "differential_two_sided" else big_q
    offset = 2 ** (wc.bits - 1) if m.scheme == "offset" else 0
    # step 3 constants (exact)
    g_min, g_max = Fraction(m.g_min_S), Fraction(m.g_max_S)
    d_g = g_max - g_min
    v_read = Fraction(dac.v_read_V)
    c_max = dac.code_max
    in_bits = dac.magnitude_bits
    in_slices = [(0, in_bits)] if dac.slice_bits is None else _slices(in_bits, -(-in_bits // dac.slice_bits), dac.slice_bits)
    two_pass = dac.signed_inputs == "two_pass" and dac.signed
    y = [[Fraction(0)] * n_out for _ in range(big_b)]
    codes_out: dict[str, np.ndarray] = {}
    tile_id = 0
    for r0, r1 in tile_ranges_naive(n_in, cfg.array.rows_max, cfg.array.split):
        col_tiles = tile_ranges_naive(n_out, cfg.array.cols_max, cfg.array.split)
        # DAC per vector for these rows
        dac_c, x_max = [], []
        avg = None  # (D8) the running average of max|x| over the vectors, in float32
        for b in range(big_b):
            seg, reads_zero = [float(x[b, i]) for i in range(r0, r1)], False
            if dac.range_mode == "fixed":
                xm = float(dac.x_max)
            elif dac.range_mode == "average_abs_max":
                m_b = np.float32(max(abs(float(np.float32(v))) for v in seg))
                avg = m_b if avg is None else np.float32(np.float32(avg * (np.float32(1) - np.float32(dac.nm_decay)))
                                                         + np.float32(np.float32(dac.nm_decay) * m_b))
                xm = float(avg) if avg > 0 else 1.0
            elif dac.range_mode == "abs_max_np_sum":  # (D8) written out in float32 scalars
                f32 = np.float32
                a = f32(max(abs(v) for v in seg))
                a = a if dac.x_max_cap is None else min(a, f32(dac.x_max_cap))
                s = max(f32(math.fsum(v for v in seg if v > 0)), f32(math.fsum(-v for v in seg if v < 0)))
                n = f32(f32(s * f32(dac.nm_assumed_wmax)) / f32(dac.nm_out_bound))
                if dac.nm_max_bm_res > 0:
                    r = f32(f32(1.0 / (2 * c_max)) * f32(2.0))
                    n = min(f32(f32(a / r) * f32(dac.nm_max_bm_res)), n)
                xm = float(max(a, n)) or 1.0
            elif dac.range_mode == "max":  # (D8) signed max; none positive: the codes of zeros, zero output
                xm = max(seg) if dac.x_max_cap is None else min(max(seg), dac.x_max_cap)
                if xm <= 0:
                    seg, xm, reads_zero = [0.0] * len(seg), 1.0, True
            else:
                xm = max(abs(v) for v in seg)
                xm = xm if xm > 0 else 1.0
                xm = xm if dac.x_max_cap is None else min(xm, dac.x_max_cap)
            scale = c_max / xm  # inf for a subnormal range: then (v / xm) * c_max, as refsim.dac does
            # code range written out: two's complement stops one short of c_max on the positive side
            lo = -c_max if dac.signed else 0
            hi = c_max - 1 if dac.levels == "twos_complement" else c_max
            if dac.arithmetic == "aihwkit_float32":  # (D7) one float32 operation at a time
                with np.errstate(divide="ignore"):  # a range below float32's: s32 = inf
                    s32 = np.float32(1) / np.float32(xm)
                r32 = np.float32(np.float32(1.0 / (2 * c_max)) * np.float32(2))
                dac_c.append([0 if np.float32(v) == 0 else  # 0 also where s32 = inf (a range below float32's)
                              min(max(int(np.rint(np.float32(np.float32(np.float32(v) * s32) / r32))), lo), hi)
                              for v in seg])
            elif dac.levels == "midrise":  # (D5): odd codes, index round((x c_max / x_max + c_max) / 2), exactly
                dac_c.append([2 * min(max(round((Fraction(v) * c_max / Fraction(xm) + c_max) / 2), 0), c_max) - c_max
                              for v in seg])
            else:
                dac_c.append([min(max(round(v * scale if math.isfinite(scale) else v / xm * c_max), lo), hi)
                              for v in seg])
            x_max.append(Fraction(0) if reads_zero else Fraction(xm))  # (D8) x_max = inf: the tile reads zero
        # drive passes: (label, coef, code_max_pass, codes per vector)
        passes = []
        parts = [("+", 1, lambda c: max(c, 0)), ("-", -1, lambda c: max(-c, 0))] if two_pass else [("", 1, lambda c: c)]
        for tag, sign, part in parts:
            for j, (sh, width) in enumerate(in_slices):
                smax = (2**(dac.slice_bits if dac.slice_scale == "uniform" else width) - 1) \
                    if dac.slice_bits is not None else c_max
                label = f"all{tag}" if dac.slice_bits is None else f"slice{j}{tag}"
                coef = Fraction(sign * 2**sh * smax, c_max)
                cs = []
                for b in range(big_b):
                    row = []
                    for c in dac_c[b]:
                        v = part(c)
                        if dac.slice_bits is not None:
                            v = (1 if v > 0 else -1) * _bits_of(abs(v), sh, width)
                        row.append(v)
                    cs.append(row)
                passes.append((label, coef, smax, cs))
        for c0, c1 in col_tiles:
            rows = r1 - r0
            for k, (sh, width) in enumerate(w_slices):
                big_l = 2 ** w_slices[0][1] - 1 if wc.slice_scale == "uniform" else min(2**width - 1, p_max // 2**sh)
                off_k = _bits_of(offset, sh, width if k + 1 < len(w_slices) else 64)
                levels = {}
                for i in range(r0, r1):
                    for j in range(c0, c1):
                        for name, lv in _device_int_levels(q[i][j], wc.bits, m.scheme).items():
                            levels.setdefault(name, {})[(i, j)] = _bits_of(lv, sh, width if k + 1 < len(w_slices) else 64)

                def g_of(level):
                    if m.g_round != "none":  # (M3) G / G_max stored as float32
                        r = g_min / g_max
                        return g_max * Fraction(float(np.float32(float(r + (1 - r) * Fraction(level, big_l)))))
                    return g_min + d_g * Fraction(level, big_l)

                def net(g):  # an in-array two-device read; (M4) its float32 difference for g_round="float32_pair"
                    if m.g_round == "float32_pair":
                        return g_max * Fraction(float(np.float32(float(g / g_max))))
                    return g

                # reads: (name, sign, conductance function (i, j) -> G)
                if m.scheme != "offset":
                    if m.subtraction == "in_array":
                        reads = [("net", 1, lambda i, j: net(g_of(levels["pos"][(i, j)]) - g_of(levels["neg"][(i, j)])))]
                        span = d_g
                    else:
                        reads = [("pos", 1, lambda i, j: g_of(levels["pos"][(i, j)])),
                                 ("neg", -1, lambda i, j: g_of(levels["neg"][(i, j)]))]
                        span = g_max
                elif m.offset_removal == "digital":
                    reads = [("single", 1, lambda i, j: g_of(levels["single"][(i, j)]))]
                    span = g_max
                elif m.subtraction == "in_array":
                    reads = [("net", 1, lambda i, j: net(g_of(levels["single"][(i, j)]) - g_of(off_k)))]
                    span = d_g * Fraction(max(off_k, big_l - off_k), big_l)
                else:
                    reads = [("single", 1, lambda i, j: g_of(levels["single"][(i, j)])), ("ref", -1, lambda i, j: g_of(off_k))]
                    span = g_max
                i_unit = v_read * d_g / big_l
                if adc.bits is not None:
                    n_lv = adc.n_levels
                    if adc.range_mode == "max":
                        i_fs = rows * v_read * (g_max if adc.max_span == "g_max" else span)
                    else:
                        ra = adc.range_A
                        i_fs = Fraction(ra[k] if isinstance(ra, tuple) else ra)
                    lsb = i_fs / n_lv
                dig_off = (g_min * big_l / d_g + off_k) if (m.scheme == "offset" and m.offset_removal == "digital") else 0
                analog_acc = dac.accumulation == "analog" and len(passes) > 1
                for b in range(big_b):
                    for j in range(c0, c1):
                        p = Fraction(0)
                        for name, sign, gfun in reads:
                            currents = []
                            for label, coef, smax, cs in passes:
                                cur = sum((Fraction(cs[b][i - r0]) / smax * v_read * gfun(i, j) for i in range(r0, r1)), Fraction(0))
                                currents.append((label, coef, cur))
                            if analog_acc:
                                currents = [("acc", Fraction(1), sum((cf * cu for _, cf, cu in currents), Fraction(0)))]
                            for label, coef, cur in currents:
                                if adc.bits is not None and adc.levels == "midrise":  # (A4) odd codes
                                    kq = 2 * min(max(round((cur / lsb + n_lv) / 2), 0), n_lv) - n_lv
                                elif adc.bits is not None:
                                    kq = round(cur / lsb)
                                    k_hi = n_lv - 1 if adc.levels == "twos_complement" else n_lv
                                    kq = min(max(kq, -n_lv if adc.signed else 0), k_hi)
                                if adc.bits is not None:
                                    key = f"t{tile_id + col_tiles.index((c0, c1))}.s{k}.{name}.{label}"
                                    codes_out.setdefault(key, np.zeros((big_b, c1 - c0), dtype=np.int64))[b, j - c0] = kq
                                    cur = kq * lsb
                                elif adc.clip_ideal:  # (A9), one range per weight slice or one for all
                                    ra = adc.range_A
                                    i_fs = Fraction(ra[k] if isinstance(ra, tuple) else ra)
                                    cur = min(max(cur, -i_fs), i_fs)
                                p += sign * coef * cur / i_unit
                        d_sum = sum((Fraction(c, c_max) for c in dac_c[b]), Fraction(0))
                        p -= dig_off * d_sum
                        y[b][j] += 2**sh * p * x_max[b] * Fraction(wm[j]) / lam
        tile_id += len(col_tiles)
    return {"y": np.array([[float(v) for v in row] for row in y]), "adc_codes": codes_out, "y_exact": y}
