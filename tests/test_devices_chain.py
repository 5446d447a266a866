"""The device steps chained in pipeline order: ideal is exact, seeds reproduce."""

import numpy as np

from refsim.devices import (NoiseConfig, add_output_noise_A, apply_ir_drop_rasch2023_A,
                            apply_read_noise_per_cell_S, clip_column_current_A, draw_drift,
                            draw_output_noise, draw_programming, draw_read_noise,
                            drift_conductance_S, drift_nu, output_noise_sigma_A,
                            output_referred_read_noise_A, pcm_rasch2023_noise,
                            program_conductances, read_noise_clips, read_noise_sigma_S,
                            resolve_read_sampling)

G_MIN_S, G_MAX_S, V_READ_V = 1e-6, 25e-6, 0.2


def chain(cfg, g_target, v, seed):
    """Naive orchestration of every device step, one independent stream per source."""
    s_prog, s_drift, s_read, s_out = (np.random.default_rng(s)
                                      for s in np.random.SeedSequence(seed).spawn(4))
    prog = program_conductances(g_target, draw_programming(g_target.shape, cfg, s_prog), cfg,
                                g_min_S=G_MIN_S, g_max_S=G_MAX_S)
    nu = drift_nu(g_target, draw_drift(g_target.shape, cfg, s_drift), cfg, g_max_S=G_MAX_S)
    g_t = drift_conductance_S(prog["g_prog_S"], nu, t_inference_s=cfg.t_inference_s,
                              t0_s=cfg.t0_s)
    sampling = resolve_read_sampling(cfg, wire_resistance=False)
    draws = draw_read_noise(v.shape[0], g_t.shape, cfg, s_read, sampling=sampling)
    sigma = read_noise_sigma_S(g_t, cfg, g_max_S=G_MAX_S, g_prog_S=prog["g_prog_S"])
    if sampling == "per_cell":
        g_noisy = apply_read_noise_per_cell_S(g_t, sigma, draws["xi_read"],
                                              clip_nonnegative=read_noise_clips(cfg))
        i = np.einsum("bi,bij->bj", v, g_noisy)
    else:
        i = v @ g_t
        if sampling == "output_referred":
            i = i + output_referred_read_noise_A(v, sigma, draws["xi_read_out"])
    i = apply_ir_drop_rasch2023_A(i, v, g_t, scale=cfg.ir_drop_scale, g_ratio=cfg.ir_drop_g_ratio,
                                  g_max_S=G_MAX_S, v_ref_V=V_READ_V)
    out_draws = draw_output_noise(i.shape, cfg, s_out)
    if out_draws:
        sigma_out = output_noise_sigma_A(cfg.out_noise_rel, G_MAX_S * V_READ_V)
        i = add_output_noise_A(i, out_draws["xi_out"], sigma_A=sigma_out)
    return clip_column_current_A(i, cfg.i_col_max_A)


def _problem():
    rng = np.random.default_rng(40)
    return rng.uniform(G_MIN_S, G_MAX_S, (32, 6)), rng.uniform(-V_READ_V, V_READ_V, (5, 32))


def test_ideal_chain_equals_exact_matmul():
    g, v = _problem()
    np.testing.assert_array_equal(chain(NoiseConfig(), g, v, seed=1), v @ g)


def test_noisy_chain_reproducible_and_seed_dependent():
    g, v = _problem()
    cfg = pcm_rasch2023_noise(3600.0)
    cfg_gauss = NoiseConfig(prog_model="independent", prog_sigma_rel=0.02,
                            read_model="proportional", read_sigma_rel=0.01, stuck_gmin_frac=0.01,
                            ir_drop_scale=1.0, out_noise_rel=0.01, i_col_max_A=1e-4)
    for c in (cfg, cfg_gauss):
        a, b = chain(c, g, v, seed=5), chain(c, g, v, seed=5)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, chain(c, g, v, seed=6))
        assert not np.array_equal(a, v @ g)
