"""docs/MODEL.md step 9: the analog multiply of an array, without and with per-cell read noise."""

from __future__ import annotations

import numpy as np

__all__ = ["analog_multiply", "conductances_per_code", "multiply_per_code", "per_cell_currents"]


def analog_multiply(codes: np.ndarray, code_max: float, v_read_V: float, g_S: np.ndarray) -> np.ndarray:
    """Ohm's and Kirchhoff's laws on an ideal array (X1): column currents in A.

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


def conductances_per_code(g_S: np.ndarray, v_read_V: float, code_max: float, unit_A: float) -> np.ndarray:
    """The array's conductances scaled to output units per DAC code, ``G~`` of (X1'): X1 with the
    constants folded in.

    ``g_S (rows, cols)`` in S, ``unit_A`` the current unit ``u`` in A (the ADC's step ``I_lsb``, or
    ``i_unit`` for an ideal ADC) -> ``(rows, cols)``, dimensionless. The crossbar uses it when
    nothing acts on the currents between the array and the ADC (no read or output noise, no
    current limit, no IR-drop heuristic): the product then yields ``I / I_lsb`` directly, with no
    pass over the ``(B, cols)`` result. Same numbers as :func:`analog_multiply` divided by ``u``,
    to round-off (one rounding per matrix element instead of one per result).
    """
    return g_S * (v_read_V / (code_max * unit_A))


def multiply_per_code(codes: np.ndarray, g_per_code: np.ndarray, rescale: float = 1.0, *,
                      out: np.ndarray | None = None) -> np.ndarray:
    """Equation (X1') with ``g_per_code`` from :func:`conductances_per_code`: ``(B, rows) -> (B, cols)``
    currents in units of ``u``. ``rescale = c_max' / c_max`` for a drive pass whose full-scale code
    ``c_max`` differs from the ``c_max'`` the matrix was scaled for (bit-serial slices of
    different widths); it costs a pass only when it is not 1. A float32 matrix multiplies in
    single precision (``precision="float32"``) and returns float64. ``out``: optional float64
    ``(B, cols)`` array for the result (float64 matrices only).
    """
    if g_per_code.dtype == np.float32:
        out = (codes.astype(np.float32) @ g_per_code).astype(np.float64)
    else:
        out = np.matmul(codes, g_per_code, out=out)
    if rescale != 1.0:
        out *= rescale
    return out


def per_cell_currents(g_S: np.ndarray, sigma_S: np.ndarray, v_V: np.ndarray, blocks, *, clip,
                      wire=None) -> np.ndarray:
    """Column currents (A) when every input vector reads its own noisy copy of the array: the
    read noise of every cell (R4), then (X1) per vector.

    ``g_S``, ``sigma_S`` ``(rows, cols)`` in S; ``v_V`` ``(B, rows)`` in V; ``blocks`` yields
    ``(b0, b1, xi)`` with ``xi`` ``(b1 - b0, rows, cols)`` standard normals, in batch order.
    ``clip`` clips the noisy cells at 0 S (models that say so), or to ``[lo, hi]`` S when it is
    a tuple ``(lo, hi)`` (R6, :func:`refsim.devices.read_noise_bounds`). With ``wire`` (a
    :class:`refsim.WireConfig`) each noisy array is solved as a circuit again (exact, slow),
    its cells clipped at 0 S first (the circuit needs passive cells). Returns ``(B, cols)``.
    """
    from refsim.wires.parasitics import column_currents

    out = np.empty((v_V.shape[0], g_S.shape[1]))
    for b0, b1, xi in blocks:
        g_noisy = xi * sigma_S  # (b, rows, cols); a new array, so recorded draws stay intact
        g_noisy += g_S
        if clip is True or isinstance(clip, tuple) or wire is not None:
            np.maximum(g_noisy, 0.0, out=g_noisy)
        if isinstance(clip, tuple):  # (R6)
            np.clip(g_noisy, clip[0], clip[1], out=g_noisy)
        if wire is None:
            out[b0:b1] = np.einsum("bi,bij->bj", v_V[b0:b1], g_noisy)
            continue
        for b in range(b0, b1):
            out[b] = column_currents(g_noisy[b - b0], v_V[b], wire.r_row_ohm, wire.r_col_ohm,
                                     r_driver_ohm=wire.r_driver_ohm, r_sense_ohm=wire.r_sense_ohm)
    return out


def per_cell_pair_currents(g_S: tuple[np.ndarray, np.ndarray], sigma_S: tuple[np.ndarray, np.ndarray],
                           v_V: np.ndarray, blocks: tuple, *, wire,
                           bounds: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Column currents (A) of a differential pair laid out as one array (``wire.pair_layout =
    "interleaved"``, columns ``[G+_0, G-_0, G+_1, G-_1, ...]`` sharing the row wires) when every
    input vector reads its own noisy copy of both devices: R4 on each device, its cells clipped
    at 0 S, then the circuit of the interleaved noisy pair solved once per vector ((3)-(12)).

    ``g_S``, ``sigma_S``: ``(G+, G-)`` and their read sigmas, each ``(rows, cols)`` in S; ``v_V``
    ``(B, rows)`` in V; ``blocks``: ``(blocks+, blocks-)``, each as in :func:`per_cell_currents`
    (the same ``(b0, b1)`` in both). ``wire``: a :class:`refsim.WireConfig`; ``bounds``: clip the
    noisy cells to ``[lo, hi]`` S as well (R6). Returns
    ``(I+, I-)``, each ``(B, cols)``: the two devices' currents of the same physical reads.
    """
    from refsim.wires.parasitics import column_currents

    (gp, gn), (sp, sn) = g_S, sigma_S
    rows, cols = gp.shape
    out = np.empty((v_V.shape[0], 2 * cols))
    both = np.empty((rows, 2 * cols))
    for (b0, b1, xp), (_, _, xn) in zip(*blocks):
        noisy = []
        for xi, g, sig in ((xp, gp, sp), (xn, gn, sn)):
            g_noisy = xi * sig  # (b, rows, cols); a new array, so recorded draws stay intact
            g_noisy += g
            noisy.append(np.maximum(g_noisy, 0.0, out=g_noisy) if bounds is None else
                         np.clip(g_noisy, max(bounds[0], 0.0), bounds[1], out=g_noisy))
        for b in range(b0, b1):
            both[:, 0::2], both[:, 1::2] = noisy[0][b - b0], noisy[1][b - b0]
            out[b] = column_currents(both, v_V[b], wire.r_row_ohm, wire.r_col_ohm,
                                     r_driver_ohm=wire.r_driver_ohm, r_sense_ohm=wire.r_sense_ohm)
    return out[:, 0::2], out[:, 1::2]
