"""Programming error, PCM programming noise, stuck-at faults and clipping."""

import math

import numpy as np
import pytest

from refsim.devices import (NoiseConfig, add_programming_noise_S, apply_stuck_faults_S,
                            clip_conductance_S, draw_programming, pcm_prog_sigma_S,
                            prog_sigma_S, prog_sigma_table_S, program_conductances, stuck_masks)
from tolerances import N_SIGMA, RTOL_EXACT, RTOL_FORMULA

G_MAX_S = 25e-6
G_MIN_S = 1e-6
SHAPE = (200, 200)   # 40 000 cells: std of a sample std ~ 0.35 %, 5 sigma ~ 1.8 %


def assert_standard_normal(z, n_sigma=N_SIGMA):
    """Sample mean and std of z agree with N(0, 1) within n_sigma standard errors."""
    n = z.size
    assert abs(z.mean()) < n_sigma / math.sqrt(n), z.mean()
    assert abs(z.std(ddof=1) - 1.0) < n_sigma / math.sqrt(2 * (n - 1)), z.std(ddof=1)


def targets(rng, low, high):
    return rng.uniform(low, high, size=SHAPE)


def test_checker_rejects_a_five_percent_wrong_sigma():
    z = np.random.default_rng(1).standard_normal(SHAPE)
    with pytest.raises(AssertionError):
        assert_standard_normal(z * 1.05)


@pytest.mark.parametrize("model, sigma_of", [
    ("independent", lambda g: 0.03 * G_MAX_S * np.ones_like(g)),
    ("proportional", lambda g: 0.03 * g),
])
def test_gaussian_models_statistics(model, sigma_of):
    rng = np.random.default_rng(10)
    g_t = targets(rng, 0.5 * G_MAX_S, G_MAX_S)  # >= 16 sigma from 0: no clipping
    cfg = NoiseConfig(prog_model=model, prog_sigma_rel=0.03)
    out = program_conductances(g_t, draw_programming(SHAPE, cfg, rng), cfg,
                               g_min_S=G_MIN_S, g_max_S=G_MAX_S)
    np.testing.assert_allclose(out["sigma_S"], sigma_of(g_t), rtol=RTOL_EXACT)
    assert_standard_normal((out["g_prog_S"] - g_t) / sigma_of(g_t))


def test_pcm_sigma_polynomial_at_published_points():
    # [R23]/aihwkit at g_max = 25 uS: sigma(0) = 0.26348 uS, sigma(g_max) = 0.26348+1.9650-1.1731 uS
    s = pcm_prog_sigma_S([0.0, G_MAX_S, 0.5 * G_MAX_S], g_max_S=G_MAX_S)
    expected_uS = [0.26348, 0.26348 + 1.9650 - 1.1731, 0.26348 + 1.9650 / 2 - 1.1731 / 4]
    np.testing.assert_allclose(s, np.array(expected_uS) * 1e-6, rtol=RTOL_EXACT)
    # g_max-relative: doubling g_max and g doubles sigma; scale multiplies it
    np.testing.assert_allclose(pcm_prog_sigma_S([2 * G_MAX_S], g_max_S=2 * G_MAX_S, scale=0.5),
                               [expected_uS[1] * 1e-6], rtol=RTOL_EXACT)


def test_pcm_programming_statistics():
    rng = np.random.default_rng(11)
    g_t = targets(rng, 0.3 * G_MAX_S, G_MAX_S)  # sigma <= 1.06 uS, g_t >= 7.5 uS: ~7 sigma
    cfg = NoiseConfig(prog_model="pcm_rasch2023")
    out = program_conductances(g_t, draw_programming(SHAPE, cfg, rng), cfg,
                               g_min_S=0.0, g_max_S=G_MAX_S)
    x = g_t / G_MAX_S
    sigma = (0.26348 + 1.9650 * x - 1.1731 * x**2) * 1e-6
    assert_standard_normal((out["g_prog_S"] - g_t) / sigma)


def test_pcm_zero_target_is_half_normal_after_clip():
    # g_T = 0: g_prog = max(sigma0 xi, 0): P(0) = 1/2, E = sigma0 / sqrt(2 pi)
    rng = np.random.default_rng(12)
    cfg = NoiseConfig(prog_model="pcm_rasch2023")
    g = program_conductances(np.zeros(SHAPE), draw_programming(SHAPE, cfg, rng), cfg,
                             g_min_S=0.0, g_max_S=G_MAX_S)["g_prog_S"]
    n, sigma0 = g.size, 0.26348e-6
    assert abs(np.mean(g == 0) - 0.5) < N_SIGMA * math.sqrt(0.25 / n)
    half_normal_std = sigma0 * math.sqrt(1 - 1 / math.pi)  # std of |N(0, sigma0^2)|
    # mean of max(sigma0 xi, 0): std of that variable is below half_normal_std
    assert abs(g.mean() - sigma0 / math.sqrt(2 * math.pi)) < N_SIGMA * half_normal_std / math.sqrt(n)


def test_table_interpolation_and_statistics():
    table = ((5e-6, 0.2e-6), (15e-6, 0.6e-6), (25e-6, 1.0e-6))
    got = prog_sigma_table_S([0.0, 5e-6, 10e-6, 20e-6, 25e-6, 30e-6], table)
    # below/above the end knots: constant; midpoints: mean of the two knots
    np.testing.assert_allclose(got, [0.2e-6, 0.2e-6, 0.4e-6, 0.8e-6, 1.0e-6, 1.0e-6],
                               rtol=RTOL_EXACT)
    rng = np.random.default_rng(13)
    g_t = targets(rng, 10e-6, 25e-6)
    cfg = NoiseConfig(prog_model="table", prog_sigma_table=table)
    out = program_conductances(g_t, draw_programming(SHAPE, cfg, rng), cfg,
                               g_min_S=0.0, g_max_S=G_MAX_S)
    sigma = np.where(g_t < 15e-6, 0.2e-6 + 0.4e-6 * (g_t - 5e-6) / 10e-6,
                     0.6e-6 + 0.4e-6 * (g_t - 15e-6) / 10e-6)
    np.testing.assert_allclose(out["sigma_S"], sigma, rtol=RTOL_FORMULA)
    assert_standard_normal((out["g_prog_S"] - g_t) / sigma)


def test_callable_sigma_and_its_checks():
    cfg = NoiseConfig(prog_model="callable", prog_sigma_fn=lambda g: 0.02 * g + 1e-8)
    g_t = np.array([[1e-6, 2e-6], [3e-6, 4e-6]])
    np.testing.assert_allclose(prog_sigma_S(g_t, cfg, g_max_S=G_MAX_S), 0.02 * g_t + 1e-8,
                               rtol=RTOL_EXACT)
    bad_shape = NoiseConfig(prog_model="callable", prog_sigma_fn=lambda g: np.ones(3))
    with pytest.raises(ValueError, match=r"prog_sigma_fn\(g_target_S\)"):
        prog_sigma_S(g_t, bad_shape, g_max_S=G_MAX_S)
    negative = NoiseConfig(prog_model="callable", prog_sigma_fn=lambda g: -g)
    with pytest.raises(ValueError, match=">= 0"):
        prog_sigma_S(g_t, negative, g_max_S=G_MAX_S)


def test_stuck_fractions_binomial_bounds_and_values():
    f_min, f_max = 0.02, 0.05
    rng = np.random.default_rng(14)
    cfg = NoiseConfig(prog_model="independent", prog_sigma_rel=0.01,
                      stuck_gmin_frac=f_min, stuck_gmax_frac=f_max)
    g_t = targets(rng, 5e-6, 20e-6)
    draws = draw_programming(SHAPE, cfg, rng)
    out = program_conductances(g_t, draws, cfg, g_min_S=G_MIN_S, g_max_S=G_MAX_S)
    n = g_t.size
    for mask, f in ((out["stuck_min"], f_min), (out["stuck_max"], f_max)):
        assert abs(mask.sum() - n * f) < N_SIGMA * math.sqrt(n * f * (1 - f)), mask.sum()
    assert not np.any(out["stuck_min"] & out["stuck_max"])
    assert np.all(out["g_prog_S"][out["stuck_min"]] == G_MIN_S)
    assert np.all(out["g_prog_S"][out["stuck_max"]] == G_MAX_S)
    healthy = ~(out["stuck_min"] | out["stuck_max"])
    np.testing.assert_array_equal(out["g_prog_S"][healthy], out["g_noisy_S"][healthy])


def test_stuck_masks_thresholds_exactly():
    # binary fractions so that f_min + f_max = 0.375 exactly
    u = np.array([0.0, 0.1249, 0.125, 0.3749, 0.375, 0.9999])
    m_min, m_max = stuck_masks(u, stuck_gmin_frac=0.125, stuck_gmax_frac=0.25)
    np.testing.assert_array_equal(m_min, [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(m_max, [0, 0, 1, 1, 0, 0])
    with pytest.raises(ValueError, match="u: received range .*; expected uniform draws in \\[0, 1\\)"):
        stuck_masks([1.0], stuck_gmin_frac=0.1, stuck_gmax_frac=0.1)
    with pytest.raises(ValueError, match="disjoint"):
        apply_stuck_faults_S(np.ones(2), [True, False], [True, False], g_min_S=0.0, g_max_S=2.0)


def test_clip_policies():
    g = np.array([-1e-6, 0.5e-6, 3e-6, 30e-6])
    np.testing.assert_array_equal(clip_conductance_S(g, "nonnegative", g_min_S=G_MIN_S,
                                                     g_max_S=G_MAX_S), [0.0, 0.5e-6, 3e-6, 30e-6])
    np.testing.assert_array_equal(clip_conductance_S(g, "range", g_min_S=G_MIN_S, g_max_S=G_MAX_S),
                                  [G_MIN_S, G_MIN_S, 3e-6, G_MAX_S])
    with pytest.raises(ValueError, match="policy"):
        clip_conductance_S(g, "abs", g_min_S=G_MIN_S, g_max_S=G_MAX_S)
    with pytest.raises(ValueError, match="g_min_S"):
        clip_conductance_S(g, "range", g_min_S=G_MAX_S, g_max_S=G_MAX_S)


def test_range_clip_in_programming():
    rng = np.random.default_rng(15)
    cfg = NoiseConfig(prog_model="independent", prog_sigma_rel=0.2, clip="range")
    g_t = targets(rng, G_MIN_S, G_MAX_S)
    g = program_conductances(g_t, draw_programming(SHAPE, cfg, rng), cfg,
                             g_min_S=G_MIN_S, g_max_S=G_MAX_S)["g_prog_S"]
    assert g.min() == G_MIN_S and g.max() == G_MAX_S  # sigma 5 uS: both ends are hit


@pytest.mark.parametrize("cfg", [NoiseConfig(), NoiseConfig(prog_model="independent"),
                                 NoiseConfig(prog_model="proportional", clip="range")])
def test_zero_noise_is_identity_exactly(cfg):
    rng = np.random.default_rng(16)
    g_t = targets(rng, G_MIN_S, G_MAX_S)[:20, :30]
    out = program_conductances(g_t, draw_programming(g_t.shape, cfg, rng), cfg,
                               g_min_S=G_MIN_S, g_max_S=G_MAX_S)
    np.testing.assert_array_equal(out["g_prog_S"], g_t)


def test_draws_reproducible_and_checked():
    cfg = NoiseConfig(prog_model="independent", prog_sigma_rel=0.1, stuck_gmax_frac=0.1)
    a = draw_programming((3, 4), cfg, np.random.default_rng(7))
    b = draw_programming((3, 4), cfg, np.random.default_rng(7))
    assert sorted(a) == ["u_stuck", "xi_prog"]
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert draw_programming((3, 4), NoiseConfig(), np.random.default_rng(7)) == {}
    with pytest.raises(TypeError, match="rng"):
        draw_programming((3, 4), cfg, 7)
    with pytest.raises(ValueError, match="xi_prog"):
        program_conductances(np.ones((3, 4)) * 1e-6, {}, cfg, g_min_S=0.0, g_max_S=G_MAX_S)
    with pytest.raises(ValueError, match="xi: received shape .*; expected shape"):
        add_programming_noise_S(np.ones((3, 4)), np.ones((3, 4)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="g_target_S: received shape .*; expected a 2-D"):
        program_conductances(np.ones(3), {}, NoiseConfig(), g_min_S=0.0, g_max_S=G_MAX_S)
