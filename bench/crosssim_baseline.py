"""Baseline: the damped fixed-point iteration CrossSim uses for wire resistance.

Re-implemented here (for benchmarking only; refsim itself never iterates) after
the algorithm of CrossSim's ``mvm_parasitics`` (Sandia, ``simulator/circuits/
array_simulator.py``), transposed to refsim's orientation (rows driven, columns
summed) and extended with the driver and sense terminal resistances:

1. start from the ideal cell voltages ``dV[i, j] = V_i``;
2. cell currents ``I = g * dV``;
3. row wire: the segment into cell (i, j) carries ``sum_{k>=j} I[i, k]``; the row
   voltage at cell j is ``V_i - sum_{l<=j} r_l * (that current)`` with
   ``r_0 = r_row + r_driver``, ``r_l = r_row`` otherwise;
4. column wire: the segment below cell (i, j) carries ``sum_{k<=i} I[k, j]``; the
   column voltage at cell i is ``sum_{l>=i} r_l * (that current)`` with
   ``r_{m-1} = r_col + r_sense``;
5. ``err = (V_row - V_col) - dV``; stop when ``max |err| < v_tol_V``; else
   ``dV += gamma * err`` and repeat (at most ``max_iter`` times);
6. on failure CrossSim lowers ``gamma`` by a factor 0.98 and starts again, down
   to ``gamma = 0.01``; here the retries are also capped by ``max_total_iter``.

The converged fixed point is the exact circuit solution; the answer is
accurate to about ``v_tol_V`` in every cell voltage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FixedPointResult:
    """Outcome of :func:`crosssim_fixed_point`."""

    currents_A: np.ndarray  # (cols,) sense currents, A
    iterations: int  # iterations of the successful (or last) attempt
    total_iterations: int  # over all attempts, including failed ones
    gamma: float  # relaxation factor of the last attempt
    converged: bool


def _attempt(g_S, v_V, r_row_seg, r_col_seg, gamma, v_tol_V, max_iter):
    dv0 = np.broadcast_to(v_V[:, None], g_S.shape)  # (rows, cols) ideal cell voltages, V
    dv = dv0.copy()
    for it in range(max_iter + 1):
        i_cell = g_S * dv  # (rows, cols), A
        i_row = np.cumsum(i_cell[:, ::-1], axis=1)[:, ::-1]  # current in the row segment left of (i, j)
        i_col = np.cumsum(i_cell, axis=0)  # current in the column segment below (i, j)
        v_row = v_V[:, None] - np.cumsum(r_row_seg[None, :] * i_row, axis=1)
        v_col = np.cumsum((r_col_seg[:, None] * i_col)[::-1], axis=0)[::-1]
        err = (v_row - v_col) - dv
        worst = np.max(np.abs(err))
        if not np.isfinite(worst):
            return i_cell, it, False
        if worst < v_tol_V:
            return i_cell, it, True
        dv += gamma * err
    return i_cell, max_iter, False


def crosssim_fixed_point(
    g_S: np.ndarray,
    v_V: np.ndarray,
    r_row_ohm: float,
    r_col_ohm: float,
    *,
    r_driver_ohm: float = 0.0,
    r_sense_ohm: float = 0.0,
    gamma: float = 1.0,
    v_tol_V: float = 1e-6,
    max_iter: int = 100,
    max_total_iter: int = 20_000,
) -> FixedPointResult:
    """Sense currents of one input vector by CrossSim's damped fixed-point iteration.

    Parameters
    ----------
    g_S : ndarray, shape (rows, cols)
        Cell conductances, S.
    v_V : ndarray, shape (rows,)
        Row source voltages, V.
    r_row_ohm, r_col_ohm, r_driver_ohm, r_sense_ohm : float
        Wire and terminal resistances, ohm.
    gamma : float
        Initial relaxation factor (CrossSim's ``relaxation_gamma``).
    v_tol_V : float
        Convergence threshold on the largest cell-voltage inconsistency, V.
    max_iter : int
        Iterations per attempt (CrossSim's ``Niters_max_parasitics``).
    max_total_iter : int
        Cap on the iterations of all attempts together (bench time limit).
    """
    g = np.asarray(g_S, dtype=np.float64)
    v = np.asarray(v_V, dtype=np.float64)
    rows, cols = g.shape
    r_row_seg = np.full(cols, r_row_ohm)
    r_row_seg[0] += r_driver_ohm
    r_col_seg = np.full(rows, r_col_ohm)
    r_col_seg[-1] += r_sense_ohm
    total = 0
    while True:
        i_cell, it, ok = _attempt(g, v, r_row_seg, r_col_seg, gamma, v_tol_V, max_iter)
        total += it
        if ok or gamma * 0.98 <= 0.01 or total + max_iter > max_total_iter:
            return FixedPointResult(i_cell.sum(axis=0), it, total, gamma, ok)
        gamma *= 0.98
