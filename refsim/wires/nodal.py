r"""Oracle for the wire-parasitics circuit: the full nodal equations, solved directly.

This module is deliberately independent of the block elimination in
:mod:`refsim.wires.parasitics`: it stamps every resistor of the circuit into the
sparse nodal matrix ``K`` (S) and solves

.. math:: K\, x = P\, v

with a sparse LU factorization (``scipy.sparse.linalg.splu``), where ``x``
holds the unknown node voltages (V) and ``P v`` the currents injected by the
ideal row sources through their first resistor. Kirchhoff's current law is
then checked node by node by :func:`kirchhoff_residual`, from the branch
currents written out explicitly (not from ``K``).

A zero resistance merges the two nodes it would join: with ``r_row_ohm = 0``
all row nodes of row ``i`` are one node (the source itself if also
``r_driver_ohm = 0``); with ``r_col_ohm = 0`` all column nodes of column ``j``
are one node (the virtual ground itself if also ``r_sense_ohm = 0``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from refsim.wires.inputs import check_conductances, check_voltages, check_wires

__all__ = ["column_currents_nodal", "kirchhoff_residual", "node_voltages"]

_FIXED = -1  # node id of a node whose voltage is known (a source or the virtual ground)


def _node_ids(rows: int, cols: int, r_wire: float, r_end: float, along_rows: bool) -> tuple[np.ndarray, int]:
    """Unknown-node numbering of the row (``along_rows``) or column network, (rows, cols) ints."""
    if r_wire > 0.0:
        return np.arange(rows * cols).reshape(rows, cols), rows * cols
    if r_end > 0.0:  # one merged node per row (per column)
        ids = np.arange(rows)[:, None] if along_rows else np.arange(cols)[None, :]
        return np.broadcast_to(ids, (rows, cols)).copy(), rows if along_rows else cols
    return np.full((rows, cols), _FIXED), 0


def _stamp(g_S, r_row, r_col, r_drv, r_sns):
    """Assemble K (N x N, S) and P (N x rows, S) and the node-id maps."""
    rows, cols = g_S.shape
    row_id, n_row = _node_ids(rows, cols, r_row, r_drv, along_rows=True)
    col_id, n_col = _node_ids(rows, cols, r_col, r_sns, along_rows=False)
    col_id = np.where(col_id == _FIXED, _FIXED, col_id + n_row)
    n = n_row + n_col
    ii, jj, vv = [], [], []  # K triplets
    pi, pj, pv = [], [], []  # P triplets (node, source row, conductance)

    def branch(a, b, g):
        """Resistor(s) of conductance g between unknown/fixed nodes a and b (arrays)."""
        a, b, g = np.broadcast_arrays(np.ravel(a), np.ravel(b), np.ravel(g))
        for x, y in ((a, b), (b, a)):
            free = x != _FIXED
            ii.append(x[free]); jj.append(x[free]); vv.append(g[free])  # noqa: E702
            both = free & (y != _FIXED)
            ii.append(x[both]); jj.append(y[both]); vv.append(-g[both])  # noqa: E702

    def source_branch(a, src_row, g):
        """Resistor of conductance g from unknown node a to the ideal source of row src_row."""
        a, src_row, g = np.broadcast_arrays(np.ravel(a), np.ravel(src_row), np.ravel(g))
        ii.append(a); jj.append(a); vv.append(g)  # noqa: E702
        pi.append(a); pj.append(src_row); pv.append(g)  # noqa: E702

    rr, _ = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    # Cells: row node (i, j) -- g_S[i, j] -- column node (i, j).
    if n_row == 0:  # row nodes are the sources themselves
        source_branch(col_id[col_id != _FIXED], rr[col_id != _FIXED], g_S[col_id != _FIXED])
    else:
        branch(row_id, col_id, g_S)
    # Row wires.
    if r_row > 0.0:
        branch(row_id[:, :-1], row_id[:, 1:], 1.0 / r_row)
        source_branch(row_id[:, 0], np.arange(rows), 1.0 / (r_row + r_drv))
    elif r_drv > 0.0:
        source_branch(row_id[:, 0], np.arange(rows), 1.0 / r_drv)
    # Column wires.
    if r_col > 0.0:
        branch(col_id[:-1, :], col_id[1:, :], 1.0 / r_col)
        branch(col_id[-1, :], _FIXED, 1.0 / (r_col + r_sns))
    elif r_sns > 0.0:
        branch(col_id[-1, :], _FIXED, 1.0 / r_sns)
    k = sp.csc_matrix(
        (np.concatenate(vv), (np.concatenate(ii), np.concatenate(jj))), shape=(n, n)
    )
    if pi:
        p = sp.csr_matrix((np.concatenate(pv), (np.concatenate(pi), np.concatenate(pj))), shape=(n, rows))
    else:
        p = sp.csr_matrix((n, rows))
    return k, p, row_id, col_id


def node_voltages(
    g_S: object,
    v_V: object,
    r_row_ohm: object,
    r_col_ohm: object,
    *,
    r_driver_ohm: object = 0.0,
    r_sense_ohm: object = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Voltages of every row node and column node, by a sparse direct nodal solve.

    Solves :math:`K x = P v` (module docstring) for each input vector.

    Parameters
    ----------
    g_S : array_like, shape (rows, cols)
        Cell conductances, S.
    v_V : array_like, shape (..., rows)
        Row source voltages, V.
    r_row_ohm, r_col_ohm, r_driver_ohm, r_sense_ohm : float
        Wire and terminal resistances, ohm (>= 0; 0 merges nodes).

    Returns
    -------
    row_V : ndarray, shape (..., rows, cols)
        Voltage of row node (i, j) (the row-wire end of cell (i, j)), V.
    col_V : ndarray, shape (..., rows, cols)
        Voltage of column node (i, j) (the column-wire end of cell (i, j)), V.
    """
    g = check_conductances(g_S)
    rows, cols = g.shape
    v = check_voltages(v_V, rows)
    r_row, r_col, r_drv, r_sns = check_wires(r_row_ohm, r_col_ohm, r_driver_ohm, r_sense_ohm)
    batch = v.shape[:-1]
    v2 = v.reshape(-1, rows)  # (B, rows)
    k, p, row_id, col_id = _stamp(g, r_row, r_col, r_drv, r_sns)
    x = np.zeros((max(k.shape[0], 1), v2.shape[0]))  # (N, B); a dummy row when N = 0
    if k.shape[0] > 0:
        rhs = np.asarray(p @ v2.T)  # (N, B) injected currents, A
        # K is symmetric positive definite: symmetric fill-reducing ordering, diagonal pivots
        x = splu(k, permc_spec="MMD_AT_PLUS_A", options=dict(SymmetricMode=True)).solve(rhs)
    # Gather node voltages; fixed nodes are the source (rows) or ground (columns).
    row_V = np.where(row_id == _FIXED, v2[:, :, None], x[np.maximum(row_id, 0)].transpose(2, 0, 1))
    col_V = np.where(col_id == _FIXED, 0.0, x[np.maximum(col_id, 0)].transpose(2, 0, 1))
    return row_V.reshape(*batch, rows, cols), col_V.reshape(*batch, rows, cols)


def _sense_currents(g_S, row_V, col_V, r_col, r_sns):
    """Current into each sense node from the solved node voltages, A, (..., cols)."""
    if r_col + r_sns == 0.0:  # cells feed the virtual ground directly
        return np.sum(g_S * (row_V - col_V), axis=-2)
    return col_V[..., -1, :] / (r_col + r_sns)


def column_currents_nodal(
    g_S: object,
    v_V: object,
    r_row_ohm: object,
    r_col_ohm: object,
    *,
    r_driver_ohm: object = 0.0,
    r_sense_ohm: object = 0.0,
) -> np.ndarray:
    r"""Sense currents by the sparse direct nodal solve (the oracle for G_eff).

    :math:`I_j = w_{m-1,j} / (r_{col} + r_{sense})`, the current through the
    last column resistor into the virtual ground; with ``r_col_ohm =
    r_sense_ohm = 0``, :math:`I_j = \sum_i g_{ij} (u_{ij} - 0)`.

    Parameters and shapes as :func:`refsim.wires.parasitics.column_currents`;
    returns an ndarray of shape (..., cols), A.
    """
    g = check_conductances(g_S)
    r_row, r_col, r_drv, r_sns = check_wires(r_row_ohm, r_col_ohm, r_driver_ohm, r_sense_ohm)
    row_V, col_V = node_voltages(g, v_V, r_row, r_col, r_driver_ohm=r_drv, r_sense_ohm=r_sns)
    return _sense_currents(g, row_V, col_V, r_col, r_sns)


def kirchhoff_residual(
    g_S: object,
    v_V: object,
    r_row_ohm: object,
    r_col_ohm: object,
    *,
    r_driver_ohm: object = 0.0,
    r_sense_ohm: object = 0.0,
    row_V: object = None,
    col_V: object = None,
) -> float:
    r"""Largest Kirchhoff-current-law imbalance over all circuit nodes, A.

    For every node with an unknown voltage, the sum of the branch currents
    flowing into it, each written out from Ohm's law:

    - row node (i, j): :math:`(u_{i,j-1} - u_{ij})/r_{row} - (u_{ij} - u_{i,j+1})/r_{row}
      - g_{ij}(u_{ij} - w_{ij})`, with :math:`u_{i,-1} = V_i` through
      :math:`r_{row} + r_{driver}` and no segment beyond the last column;
    - column node (i, j): :math:`g_{ij}(u_{ij} - w_{ij}) + (w_{i-1,j} - w_{ij})/r_{col}
      - (w_{ij} - w_{i+1,j})/r_{col}`, with :math:`w_{m,j} = 0` through
      :math:`r_{col} + r_{sense}` and no segment above the first row;
    - merged nodes (zero wire resistance) sum their cells' currents.

    Parameters
    ----------
    g_S, v_V, r_row_ohm, r_col_ohm, r_driver_ohm, r_sense_ohm
        As :func:`node_voltages`.
    row_V, col_V : array_like, shape (..., rows, cols), optional
        Node voltages to check (V). If omitted, they are computed with
        :func:`node_voltages`.

    Returns
    -------
    float
        :math:`\max |\sum I_{in}|` over nodes and batch, A (0.0 when no node
        has an unknown voltage).
    """
    g = check_conductances(g_S)
    rows, cols = g.shape
    v = check_voltages(v_V, rows)
    r_row, r_col, r_drv, r_sns = check_wires(r_row_ohm, r_col_ohm, r_driver_ohm, r_sense_ohm)
    if row_V is None or col_V is None:
        row_V, col_V = node_voltages(g, v, r_row, r_col, r_driver_ohm=r_drv, r_sense_ohm=r_sns)
    u = np.asarray(row_V, dtype=np.float64)
    w = np.asarray(col_V, dtype=np.float64)
    if u.shape != v.shape + (cols,) or w.shape != u.shape:
        raise ValueError(
            f"row_V, col_V: received shapes {u.shape} and {w.shape}; expected both {v.shape + (cols,)} "
            "(v_V.shape + (cols,))"
        )
    i_cell = g * (u - w)  # (..., rows, cols) current from row node into column node, A
    worst = [0.0]
    if r_row > 0.0:
        j_in = np.empty_like(u)  # current entering (i, j) from the left, A
        j_in[..., :, 0] = (v - u[..., :, 0]) / (r_row + r_drv)
        j_in[..., :, 1:] = (u[..., :, :-1] - u[..., :, 1:]) / r_row
        j_out = np.zeros_like(u)
        j_out[..., :, :-1] = j_in[..., :, 1:]
        worst.append(np.max(np.abs(j_in - j_out - i_cell)))
    elif r_drv > 0.0:
        worst.append(np.max(np.abs((v - u[..., :, 0]) / r_drv - i_cell.sum(axis=-1))))
    if r_col > 0.0:
        d_down = np.empty_like(w)  # current leaving (i, j) downwards, A
        d_down[..., :-1, :] = (w[..., :-1, :] - w[..., 1:, :]) / r_col
        d_down[..., -1, :] = w[..., -1, :] / (r_col + r_sns)
        d_in = np.zeros_like(w)
        d_in[..., 1:, :] = d_down[..., :-1, :]
        worst.append(np.max(np.abs(i_cell + d_in - d_down)))
    elif r_sns > 0.0:
        worst.append(np.max(np.abs(i_cell.sum(axis=-2) - w[..., -1, :] / r_sns)))
    return float(max(worst))
