r"""Checking a backward pass: central finite differences and a relative error.

A backward is checked on a scalar loss made from the forward's output with a fixed random
projection, :math:`L(\theta) = \sum y(\theta) \odot R`, so that :math:`\partial L/\partial y = R`
and every output element weighs in. The numerical gradient is the central difference

.. math:: \frac{\partial L}{\partial \theta_k} \approx \frac{L(\theta + h e_k) - L(\theta - h e_k)}{2h}

whose error in float64 is the truncation :math:`h^2 L'''/6` plus the round-off
:math:`\approx \varepsilon |L| / h` (:math:`\varepsilon = 2.2 \times 10^{-16}`). With
``h = 1e-6`` on O(1) values both are ~1e-10 of the gradient's scale, so
:data:`RTOL_FINITE_DIFF` = 1e-6 leaves four orders of margin and still catches an error of
1e-4 in any single entry (the planted-error tests). The comparison is
:func:`grad_rel_error`: the largest entry error over the largest entry of the reference.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["FD_STEP", "RTOL_FINITE_DIFF", "numerical_grad", "grad_rel_error", "check_grads"]

#: The central-difference step (float64, O(1) inputs).
FD_STEP = 1e-6

#: Bound on :func:`grad_rel_error` of an analytic gradient against central differences
#: (see the module docstring: the expected error is ~1e-10, a real error is >= 1e-4).
RTOL_FINITE_DIFF = 1e-6


def numerical_grad(loss: Callable[[], float], arr: np.ndarray, h: float = FD_STEP, index=None) -> np.ndarray:
    r"""Central differences of ``loss()`` with respect to each entry of ``arr`` (modified in
    place and restored), or only the entries in ``index`` (a list of multi-indices; the other
    entries of the result are NaN). Costs two evaluations of ``loss`` per entry.
    """
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float64:
        raise TypeError(f"arr: received {type(arr).__name__} {getattr(arr, 'dtype', '')}; expected a float64 ndarray")
    out = np.full(arr.shape, np.nan)
    for k in (np.ndindex(arr.shape) if index is None else index):
        old = arr[k]
        arr[k] = old + h
        up = loss()
        arr[k] = old - h
        down = loss()
        arr[k] = old
        out[k] = (up - down) / (2 * h)
    return out


def grad_rel_error(analytic, reference) -> float:
    r""":math:`\max |a - r| / \max |r|` over the entries where the reference is not NaN (0 if
    both are zero). Shapes must agree."""
    a, r = np.asarray(analytic, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if a.shape != r.shape:
        raise ValueError(f"analytic: received shape {a.shape}; expected the reference's shape {r.shape}")
    m = ~np.isnan(r)
    if not m.any():
        raise ValueError("reference: received only NaN; expected at least one entry to compare")
    diff = float(np.max(np.abs(a[m] - r[m])))
    scale = float(np.max(np.abs(r[m])))
    return diff / scale if scale > 0 else diff


def check_grads(analytic: dict, reference: dict, rtol: float) -> dict:
    """Compare two dicts of gradients key by key; return ``{key: relative error}``.

    Raises AssertionError naming every key whose error exceeds ``rtol`` (or that is missing
    from one side): this is the check the tests run, and a planted error must trip it.
    """
    if set(analytic) != set(reference):
        raise AssertionError(f"gradient keys differ: only analytic {sorted(set(analytic) - set(reference))}, "
                             f"only reference {sorted(set(reference) - set(analytic))}")
    errs = {k: grad_rel_error(analytic[k], reference[k]) for k in reference}
    bad = {k: e for k, e in errs.items() if not e <= rtol}
    if bad:
        raise AssertionError(f"gradients off by more than rtol={rtol:g}: {bad}")
    return errs
