"""docs/MODEL.md steps 1-2: weight range, normalization, quantization and bit slicing.

Shapes: a weight matrix ``W`` is ``(n_in, n_out)`` (rows driven by inputs,
columns summing currents), so that ``y = x @ W``.
"""

from __future__ import annotations

import numpy as np

from refsim.config import WeightConfig, slice_widths, weight_magnitude_bits

__all__ = [
    "weight_range",
    "normalize_weights",
    "quantize_weights",
    "device_levels",
    "slice_levels",
    "combine_slices",
    "level_offset",
]


def weight_range(w: np.ndarray, cfg: WeightConfig) -> np.ndarray:
    """The weight range ``w_max`` (weight units), shape ``(n_out,)`` (one value per column).

    .. math::  w_{max} = \\max_{ij} |W_{ij}|  \\;(\\text{max}),\\quad
               P_p(|W|)\\;(\\text{percentile}),\\quad
               \\max_i |W_{ij}|\\;(\\text{column}),\\quad w_{fixed}

    A range of zero (an all-zero matrix or column) is replaced by 1 so that the
    normalized weights are 0 rather than NaN.
    """
    n_out = w.shape[1]
    if cfg.scaling == "max":
        w_max = np.full(n_out, np.max(np.abs(w)) if w.size else 0.0)
    elif cfg.scaling == "percentile":
        w_max = np.full(n_out, np.percentile(np.abs(w), cfg.percentile))
    elif cfg.scaling == "column":
        w_max = np.max(np.abs(w), axis=0)
    else:  # fixed
        w_max = np.full(n_out, float(cfg.w_max))
    return np.where(w_max > 0, w_max, 1.0)


def normalize_weights(w: np.ndarray, w_max: np.ndarray) -> tuple[np.ndarray, float]:
    """Clip to ``[-w_max, w_max]`` and divide: ``w_norm = clip(W, -w_max, w_max) / w_max`` in [-1, 1].

    Returns ``(w_norm, clipped_fraction)``; shapes ``(n_in, n_out)`` and a float.
    """
    clipped = np.abs(w) > w_max
    w_norm = np.clip(w, -w_max, w_max) / w_max
    return w_norm, float(np.mean(clipped)) if w.size else 0.0


def quantize_weights(w_norm: np.ndarray, bits: int) -> np.ndarray:
    """Signed integer weight levels ``q = round_half_even(w_norm * Q)``, ``Q = 2^(b-1) - 1``.

    Returns int64 of the shape of ``w_norm``, values in ``[-Q, Q]``.
    """
    q_max = 2 ** (bits - 1) - 1
    return np.rint(w_norm * q_max).astype(np.int64)


def level_offset(bits: int | None, scheme: str) -> float:
    """The offset level added by the offset scheme: ``2^(b-1)`` (offset binary) or 1/2 for analog weights."""
    if scheme != "offset":
        return 0.0
    return 0.5 if bits is None else float(2 ** (bits - 1))


def device_levels(w_norm: np.ndarray, q: np.ndarray | None, bits: int | None, scheme: str) -> dict[str, np.ndarray]:
    """Non-negative level stored on each device, before slicing.

    For analog weights (``q is None``) the level is a real ``u`` in [0, 1]; for
    quantized weights an integer. With ``Q = 2^(b-1)-1``:

    ============================  ===========================  =============================
    scheme                        analog                        quantized (integer)
    ============================  ===========================  =============================
    differential_one_sided        u± = max(±w, 0)               p = max(q,0), n = max(-q,0)
    differential_two_sided        u± = (1 ± w) / 2              p = Q + q,    n = Q - q
    offset                        u  = (w + 1) / 2              p = q + 2^(b-1)
    ============================  ===========================  =============================

    Returns ``{"pos": ..., "neg": ...}`` (differential) or ``{"single": ...}`` (offset).
    """
    if q is None:
        if scheme == "differential_one_sided":
            return {"pos": np.maximum(w_norm, 0.0), "neg": np.maximum(-w_norm, 0.0)}
        if scheme == "differential_two_sided":
            return {"pos": (1.0 + w_norm) / 2.0, "neg": (1.0 - w_norm) / 2.0}
        return {"single": (w_norm + 1.0) / 2.0}
    q_max = 2 ** (bits - 1) - 1
    if scheme == "differential_one_sided":
        return {"pos": np.maximum(q, 0), "neg": np.maximum(-q, 0)}
    if scheme == "differential_two_sided":
        return {"pos": q_max + q, "neg": q_max - q}
    return {"single": q + 2 ** (bits - 1)}


def level_scale(bits: int | None, scheme: str) -> float:
    """Divisor turning a net level into a normalized weight: ``w_norm = net / level_scale``.

    ``net = p - n`` (differential) or ``p - offset`` (offset). Analog: 1 (one- and
    two-sided), 1/2 (offset). Quantized: ``Q`` (one-sided, offset), ``2Q`` (two-sided).
    """
    if bits is None:
        return 0.5 if scheme == "offset" else 1.0
    q_max = 2 ** (bits - 1) - 1
    return 2.0 * q_max if scheme == "differential_two_sided" else float(q_max)


def slice_levels(levels: np.ndarray, cfg: WeightConfig, scheme: str) -> list[tuple[np.ndarray, int, int]]:
    """Split an unsigned integer level into slices, least significant first.

    .. math:: s_k = \\lfloor p / 2^{\\sigma_k} \\rfloor \\bmod 2^{b_k},\\qquad
              p = \\sum_k 2^{\\sigma_k} s_k,\\quad \\sigma_k = \\sum_{l<k} b_l

    Returns a list of ``(s_k, shift_k, L_k)``: the slice (int64, shape of
    ``levels``), its shift ``sigma_k`` and its largest level
    ``L_k = min(2^{b_k} - 1, p_max >> sigma_k)`` (the full conductance range is used
    by the largest value the slice can hold). Analog levels (float) are returned as
    one slice with ``L = 1``. With ``cfg.slice_scale="uniform"`` every slice has
    ``L_k = 2^{b_0} - 1`` (W7: CrossSim divides every slice, the top one included, by
    ``2^(bits per slice) - 1``).
    """
    if cfg.bits is None:
        return [(levels, 0, 1)]
    mag_bits = weight_magnitude_bits(cfg.bits, scheme)
    widths = slice_widths(mag_bits, cfg.n_slices, cfg.bits_per_slice)
    p_max = _max_level(cfg.bits, scheme)
    out = []
    shift = 0
    for width in widths:
        s = (levels >> shift) & (2**width - 1)
        big_l = 2 ** widths[0] - 1 if cfg.slice_scale == "uniform" else min(2**width - 1, p_max >> shift)  # (W7)
        out.append((s.astype(np.int64), shift, big_l))
        shift += width
    return out


def _max_level(bits: int, scheme: str) -> int:
    """Largest integer level a device can hold: Q (one-sided), 2Q (two-sided), 2^b - 1 (offset)."""
    q_max = 2 ** (bits - 1) - 1
    return {"differential_one_sided": q_max, "differential_two_sided": 2 * q_max}.get(scheme, 2**bits - 1)


def combine_slices(slices: list[tuple[np.ndarray, int, int]]) -> np.ndarray:
    """Inverse of :func:`slice_levels`: ``p = sum_k 2^{sigma_k} s_k`` (digital shift-and-add)."""
    total = np.zeros_like(slices[0][0])
    for s, shift, _ in slices:
        total = total + s * (2**shift)
    return total
