"""Drift law, PCM drift exponents and global drift compensation."""

import math

import numpy as np
import pytest
from scipy import stats

from refsim.devices import (NoiseConfig, draw_drift, draw_programming, drift_compensation_scale,
                            drift_conductance_S, drift_nu, drift_reference_input_V,
                            pcm_drift_nu, pcm_drift_nu_params, program_conductances)
from tolerances import KS_P_MIN, KS_P_WRONG, N_SIGMA, RTOL_EXACT, RTOL_FORMULA

G_MAX_S = 25e-6


def test_drift_power_law_against_exp_log_form():
    rng = np.random.default_rng(0)
    g = rng.uniform(0, G_MAX_S, (30, 40))
    nu = rng.uniform(0, 0.12, (30, 40))
    t_inf, t0 = 3600.0, 20.0
    expected = g * np.exp(-nu * math.log((t_inf + t0) / t0))
    np.testing.assert_allclose(drift_conductance_S(g, nu, t_inference_s=t_inf, t0_s=t0),
                               expected, rtol=RTOL_EXACT)
    # scalar nu broadcasts
    np.testing.assert_allclose(drift_conductance_S(g, 0.05, t_inference_s=t_inf, t0_s=t0),
                               g * ((t_inf + t0) / t0) ** -0.05, rtol=RTOL_EXACT)


def test_no_drift_at_t_inference_zero_exactly():
    g = np.random.default_rng(1).uniform(0, G_MAX_S, (5, 6))
    out = drift_conductance_S(g, np.full(g.shape, 0.1), t_inference_s=0.0, t0_s=20.0)
    np.testing.assert_array_equal(out, g)


def test_drift_is_monotone_in_time():
    g = np.array([[1e-6, 10e-6, 25e-6]])
    nu = np.array([[0.02, 0.05, 0.1]])
    times = [0.0, 1.0, 60.0, 3600.0, 86400.0, 3.15e7]
    seq = np.stack([drift_conductance_S(g, nu, t_inference_s=t, t0_s=20.0) for t in times])
    assert np.all(np.diff(seq, axis=0) < 0)
    flat = [drift_conductance_S(g, 0.0, t_inference_s=t, t0_s=20.0) for t in times]
    for f in flat:
        np.testing.assert_array_equal(f, g)


def test_pcm_nu_parameters_formula():
    g_rel = np.array([1.0, 0.1, 1e-3, 0.0])
    mu, sigma = pcm_drift_nu_params(g_rel * G_MAX_S, g_max_S=G_MAX_S)
    ln = np.log(np.maximum(g_rel, 1e-7))
    mu_ref = np.clip(-0.0155 * ln + 0.0244, 0.049, 0.1)
    sigma_ref = np.clip(-0.0125 * ln - 0.0059, 0.008, 0.045)
    np.testing.assert_allclose(mu, mu_ref, rtol=RTOL_EXACT)
    np.testing.assert_allclose(sigma, sigma_ref, rtol=RTOL_EXACT)
    # the three regimes: low clip at g_max, unclipped at 0.1 g_max, high clip at tiny g
    assert mu[0] == 0.049 and sigma[0] == 0.008
    assert 0.049 < mu[1] < 0.1 and 0.008 < sigma[1] < 0.045
    assert mu[2] == 0.1 and sigma[2] == 0.045 and mu[3] == 0.1


def test_pcm_nu_is_folded_normal_ks():
    n = 20000
    g_t = np.full(n, 0.1 * G_MAX_S)
    xi = np.random.default_rng(2).standard_normal(n)
    nu = pcm_drift_nu(g_t, xi, g_max_S=G_MAX_S)
    mu = -0.0155 * math.log(0.1) + 0.0244
    sigma = -0.0125 * math.log(0.1) - 0.0059
    law = stats.foldnorm(c=mu / sigma, scale=sigma)
    assert stats.kstest(nu, law.cdf).pvalue > KS_P_MIN
    wrong = stats.foldnorm(c=mu / (1.1 * sigma), scale=1.1 * sigma)
    assert stats.kstest(nu, wrong.cdf).pvalue < KS_P_WRONG
    assert abs(nu.mean() - law.mean()) < N_SIGMA * law.std() / math.sqrt(n)
    # drift_scale multiplies nu
    np.testing.assert_allclose(pcm_drift_nu(g_t, xi, g_max_S=G_MAX_S, scale=0.5), 0.5 * nu,
                               rtol=RTOL_EXACT)


def test_drift_nu_dispatch_and_draws():
    g_t = np.full((4, 5), 5e-6)
    assert np.all(drift_nu(g_t, {}, NoiseConfig(), g_max_S=G_MAX_S) == 0)
    fixed = NoiseConfig(drift_model="fixed_nu", drift_nu=0.06, t_inference_s=1.0)
    assert np.all(drift_nu(g_t, {}, fixed, g_max_S=G_MAX_S) == 0.06)
    assert draw_drift((4, 5), fixed, np.random.default_rng(0)) == {}
    pcm = NoiseConfig(drift_model="pcm_rasch2023", t_inference_s=1.0)
    draws = draw_drift((4, 5), pcm, np.random.default_rng(3))
    np.testing.assert_array_equal(drift_nu(g_t, draws, pcm, g_max_S=G_MAX_S),
                                  pcm_drift_nu(g_t, draws["xi_nu"], g_max_S=G_MAX_S))
    with pytest.raises(ValueError, match="xi_nu"):
        drift_nu(g_t, {}, pcm, g_max_S=G_MAX_S)
    with pytest.raises(ValueError, match="nu: received minimum -0.1; expected values >= 0"):
        drift_conductance_S(g_t, -0.1, t_inference_s=1.0, t0_s=20.0)


def _read(g, v):
    return v @ g  # ideal crossbar read (B, cols)


def test_compensation_exact_for_uniform_drift():
    rng = np.random.default_rng(4)
    g = rng.uniform(0, G_MAX_S, (64, 16))
    v_ref = drift_reference_input_V(64, v_read_V=0.2)
    assert v_ref.shape == (1, 64) and np.all(v_ref == 0.2)
    g_t = drift_conductance_S(g, 0.07, t_inference_s=86400.0, t0_s=20.0)
    alpha = drift_compensation_scale(_read(g, v_ref), _read(g_t, v_ref))
    v = rng.uniform(-0.2, 0.2, (10, 64))
    np.testing.assert_allclose(alpha * _read(g_t, v), _read(g, v), rtol=RTOL_FORMULA)


def test_compensation_restores_mean_output_for_pcm_drift():
    rng = np.random.default_rng(5)
    cfg = NoiseConfig(prog_model="pcm_rasch2023", drift_model="pcm_rasch2023",
                      t_inference_s=30 * 86400.0, drift_compensation=True)
    g_target = rng.uniform(0, G_MAX_S, (256, 32))
    g_prog = program_conductances(g_target, draw_programming(g_target.shape, cfg, rng), cfg,
                                  g_min_S=0.0, g_max_S=G_MAX_S)["g_prog_S"]
    nu = drift_nu(g_target, draw_drift(g_target.shape, cfg, rng), cfg, g_max_S=G_MAX_S)
    g_t = drift_conductance_S(g_prog, nu, t_inference_s=cfg.t_inference_s, t0_s=cfg.t0_s)
    v_ref = drift_reference_input_V(256, v_read_V=0.2)
    i0, it = _read(g_prog, v_ref), _read(g_t, v_ref)
    alpha = drift_compensation_scale(i0, it)
    # by construction the reference read is restored exactly (mean |I|)
    assert abs(alpha * np.abs(it).mean() - np.abs(i0).mean()) <= RTOL_EXACT * np.abs(i0).mean()
    v = rng.uniform(0, 0.2, (200, 256))
    y0, yt = _read(g_prog, v), _read(g_t, v)
    raw_err = abs(yt.mean() / y0.mean() - 1)
    comp_err = abs(alpha * yt.mean() / y0.mean() - 1)
    assert raw_err > 0.3        # a month of drift loses > 30 % of the signal ...
    assert comp_err < 0.01      # ... and compensation restores the mean output within 1 %


def test_compensation_edge_cases():
    assert drift_compensation_scale(np.ones((1, 3)), np.zeros((1, 3))) == 1.0
    assert drift_compensation_scale([[2.0, -2.0]], [[1.0, -1.0]]) == 2.0
    with pytest.raises(ValueError, match="i_ref_t_A: received shape .*; expected shape"):
        drift_compensation_scale(np.ones((1, 3)), np.ones((1, 4)))
    with pytest.raises(ValueError, match="rows"):
        drift_reference_input_V(0, v_read_V=0.2)
