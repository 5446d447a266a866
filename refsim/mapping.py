"""docs/MODEL.md step 3: mapping of slice levels to conductances, in siemens.

A device holding level ``s`` of a slice whose largest level is ``L`` is programmed to the
conductance of (M1), which, with the device levels of :func:`refsim.weights.device_levels`, gives the
one-sided (``G± = Gmin + ΔG max(±w, 0)``), two-sided (``G± = Gmin + ΔG (1 ± w)/2``)
and offset (``G = Gmin + ΔG (w + 1)/2``) mappings of docs/MODEL.md (M1).
"""

from __future__ import annotations

import numpy as np

from refsim.config import MappingConfig

__all__ = ["levels_to_conductance", "round_to_cell_levels", "reference_conductance", "read_span_S",
           "round_conductance_float32", "round_pair_float32"]


def round_to_cell_levels(u: np.ndarray, cell_bits: int) -> np.ndarray:
    """Round analog levels ``u`` in [0, 1] to ``2^cell_bits`` evenly spaced programmable levels (M2),
    half to even; same shape as ``u``.
    """
    n = 2**cell_bits - 1
    return np.rint(u * n) / n


def levels_to_conductance(levels: np.ndarray, max_level: float, cfg: MappingConfig) -> np.ndarray:
    """Equation (M1): conductance in S of every device, same shape as ``levels``.

    ``levels`` are non-negative slice levels (int or, for analog weights, float in [0, 1]);
    ``max_level`` is the slice's ``L``. Analog levels are first rounded to the cell's
    programmable levels when ``cfg.cell_bits`` is set (M2).
    """
    u = np.asarray(levels, dtype=np.float64) / max_level
    if cfg.cell_bits is not None:
        u = round_to_cell_levels(u, cfg.cell_bits)
    if cfg.g_round != "none":  # (M3) G / G_max rounded to float32, as CrossSim's balanced cores store it
        return round_conductance_float32(u, cfg)
    u *= cfg.g_max_S - cfg.g_min_S  # u is a fresh array: scale and shift in place
    u += cfg.g_min_S
    return u


def round_conductance_float32(u: np.ndarray, cfg: MappingConfig) -> np.ndarray:
    """(M3) ``G = G_max fl32(G_min/G_max + (1 - G_min/G_max) u)``, S, same shape as the analog level ``u``.

    CrossSim's balanced cores (``BalancedCore._wrapper_set_matrix``) form the normalized
    conductance ``Gmin_norm + Grange_norm * w`` in float64 and store it as float32; the
    multiply then promotes it back to float64.
    """
    g_min_norm = cfg.g_min_S / cfg.g_max_S
    g = (g_min_norm + (1.0 - g_min_norm) * u).astype(np.float32).astype(np.float64)
    return g * cfg.g_max_S


def reference_conductance(offset_level: float, max_level: float, cfg: MappingConfig) -> float:
    """Conductance (S) of the cells of an offset scheme's reference column: (M1) at the offset level.

    The reference column of slice ``k`` holds slice ``k`` of the offset ``2^(b-1)``
    (so the top slice holds the mid-scale level and lower slices hold ``G_min``), or
    ``u = 1/2`` for analog weights.
    """
    if cfg.g_round != "none":  # (M3), as every other cell
        return float(round_conductance_float32(np.array(offset_level / max_level), cfg))
    return cfg.g_min_S + (cfg.g_max_S - cfg.g_min_S) * (offset_level / max_level)


def round_pair_float32(g_plus_S: np.ndarray, g_minus_S: np.ndarray, cfg: MappingConfig) -> np.ndarray:
    """(M4) the matrix ``G+ - G-`` (S) of an in-array two-device read; for ``mapping.g_round="float32_pair"``
    ``G_max fl32(fl32(G+/G_max) - fl32(G-/G_max))``, as CrossSim's fast balanced path forms it
    (``BalancedCore._wrapper_set_matrix``: ``W_balanced`` is the float32 difference of the two float32
    matrices). ``fl32(G/G_max)`` recovers M3's float32 value exactly; their difference is exact in float64 and
    is rounded once, half to even (such differences often lie exactly half-way between two float32)."""
    if cfg.g_round != "float32_pair":
        return g_plus_S - g_minus_S
    def f32(g):
        return np.asarray(np.asarray(g) / cfg.g_max_S, dtype=np.float32).astype(np.float64)
    return (f32(g_plus_S) - f32(g_minus_S)).astype(np.float32).astype(np.float64) * cfg.g_max_S


def read_span_S(cfg: MappingConfig, offset_level: float, max_level: float, read: str, max_span: str = "read") -> float:
    """Largest |conductance| one cell contributes to one ADC input, in S.

    ``read`` is ``"net"`` for an in-array subtraction (``G+ - G-`` spans ``ΔG``;
    ``G - G_ref`` spans ``ΔG max(off, L - off)/L``) and ``"single"`` for a single-ended
    read (``G_max``). The ADC's ``"max"`` range is ``rows * v_read * span``.
    ``max_span="g_max"`` (``adc.max_span``, A5) gives ``G_max`` for every read, as CrossSim's
    ``ADCRangeLimits.MAX`` (``rows`` in units of ``G_max v_read``).
    """
    dg = cfg.g_max_S - cfg.g_min_S
    if read == "single" or max_span == "g_max":
        return cfg.g_max_S
    if cfg.differential:
        return dg
    return dg * max(offset_level, max_level - offset_level) / max_level
