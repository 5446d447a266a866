"""The phase-change-memory (PCM) statistical model of [R23].

[R23] M. J. Rasch et al., Nat. Commun. 14, 5282 (2023), as implemented by
aihwkit's ``PCMLikeNoiseModel``. aihwkit works in microsiemens with
``g_max = 25 uS``; every formula below depends on conductances only through
``g / g_max`` (or scales with ``g_max``), so here they are written in siemens
for any ``g_max_S`` and reduce to aihwkit's for ``g_max_S = 25e-6``.

Equations (numbered as in ``docs/devices.md``):

(P1) sigma_prog(g_T) = (c0 + c1 x + c2 x^2) * g_max_S / 25,  x = g_T / g_max_S
     (c0, c1, c2) = (0.26348, 1.9650, -1.1731); the "/ 25" turns aihwkit's
     microsiemens at g_max = 25 uS into a g_max-relative sigma.
(P2) g_rel = max(|g_T| / g_max_S, 1e-7)
     mu_nu    = clip(-0.0155 ln g_rel + 0.0244, 0.049, 0.1)
     sigma_nu = clip(-0.0125 ln g_rel - 0.0059, 0.008, 0.045)
     nu = |mu_nu + sigma_nu xi|
(P3) Q_s = min(0.0088 / max((|g_prog| / g_max_S)^0.65, 1e-3), 0.2)
     sigma_read = |g_drift| * Q_s * sqrt(ln((t + t_read) / (2 t_read)))
"""

from __future__ import annotations

import numpy as np

from refsim._validate import as_finite_array, check_same_shape, check_scalar

#: Programming-noise polynomial coefficients of [R23] (aihwkit ``prog_coeff``), uS at g_max=25 uS.
PCM_PROG_COEFF = (0.26348, 1.9650, -1.1731)
#: The g_max (uS) at which aihwkit states ``PCM_PROG_COEFF``.
PCM_PROG_G_MAX_REF_uS = 25.0
#: Floor of g / g_max inside the logarithm of (P2) (aihwkit ``_ZERO_CLIP``).
PCM_NU_G_REL_FLOOR = 1e-7
PCM_MU_NU = (-0.0155, 0.0244, 0.049, 0.1)       # slope, intercept, clip low, clip high
PCM_SIGMA_NU = (-0.0125, -0.0059, 0.008, 0.045)  # slope, intercept, clip low, clip high
PCM_READ_Q0 = 0.0088
PCM_READ_EXPONENT = 0.65
PCM_READ_FLOOR = 1e-3
PCM_READ_Q_MAX = 0.2
#: Read pulse duration of [R23] (s).
PCM_T_READ_S = 250e-9
#: Drift reference time of [R23] (s).
PCM_T0_S = 20.0


def pcm_prog_sigma_S(g_target_S, *, g_max_S: float, scale: float = 1.0) -> np.ndarray:
    r"""Programming-noise sigma of the [R23] PCM model, eq. (P1).

    .. math::
        \sigma_\mathrm{prog}(g_T) = s\,(c_0 + c_1 x + c_2 x^2)\,\frac{g_\mathrm{max}}{25},
        \qquad x = g_T / g_\mathrm{max}

    Parameters
    ----------
    g_target_S : array_like, any shape
        Target conductances (S). aihwkit's targets lie in [0, g_max].
    g_max_S : float
        Conductance that the largest |weight| maps to (S, > 0).
    scale : float
        aihwkit ``prog_noise_scale`` (dimensionless, >= 0).

    Returns
    -------
    ndarray, same shape
        sigma_prog in siemens. The programmed value is
        ``g_prog = max(g_T + sigma_prog * xi, 0)`` (the clip is the "nonnegative"
        clip policy applied after every programming model).
    """
    g = as_finite_array("g_target_S", g_target_S)
    g_max = check_scalar("g_max_S", g_max_S, low=0.0, low_open=True)
    s = check_scalar("scale", scale, low=0.0)
    x = g / g_max
    c0, c1, c2 = PCM_PROG_COEFF
    return s * (c0 + c1 * x + c2 * x**2) * (g_max / PCM_PROG_G_MAX_REF_uS)


def pcm_drift_nu_params(g_target_S, *, g_max_S: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and spread of the drift exponent of the [R23] PCM model, eq. (P2).

    .. math::
        g_r = \max(|g_T|/g_\mathrm{max}, 10^{-7}),\quad
        \mu_\nu = \mathrm{clip}(-0.0155\ln g_r + 0.0244,\ 0.049,\ 0.1),\quad
        \sigma_\nu = \mathrm{clip}(-0.0125\ln g_r - 0.0059,\ 0.008,\ 0.045)

    Parameters
    ----------
    g_target_S : array_like, any shape
        Target conductances (S).
    g_max_S : float
        Maximum conductance (S, > 0).

    Returns
    -------
    mu_nu, sigma_nu : ndarray, same shape (dimensionless)
    """
    g = as_finite_array("g_target_S", g_target_S)
    g_max = check_scalar("g_max_S", g_max_S, low=0.0, low_open=True)
    g_rel = np.maximum(np.abs(g) / g_max, PCM_NU_G_REL_FLOOR)
    ln_g = np.log(g_rel)
    a, b, lo, hi = PCM_MU_NU
    mu = np.clip(a * ln_g + b, lo, hi)
    a, b, lo, hi = PCM_SIGMA_NU
    sigma = np.clip(a * ln_g + b, lo, hi)
    return mu, sigma


def pcm_drift_nu(g_target_S, xi, *, g_max_S: float, scale: float = 1.0) -> np.ndarray:
    r"""Per-device drift exponent of the [R23] PCM model, eq. (P2).

    .. math:: \nu = s\,|\mu_\nu(g_T) + \sigma_\nu(g_T)\,\xi|,\qquad \xi \sim N(0, 1)

    A folded normal: ``nu`` is drawn once per device at programming.

    Parameters
    ----------
    g_target_S : array_like, shape S
        Target conductances (S).
    xi : array_like, shape S
        Standard-normal draws.
    g_max_S : float
        Maximum conductance (S, > 0).
    scale : float
        aihwkit ``drift_scale`` (>= 0).

    Returns
    -------
    ndarray, shape S
        Drift exponents nu >= 0 (dimensionless).
    """
    mu, sigma = pcm_drift_nu_params(g_target_S, g_max_S=g_max_S)
    xi = as_finite_array("xi", xi)
    check_same_shape("xi", xi, mu.shape, "same as g_target_S")
    s = check_scalar("scale", scale, low=0.0)
    return s * np.abs(mu + sigma * xi)


def pcm_read_q_s(g_prog_S, *, g_max_S: float) -> np.ndarray:
    r"""1/f noise amplitude Q_s of the [R23] PCM model, eq. (P3).

    .. math:: Q_s = \min\!\left(\frac{0.0088}{\max((|g_\mathrm{prog}|/g_\mathrm{max})^{0.65},
              10^{-3})},\ 0.2\right)

    Parameters
    ----------
    g_prog_S : array_like, any shape
        Programmed (not drifted) conductances (S).
    g_max_S : float
        Maximum conductance (S, > 0).

    Returns
    -------
    ndarray, same shape (dimensionless)
    """
    g = as_finite_array("g_prog_S", g_prog_S)
    g_max = check_scalar("g_max_S", g_max_S, low=0.0, low_open=True)
    denom = np.maximum((np.abs(g) / g_max) ** PCM_READ_EXPONENT, PCM_READ_FLOOR)
    return np.minimum(PCM_READ_Q0 / denom, PCM_READ_Q_MAX)


def pcm_read_sigma_S(g_drift_S, g_prog_S, *, g_max_S: float, t_s: float,
                     t_read_s: float = PCM_T_READ_S, scale: float = 1.0) -> np.ndarray:
    r"""Per-cell sigma of the [R23] 1/f read noise, eq. (P3).

    .. math::
        \sigma_\mathrm{read} = s\,|g_\mathrm{drift}|\,Q_s(g_\mathrm{prog})\,
        \sqrt{\ln\frac{t + t_\mathrm{read}}{2 t_\mathrm{read}}}

    The noisy conductance is ``max(g_drift + sigma_read * xi, 0)``
    (:func:`refsim.devices.read_noise.apply_read_noise_per_cell_S` with
    ``clip_nonnegative=True``).

    Parameters
    ----------
    g_drift_S : array_like, shape S
        Conductances at the time of the read, after drift (S).
    g_prog_S : array_like, shape S
        Programmed conductances, before drift (S); they set Q_s.
    g_max_S : float
        Maximum conductance (S, > 0).
    t_s : float
        Time since programming (s, > 0). aihwkit uses t = t_inference + t0.
    t_read_s : float
        Read pulse duration (s, > 0); [R23]: 250 ns.
    scale : float
        aihwkit ``read_noise_scale`` (>= 0).

    Returns
    -------
    ndarray, shape S
        sigma in siemens.
    """
    g_d = as_finite_array("g_drift_S", g_drift_S)
    q_s = pcm_read_q_s(g_prog_S, g_max_S=g_max_S)
    check_same_shape("g_prog_S", q_s, g_d.shape, "same as g_drift_S")
    t = check_scalar("t_s", t_s, low=0.0, low_open=True)
    t_read = check_scalar("t_read_s", t_read_s, low=0.0, low_open=True)
    s = check_scalar("scale", scale, low=0.0)
    ratio = (t + t_read) / (2.0 * t_read)
    if ratio <= 1.0:
        raise ValueError(f"t_s: received {t!r}; expected t_s > t_read_s = {t_read!r} so that the 1/f noise "
                         "integral ln((t + t_read)/(2 t_read)) is positive")
    return s * np.abs(g_d) * q_s * np.sqrt(np.log(ratio))
