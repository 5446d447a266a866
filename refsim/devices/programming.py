"""Programming error: one Gaussian draw per device when an array is programmed.

Equations (numbered as in ``docs/devices.md``):

(G1) state independent ([X22]):   sigma = s * g_max_S
(G2) state proportional ([X22]):  sigma = s * |g_T|
(P1) PCM of [R23]:                see :mod:`refsim.devices.pcm`
(G3) table:  sigma = piecewise-linear interpolation of knots (g_k, sigma_k),
             constant beyond the end knots
(G4) callable: sigma = fn(g_T)
(G5) g_noisy = g_T + sigma * xi,  xi ~ N(0, 1)
(F1) stuck-at faults overwrite cells (:mod:`refsim.devices.faults`)
(G6) clip: "nonnegative": g = max(g, 0);  "range": g = clip(g, g_min_S, g_max_S)

Order in :func:`program_conductances`: (G5), then (F1), then (G6). With
``prog_model="pcm_rasch2023"`` and ``clip="nonnegative"`` this is exactly
aihwkit's ``g_prog = max(g_T + sigma xi, 0)``.
"""

from __future__ import annotations

import numpy as np

from refsim._validate import (as_finite_array, as_nonneg_array, check_2d, check_g_range, check_rng,
                              check_same_shape, check_scalar, check_shape_tuple)
from .config import CLIP_POLICIES, NoiseConfig
from .faults import apply_stuck_faults_S, stuck_masks
from .pcm import pcm_prog_sigma_S


def prog_sigma_independent_S(g_target_S, *, sigma_rel: float, g_max_S: float) -> np.ndarray:
    r"""State-independent programming sigma, eq. (G1): :math:`\sigma = s\,g_\mathrm{max}`.

    Parameters
    ----------
    g_target_S : array_like, any shape
        Target conductances (S); only the shape is used.
    sigma_rel : float
        s, relative to g_max (>= 0).
    g_max_S : float
        Maximum conductance (S, > 0).

    Returns
    -------
    ndarray, shape of ``g_target_S``, siemens
    """
    g = as_finite_array("g_target_S", g_target_S)
    s = check_scalar("sigma_rel", sigma_rel, low=0.0)
    g_max = check_scalar("g_max_S", g_max_S, low=0.0, low_open=True)
    return np.full(g.shape, s * g_max)


def prog_sigma_proportional_S(g_target_S, *, sigma_rel: float) -> np.ndarray:
    r"""State-proportional programming sigma, eq. (G2): :math:`\sigma = s\,|g_T|`.

    Parameters
    ----------
    g_target_S : array_like, any shape
        Target conductances (S).
    sigma_rel : float
        s (>= 0).

    Returns
    -------
    ndarray, same shape, siemens
    """
    g = as_finite_array("g_target_S", g_target_S)
    s = check_scalar("sigma_rel", sigma_rel, low=0.0)
    return s * np.abs(g)


def prog_sigma_table_S(g_target_S, table) -> np.ndarray:
    r"""Programming sigma interpolated from a table, eq. (G3).

    .. math:: \sigma(g) = \sigma_k + (\sigma_{k+1}-\sigma_k)\frac{g - g_k}{g_{k+1} - g_k},
              \quad g_k \le g \le g_{k+1}

    and ``sigma_0`` below ``g_0``, ``sigma_last`` above ``g_last``.

    Parameters
    ----------
    g_target_S : array_like, any shape
        Target conductances (S).
    table : sequence of (g_S, sigma_S)
        Knots, strictly increasing in g_S, sigma_S >= 0 (validated by ``NoiseConfig``).

    Returns
    -------
    ndarray, same shape, siemens
    """
    g = as_finite_array("g_target_S", g_target_S)
    knots = np.asarray(table, dtype=np.float64)
    if knots.ndim != 2 or knots.shape[1] != 2 or knots.shape[0] < 1:
        raise ValueError(f"table: received shape {knots.shape}; expected shape (n_knots, 2) of (g_S, sigma_S)")
    if np.any(np.diff(knots[:, 0]) <= 0) or np.any(knots[:, 1] < 0):
        raise ValueError("table: expected strictly increasing g_S and sigma_S >= 0")
    return np.interp(g, knots[:, 0], knots[:, 1])


def prog_sigma_callable_S(g_target_S, fn) -> np.ndarray:
    """Programming sigma from a user callable, eq. (G4): ``sigma = fn(g_T)``.

    The result must have the shape of ``g_target_S`` and be finite and >= 0.
    """
    g = as_finite_array("g_target_S", g_target_S)
    if not callable(fn):
        raise TypeError(f"fn: received {fn!r}; expected a callable fn(g_target_S) -> sigma_S")
    sigma = as_nonneg_array("prog_sigma_fn(g_target_S)", fn(g.copy()))
    sigma = np.broadcast_to(sigma, g.shape) if sigma.ndim == 0 else sigma
    check_same_shape("prog_sigma_fn(g_target_S)", sigma, g.shape, "same as g_target_S")
    return np.array(sigma, dtype=np.float64)


def prog_sigma_S(g_target_S, cfg: NoiseConfig, *, g_max_S: float) -> np.ndarray:
    """Per-cell programming sigma (S) for ``cfg.prog_model`` (dispatch to G1-G4, P1).

    Returns zeros for ``prog_model="none"``.
    """
    m = cfg.prog_model
    if m == "none":
        return np.zeros(as_finite_array("g_target_S", g_target_S).shape)
    if m == "independent":
        return prog_sigma_independent_S(g_target_S, sigma_rel=cfg.prog_sigma_rel, g_max_S=g_max_S)
    if m == "proportional":
        return prog_sigma_proportional_S(g_target_S, sigma_rel=cfg.prog_sigma_rel)
    if m == "pcm_rasch2023":
        return pcm_prog_sigma_S(g_target_S, g_max_S=g_max_S, scale=cfg.pcm_prog_noise_scale)
    if m == "table":
        return prog_sigma_table_S(g_target_S, cfg.prog_sigma_table)
    return prog_sigma_callable_S(g_target_S, cfg.prog_sigma_fn)


def add_programming_noise_S(g_target_S, sigma_S, xi) -> np.ndarray:
    r"""Gaussian programming error, eq. (G5): :math:`g = g_T + \sigma\,\xi`.

    Parameters
    ----------
    g_target_S : array_like, shape (rows, cols)
        Target conductances (S).
    sigma_S : array_like, shape (rows, cols)
        Per-cell sigma (S, >= 0).
    xi : array_like, shape (rows, cols)
        Standard-normal draws.

    Returns
    -------
    ndarray, shape (rows, cols), siemens (not clipped: see :func:`clip_conductance_S`)
    """
    g = as_finite_array("g_target_S", g_target_S)
    sigma = as_nonneg_array("sigma_S", sigma_S)
    xi = as_finite_array("xi", xi)
    check_same_shape("sigma_S", sigma, g.shape, "same as g_target_S")
    check_same_shape("xi", xi, g.shape, "same as g_target_S")
    return g + sigma * xi


def clip_conductance_S(g_S, policy: str, *, g_min_S: float, g_max_S: float) -> np.ndarray:
    r"""Clipping policy after programming, eq. (G6).

    .. math::
        \text{"nonnegative"}: g' = \max(g, 0);\qquad
        \text{"range"}: g' = \min(\max(g, g_\mathrm{min}), g_\mathrm{max})

    Parameters
    ----------
    g_S : array_like, any shape
        Conductances (S).
    policy : {"nonnegative", "range"}
    g_min_S, g_max_S : float
        Mapping range (S); used by "range" (and validated for both).

    Returns
    -------
    ndarray, same shape, siemens
    """
    g = as_finite_array("g_S", g_S)
    g_min, g_max = check_g_range(g_min_S, g_max_S)
    if policy == "nonnegative":
        return np.maximum(g, 0.0)
    if policy == "range":
        return np.clip(g, g_min, g_max)
    raise ValueError(f"policy: received {policy!r}; expected one of {CLIP_POLICIES}")


def draw_programming(shape, cfg: NoiseConfig, rng: np.random.Generator) -> dict:
    """Draw the random numbers that programming needs, in a fixed order.

    Parameters
    ----------
    shape : tuple of int
        (rows, cols) of the array.
    cfg : NoiseConfig
    rng : numpy.random.Generator
        Consumed in this order: ``xi_prog`` (if a programming model is set),
        then ``u_stuck`` (if a stuck fraction is > 0).

    Returns
    -------
    dict
        ``{"xi_prog": N(0,1) (rows, cols)}`` and/or ``{"u_stuck": U[0,1) (rows, cols)}``;
        empty when nothing is random.
    """
    shape = check_shape_tuple("shape", shape)
    rng = check_rng(rng)
    draws = {}
    if cfg.prog_model != "none":
        draws["xi_prog"] = rng.standard_normal(shape)
    if cfg.has_stuck_faults():
        draws["u_stuck"] = rng.random(shape)
    return draws


def program_conductances(g_target_S, draws: dict, cfg: NoiseConfig, *, g_min_S: float,
                         g_max_S: float) -> dict:
    """Program an array: noise (G5), stuck-at faults (F1), clip (G6), in that order.

    Parameters
    ----------
    g_target_S : array_like, shape (rows, cols)
        Target conductances (S).
    draws : dict
        From :func:`draw_programming` (or a recorded trace).
    cfg : NoiseConfig
    g_min_S, g_max_S : float
        Mapping range (S).

    Returns
    -------
    dict of intermediates
        ``sigma_S``: per-cell programming sigma; ``g_noisy_S``: after (G5);
        ``stuck_min``, ``stuck_max``: bool masks; ``g_prog_S``: final programmed
        conductances (rows, cols). With every effect off, ``g_prog_S`` equals the
        (clipped) target exactly.
    """
    g_t = as_finite_array("g_target_S", g_target_S)
    check_2d("g_target_S", g_t)
    check_g_range(g_min_S, g_max_S)
    sigma = prog_sigma_S(g_t, cfg, g_max_S=g_max_S)
    if cfg.prog_model != "none":
        if "xi_prog" not in draws:
            raise ValueError(f"draws: received keys {sorted(draws)}; expected key 'xi_prog' for prog_model="
                             f"{cfg.prog_model!r}")
        g_noisy = add_programming_noise_S(g_t, sigma, draws["xi_prog"])
    else:
        g_noisy = g_t.copy()
    if cfg.has_stuck_faults():
        if "u_stuck" not in draws:
            raise ValueError(f"draws: received keys {sorted(draws)}; expected key 'u_stuck' for stuck faults")
        m_min, m_max = stuck_masks(draws["u_stuck"], stuck_gmin_frac=cfg.stuck_gmin_frac,
                                   stuck_gmax_frac=cfg.stuck_gmax_frac)
        check_same_shape("draws['u_stuck']", m_min, g_t.shape, "same as g_target_S")
        g_stuck = apply_stuck_faults_S(g_noisy, m_min, m_max, g_min_S=g_min_S, g_max_S=g_max_S)
    else:
        m_min = m_max = np.zeros(g_t.shape, dtype=bool)
        g_stuck = g_noisy
    g_prog = clip_conductance_S(g_stuck, cfg.clip, g_min_S=g_min_S, g_max_S=g_max_S)
    return {"sigma_S": sigma, "g_noisy_S": g_noisy, "stuck_min": m_min, "stuck_max": m_max,
            "g_prog_S": g_prog}
