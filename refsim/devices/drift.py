"""Conductance drift and global drift compensation ([R23], aihwkit).

Equations (numbered as in ``docs/devices.md``):

(T1) t = t_inference + t0;  G(t) = G_prog * (t / t0)^(-nu)  if t_inference > 0,
     else G = G_prog (aihwkit ``apply_drift_noise_to_conductance``).
(T2) nu: "fixed_nu": nu = drift_nu for every device;
     "pcm_rasch2023": nu = scale * |mu_nu(g_T) + sigma_nu(g_T) xi|  (eq. P2);
     "none": nu = 0.
(T3) global drift compensation (aihwkit ``GlobalDriftCompensation``):
     reference input: all-ones (every row driven at the full-scale voltage);
     m(t) = mean_j |I_ref,j(t)| over the output columns of the reference read;
     alpha = m(t_prog) / m(t), and the *digital* output is multiplied by alpha.
     The reference read at programming time (before drift) is the baseline.
     (aihwkit takes the mean of |y| over columns; the ratio equals the ratio of
     sums because both reads have the same number of columns.)
"""

from __future__ import annotations

import numpy as np

from refsim._validate import (as_finite_array, as_nonneg_array, check_rng, check_same_shape, check_scalar,
                              check_shape_tuple)
from .config import NoiseConfig
from .pcm import pcm_drift_nu


def drift_conductance_S(g_prog_S, nu, *, t_inference_s: float, t0_s: float) -> np.ndarray:
    r"""Power-law drift, eq. (T1).

    .. math:: G(t) = G_\mathrm{prog}\left(\frac{t}{t_0}\right)^{-\nu},\qquad
              t = t_\mathrm{inference} + t_0,

    applied only for ``t_inference_s > 0`` (at 0 the result equals ``g_prog_S``
    exactly).

    Parameters
    ----------
    g_prog_S : array_like, shape S
        Programmed conductances (S).
    nu : array_like, shape S or scalar
        Drift exponents (dimensionless, >= 0).
    t_inference_s : float
        Time since the end of programming (s, >= 0).
    t0_s : float
        Reference time (s, > 0).

    Returns
    -------
    ndarray, shape S, siemens
    """
    g = as_finite_array("g_prog_S", g_prog_S)
    nu = as_nonneg_array("nu", nu)
    if nu.ndim:
        check_same_shape("nu", nu, g.shape, "same as g_prog_S, or a scalar")
    t_inf = check_scalar("t_inference_s", t_inference_s, low=0.0)
    t0 = check_scalar("t0_s", t0_s, low=0.0, low_open=True)
    if t_inf == 0.0:
        return g.copy()
    t = t_inf + t0
    return g * (t / t0) ** (-nu)


def drift_nu(g_target_S, draws: dict, cfg: NoiseConfig, *, g_max_S: float) -> np.ndarray:
    """Per-device drift exponents for ``cfg.drift_model``, eq. (T2).

    Parameters
    ----------
    g_target_S : array_like, shape (rows, cols)
        Target conductances (S); the PCM model draws nu from the *target*.
    draws : dict
        From :func:`draw_drift`; "pcm_rasch2023" needs ``xi_nu``.
    cfg : NoiseConfig
    g_max_S : float
        Maximum conductance (S).

    Returns
    -------
    ndarray, shape (rows, cols), dimensionless
    """
    g = as_finite_array("g_target_S", g_target_S)
    if cfg.drift_model == "none":
        return np.zeros(g.shape)
    if cfg.drift_model == "fixed_nu":
        return np.full(g.shape, cfg.drift_nu)
    if "xi_nu" not in draws:
        raise ValueError(f"draws: received keys {sorted(draws)}; expected key 'xi_nu' for "
                         "drift_model='pcm_rasch2023'")
    return pcm_drift_nu(g, draws["xi_nu"], g_max_S=g_max_S, scale=cfg.pcm_drift_scale)


def draw_drift(shape, cfg: NoiseConfig, rng: np.random.Generator) -> dict:
    """Draw the per-device drift randomness (once, at programming).

    Returns ``{"xi_nu": N(0,1) of shape}`` for ``drift_model="pcm_rasch2023"``,
    else an empty dict.
    """
    shape = check_shape_tuple("shape", shape)
    rng = check_rng(rng)
    if cfg.drift_model == "pcm_rasch2023":
        return {"xi_nu": rng.standard_normal(shape)}
    return {}


def drift_reference_input_V(rows: int, *, v_read_V: float) -> np.ndarray:
    """Reference input of the global drift compensation, eq. (T3): all rows at ``v_read_V``.

    Returns
    -------
    ndarray, shape (1, rows), volts
    """
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1:
        raise ValueError(f"rows: received {rows!r}; expected a positive int")
    v = check_scalar("v_read_V", v_read_V, low=0.0, low_open=True)
    return np.full((1, int(rows)), v)


def drift_compensation_scale(i_ref_prog_A, i_ref_t_A) -> float:
    r"""Global drift compensation factor, eq. (T3).

    .. math:: \alpha = \frac{\overline{|I_\mathrm{ref}(t_\mathrm{prog})|}}
                            {\overline{|I_\mathrm{ref}(t)|}}

    where the bar is the mean over every element (output columns, and the
    batch of reference reads if several are given). The digital output of the
    drifted array is multiplied by alpha.

    Parameters
    ----------
    i_ref_prog_A : array_like, shape (n, cols)
        Output currents of the reference read right after programming (A).
    i_ref_t_A : array_like, shape (n, cols)
        Output currents of the same reference read at inference time (A).

    Returns
    -------
    float
        alpha (dimensionless). If the read at time t is all zero there is no
        signal to rescale and alpha = 1.0 (aihwkit instead floors the mean at
        1e-4 in its normalized units; refsim has no normalized unit here).
    """
    i0 = as_finite_array("i_ref_prog_A", i_ref_prog_A)
    it = as_finite_array("i_ref_t_A", i_ref_t_A)
    check_same_shape("i_ref_t_A", it, i0.shape, "same as i_ref_prog_A")
    if i0.size == 0:
        raise ValueError("i_ref_prog_A: received an empty array; expected at least one output current")
    m0 = float(np.mean(np.abs(i0)))
    mt = float(np.mean(np.abs(it)))
    if mt == 0.0:
        return 1.0
    return m0 / mt
