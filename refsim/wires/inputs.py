"""Input validation shared by the wire-parasitics solvers.

Every public function of :mod:`refsim.wires.parasitics` checks its arguments here,
at the boundary, so that the solvers themselves can assume clean float64
arrays. Each error names the argument, what was received and what was
expected.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_conductances", "check_resistance", "check_voltages", "check_wires"]


def check_resistance(value: object, name: str) -> float:
    """Return ``value`` as a finite, non-negative Python float (ohm).

    Parameters
    ----------
    value : object
        A real scalar resistance in ohm. ``0`` means "no wire": the two nodes
        the segment would join are one node.
    name : str
        The argument name used in error messages.

    Raises
    ------
    TypeError
        If ``value`` is not a real scalar (bool, complex, arrays are refused).
    ValueError
        If ``value`` is negative, NaN or infinite.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(
            f"{name}: received {value!r} of type {type(value).__name__}; expected a real scalar resistance in ohm "
            "(a float such as 1.0)"
        )
    r_ohm = float(value)
    if not np.isfinite(r_ohm) or r_ohm < 0.0:
        raise ValueError(
            f"{name}: received {r_ohm!r}; expected a finite resistance >= 0 ohm (0 means no wire)"
        )
    return r_ohm


def check_wires(
    r_row_ohm: object, r_col_ohm: object, r_driver_ohm: object, r_sense_ohm: object
) -> tuple[float, float, float, float]:
    """Validate the four wire resistances; return them as floats (ohm).

    Returns
    -------
    tuple of float
        ``(r_row_ohm, r_col_ohm, r_driver_ohm, r_sense_ohm)``.
    """
    return (
        check_resistance(r_row_ohm, "r_row_ohm"),
        check_resistance(r_col_ohm, "r_col_ohm"),
        check_resistance(r_driver_ohm, "r_driver_ohm"),
        check_resistance(r_sense_ohm, "r_sense_ohm"),
    )


def check_conductances(g_S: object, name: str = "g_S") -> np.ndarray:
    """Return ``g_S`` as a C-contiguous float64 array of shape (rows, cols).

    Parameters
    ----------
    g_S : array_like, shape (rows, cols)
        Cell conductances in siemens; finite and >= 0. ``rows`` and ``cols``
        are both >= 1.
    name : str
        The argument name used in error messages.

    Raises
    ------
    TypeError
        If ``g_S`` is not real-valued numeric data.
    ValueError
        If it is not 2-D, is empty, or holds a negative, NaN or infinite value.
    """
    arr = np.asarray(g_S)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(
            f"{name}: received dtype {arr.dtype}; expected a real numeric array of conductances in S"
        )
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"{name}: received shape {arr.shape}; expected a 2-D array of shape (rows, cols) with rows, cols >= 1"
        )
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: received {int(np.sum(~np.isfinite(arr)))} NaN/inf entries; expected finite")
    if np.any(arr < 0.0):
        raise ValueError(
            f"{name}: received minimum {float(arr.min())!r} S; expected >= 0 S (a passive cell; clip negative "
            "conductances before solving the circuit)"
        )
    return arr


def check_voltages(v_V: object, rows: int, name: str = "v_V") -> np.ndarray:
    """Return ``v_V`` as a float64 array of shape (..., rows).

    Parameters
    ----------
    v_V : array_like, shape (..., rows)
        Row drive voltages in volts, finite; any number of leading batch axes.
    rows : int
        The number of rows of the array, which the last axis must match.
    name : str
        The argument name used in error messages.

    Raises
    ------
    TypeError
        If ``v_V`` is not real-valued numeric data.
    ValueError
        If it is 0-D, its last axis is not ``rows`` long, or it is not finite.
    """
    arr = np.asarray(v_V)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name}: received dtype {arr.dtype}; expected a real numeric array of voltages in V")
    if arr.ndim < 1 or arr.shape[-1] != rows:
        raise ValueError(
            f"{name}: received shape {arr.shape}; expected shape (..., rows) with rows = {rows} (the rows of g_S)"
        )
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: received {int(np.sum(~np.isfinite(arr)))} NaN/inf entries; expected finite")
    return arr
