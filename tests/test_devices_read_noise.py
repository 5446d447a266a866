"""Read noise: per-cell statistics, PCM 1/f model, output-referred equivalence."""

import math

import numpy as np
import pytest
from scipy import stats

from refsim.devices import (NoiseConfig, apply_read_noise_per_cell_S, draw_read_noise,
                            output_referred_is_exact, output_referred_read_noise_A,
                            pcm_read_q_s, pcm_read_sigma_S, read_noise_clips,
                            read_noise_sigma_S, resolve_read_sampling)
from tolerances import KS_P_MIN, KS_P_WRONG, N_SIGMA, RTOL_EXACT

G_MAX_S = 25e-6
T_READ_S = 250e-9


def assert_standard_normal(z):
    n = z.size
    assert abs(z.mean()) < N_SIGMA / math.sqrt(n), z.mean()
    assert abs(z.std(ddof=1) - 1.0) < N_SIGMA / math.sqrt(2 * (n - 1)), z.std(ddof=1)


GAUSSIAN_CASES = [
    ("independent", lambda g: 0.02 * G_MAX_S * np.ones_like(g)),
    ("proportional", lambda g: 0.02 * g),
    ("sqrt_state", lambda g: 0.02 * np.sqrt(g * G_MAX_S)),
]


@pytest.mark.parametrize("model, sigma_of", GAUSSIAN_CASES)
def test_gaussian_read_models_per_cell_statistics(model, sigma_of):
    rng = np.random.default_rng(20)
    g = rng.uniform(2e-6, G_MAX_S, (20, 10))
    cfg = NoiseConfig(read_model=model, read_sigma_rel=0.02)
    sigma = read_noise_sigma_S(g, cfg, g_max_S=G_MAX_S)
    np.testing.assert_allclose(sigma, sigma_of(g), rtol=RTOL_EXACT)
    draws = draw_read_noise(200, g.shape, cfg, rng, sampling="per_cell")
    g_noisy = apply_read_noise_per_cell_S(g, sigma, draws["xi_read"],
                                          clip_nonnegative=read_noise_clips(cfg))
    assert g_noisy.shape == (200, 20, 10)
    assert_standard_normal((g_noisy - g) / sigma_of(g))  # 40 000 draws


def test_pcm_q_s_three_regimes():
    g_rel = np.array([1.0, 0.5, 1e-3, 0.0])
    q = pcm_read_q_s(g_rel * G_MAX_S, g_max_S=G_MAX_S)
    q_ref = np.minimum(0.0088 / np.maximum(g_rel**0.65, 1e-3), 0.2)
    np.testing.assert_allclose(q, q_ref, rtol=RTOL_EXACT)
    assert q[0] == 0.0088 and q[2] == 0.2 and q[3] == 0.2
    assert 0.0088 < q[1] < 0.2


def test_pcm_read_sigma_uses_prog_for_q_and_drift_for_amplitude():
    g_prog = np.array([[20e-6, 1e-6]])
    g_drift = np.array([[15e-6, 0.6e-6]])
    t = 3600.0 + 20.0
    sigma = pcm_read_sigma_S(g_drift, g_prog, g_max_S=G_MAX_S, t_s=t)
    q = np.minimum(0.0088 / np.maximum((g_prog / G_MAX_S) ** 0.65, 1e-3), 0.2)
    expected = g_drift * q * math.sqrt(math.log((t + T_READ_S) / (2 * T_READ_S)))
    np.testing.assert_allclose(sigma, expected, rtol=RTOL_EXACT)
    cfg = NoiseConfig(read_model="pcm_rasch2023", t_inference_s=3600.0, pcm_read_noise_scale=2.0)
    np.testing.assert_allclose(read_noise_sigma_S(g_drift, cfg, g_max_S=G_MAX_S, g_prog_S=g_prog),
                               2.0 * expected, rtol=RTOL_EXACT)
    with pytest.raises(ValueError, match="t_s"):
        pcm_read_sigma_S(g_drift, g_prog, g_max_S=G_MAX_S, t_s=T_READ_S)


def test_pcm_read_noise_statistics_and_clip():
    rng = np.random.default_rng(21)
    cfg = NoiseConfig(read_model="pcm_rasch2023")   # t = t0 = 20 s
    log_term = math.sqrt(math.log((20.0 + T_READ_S) / (2 * T_READ_S)))
    # near g_max: relative sigma 0.0088 * 4.18 ~ 3.7 %: clipping impossible, Gaussian
    g_hi = np.full((10, 10), G_MAX_S)
    sig = read_noise_sigma_S(g_hi, cfg, g_max_S=G_MAX_S)
    xi = draw_read_noise(400, g_hi.shape, cfg, rng, sampling="per_cell")["xi_read"]
    g_noisy = apply_read_noise_per_cell_S(g_hi, sig, xi, clip_nonnegative=True)
    assert_standard_normal((g_noisy - G_MAX_S) / (G_MAX_S * 0.0088 * log_term))
    # tiny g: Q_s = 0.2, relative sigma 0.2 * 4.18: P(clip) = Phi(-1 / (0.2 * log_term))
    g_lo = np.full((10, 10), 0.001 * G_MAX_S)
    sig = read_noise_sigma_S(g_lo, cfg, g_max_S=G_MAX_S)
    g_noisy = apply_read_noise_per_cell_S(g_lo, sig, xi, clip_nonnegative=True)
    p = stats.norm.cdf(-1.0 / (0.2 * log_term))
    n = g_noisy.size
    assert g_noisy.min() == 0.0
    assert abs(np.mean(g_noisy == 0) - p) < N_SIGMA * math.sqrt(p * (1 - p) / n)


def _per_cell_and_output_referred(cfg, g, v, n, seed):
    """n noise samples of the output current, by the two forms (same v every time)."""
    rng = np.random.default_rng(seed)
    sigma = read_noise_sigma_S(g, cfg, g_max_S=G_MAX_S)
    v_b = np.broadcast_to(v, (n, v.size))
    xi = draw_read_noise(n, g.shape, cfg, rng, sampling="per_cell")["xi_read"]
    g_noisy = apply_read_noise_per_cell_S(g, sigma, xi, clip_nonnegative=read_noise_clips(cfg))
    per_cell = np.einsum("bi,bij->bj", v_b, g_noisy) - v_b @ g          # (n, cols)
    xi_out = rng.standard_normal((n, g.shape[1]))
    out_ref = output_referred_read_noise_A(v_b, sigma, xi_out)             # (n, cols)
    return per_cell, out_ref, np.sqrt((v**2) @ sigma**2)


@pytest.mark.parametrize("model", [m for m, _ in GAUSSIAN_CASES])
def test_output_referred_equals_per_cell_in_distribution(model):
    cfg = NoiseConfig(read_model=model, read_sigma_rel=0.05)
    assert output_referred_is_exact(cfg, wire_resistance=False)
    rng = np.random.default_rng(22)
    g = rng.uniform(0.0, G_MAX_S, (16, 3))
    v = rng.uniform(-0.2, 0.2, 16)
    n = 20000
    per_cell, out_ref, std_A = _per_cell_and_output_referred(cfg, g, v, n, seed=23)
    for j in range(g.shape[1]):
        a, b, s = per_cell[:, j], out_ref[:, j], std_A[j]
        for x in (a, b):  # both zero-mean with the analytic variance
            assert abs(x.mean()) < N_SIGMA * s / math.sqrt(n)
            assert abs(x.var(ddof=1) / s**2 - 1) < N_SIGMA * math.sqrt(2 / (n - 1))
        assert stats.ks_2samp(a, b).pvalue > KS_P_MIN
        assert stats.kstest(a / s, "norm").pvalue > KS_P_MIN
    # the per-cell columns are independent, as the output-referred ones are
    r = np.corrcoef(per_cell.T)[0, 1]
    assert abs(r) < N_SIGMA / math.sqrt(n)


def test_output_referred_is_not_exact_for_clipped_pcm():
    cfg = NoiseConfig(read_model="pcm_rasch2023")
    assert not output_referred_is_exact(cfg, wire_resistance=False)
    g = np.full((16, 2), 0.005 * G_MAX_S)   # Q_s = 0.2: ~12 % of draws clip
    v = np.full(16, 0.2)
    per_cell, out_ref, _ = _per_cell_and_output_referred(cfg, g, v, 20000, seed=24)
    # the clip shifts the mean upwards: the Gaussian shortcut would be wrong
    assert stats.ks_2samp(per_cell[:, 0], out_ref[:, 0]).pvalue < KS_P_WRONG
    assert per_cell[:, 0].mean() > 0


def test_predicate_and_sampling_resolution():
    gauss = NoiseConfig(read_model="independent", read_sigma_rel=0.01)
    pcm = NoiseConfig(read_model="pcm_rasch2023")
    assert output_referred_is_exact(NoiseConfig(), wire_resistance=True)
    assert not output_referred_is_exact(gauss, wire_resistance=True)
    assert resolve_read_sampling(gauss, wire_resistance=False) == "output_referred"
    assert resolve_read_sampling(gauss, wire_resistance=True) == "per_cell"
    assert resolve_read_sampling(pcm, wire_resistance=False) == "per_cell"
    assert resolve_read_sampling(NoiseConfig(), wire_resistance=True) == "none"
    per_cell = NoiseConfig(read_model="independent", read_sigma_rel=0.01, read_sampling="per_cell")
    assert resolve_read_sampling(per_cell, wire_resistance=False) == "per_cell"
    forced = NoiseConfig(read_model="independent", read_sigma_rel=0.01,
                         read_sampling="output_referred")
    assert resolve_read_sampling(forced, wire_resistance=False) == "output_referred"
    with pytest.raises(ValueError, match="read_sampling"):
        resolve_read_sampling(forced, wire_resistance=True)
    with pytest.raises(TypeError, match="wire_resistance"):
        output_referred_is_exact(gauss, wire_resistance=0)


def test_zero_sigma_is_identity_and_draw_shapes():
    g = np.random.default_rng(25).uniform(0, G_MAX_S, (4, 5))
    xi = np.random.default_rng(26).standard_normal((3, 4, 5))
    out = apply_read_noise_per_cell_S(g, np.zeros_like(g), xi, clip_nonnegative=False)
    np.testing.assert_array_equal(out, np.broadcast_to(g, (3, 4, 5)))
    v = np.ones((3, 4))
    np.testing.assert_array_equal(output_referred_read_noise_A(v, np.zeros_like(g),
                                                               np.ones((3, 5))), np.zeros((3, 5)))
    cfg = NoiseConfig(read_model="independent", read_sigma_rel=0.01)
    rng = np.random.default_rng(27)
    assert draw_read_noise(3, (4, 5), cfg, rng, sampling="output_referred")["xi_read_out"].shape \
        == (3, 5)
    assert draw_read_noise(3, (4, 5), NoiseConfig(), rng, sampling="per_cell") == {}
    with pytest.raises(ValueError, match="xi: received shape .*; expected shape"):
        apply_read_noise_per_cell_S(g, g, np.ones((4, 5)), clip_nonnegative=False)
    with pytest.raises(ValueError, match="sigma_S: received shape .*; expected 4 rows"):
        output_referred_read_noise_A(v, np.ones((5, 5)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="sampling"):
        draw_read_noise(3, (4, 5), cfg, rng, sampling="exact")


def test_output_referred_std_from_codes_equals_the_voltage_form():
    """The crossbar's form (codes, summed variance, no validation) against (R5) in volts."""
    from refsim.devices import output_referred_std_A

    rng = np.random.default_rng(7)
    codes = np.rint(rng.normal(size=(5, 40)) * 40).clip(-127, 127)
    var = rng.uniform(0, 1e-12, size=(40, 6))
    xi = rng.normal(size=(5, 6))
    got = output_referred_std_A(codes, 127, 0.2, var) * xi
    ref = output_referred_read_noise_A(codes * (0.2 / 127), np.sqrt(var), xi)
    assert np.all(np.abs(got - ref) <= RTOL_EXACT * np.abs(ref).max())


def test_output_referred_std_with_extra_variance():
    """``output_referred_std_A(..., extra_var=e)`` = v_read / c_max sqrt(sum_i c_i^2 sigma_ij^2 + e), written
    out per output (the joint sigma of R5 and an independent output noise); e = 0 is the plain (R5)."""
    from refsim.devices.read_noise import output_referred_std_A

    rng = np.random.default_rng(4)
    codes, var = rng.integers(-127, 128, size=(3, 20)).astype(np.float64), rng.random((20, 4)) * 1e-12
    for e in (0.0, 3e-9):
        got = output_referred_std_A(codes, 127.0, 0.2, var, extra_var=e)
        expect = [[0.2 / 127.0 * math.sqrt(sum(codes[b, i] ** 2 * var[i, j] for i in range(20)) + e)
                   for j in range(4)] for b in range(3)]
        np.testing.assert_allclose(got, expect, rtol=1e-12, atol=0)
    assert np.all(output_referred_std_A(codes, 127.0, 0.2, var, extra_var=3e-9)
                  > output_referred_std_A(codes, 127.0, 0.2, var) * 1.01)
