r"""TFLite's integer arithmetic for 8-bit quantized networks, in NumPy int64.

Every function reproduces the TensorFlow Lite reference kernels bit for bit
(``tensorflow/lite/kernels/internal/common.h``, ``quantization_util.cc``,
``kernel_util.cc``, ``reference/add.h``, ``reference/pooling.h``); values are
held in int64 arrays but stay in the int32 range TFLite uses. A real value is
:math:`r = s\,(q - z)` with scale :math:`s` (float32) and zero point :math:`z`.

Equations Q1-Q4 are defined in docs/MODEL.md (section 8.4, "Quantized TFLite networks").
Requantization of a convolution's int32 accumulator (eq. Q1)::

    acc  = sum (q_x - z_x)(q_w - z_w) + bias                      int32
    M    = double(float32(s_x * s_w)) / double(s_y)                 real multiplier
    (m, e) = quantize_multiplier(M):  M ~= m * 2^(e - 31), m in [2^30, 2^31)
    q_y  = clamp(rounding_divide_by_pot(srdhm(acc * 2^max(e,0), m), max(-e,0)) + z_y,
                 act_min, act_max)

with ``srdhm`` gemmlowp's SaturatingRoundingDoublingHighMul (the high 32 bits of
``2 a b``, rounded half away from zero) and ``rounding_divide_by_pot`` a right
shift rounding half away from zero. This is the default ("double rounding")
TFLite build, which the PyPI LiteRT interpreter uses.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = [
    "INT32_MIN", "INT32_MAX", "quantize_multiplier", "srdhm", "rounding_divide_by_pot",
    "multiply_by_quantized_multiplier", "conv_multiplier", "activation_range", "requantize",
    "AddParams", "add_params", "quantized_add", "average_pool_uint8",
]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _round_half_away(x: float) -> int:
    """``std::round``: nearest integer, halves away from zero (exact for doubles)."""
    r = math.floor(abs(x) + 0.5)
    if r - abs(x) > 0.5:  # abs(x) + 0.5 rounded up in floating point
        r -= 1
    return int(math.copysign(r, x))


def quantize_multiplier(m: float) -> tuple[int, int]:
    r"""TFLite's ``QuantizeMultiplier``: ``m = q \cdot 2^{e-31}`` with q a Q31 int32.

    :math:`(f, e) = \mathrm{frexp}(m)`, :math:`q = \mathrm{round}(f\,2^{31})`;
    ``q == 2^31`` becomes ``2^30`` with ``e + 1``; ``e < -31`` flushes to ``(0, 0)``.

    Returns ``(q, e)``: ``q`` in ``[2^30, 2^31)`` (or 0), ``e`` the left shift (negative: right).
    """
    m = float(m)
    if not math.isfinite(m) or m < 0:
        raise ValueError(f"multiplier: received {m!r}; expected a finite value >= 0")
    if m == 0.0:
        return 0, 0
    frac, e = math.frexp(m)
    q = _round_half_away(frac * 2.0**31)
    if q == 2**31:
        q //= 2
        e += 1
    if e < -31:
        return 0, 0
    return q, e


def _wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32 (C++ int32 overflow on this hardware)."""
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def srdhm(a: np.ndarray, b: int) -> np.ndarray:
    r"""gemmlowp ``SaturatingRoundingDoublingHighMul(a, b)`` for int32 ``a`` (array) and ``b``.

    :math:`\mathrm{trunc}((a b + \nu) / 2^{31})` with :math:`\nu = 2^{30}` if
    :math:`ab \ge 0` else :math:`1 - 2^{30}` (C division truncates toward zero);
    ``a == b == INT32_MIN`` saturates to ``INT32_MAX``.
    """
    a = np.asarray(a, dtype=np.int64)
    # trunc((ab + nu) / 2^31) == floor((ab + 2^30) / 2^31) for both signs of ab
    # (ab < 0: ab + 1 - 2^30 < 0, and trunc(s / 2^31) = (s + 2^31 - 1) >> 31)
    out = a * np.int64(b)
    out += np.int64(2**30)
    out >>= 31
    if b == INT32_MIN:
        out[a == INT32_MIN] = INT32_MAX
    return out


def rounding_divide_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    r"""gemmlowp ``RoundingDivideByPOT``: :math:`x / 2^{k}`, rounded half away from zero.

    ``mask = 2^k - 1``, ``remainder = x & mask``, ``threshold = mask >> 1`` (+1 if x < 0);
    result ``(x >> k) + (remainder > threshold)``.
    """
    if not 0 <= exponent <= 31:
        raise ValueError(f"exponent: received {exponent}; expected 0..31")
    x = np.asarray(x, dtype=np.int64)
    if exponent == 0:
        return x.copy()
    # remainder > threshold  <=>  floor((x + 2^(k-1) - [x < 0]) / 2^k) rounds up; x >> 63 = -[x < 0]
    out = x >> 63
    out += x
    out += np.int64(1 << (exponent - 1))
    out >>= exponent
    return out


def multiply_by_quantized_multiplier(x: np.ndarray, q: int, e: int) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier(x, q, e)`` (double rounding): ``x * q * 2^(e-31)``."""
    left, right = max(e, 0), max(-e, 0)
    x = np.asarray(x, dtype=np.int64)
    if left:
        x = _wrap_int32(x * (1 << left))
    return rounding_divide_by_pot(srdhm(x, q), right)


def conv_multiplier(s_x: np.float32, s_w: np.float32, s_y: np.float32) -> float:
    """``GetQuantizedConvolutionMultipler``: ``double(float32(s_x * s_w)) / double(s_y)``."""
    return float(np.float32(s_x) * np.float32(s_w)) / float(np.float32(s_y))


def activation_range(activation: str, scale: np.float32, zero_point: int, qmin: int = 0,
                     qmax: int = 255) -> tuple[int, int]:
    """``CalculateActivationRangeQuantized``: the clamp of a fused activation, in q units.

    ``quantize(f) = z + int(round(float32(f) / float32(s)))`` (float32 division,
    halves away from zero). NONE: ``[qmin, qmax]``; RELU: ``[max(qmin, quantize(0)), qmax]``;
    RELU6: ``[max(qmin, quantize(0)), min(qmax, quantize(6))]``; RELU_N1_TO_1: ``quantize(-1), quantize(1)``.
    """
    def quantize(f: float) -> int:
        return int(zero_point) + _round_half_away(float(np.float32(f) / np.float32(scale)))

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    raise NotImplementedError(f"fused activation {activation!r} is not supported; "
                              "expected NONE, RELU, RELU6 or RELU_N1_TO_1")


def requantize(acc: np.ndarray, q: int, e: int, zero_point: int, act: tuple[int, int]) -> np.ndarray:
    """Eq. Q1: int32 accumulator -> clamped output in q units (int64 array)."""
    out = multiply_by_quantized_multiplier(acc, q, e)
    out += int(zero_point)
    return np.clip(out, act[0], act[1], out=out)


class AddParams:
    """The integers of TFLite's quantized ADD (``add.cc`` Prepare, uint8/int8 path).

    ``left_shift = 20``; with :math:`t = 2\\max(s_1, s_2)` (float32, then double):
    input multipliers :math:`s_i / t` and output multiplier :math:`t / (2^{20} s_y)`,
    each through :func:`quantize_multiplier` (all three are < 1).
    """

    left_shift = 20

    def __init__(self, s1, z1, s2, z2, sy, zy, act):
        twice_max = float(np.float32(2) * max(np.float32(s1), np.float32(s2)))
        reals = (float(np.float32(s1)) / twice_max, float(np.float32(s2)) / twice_max,
                 twice_max / float(np.float32(2**self.left_shift) * np.float32(sy)))
        for r in reals:
            if not 0 < r < 1:
                raise ValueError(f"ADD: rescaling multiplier {r!r} outside (0, 1); scales {s1}, {s2}, {sy}")
        (self.m1, self.e1), (self.m2, self.e2), (self.my, self.ey) = (quantize_multiplier(r) for r in reals)
        self.z1, self.z2, self.zy, self.act = int(z1), int(z2), int(zy), act


def add_params(s1, z1, s2, z2, sy, zy, act) -> AddParams:
    """Build :class:`AddParams` from both inputs' and the output's (scale, zero point) and the clamp."""
    return AddParams(s1, z1, s2, z2, sy, zy, act)


def quantized_add(q1: np.ndarray, q2: np.ndarray, p: AddParams) -> np.ndarray:
    r"""TFLite's ``AddElementwise`` for 8-bit inputs (eq. Q2)::

        x_i = rdbp(srdhm((q_i - z_i) * 2^20, m_i), -e_i)
        q_y = clamp(rdbp(srdhm(x_1 + x_2, m_y), -e_y) + z_y, act_min, act_max)
    """
    x1 = rounding_divide_by_pot(srdhm((np.asarray(q1, np.int64) - p.z1) << p.left_shift, p.m1), -p.e1)
    x2 = rounding_divide_by_pot(srdhm((np.asarray(q2, np.int64) - p.z2) << p.left_shift, p.m2), -p.e2)
    y = rounding_divide_by_pot(srdhm(_wrap_int32(x1 + x2), p.my), -p.ey) + p.zy
    return np.clip(y, p.act[0], p.act[1])


def average_pool_uint8(q: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                       pads: tuple[int, int], out_hw: tuple[int, int], act: tuple[int, int]) -> np.ndarray:
    r"""TFLite's quantized ``AveragePool`` on q values ``(N, C, H, W)`` (eq. Q3).

    Each window sums the q values inside the image only (padding excluded),
    ``count`` = their number: :math:`q_y = \mathrm{clamp}(\lfloor (\Sigma + \lfloor count/2 \rfloor)
    / count \rfloor)`. The input and output share scale and zero point.
    ``pads`` = (top, left) padding (TFLite pads the bottom/right implicitly).
    """
    n, c, h, w = q.shape
    oh, ow = out_hw
    out = np.empty((n, c, oh, ow), dtype=np.int64)
    q = np.asarray(q, dtype=np.int64)
    for i in range(oh):
        r0 = i * stride[0] - pads[0]
        rs, re = max(r0, 0), min(r0 + kernel[0], h)
        for j in range(ow):
            c0 = j * stride[1] - pads[1]
            cs, ce = max(c0, 0), min(c0 + kernel[1], w)
            count = (re - rs) * (ce - cs)
            if count <= 0:
                raise ValueError(f"AVERAGE_POOL_2D: window ({i}, {j}) covers no input pixel")
            total = q[:, :, rs:re, cs:ce].sum(axis=(2, 3))
            out[:, :, i, j] = (total + count // 2) // count
    return np.clip(out, act[0], act[1])


# --- SOFTMAX, uint8 -> uint8: TFLite's reference kernel (gemmlowp fixed point) -------------------

def _srdhm2(a: np.ndarray, b) -> np.ndarray:
    """:func:`srdhm` with ``b`` an array too (element-wise)."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    out = (a * b + np.int64(2**30)) >> 31
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, out)


def _sat_shift_left(x: np.ndarray, k: int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingMultiplyByPOT<k>`` for k > 0 (saturating left shift)."""
    threshold = (1 << (31 - k)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << k))


def _exp_on_negative_values_q5(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``exp_on_negative_values`` of Q5.26 raws ``a <= 0`` -> Q0.31 raws."""
    quarter = np.int64(1 << 24)
    a_mod = (a & (quarter - 1)) - quarter  # in [-1/4, 0)
    x = _sat_shift_left(a_mod, 5) + (1 << 28)  # Rescale<0>, then x = a + 1/8 (Taylor around -1/8)
    x2 = _srdhm2(x, x)
    x3 = _srdhm2(x2, x)
    x4_over_4 = rounding_divide_by_pot(_srdhm2(x2, x2), 2)
    poly = rounding_divide_by_pot(srdhm(x4_over_4 + x3, 715827883) + x2, 1)
    result = 1895147668 + srdhm(x + poly, 1895147668)  # exp(-1/8) (1 + x + x^2/2 + x^3/6 + x^4/24)
    remainder = a_mod - a
    for exponent, multiplier in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                                 (2, 39332535), (3, 720401), (4, 242)):  # exp(-2^exponent) in Q0.31
        result = np.where(remainder & (1 << (26 + exponent)), srdhm(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def _one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``one_over_one_plus_x_for_x_in_0_1`` (Newton-Raphson, 3 steps), Q0.31 -> Q0.31."""
    s = a + np.int64(INT32_MAX)  # RoundingHalfSum(a, One)
    half_den = np.where(s >= 0, (s + 1) // 2, -((-(s - 1)) // 2))
    x = 1515870810 + srdhm(half_den, -1010580540)  # 48/17 - 32/17 d, in Q2.29
    for _ in range(3):
        one_minus = (1 << 29) - _srdhm2(half_den, x)
        x = x + _sat_shift_left(_srdhm2(x, one_minus), 2)
    return _sat_shift_left(x, 1)


def softmax_uint8(q: np.ndarray, s_in, beta) -> np.ndarray:
    r"""TFLite's reference uint8 SOFTMAX (output scale 1/256, zero point 0), eq. Q4.

    With :math:`d_j = q_j - \max_k q_k` and ``(m, e) = quantize_multiplier(min(beta s_in 2^26,
    2^31 - 1))`` (``PreprocessSoftmaxScaling``, 5 integer bits): entries with
    :math:`d_j \ge -\lfloor 31 \cdot 2^{26} / 2^{e} \rfloor` take
    :math:`E_j = \exp(\mathrm{srdhm}(d_j 2^e, m))` in gemmlowp fixed point (Q5.26 -> Q0.31),
    summed as Q12.19; the reciprocal of the sum is Newton-Raphson (``GetReciprocal``) and
    :math:`q'_j = \mathrm{rdbp}(\mathrm{srdhm}(1/S, E_j), b + 23)` clamped to 0..255, with
    :math:`b` the sum's bits above one; others give 0. Rows are the last axis.
    """
    real = min(float(np.float64(beta)) * float(np.float64(np.float32(s_in))) * float(1 << 26), 2.0**31 - 1)
    m, e = quantize_multiplier(real)
    if e < 0:
        raise NotImplementedError(f"SOFTMAX: input multiplier {real!r} < 1 is not supported")
    diff_min = -math.floor(31.0 * (1 << 26) / (1 << e))  # -CalculateInputRadius(5, e)
    q = np.asarray(q, dtype=np.int64)
    d = q - q.max(axis=-1, keepdims=True)
    use = d >= diff_min
    exps = np.where(use, _exp_on_negative_values_q5(srdhm(d << e, m)), 0)
    total = rounding_divide_by_pot(exps, 12).sum(axis=-1, keepdims=True)  # Q12.19
    ux = total.astype(np.uint64) & 0xFFFFFFFF
    clz = np.array([32 - int(v).bit_length() for v in ux.ravel()]).reshape(total.shape)
    bits_over_unit = 12 - clz
    shifted = ((ux << clz.astype(np.uint64)) & 0xFFFFFFFF).astype(np.int64) - (1 << 31)
    scale = _one_over_one_plus_x(shifted)
    out = np.empty_like(d)
    for idx in np.ndindex(*d.shape[:-1]):
        k = int(bits_over_unit[idx + (0,)]) + 31 - 8
        out[idx] = rounding_divide_by_pot(srdhm(exps[idx], int(scale[idx + (0,)])), k)
    return np.where(use, np.clip(out, 0, 255), 0)
