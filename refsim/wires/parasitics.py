r"""Wire (parasitic) resistance of a crossbar: the exact circuit solution.

The circuit is docs/MODEL.md section 4 (see ``docs/parasitics.md`` for the
diagram and the numbered equations quoted below). Row ``i`` is driven by an
ideal source ``v_V[i]`` through ``r_driver_ohm`` and a first wire segment
``r_row_ohm`` into cell ``(i, 0)``; further ``r_row_ohm`` segments join the
cells along the row; the far end is open. Column ``j`` is held at 0 V at its
bottom (row ``rows - 1``) end through a last segment ``r_col_ohm`` and
``r_sense_ohm``; ``r_col_ohm`` segments join the cells along the column; the
top end is open. Cell ``(i, j)`` is the conductance ``g_S[i, j]`` between row
node ``(i, j)`` and column node ``(i, j)``.

With linear cells the sense currents are linear in the drive voltages, so one
programmed array has an exact *effective conductance matrix*

.. math::  I_j = \sum_i V_i \, G^{\mathrm{eff}}_{ij}, \qquad I = V G^{\mathrm{eff}}.

:func:`effective_conductance` computes it by exact block elimination of the
nodal equations, in a form that only ever adds positive quantities or solves
well-conditioned symmetric positive-definite systems (no subtraction of nearly
equal wire conductances), so it stays accurate to round-off even when the wire
conductance is 10^6 times the cell conductance. The independent oracle is a
sparse direct solve of the full nodal matrix, :func:`column_currents_nodal`.

All functions are pure: float64 in, float64 out, no state.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.linalg import blas, lapack

from refsim.wires.inputs import check_conductances, check_resistance, check_voltages, check_wires
from refsim.wires.nodal import column_currents_nodal, kirchhoff_residual, node_voltages

__all__ = [
    "column_currents",
    "column_currents_nodal",
    "ColumnLadder",
    "column_admittance",
    "column_ladder",
    "effective_conductance",
    "kirchhoff_residual",
    "node_voltages",
]


class ColumnLadder(NamedTuple):
    """The column wires of an array, eliminated (output of :func:`column_ladder`).

    All fields have shape (rows, cols); column ``j`` is field[:, j].
    """

    g_S: np.ndarray  #: cell conductances, S
    z_ohm: np.ndarray  #: driving-point resistance (M^-1)_kk of column node k, ohm (eq. 5)
    lam: np.ndarray  #: lambda_k = -sum_{t<k} ln(1 + r y_t), dimensionless, <= 0 (eq. 5)
    s_diag_S: np.ndarray  #: diagonal of S_j, S (eq. 6)
    c_S: np.ndarray  #: sense current of column j per volt on row node (k, j), S (eq. 7)


_LOG_RANGE_SAFE = 600.0  # |lambda| below which exp(+-lambda) neither overflows nor underflows


def column_ladder(g_S: np.ndarray, r_col_ohm: float, r_sense_ohm: float) -> ColumnLadder:
    r"""Eliminate the column wires: admittance seen from the row nodes, and sense transfer.

    For one column ``j`` with cells ``g = g_S[:, j]`` (rows ``k = 0..m-1``),
    the column wire with its cells is a ladder. Holding the row nodes of column
    ``j`` at voltages ``u`` (vector, V), the current drawn from them into the
    column is ``S_j u`` and the current into the sense node is ``c_j . u``.
    With :math:`r = r_{col}`, :math:`r_s = r_{col} + r_{sense} > 0`:

    Up-sweep, admittance looking up from column node k, including cell k (eq. 3)

    .. math:: y_0 = g_0,\quad a_k = \frac{y_k}{1 + r y_k},\quad y_{k+1} = a_k + g_{k+1}

    Down-sweep, admittance looking down from column node k, excluding cell k (eq. 4)

    .. math:: d_{m-1} = 1/r_s,\quad d_k = \frac{g_{k+1} + d_{k+1}}{1 + r (g_{k+1} + d_{k+1})}

    Inverse of the column nodal matrix :math:`M = L_c + \mathrm{diag}(g)`
    (semiseparable; eq. 5), with :math:`\lambda_k = -\sum_{t<k}\ln(1 + r y_t)`
    and :math:`z_k = 1/(y_k + d_k)`

    .. math:: (M^{-1})_{kl} = z_{\max(k,l)} \exp(-|\lambda_k - \lambda_l|)

    Admittance matrix and sense vector (eq. 6, 7)

    .. math::
        S_{kl} = -g_k g_l (M^{-1})_{kl}\ (k \ne l), \qquad
        S_{kk} = g_k\,(a_{k-1} + d_k)\, z_k, \qquad
        c_k = g_k (M^{-1})_{k,m-1} / r_s

    (:math:`S = D - D M^{-1} D` with :math:`D = \mathrm{diag}(g)`, the
    diagonal written without subtraction.) Every step adds positive numbers,
    so the result is accurate to round-off whatever the ratio of wire to cell
    conductance. With :math:`r_s = 0` the column nodes are the virtual
    ground: :math:`S = D`, :math:`c = g` exactly.

    Parameters
    ----------
    g_S : array_like, shape (rows, cols)
        Cell conductances, S (>= 0).
    r_col_ohm, r_sense_ohm : float
        Column segment and sense terminal resistances, ohm (>= 0).

    Returns
    -------
    ColumnLadder
        Per-column vectors, each (rows, cols); :func:`column_admittance` builds
        the dense :math:`S_j` from them.
    """
    g_S = check_conductances(g_S)
    r_col_ohm = check_resistance(r_col_ohm, "r_col_ohm")
    r_sense_ohm = check_resistance(r_sense_ohm, "r_sense_ohm")
    rows, cols = g_S.shape
    r_s = r_col_ohm + r_sense_ohm
    if r_s == 0.0:
        zeros = np.zeros_like(g_S)
        return ColumnLadder(g_S, zeros, zeros, g_S.copy(), g_S.copy())
    # (3) up-sweep, vectorized over columns: y[k] incl. cell k, a[k] seen from k+1.
    y = np.empty_like(g_S)
    a = np.empty_like(g_S)
    y[0] = g_S[0]
    for k in range(rows):
        a[k] = y[k] / (1.0 + r_col_ohm * y[k])
        if k + 1 < rows:
            y[k + 1] = a[k] + g_S[k + 1]
    # (4) down-sweep: d[k] seen from k looking down (excl. cell k).
    d = np.empty_like(g_S)
    d[rows - 1] = 1.0 / r_s
    for k in range(rows - 2, -1, -1):
        below = g_S[k + 1] + d[k + 1]
        d[k] = below / (1.0 + r_col_ohm * below)
    # (5) driving-point resistance and log attenuation
    z_ohm = 1.0 / (y + d)
    lam = np.zeros_like(g_S)
    lam[1:] = -np.cumsum(np.log1p(r_col_ohm * y[:-1]), axis=0)
    # (6) diagonal of S
    a_above = np.zeros_like(g_S)
    a_above[1:] = a[:-1]
    s_diag_S = g_S * (a_above + d) * z_ohm
    # (7) c_k = g_k z_{m-1} exp(lam_{m-1} - lam_k) / r_s
    c_S = g_S * (z_ohm[rows - 1] / r_s) * np.exp(lam[rows - 1][None, :] - lam)
    return ColumnLadder(g_S, z_ohm, lam, s_diag_S, c_S)


def column_admittance(ladder: ColumnLadder, j: int) -> np.ndarray:
    r"""Dense admittance matrix :math:`S_j` (rows, rows), S, of column ``j`` (eq. 6).

    Off the diagonal :math:`S_{kl} = -g_k g_l z_{\max(k,l)} e^{-|\lambda_k -
    \lambda_l|}`, i.e. with :math:`k' = \min(k, l)`, :math:`l' = \max(k, l)`
    the product :math:`-(g_{k'} e^{-\lambda_{k'}})(g_{l'} z_{l'} e^{\lambda_{l'}})`,
    used whenever :math:`|\lambda| < 600` (no overflow); otherwise the
    exponential of the (non-positive) difference is evaluated entry by entry.
    """
    idx = np.arange(ladder.g_S.shape[0])
    return _admittance(ladder, j, np.minimum.outer(idx, idx), np.maximum.outer(idx, idx))


def _admittance(ladder: ColumnLadder, j: int, kmin: np.ndarray, kmax: np.ndarray) -> np.ndarray:
    """:func:`column_admittance` with the index arrays min(k, l), max(k, l) (rows, rows) given."""
    g, lam, z = ladder.g_S[:, j], ladder.lam[:, j], ladder.z_ohm[:, j]
    if -lam[-1] < _LOG_RANGE_SAFE:
        s = np.take(-g * np.exp(-lam), kmin)
        s *= np.take(g * z * np.exp(lam), kmax)
    else:
        s = np.take(-g, kmin)
        s *= np.take(g * z, kmax)
        s *= np.exp(np.take(lam, kmax) - np.take(lam, kmin))  # exponent <= 0: no overflow
    diag = np.arange(g.shape[0])
    s[diag, diag] = ladder.s_diag_S[:, j]
    return s


def _spd_inverse(a: np.ndarray) -> np.ndarray:
    """Inverse of the SPD matrix ``a`` (Fortran order, overwritten); only the LOWER triangle is valid."""
    c, info = lapack.dpotrf(a, lower=True, clean=False, overwrite_a=True)
    if info != 0:  # pragma: no cover - SPD by construction (passive, grounded network)
        raise np.linalg.LinAlgError(f"I + r Q is not positive definite (dpotrf info={info})")
    inv, info = lapack.dpotri(c, lower=True, overwrite_c=True)
    if info != 0:  # pragma: no cover
        raise np.linalg.LinAlgError(f"dpotri failed (info={info})")
    return inv


def _geff_along_columns(
    g_S: np.ndarray, r_row_ohm: float, r_col_ohm: float, r_driver_ohm: float, r_sense_ohm: float
) -> np.ndarray:
    r"""G_eff by block elimination of the row wires from the open far end (eq. 8-11).

    ``Q_j`` (rows x rows, S) is the admittance matrix, seen from the row nodes
    of column ``j``, of everything at and beyond column ``j``; ``Y_j`` (rows x
    cols, S) maps those row-node voltages to the sense currents of columns
    ``>= j``. With :math:`F = (I + r_{row} Q_{j+1})^{-1}` (a series wire of
    ``r_row_ohm`` on every row, eq. 9):

    .. math::
        Q_{n-1} = S_{n-1},\quad Y_{n-1} = c_{n-1} e_{n-1}^T \\
        Q_j = S_j + F Q_{j+1},\quad Y_j = c_j e_j^T + F Y_{j+1} \\
        G^{\mathrm{eff}} = (I + (r_{row} + r_{driver}) Q_0)^{-1} Y_0

    ``I + r Q`` is SPD with eigenvalues >= 1, so its Cholesky inverse is
    accurate; ``F`` is applied with one symmetric matrix product (BLAS dsymm)
    to ``[Q | Y]``. Cost O(cols * rows^3); memory O(rows (rows + cols)).
    """
    rows, cols = g_S.shape
    ladder = column_ladder(g_S, r_col_ohm, r_sense_ohm)
    # Work buffers [Q | Y reversed], Fortran order: column rows + (cols-1-j) holds Y[:, j], so the
    # block to update at step j, [Q | Y[:, j+1:]], is the contiguous leading slice. Two buffers
    # alternate as input and output of the product F [Q | Y].
    cur = np.zeros((rows, rows + cols), order="F")
    nxt = np.zeros((rows, rows + cols), order="F")
    diag = np.arange(rows)
    kmin, kmax = np.minimum.outer(diag, diag), np.maximum.outer(diag, diag)
    cur[:, :rows] = _admittance(ladder, cols - 1, kmin, kmax)
    cur[:, rows] = ladder.c_S[:, cols - 1]
    for j in range(cols - 2, -1, -1):
        width = rows + cols - 1 - j  # [Q_{j+1} | Y_{j+1}]
        if r_row_ohm > 0.0:
            a = np.asfortranarray(r_row_ohm * cur[:, :rows])  # (9) I + r Q, SPD
            a[diag, diag] += 1.0
            f = _spd_inverse(a)
            blas.dsymm(1.0, f, cur[:, :width], beta=0.0, c=nxt[:, :width], overwrite_c=1, side=0, lower=1)
            cur, nxt = nxt, cur
        q_t = cur[:, :rows].T  # C-ordered view of Q; S_j is symmetric, so Q^T += S_j is Q += S_j
        q_t += _admittance(ladder, j, kmin, kmax)  # (8) Q_j = S_j + F Q_{j+1}
        cur[:, width] = ladder.c_S[:, j]  # (10) Y_j = c_j e_j^T + F Y_{j+1}
    y0 = np.ascontiguousarray(cur[:, rows:][:, ::-1])  # (rows, cols), column j = Y_0[:, j]
    r0_ohm = r_row_ohm + r_driver_ohm
    if r0_ohm == 0.0:
        return y0
    a = np.asfortranarray(r0_ohm * cur[:, :rows])  # (11)
    a[diag, diag] += 1.0
    c, info = lapack.dpotrf(a, lower=True, clean=False, overwrite_a=True)
    x, info2 = lapack.dpotrs(c, y0, lower=True)
    if info != 0 or info2 != 0:  # pragma: no cover
        raise np.linalg.LinAlgError(f"final solve failed (dpotrf info={info}, dpotrs info={info2})")
    return np.ascontiguousarray(x)


def effective_conductance(
    g_S: object,
    r_row_ohm: object,
    r_col_ohm: object,
    *,
    r_driver_ohm: object = 0.0,
    r_sense_ohm: object = 0.0,
) -> np.ndarray:
    r"""Exact effective conductance matrix of a crossbar with wire resistance.

    .. math:: I = V\, G^{\mathrm{eff}}, \qquad
              G^{\mathrm{eff}}_{ij} = \partial I_j / \partial V_i

    :math:`I_j` is the current (A) into the sense node of column ``j`` and
    :math:`V_i` the ideal source voltage (V) of row ``i``. This is an exact
    linear-algebra reduction of the nodal equations (docs/parasitics.md,
    eq. 1-11), not an approximation. With all four resistances zero it returns
    ``g_S`` itself (as float64), bit for bit.

    The elimination runs along the longer side of the array: for ``rows >
    cols`` the reciprocal circuit is solved (eq. 12, Tellegen reciprocity:
    sources and sense nodes swap roles, ``G_eff = G'_eff[::-1, ::-1].T`` for
    ``g' = g_S[::-1, ::-1].T`` and rows/cols, driver/sense resistances
    exchanged), so the cost is O(max(rows, cols) * min(rows, cols)^3).

    Parameters
    ----------
    g_S : array_like, shape (rows, cols)
        Cell conductances, S, finite and >= 0.
    r_row_ohm : float
        Resistance of one row wire segment, ohm (>= 0; 0 merges the nodes).
    r_col_ohm : float
        Resistance of one column wire segment, ohm (>= 0).
    r_driver_ohm : float, optional
        Series resistance of each row driver, ohm (>= 0). Default 0.
    r_sense_ohm : float, optional
        Series resistance of each column's sense terminal, ohm (>= 0). Default 0.

    Returns
    -------
    ndarray, shape (rows, cols), float64
        :math:`G^{\mathrm{eff}}` in S.

    Raises
    ------
    ValueError, TypeError
        On a negative/non-finite resistance or conductance, or a non-2-D ``g_S``.
    """
    g = check_conductances(g_S)
    r_row, r_col, r_drv, r_sns = check_wires(r_row_ohm, r_col_ohm, r_driver_ohm, r_sense_ohm)
    if r_row == 0.0 and r_col == 0.0 and r_drv == 0.0 and r_sns == 0.0:
        return g.copy()  # ideal array: G_eff = G exactly
    rows, cols = g.shape
    if rows <= cols:
        return _geff_along_columns(g, r_row, r_col, r_drv, r_sns)
    # (12) reciprocal circuit: drive the columns, sense the rows.
    g_recip = np.ascontiguousarray(g[::-1, ::-1].T)
    return np.ascontiguousarray(_geff_along_columns(g_recip, r_col, r_row, r_sns, r_drv)[::-1, ::-1].T)


def column_currents(
    g_S: object,
    v_V: object,
    r_row_ohm: object,
    r_col_ohm: object,
    *,
    r_driver_ohm: object = 0.0,
    r_sense_ohm: object = 0.0,
) -> np.ndarray:
    r"""Sense currents of a crossbar with wire resistance, :math:`I = V G^{\mathrm{eff}}`.

    Parameters
    ----------
    g_S : array_like, shape (rows, cols)
        Cell conductances, S.
    v_V : array_like, shape (..., rows)
        Row source voltages, V; any leading batch shape.
    r_row_ohm, r_col_ohm, r_driver_ohm, r_sense_ohm : float
        Wire and terminal resistances, ohm; see :func:`effective_conductance`.

    Returns
    -------
    ndarray, shape (..., cols)
        Current into each column's sense node, A. With all resistances zero
        this is ``v_V @ g_S`` bit for bit.
    """
    g = check_conductances(g_S)
    v = check_voltages(v_V, g.shape[0])
    g_eff_S = effective_conductance(
        g, r_row_ohm, r_col_ohm, r_driver_ohm=r_driver_ohm, r_sense_ohm=r_sense_ohm
    )
    return v @ g_eff_S  # (..., rows) @ (rows, cols) -> (..., cols)
