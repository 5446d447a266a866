"""Output-side effects on the column currents of one multiply.

Equations (numbered as in ``docs/devices.md``):

(O1) additive output noise ([R23]): I' = I + sigma_out * xi,
     sigma_out = out_noise_rel * I_ref, I_ref = the ADC full-scale bound
     ("adc_bound") or g_max_S * v_max_V ("unit_current", aihwkit's unit).
(O2) column current limit: I' = clip(I, -I_max, +I_max).
(O3) IR-drop *heuristic* of [R23] (aihwkit ``IOParameters.ir_drop``), in
     normalized units w = G / g_max_S, x = v / v_ref_V, n = rows:
       a_j  = (n / g_ratio) * sum_i |w_ij| |x_i|
       c_j  = a_j (0.5 - 0.2 a_j + 0.05 a_j^2)
       x'_i = x_i (1 - (1 - i/n)^2)
       y'_j = y_j - s * c_j * sum_i w_ij x'_i
     and back to amperes with g_max_S * v_ref_V.

(O3) is NOT a circuit model: it is a cubic fit that aihwkit uses to mimic the
steady-state voltage loss along the wires. It is applied to the ideal
currents, depends on the row index only through the position weight
(1 - (1 - i/n)^2) (row 0 weighted 0, the last row weighted ~1) and its
strength only through a_j, which equals n * r_wire * sum_i |G_ij| |v_i| / v_ref
with g_ratio = 1 / (r_wire g_max). For the circuit solution with wire
resistance use the crossbar's exact solver instead.
"""

from __future__ import annotations

import numpy as np

from refsim._validate import (as_finite_array, check_2d, check_rng, check_same_shape, check_scalar,
                              check_shape_tuple)
from .config import NoiseConfig

#: Coefficients of the cubic c(a) = a (C1 + C2 a + C3 a^2) in aihwkit's ``applyIrDrop``.
IR_DROP_CUBIC = (0.5, -0.2, 0.05)


def output_noise_sigma_A(out_noise_rel: float, i_ref_A: float) -> float:
    r"""Output-noise sigma, eq. (O1): :math:`\sigma_\mathrm{out} = r\,I_\mathrm{ref}` (A).

    Parameters
    ----------
    out_noise_rel : float
        r, relative sigma (>= 0).
    i_ref_A : float
        Reference current (A, > 0): the ADC full-scale bound, or g_max_S * v_max_V.
    """
    r = check_scalar("out_noise_rel", out_noise_rel, low=0.0)
    i_ref = check_scalar("i_ref_A", i_ref_A, low=0.0, low_open=True)
    return r * i_ref


def add_output_noise_A(i_A, xi, *, sigma_A: float) -> np.ndarray:
    r"""Additive Gaussian output noise, eq. (O1): :math:`I' = I + \sigma\,\xi`.

    Parameters
    ----------
    i_A : array_like, shape (B, cols)
        Column currents (A).
    xi : array_like, shape (B, cols)
        Standard-normal draws.
    sigma_A : float
        Noise sigma (A, >= 0).

    Returns
    -------
    ndarray, shape (B, cols), amperes
    """
    i = as_finite_array("i_A", i_A)
    xi = as_finite_array("xi", xi)
    check_same_shape("xi", xi, i.shape, "same as i_A")
    s = check_scalar("sigma_A", sigma_A, low=0.0)
    return i + s * xi


def add_output_noise_into(z: np.ndarray, xi: np.ndarray, sigma: float) -> np.ndarray:
    r"""Eq. (O1) in place and without validation (the training forward's form of
    :func:`add_output_noise_A`): ``z += sigma xi``; ``xi`` (same shape) is scratch space. Returns ``z``."""
    xi *= xi.dtype.type(sigma)
    z += xi
    return z


def clip_column_current_A(i_A, i_col_max_A: float | None) -> np.ndarray:
    r"""Column current limit, eq. (O2): :math:`I' = \min(\max(I, -I_\mathrm{max}), I_\mathrm{max})`.

    Parameters
    ----------
    i_A : array_like, any shape
        Column currents (A).
    i_col_max_A : float or None
        Limit (A, > 0); None returns a copy of ``i_A``.

    Returns
    -------
    ndarray, same shape, amperes
    """
    i = as_finite_array("i_A", i_A)
    lim = check_scalar("i_col_max_A", i_col_max_A, low=0.0, low_open=True, allow_none=True)
    if lim is None:
        return i.copy()
    return np.clip(i, -lim, lim)


def ir_drop_rasch2023_delta_A(v_V, g_S, *, scale: float, g_ratio: float, g_max_S: float,
                              v_ref_V: float) -> np.ndarray:
    r"""Correction current of the IR-drop heuristic of [R23]/aihwkit, eq. (O3).

    A heuristic, not a circuit model (see the module docstring). In
    normalized units :math:`w = G/g_\mathrm{max}`, :math:`x = v/v_\mathrm{ref}`,
    :math:`n` = rows:

    .. math::
        a_{bj} = \frac{n}{g_r}\sum_i |w_{ij}|\,|x_{bi}|,\quad
        c_{bj} = a_{bj}\,(0.5 - 0.2\,a_{bj} + 0.05\,a_{bj}^2),\quad
        \Delta_{bj} = s\,c_{bj}\sum_i w_{ij}\,x_{bi}\,\bigl(1 - (1 - i/n)^2\bigr)

    and :math:`\Delta I = \Delta\,g_\mathrm{max} v_\mathrm{ref}`. The corrected
    output is :math:`I - \Delta I` (:func:`apply_ir_drop_rasch2023_A`).

    Parameters
    ----------
    v_V : array_like, shape (B, rows)
        Row voltages (V).
    g_S : array_like, shape (rows, cols)
        Conductances (S). aihwkit applies it to the signed weight, i.e. pass the
        effective G+ - G- of a differential pair to reproduce it.
    scale : float
        s, aihwkit ``ir_drop`` (>= 0); 0 gives zero correction.
    g_ratio : float
        Wire conductance per segment over g_max, aihwkit ``ir_drop_g_ratio`` (> 0).
    g_max_S : float
        Conductance of |w| = 1 (S, > 0).
    v_ref_V : float
        Voltage of |x| = 1, the full-scale input (V, > 0).

    Returns
    -------
    ndarray, shape (B, cols), amperes (to be subtracted)
    """
    v = as_finite_array("v_V", v_V)
    check_2d("v_V", v, "(B, rows)")
    g = as_finite_array("g_S", g_S)
    check_2d("g_S", g)
    if g.shape[0] != v.shape[1]:
        raise ValueError(f"g_S: received shape {g.shape}; expected {v.shape[1]} rows to match v_V {v.shape}")
    s = check_scalar("scale", scale, low=0.0)
    g_r = check_scalar("g_ratio", g_ratio, low=0.0, low_open=True)
    g_max = check_scalar("g_max_S", g_max_S, low=0.0, low_open=True)
    v_ref = check_scalar("v_ref_V", v_ref_V, low=0.0, low_open=True)
    n = g.shape[0]
    w = g / g_max          # (rows, cols)
    x = v / v_ref          # (B, rows)
    delta = ir_drop_rasch2023_from_sums(np.abs(x) @ np.abs(w), (x * ir_drop_position_weights(n)) @ w, n,
                                        scale=s, g_ratio=g_r)  # (B, cols), normalized
    return delta * (g_max * v_ref)


def ir_drop_position_weights(n: int) -> np.ndarray:
    r"""Row weights of the IR-drop heuristic, eq. (O3): :math:`1 - (1 - i/n)^2`, ``(n,)`` for rows
    ``i = 0 .. n-1`` (row 0 weighted 0, the last row about 1)."""
    p = 1.0 - np.arange(n) / n
    return 1.0 - p**2


def ir_drop_rasch2023_from_sums(abs_sum, pos_sum, n: int, *, scale: float, g_ratio: float,
                                overwrite: bool = False) -> np.ndarray:
    r"""The IR-drop correction of eq. (O3) in normalized units from its two sums, without validation
    (the one home of the cubic, shared by the crossbar and the training forward of
    :mod:`refsim.train.hwa`):

    .. math:: a_{bj} = \frac{n}{g_r} \underbrace{\sum_i |w_{ij}|\,|x_{bi}|}_{\texttt{abs\_sum}},\quad
              \Delta_{bj} = s\,a_{bj}(0.5 - 0.2 a_{bj} + 0.05 a_{bj}^2)
              \underbrace{\sum_i w_{ij}\,x_{bi}\,(1 - (1 - i/n)^2)}_{\texttt{pos\_sum}}

    ``abs_sum``, ``pos_sum``: ``(B, cols)`` (any float dtype, kept); ``n``: rows of the array.
    ``overwrite``: ``abs_sum`` is scratch space (it holds ``a`` afterwards): the same operations in the
    same order, in place (the same bits; two arrays fewer).
    Returns ``Delta`` (B, cols), in units of ``g_max v_ref`` (subtract it from the output)."""
    c1, c2, c3 = IR_DROP_CUBIC
    if not overwrite:
        a = abs_sum * (n / g_ratio)
        c = a * (c1 + a * (c2 + c3 * a))
    else:  # x + y and x * y are commutative in IEEE arithmetic: the bits of the two lines above
        a = abs_sum
        a *= n / g_ratio
        c = a * c3
        c += c2
        c *= a
        c += c1
        c *= a
    c *= scale
    c *= pos_sum
    return c


def apply_ir_drop_rasch2023_A(i_A, v_V, g_S, *, scale: float, g_ratio: float, g_max_S: float,
                              v_ref_V: float) -> np.ndarray:
    """Corrected currents ``I - Delta I`` of the IR-drop heuristic, eq. (O3).

    ``i_A`` has shape (B, cols); see :func:`ir_drop_rasch2023_delta_A` for the rest.
    """
    i = as_finite_array("i_A", i_A)
    delta = ir_drop_rasch2023_delta_A(v_V, g_S, scale=scale, g_ratio=g_ratio, g_max_S=g_max_S,
                                      v_ref_V=v_ref_V)
    check_same_shape("i_A", i, delta.shape, "(B, cols)")
    return i - delta


def draw_output_noise(shape, cfg: NoiseConfig, rng: np.random.Generator) -> dict:
    """Draw one multiply's output noise: ``{"xi_out": N(0,1) of shape (B, cols)}`` or ``{}``."""
    shape = check_shape_tuple("shape", shape)
    rng = check_rng(rng)
    if cfg.out_noise_rel > 0:
        return {"xi_out": rng.standard_normal(shape)}
    return {}
