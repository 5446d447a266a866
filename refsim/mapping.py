"""docs/MODEL.md step 3: mapping of slice levels to conductances, in siemens.

A device holding level ``s`` of a slice whose largest level is ``L`` is programmed to the
conductance of (M1), which, with the device levels of :func:`refsim.weights.device_levels`, gives the
one-sided (``G± = Gmin + ΔG max(±w, 0)``), two-sided (``G± = Gmin + ΔG (1 ± w)/2``)
and offset (``G = Gmin + ΔG (w + 1)/2``) mappings of docs/MODEL.md (M1).
"""

from __future__ import annotations

import numpy as np

from refsim.config import MappingConfig

__all__ = ["levels_to_conductance", "round_to_cell_levels", "reference_conductance", "read_span_S"]


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
    u *= cfg.g_max_S - cfg.g_min_S  # u is a fresh array: scale and shift in place
    u += cfg.g_min_S
    return u


def reference_conductance(offset_level: float, max_level: float, cfg: MappingConfig) -> float:
    """Conductance (S) of the cells of an offset scheme's reference column: (M1) at the offset level.

    The reference column of slice ``k`` holds slice ``k`` of the offset ``2^(b-1)``
    (so the top slice holds the mid-scale level and lower slices hold ``G_min``), or
    ``u = 1/2`` for analog weights.
    """
    return cfg.g_min_S + (cfg.g_max_S - cfg.g_min_S) * (offset_level / max_level)


def read_span_S(cfg: MappingConfig, offset_level: float, max_level: float, read: str) -> float:
    """Largest |conductance| one cell contributes to one ADC input, in S.

    ``read`` is ``"net"`` for an in-array subtraction (``G+ - G-`` spans ``ΔG``;
    ``G - G_ref`` spans ``ΔG max(off, L - off)/L``) and ``"single"`` for a single-ended
    read (``G_max``). The ADC's ``"max"`` range is ``rows * v_read * span``.
    """
    dg = cfg.g_max_S - cfg.g_min_S
    if read == "single":
        return cfg.g_max_S
    if cfg.differential:
        return dg
    return dg * max(offset_level, max_level - offset_level) / max_level
