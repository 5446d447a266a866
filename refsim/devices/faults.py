"""Stuck-at faults, drawn once when an array is programmed ([X22] Sec. on device errors).

(F1) given one uniform draw u ~ U[0, 1) per cell:
     stuck at g_min_S  if u < f_min,
     stuck at g_max_S  if f_min <= u < f_min + f_max,
     healthy           otherwise,
so each cell is stuck at g_min_S with probability f_min and at g_max_S with
probability f_max, independently of the other cells.
"""

from __future__ import annotations

import numpy as np

from refsim._validate import as_finite_array, check_g_range, check_same_shape, check_scalar


def stuck_masks(u, *, stuck_gmin_frac: float, stuck_gmax_frac: float
                ) -> tuple[np.ndarray, np.ndarray]:
    r"""Boolean masks of the cells stuck at g_min and at g_max, eq. (F1).

    .. math::
        m_\mathrm{min} = [u < f_\mathrm{min}],\qquad
        m_\mathrm{max} = [f_\mathrm{min} \le u < f_\mathrm{min} + f_\mathrm{max}]

    Parameters
    ----------
    u : array_like, shape (rows, cols)
        Uniform draws in [0, 1).
    stuck_gmin_frac, stuck_gmax_frac : float
        Fault fractions in [0, 1] with sum <= 1.

    Returns
    -------
    stuck_min, stuck_max : ndarray of bool, shape of ``u``
        Disjoint masks.
    """
    u = as_finite_array("u", u)
    if u.size and (u.min() < 0 or u.max() >= 1):
        raise ValueError(f"u: received range [{float(u.min())!r}, {float(u.max())!r}]; expected uniform draws "
                         "in [0, 1)")
    f_min = check_scalar("stuck_gmin_frac", stuck_gmin_frac, low=0.0, high=1.0)
    f_max = check_scalar("stuck_gmax_frac", stuck_gmax_frac, low=0.0, high=1.0)
    if f_min + f_max > 1.0:
        raise ValueError(f"stuck_gmin_frac + stuck_gmax_frac: received {f_min + f_max!r}; expected <= 1")
    stuck_min = u < f_min
    stuck_max = (u >= f_min) & (u < f_min + f_max)
    return stuck_min, stuck_max


def apply_stuck_faults_S(g_S, stuck_min, stuck_max, *, g_min_S: float, g_max_S: float
                         ) -> np.ndarray:
    r"""Overwrite stuck cells with g_min_S or g_max_S.

    .. math:: G' = \begin{cases} g_\mathrm{min} & m_\mathrm{min}\\
              g_\mathrm{max} & m_\mathrm{max}\\ G & \text{otherwise}\end{cases}

    Parameters
    ----------
    g_S : array_like, shape (rows, cols)
        Conductances after programming noise (S).
    stuck_min, stuck_max : array_like of bool, shape (rows, cols)
        Masks from :func:`stuck_masks`.
    g_min_S, g_max_S : float
        Mapping range (S), 0 <= g_min_S < g_max_S.

    Returns
    -------
    ndarray, shape (rows, cols)
        A new array (the input is not modified).
    """
    g = as_finite_array("g_S", g_S)
    g_min, g_max = check_g_range(g_min_S, g_max_S)
    m_min = np.asarray(stuck_min, dtype=bool)
    m_max = np.asarray(stuck_max, dtype=bool)
    check_same_shape("stuck_min", m_min, g.shape, "same as g_S")
    check_same_shape("stuck_max", m_max, g.shape, "same as g_S")
    if np.any(m_min & m_max):
        raise ValueError("stuck_min, stuck_max: received overlapping cells; expected disjoint masks")
    out = np.where(m_min, g_min, g)
    return np.where(m_max, g_max, out)
