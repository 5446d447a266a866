"""SPICE export of a crossbar with wire resistance, and an ngspice runner.

:func:`netlist` writes the circuit of docs/MODEL.md section 4 (the same circuit
that :func:`refsim.wires.parasitics.effective_conductance` reduces) for one input
vector as a plain SPICE netlist; :func:`run_ngspice` runs ``ngspice -b`` on it
and returns the sense currents. This is the independent circuit-simulator
oracle for the parasitics solver: nothing here shares code with it.

Node names (a zero resistance merges the nodes it would join)::

    in_i      ideal source of row i (V_IN_i from in_i to ground)
    rd_i      row i after the driver resistor R_DRV_i
    r_i_j     row node of cell (i, j)
    c_i_j     column node of cell (i, j)
    cs_j      bottom of column j, after its last column segment
    sn_j      sense node of column j, after R_SNS_j; V_SNS_j (0 V) to ground

The current through ``V_SNS_j`` (SPICE convention: from its + node through the
source) is the sense current of column ``j``, A.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

from refsim.wires.inputs import check_conductances, check_voltages, check_wires

__all__ = ["NGSPICE_OPTIONS", "netlist", "run_ngspice", "write_netlist"]

#: Solver options written into every netlist: convergence tolerances far below
#: the 1e-9 agreement the tests ask for (the circuit is linear, so ngspice's
#: Newton iteration converges after one LU solve; these only tighten the check).
NGSPICE_OPTIONS = ".options reltol=1e-12 abstol=1e-20 vntol=1e-15 gmin=0"

_NUM = "{:.17g}"  # every number written with full float64 precision


def _node_names(rows: int, cols: int, r_row: float, r_col: float, r_drv: float, r_sns: float):
    """Row-node and column-node names (rows x cols lists), merged where a resistance is 0."""
    rd = [f"rd_{i}" if r_drv > 0.0 else f"in_{i}" for i in range(rows)]
    row = [[f"r_{i}_{j}" if r_row > 0.0 else rd[i] for j in range(cols)] for i in range(rows)]
    sn = [f"sn_{j}" for j in range(cols)]
    cs = [f"cs_{j}" if r_sns > 0.0 else sn[j] for j in range(cols)]
    col = [[f"c_{i}_{j}" if r_col > 0.0 else cs[j] for j in range(cols)] for i in range(rows)]
    return rd, row, cs, col, sn


def netlist(
    g_S: object,
    r_row_ohm: object,
    r_col_ohm: object,
    v_V: object,
    *,
    r_driver_ohm: object = 0.0,
    r_sense_ohm: object = 0.0,
    title: str = "refsim crossbar with wire resistance",
) -> str:
    """A SPICE netlist of the crossbar for one input vector.

    Parameters
    ----------
    g_S : array_like, shape (rows, cols)
        Cell conductances, S (a cell of 0 S is left out: an open circuit).
    r_row_ohm, r_col_ohm : float
        Row and column wire segment resistances, ohm (0 merges the nodes).
    v_V : array_like, shape (rows,)
        Row source voltages, V.
    r_driver_ohm, r_sense_ohm : float, optional
        Driver and sense terminal resistances, ohm.
    title : str, optional
        The netlist's first (title) line; must be a single line.

    Returns
    -------
    str
        The netlist, with a ``.control`` block that runs the operating point
        and prints every ``i(v_sns_j)`` with 17 significant digits (the
        format :func:`run_ngspice` parses).
    """
    g = check_conductances(g_S)
    rows, cols = g.shape
    v = check_voltages(v_V, rows)
    if v.ndim != 1:
        raise ValueError(f"v_V: received shape {v.shape}; expected one input vector of shape ({rows},)")
    r_row, r_col, r_drv, r_sns = check_wires(r_row_ohm, r_col_ohm, r_driver_ohm, r_sense_ohm)
    if not isinstance(title, str) or "\n" in title:
        raise ValueError(f"title: received {title!r}; expected a single-line string")
    rd, row, cs, col, sn = _node_names(rows, cols, r_row, r_col, r_drv, r_sns)
    lines = [f"* {title}", f"* {rows} rows x {cols} cols; refsim.wires.spice.netlist", NGSPICE_OPTIONS]
    for i in range(rows):
        lines.append(f"V_IN_{i} in_{i} 0 DC {_NUM.format(v[i])}")
        if r_drv > 0.0:
            lines.append(f"R_DRV_{i} in_{i} {rd[i]} {_NUM.format(r_drv)}")
        if r_row > 0.0:  # source side segment, then one segment between neighbouring cells
            lines.append(f"R_ROW_{i}_0 {rd[i]} {row[i][0]} {_NUM.format(r_row)}")
            lines.extend(
                f"R_ROW_{i}_{j} {row[i][j - 1]} {row[i][j]} {_NUM.format(r_row)}" for j in range(1, cols)
            )
    for i in range(rows):
        for j in range(cols):
            if g[i, j] > 0.0:
                lines.append(f"R_CELL_{i}_{j} {row[i][j]} {col[i][j]} {_NUM.format(1.0 / g[i, j])}")
    for j in range(cols):
        if r_col > 0.0:  # one segment between neighbouring cells, then the bottom segment
            lines.extend(
                f"R_COL_{i}_{j} {col[i][j]} {col[i + 1][j]} {_NUM.format(r_col)}" for i in range(rows - 1)
            )
            lines.append(f"R_COL_{rows - 1}_{j} {col[rows - 1][j]} {cs[j]} {_NUM.format(r_col)}")
        if r_sns > 0.0:
            lines.append(f"R_SNS_{j} {cs[j]} {sn[j]} {_NUM.format(r_sns)}")
        lines.append(f"V_SNS_{j} {sn[j]} 0 DC 0")
    lines += [".control", "set numdgt=17", "op"]
    lines += [f"print i(v_sns_{j})" for j in range(cols)]
    lines += ["quit 0", ".endc", ".end", ""]
    return "\n".join(lines)


def write_netlist(path: str | os.PathLike, *args: object, **kwargs: object) -> str:
    """Write :func:`netlist` ``(*args, **kwargs)`` to ``path``; return the netlist text."""
    text = netlist(*args, **kwargs)
    with open(path, "w", encoding="ascii") as f:
        f.write(text)
    return text


_CURRENT_LINE = re.compile(r"^\s*i\(v_sns_(\d+)\)\s*=\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)


def run_ngspice(netlist_str: str, *, ngspice: str = "ngspice", timeout_s: float = 600.0) -> np.ndarray:
    """Run ``ngspice -b`` on a :func:`netlist` and return the sense currents.

    Parameters
    ----------
    netlist_str : str
        A netlist as returned by :func:`netlist`.
    ngspice : str, optional
        The ngspice executable (looked up on ``PATH``).
    timeout_s : float, optional
        Wall-clock limit for the run, s.

    Returns
    -------
    ndarray, shape (cols,)
        Current into each column's sense node, A (the current through
        ``V_SNS_j``), parsed from ngspice's 17-digit ``print`` output.

    Raises
    ------
    FileNotFoundError
        If the ngspice executable is not found.
    RuntimeError
        If ngspice fails or prints no sense current.
    """
    if not isinstance(netlist_str, str):
        raise TypeError(f"netlist_str: received {type(netlist_str).__name__}; expected a str (from refsim.wires.spice.netlist)")
    exe = shutil.which(ngspice)
    if exe is None:
        raise FileNotFoundError(f"ngspice executable {ngspice!r} not found on PATH; install ngspice (apt-get install ngspice).")
    with tempfile.TemporaryDirectory(prefix="refsim_spice_") as tmp:
        path = os.path.join(tmp, "crossbar.cir")
        with open(path, "w", encoding="ascii") as f:
            f.write(netlist_str)
        proc = subprocess.run(
            [exe, "-b", path], cwd=tmp, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    found = {int(m.group(1)): float(m.group(2)) for m in _CURRENT_LINE.finditer(proc.stdout)}
    if proc.returncode != 0 or not found:
        raise RuntimeError(
            f"ngspice failed (exit {proc.returncode}) or printed no i(v_sns_j) lines.\n"
            f"stdout tail:\n{proc.stdout[-2000:]}\nstderr tail:\n{proc.stderr[-2000:]}"
        )
    cols = max(found) + 1
    if sorted(found) != list(range(cols)):
        raise RuntimeError(f"ngspice printed sense currents for columns {sorted(found)}; expected 0..{cols - 1}.")
    return np.array([found[j] for j in range(cols)])
