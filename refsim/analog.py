"""MODEL_SPEC §1 step 9: the analog multiply of an array without wire resistance."""

from __future__ import annotations

import numpy as np

__all__ = ["analog_multiply"]


def analog_multiply(codes: np.ndarray, code_max: float, v_read_V: float, g_S: np.ndarray) -> np.ndarray:
    """Ohm's and Kirchhoff's laws on an ideal array: column currents in A.

    .. math:: V_i = \\frac{c_i}{c_{max}} v_{read}, \\qquad I_j = \\sum_i V_i G_{ij}     \\tag{X1}

    ``codes (B, rows)``, ``g_S (rows, cols)`` in S -> ``(B, cols)`` in A. The scale
    ``v_read / c_max`` is applied to the ``(B, cols)`` sums (the same numbers up to
    round-off, and cheaper than scaling the ``(B, rows)`` drive).
    """
    if g_S.dtype == np.float32:  # precision="float32": operands in single precision, result in float64
        out = (codes.astype(np.float32) @ g_S).astype(np.float64)
    else:
        out = codes @ g_S
    out *= v_read_V / code_max
    return out
