"""Read noise: a fresh draw at every multiply, per cell or output-referred.

Equations (numbered as in ``docs/devices.md``):

(R1) state independent ([X22]):  sigma = s * g_max_S
(R2) state proportional ([X22]): sigma = s * |G|
(R3) sqrt of state (aihwkit ``w_noise_type=PCM_READ``): sigma = s * sqrt(|G| g_max_S)
(P3) PCM 1/f of [R23]: see :mod:`refsim.devices.pcm`, with t = t_inference + t0
(R4) per cell:  G~[b, i, j] = G[i, j] + sigma[i, j] * xi[b, i, j]
     (PCM: max(., 0), the clip of aihwkit)
(R5) output referred:  I_noise[b, j] = sqrt(sum_i v[b, i]^2 sigma[i, j]^2) * xi_out[b, j]

Why (R5) is exact for R1-R3 without wire resistance: the ideal output
I[b, j] = sum_i v[b, i] G~[b, i, j] is linear in the per-cell Gaussians, so the
noise part sum_i v[b, i] sigma[i, j] xi[b, i, j] is Gaussian with mean 0 and
variance sum_i v[b, i]^2 sigma[i, j]^2, and different (b, j) involve disjoint,
independent xi, so they are independent: the whole (B, cols) noise array has
the same joint distribution as (R5). This holds for one multiply with fresh
draws; it fails with clipping (P3 is clipped at 0, so not Gaussian: for cells
below 0.8 % of g_max, Q_s = 0.2 and at t = t0 about 12 % of their draws clip),
and with wire resistance (the output is then not linear in the cell
conductances).
"""

from __future__ import annotations

import numpy as np

from refsim._validate import (as_finite_array, as_nonneg_array, check_2d, check_rng, check_same_shape,
                              check_scalar, check_shape_tuple)
from .config import NoiseConfig
from .pcm import pcm_read_sigma_S

#: Read models whose noise is additive Gaussian and unclipped.
GAUSSIAN_READ_MODELS = ("independent", "proportional", "sqrt_state")


def read_sigma_independent_S(g_S, *, sigma_rel: float, g_max_S: float) -> np.ndarray:
    r"""State-independent read sigma, eq. (R1): :math:`\sigma = s\,g_\mathrm{max}` (S)."""
    g = as_finite_array("g_S", g_S)
    s = check_scalar("sigma_rel", sigma_rel, low=0.0)
    g_max = check_scalar("g_max_S", g_max_S, low=0.0, low_open=True)
    return np.full(g.shape, s * g_max)


def read_sigma_proportional_S(g_S, *, sigma_rel: float) -> np.ndarray:
    r"""State-proportional read sigma, eq. (R2): :math:`\sigma = s\,|G|` (S)."""
    g = as_finite_array("g_S", g_S)
    s = check_scalar("sigma_rel", sigma_rel, low=0.0)
    return s * np.abs(g)


def read_sigma_sqrt_state_S(g_S, *, sigma_rel: float, g_max_S: float) -> np.ndarray:
    r"""Read sigma growing with the square root of the state, eq. (R3).

    .. math:: \sigma = s\sqrt{|G|\,g_\mathrm{max}}

    Output-referred this is aihwkit's ``PCM_READ`` weight noise,
    ``y += w_noise * sqrt(sum_j |w_ij| x_j^2) * xi`` with w = G / g_max, x = v / v_max,
    ``w_noise = s`` (exact when one device of each differential pair is at 0 S,
    as in aihwkit's PCM mapping).
    """
    g = as_finite_array("g_S", g_S)
    s = check_scalar("sigma_rel", sigma_rel, low=0.0)
    g_max = check_scalar("g_max_S", g_max_S, low=0.0, low_open=True)
    return s * np.sqrt(np.abs(g) * g_max)


def read_noise_sigma_S(g_S, cfg: NoiseConfig, *, g_max_S: float, g_prog_S=None) -> np.ndarray:
    """Per-cell read-noise sigma (S) for ``cfg.read_model`` (dispatch to R1-R3, P3).

    Parameters
    ----------
    g_S : array_like, shape (rows, cols)
        Conductances at read time (after programming and drift) (S).
    cfg : NoiseConfig
    g_max_S : float
        Maximum conductance (S).
    g_prog_S : array_like, shape (rows, cols), optional
        Programmed conductances before drift; needed by "pcm_rasch2023" (its Q_s
        depends on them); defaults to ``g_S`` (no drift).

    Returns
    -------
    ndarray, shape (rows, cols), siemens; zeros for ``read_model="none"``.
    """
    m = cfg.read_model
    if m == "none":
        return np.zeros(as_finite_array("g_S", g_S).shape)
    if m == "independent":
        return read_sigma_independent_S(g_S, sigma_rel=cfg.read_sigma_rel, g_max_S=g_max_S)
    if m == "proportional":
        return read_sigma_proportional_S(g_S, sigma_rel=cfg.read_sigma_rel)
    if m == "sqrt_state":
        return read_sigma_sqrt_state_S(g_S, sigma_rel=cfg.read_sigma_rel, g_max_S=g_max_S)
    g_prog = g_S if g_prog_S is None else g_prog_S
    return pcm_read_sigma_S(g_S, g_prog, g_max_S=g_max_S, t_s=cfg.t_inference_s + cfg.t0_s,
                            t_read_s=cfg.t_read_s, scale=cfg.pcm_read_noise_scale)


def read_noise_clips(cfg: NoiseConfig) -> bool:
    """True if a noisy read conductance is clipped at 0: "pcm_rasch2023", or ``read_clip`` set (R6)."""
    return cfg.read_model == "pcm_rasch2023" or cfg.read_clip != "model"


def read_noise_bounds(cfg: NoiseConfig, g_min_S: float, g_max_S: float) -> tuple[float, float] | None:
    """(R6) the interval a noisy read conductance is clipped to, S: ``(0, inf)`` where
    :func:`read_noise_clips`, ``(g_min_S, g_max_S)`` for ``read_clip="range"`` (CrossSim's
    ``clip_conductance``), else None (no clip)."""
    if cfg.read_clip == "range":
        return (float(g_min_S), float(g_max_S))
    return (0.0, np.inf) if read_noise_clips(cfg) else None


def apply_read_noise_per_cell_S(g_S, sigma_S, xi, *, clip_nonnegative: bool,
                                bounds: tuple[float, float] | None = None) -> np.ndarray:
    r"""Per-cell read noise, eq. (R4) — the reference form.

    .. math:: \tilde G_{bij} = G_{ij} + \sigma_{ij}\,\xi_{bij}
              \quad(\text{then } \max(\cdot, 0) \text{ if } \texttt{clip\_nonnegative})

    Parameters
    ----------
    g_S : array_like, shape (rows, cols)
        Conductances (S).
    sigma_S : array_like, shape (rows, cols)
        Per-cell sigma (S, >= 0).
    xi : array_like, shape (B, rows, cols)
        Standard-normal draws, one per cell and per input vector.
    clip_nonnegative : bool
        Apply max(., 0) (True for the PCM model of [R23]).
    bounds : (lo, hi) or None
        Then clip to ``[lo, hi]`` S (R6, :func:`read_noise_bounds`).

    Returns
    -------
    ndarray, shape (B, rows, cols), siemens
    """
    g = as_finite_array("g_S", g_S)
    check_2d("g_S", g)
    sigma = as_nonneg_array("sigma_S", sigma_S)
    check_same_shape("sigma_S", sigma, g.shape, "same as g_S")
    xi = as_finite_array("xi", xi)
    if xi.ndim != 3 or xi.shape[1:] != g.shape:
        raise ValueError(f"xi: received shape {xi.shape}; expected shape (B, {g.shape[0]}, {g.shape[1]})")
    out = g[None, :, :] + sigma[None, :, :] * xi  # (B, rows, cols)
    out = np.maximum(out, 0.0) if clip_nonnegative else out
    return out if bounds is None else np.clip(out, bounds[0], bounds[1])  # (R6)


def output_referred_read_noise_A(v_V, sigma_S, xi_out) -> np.ndarray:
    r"""Output-referred read noise current, eq. (R5).

    .. math:: I^\mathrm{noise}_{bj} = \sqrt{\textstyle\sum_i v_{bi}^2\,\sigma_{ij}^2}\;\xi_{bj}

    Equal in distribution to ``v @ G~ - v @ G`` with G~ from
    :func:`apply_read_noise_per_cell_S` without clipping and without wire
    resistance (see :func:`output_referred_is_exact`).

    Parameters
    ----------
    v_V : array_like, shape (B, rows)
        Row voltages (V).
    sigma_S : array_like, shape (rows, cols)
        Per-cell read sigma (S).
    xi_out : array_like, shape (B, cols)
        Standard-normal draws, one per output.

    Returns
    -------
    ndarray, shape (B, cols), amperes (add to the ideal column currents)
    """
    v = as_finite_array("v_V", v_V)
    check_2d("v_V", v, "(B, rows)")
    sigma = as_nonneg_array("sigma_S", sigma_S)
    check_2d("sigma_S", sigma)
    if sigma.shape[0] != v.shape[1]:
        raise ValueError(f"sigma_S: received shape {sigma.shape}; expected {v.shape[1]} rows to match "
                         f"v_V {v.shape}")
    xi = as_finite_array("xi_out", xi_out)
    check_same_shape("xi_out", xi, (v.shape[0], sigma.shape[1]), "(B, cols)")
    std_A = np.sqrt((v**2) @ (sigma**2))  # (B, cols)
    return std_A * xi


def output_referred_std_A(codes: np.ndarray, code_max: float, v_read_V: float, var_S2: np.ndarray, *,
                          extra_var: float = 0.0) -> np.ndarray:
    r"""The standard deviation of (R5) for DAC codes, without input validation (the crossbar's form).

    .. math:: s_{bj} = \frac{v_{read}}{c_{max}} \sqrt{\textstyle\sum_i c_{bi}^2\,\sigma_{ij}^2 + e}

    the same as ``sqrt(v^2 @ sigma^2)`` of :func:`output_referred_read_noise_A` with
    ``v = c v_read / c_max``, to round-off. ``codes (B, rows)``, ``var_S2 = sigma^2 (rows, cols)``
    in S^2 -> ``(B, cols)`` in A. Multiply by standard normals for the noise current.
    ``extra_var`` ``e`` (default 0; in the unit of the sum, ``(c_max / v_read)^2 A^2``): the variance of an
    independent Gaussian added to the same output, e.g. the output noise (O1), so that one draw carries
    both (the training forward of :mod:`refsim.train.hwa`).
    """
    std = np.square(codes) @ var_S2
    if extra_var:
        std += std.dtype.type(extra_var)
    np.sqrt(std, out=std)
    if v_read_V != code_max:
        std *= v_read_V / code_max
    return std


def output_referred_is_exact(cfg: NoiseConfig, *, wire_resistance: bool) -> bool:
    """Whether (R5) equals (R4) in distribution for this configuration.

    True when there is no read noise, or when the read model is unclipped
    Gaussian (R1-R3) and the wires are ideal. False for "pcm_rasch2023" (the
    max(., 0) clip makes the per-cell noise non-Gaussian with a positive mean
    shift near G = 0) and whenever ``wire_resistance`` is True (the output is
    not linear in the cell conductances).
    """
    if not isinstance(wire_resistance, bool):
        raise TypeError(f"wire_resistance: received {wire_resistance!r}; expected a bool")
    if not cfg.has_read_noise():
        return True
    return cfg.read_model in GAUSSIAN_READ_MODELS and not wire_resistance and cfg.read_clip == "model"


def resolve_read_sampling(cfg: NoiseConfig, *, wire_resistance: bool) -> str:
    """The sampling form to use: "none", "per_cell" or "output_referred".

    "auto" picks "output_referred" where it is exact, else "per_cell". An explicit
    "output_referred" where it is not exact raises ``ValueError``.
    """
    exact = output_referred_is_exact(cfg, wire_resistance=wire_resistance)
    if not cfg.has_read_noise():
        return "none"
    if cfg.read_sampling == "per_cell":
        return "per_cell"
    if cfg.read_sampling == "output_referred" and not exact:
        raise ValueError("read_sampling: 'output_referred' is not exact in distribution for "
                         f"read_model={cfg.read_model!r} with wire_resistance={wire_resistance}; "
                         "expected 'auto' or 'per_cell'")
    return "output_referred" if exact else "per_cell"


def draw_read_noise(batch: int, shape, cfg: NoiseConfig, rng: np.random.Generator, *,
                    sampling: str) -> dict:
    """Draw one multiply's read-noise randomness.

    Parameters
    ----------
    batch : int
        B, number of input vectors.
    shape : tuple of int
        (rows, cols) of the array.
    cfg : NoiseConfig
    rng : numpy.random.Generator
    sampling : {"none", "per_cell", "output_referred"}
        From :func:`resolve_read_sampling`.

    Returns
    -------
    dict
        ``{"xi_read": (B, rows, cols)}`` (per cell), ``{"xi_read_out": (B, cols)}``
        (output referred) or ``{}``.
    """
    rows, cols = check_shape_tuple("shape", shape)
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 0:
        raise ValueError(f"batch: received {batch!r}; expected a non-negative int")
    rng = check_rng(rng)
    if sampling == "none" or not cfg.has_read_noise():
        return {}
    if sampling == "per_cell":
        return {"xi_read": rng.standard_normal((batch, rows, cols))}
    if sampling == "output_referred":
        return {"xi_read_out": rng.standard_normal((batch, cols))}
    raise ValueError(f"sampling: received {sampling!r}; expected 'none', 'per_cell' or 'output_referred'")
