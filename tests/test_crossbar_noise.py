"""Device noise inside the Crossbar: streams, reproducibility, replay, and statistics.

Oracles: the noise-free crossbar (exact equality when every sigma is 0), the device
functions' formulas (means/variances within stated sigma bounds at fixed seeds), and
the crossbar itself under re-seeding/replay (bit-for-bit equality).
"""

import numpy as np
import pytest

import refsim

N_IN, N_OUT, BATCH = 24, 6, 10
#: bound on a standardized statistic at a fixed seed (|z| <= 5 is a 5-sigma bound)
Z_BOUND = 5.0


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N_IN, N_OUT)), rng.normal(size=(BATCH, N_IN))


def _noisy(base="int8", **extra):
    fields = {
        "device.prog_model": "proportional", "device.prog_sigma_rel": 0.05,
        "device.read_model": "independent", "device.read_sigma_rel": 0.02,
        "device.out_noise_rel": 0.01, "device.stuck_gmin_frac": 0.05,
    }
    fields.update(extra)
    return refsim.presets.get(base).replace(**fields)


@pytest.mark.parametrize("sampling", ["output_referred", "per_cell"])
def test_same_seed_same_bits_whatever_the_batch_split(sampling):
    w, x = _data()
    cfg = _noisy(**{"device.read_sampling": sampling, "array.rows_max": 10})
    whole = refsim.Crossbar(w, cfg, rng=np.random.default_rng(7)).matvec(x)
    xb = refsim.Crossbar(w, cfg, rng=np.random.default_rng(7))
    parts = np.concatenate([xb.matvec(x[:3]), xb.matvec(x[3:4]), xb.matvec(x[4:])])
    np.testing.assert_array_equal(whole, parts)
    other = refsim.Crossbar(w, cfg, rng=np.random.default_rng(8)).matvec(x)
    assert not np.array_equal(whole, other)


def test_successive_multiplies_draw_fresh_read_noise():
    w, x = _data()
    xb = refsim.Crossbar(w, _noisy(), rng=np.random.default_rng(1))
    assert not np.array_equal(xb.matvec(x), xb.matvec(x))


@pytest.mark.parametrize("sampling", ["output_referred", "per_cell"])
def test_replay_is_bit_exact(sampling):
    w, x = _data()
    cfg = _noisy(**{"device.read_sampling": sampling, "dac.slice_bits": 3, "array.cols_max": 4})
    xb = refsim.Crossbar(w, cfg, rng=np.random.default_rng(3))
    tr = xb.trace(x)
    assert tr.read_sampling == sampling
    # per-multiply draws replayed on the same crossbar
    np.testing.assert_array_equal(xb.matvec(x, draws=tr.draws), tr.y)
    # programming draws replayed on a new crossbar built without any generator
    xb2 = refsim.Crossbar(w, cfg, draws=tr.draws)
    np.testing.assert_array_equal(xb2.matvec(x, draws=tr.draws), tr.y)
    for key, g in tr.conductances_S.items():
        assert key in xb2.trace(x, draws=tr.draws).conductances_S
        np.testing.assert_array_equal(xb2.trace(x, draws=tr.draws).conductances_S[key], g)


def test_replay_rejects_missing_or_misshaped_draws():
    w, x = _data()
    xb = refsim.Crossbar(w, _noisy(), rng=np.random.default_rng(3))
    tr = xb.trace(x)
    with pytest.raises(ValueError, match="draws"):
        xb.matvec(x, draws={})
    bad = dict(tr.draws)
    key = next(k for k in bad if k.endswith(".read_out"))
    bad[key] = bad[key][:2]
    with pytest.raises(ValueError, match="expected shape"):
        xb.matvec(x, draws=bad)


def test_zero_sigmas_give_the_noise_free_result_exactly():
    w, x = _data()
    zero = _noisy(**{"device.prog_sigma_rel": 0.0, "device.read_sigma_rel": 0.0,
                     "device.out_noise_rel": 0.0, "device.stuck_gmin_frac": 0.0})
    y0 = refsim.Crossbar(w, refsim.presets.get("int8")).matvec(x)
    np.testing.assert_array_equal(refsim.Crossbar(w, zero, rng=np.random.default_rng(0)).matvec(x), y0)


def test_noisy_config_without_rng_is_refused():
    w, _ = _data()
    with pytest.raises(ValueError, match="rng"):
        refsim.Crossbar(w, _noisy())


def test_stream_independence_of_evaluation_order():
    """Tiles are programmed and read from streams keyed by position, not by creation order: tile 0
    of a matrix split into 2 column tiles draws exactly what tile 0 of its first column block
    alone (1 column tile, same rows and columns) draws."""
    w, x = _data()
    half = N_OUT // 2
    cfg = _noisy(**{"array.cols_max": half})
    tr_two = refsim.Crossbar(w, cfg, rng=np.random.default_rng(5)).trace(x)
    tr_one = refsim.Crossbar(w[:, :half], cfg, rng=np.random.default_rng(5)).trace(x)
    assert {t.c0 for t in tr_two.tiles} == {0, half} and {t.c0 for t in tr_one.tiles} == {0}
    tile0 = sorted(k for k in tr_two.draws if k.startswith("t0."))
    assert tile0 and tile0 == sorted(tr_one.draws)
    for k in tile0:
        np.testing.assert_array_equal(tr_two.draws[k], tr_one.draws[k])
    assert not np.array_equal(tr_two.draws["t0.s0.pos.xi_prog"], tr_two.draws["t1.s0.pos.xi_prog"])


def test_read_noise_statistics_match_the_formula():
    """Ideal pipeline + state-independent read noise: y - x@W is Gaussian with
    std = sigma_rel * g_max * v * sqrt(sum_i d_i^2 * 2) / i_unit * scale, from the formula."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 1))
    x = rng.normal(size=(1, 16))
    sigma_rel = 0.01
    for sampling in ("output_referred", "per_cell"):
        cfg = refsim.presets.get("ideal").replace(**{
            "device.read_model": "independent", "device.read_sigma_rel": sigma_rel,
            "device.read_sampling": sampling})
        xb = refsim.Crossbar(w, cfg, rng=np.random.default_rng(11))
        n = 4000
        ys = xb.matvec(np.repeat(x, n, axis=0))[:, 0]
        m = cfg.mapping
        x_max = np.abs(x).max()
        d = x[0] / x_max
        # each of G+ and G- has sigma = sigma_rel * g_max; net current noise std in weight units:
        std = sigma_rel * m.g_max_S * np.sqrt(2 * np.sum(d**2)) / (m.g_max_S - m.g_min_S) * x_max * np.abs(w).max()
        mean_err = (ys.mean() - (x @ w)[0, 0]) / (std / np.sqrt(n))
        sd_err = (ys.std(ddof=1) - std) / (std / np.sqrt(2 * (n - 1)))
        assert abs(mean_err) < Z_BOUND, (sampling, mean_err)
        assert abs(sd_err) < Z_BOUND, (sampling, sd_err)


def test_drift_is_monotone_in_time_and_compensation_restores_the_mean():
    w, x = _data(2)
    w = np.abs(w)  # positive outputs make "the mean output" meaningful
    x = np.abs(x)
    ideal = x @ w
    means = []
    for t in (0.0, 3600.0, 86400.0, 3.15e7):
        cfg = refsim.presets.get("ideal").replace(**{"device.drift_model": "pcm_rasch2023",
                                                     "device.t_inference_s": t})
        means.append(refsim.Crossbar(w, cfg, rng=np.random.default_rng(4)).matvec(x).mean())
    assert means[0] == pytest.approx(ideal.mean(), rel=1e-12)
    assert all(a > b for a, b in zip(means, means[1:]))
    comp = refsim.presets.get("ideal").replace(**{"device.drift_model": "pcm_rasch2023",
                                                  "device.t_inference_s": 3.15e7,
                                                  "device.drift_compensation": True})
    xb = refsim.Crossbar(w, comp, rng=np.random.default_rng(4))
    assert xb.tiles[0].drift_scale > 1.0
    assert xb.matvec(x).mean() == pytest.approx(ideal.mean(), rel=0.05)
    assert abs(means[-1] - ideal.mean()) / ideal.mean() > 0.2


def test_stuck_at_fraction_in_programmed_conductances():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(200, 100))
    cfg = refsim.presets.get("ideal").replace(**{"device.stuck_gmax_frac": 0.1})
    xb = refsim.Crossbar(w, cfg, rng=np.random.default_rng(1))
    g = xb.conductances()["t0.s0.pos.programmed"]
    frac = np.mean(g == cfg.mapping.g_max_S)
    # binomial: targets at g_max themselves are rare (only the max weight)
    n = g.size
    assert abs(frac - 0.1) < Z_BOUND * np.sqrt(0.1 * 0.9 / n) + 1.0 / n


def test_output_noise_and_current_limit_reach_the_trace():
    w, x = _data()
    cfg = refsim.presets.get("int8").replace(**{"device.i_col_max_A": 1e-7})
    tr = refsim.Crossbar(w, cfg).trace(x)
    assert max(np.abs(r.current_A).max() for t in tr.tiles for r in t.reads) <= 1e-7
    cfg2 = refsim.presets.get("int8").replace(**{"device.out_noise_rel": 0.05})
    tr2 = refsim.Crossbar(w, cfg2, rng=np.random.default_rng(0)).trace(x)
    assert any(k.endswith(".out") for k in tr2.draws)


def test_aihwkit_noise_managed_runs_reproducibly():
    w, x = _data()
    cfg = refsim.presets.get("aihwkit_noise_managed").replace(**{"device.t_inference_s": 3600.0})
    a = refsim.Crossbar(w, cfg, rng=np.random.default_rng(0)).matvec(x)
    b = refsim.Crossbar(w, cfg, rng=np.random.default_rng(0)).matvec(x)
    np.testing.assert_array_equal(a, b)
    rel = np.linalg.norm(a - x @ w) / np.linalg.norm(x @ w)
    assert 0.0 < rel < 1.0


@pytest.mark.parametrize("preset", ["int8", "bitserial_int8", "int8_bounded"])
def test_large_batches_run_in_blocks_with_the_same_bits(preset):
    """matvec runs big batches in blocks of BATCH_CHUNK vectors; the result (and every noise
    draw) is the same as one block: compare with trace (never blocked) and with replay."""
    from refsim.crossbar import BATCH_CHUNK

    rng = np.random.default_rng(5)
    w = rng.normal(size=(20, 6))
    x = rng.normal(size=(2 * BATCH_CHUNK + 37, 20))
    cfg = refsim.presets.get(preset).replace(**{"device.read_model": "independent", "device.read_sigma_rel": 0.01,
                                                "device.out_noise_rel": 0.01, "array.rows_max": 12})
    a = refsim.Crossbar(w, cfg, rng=np.random.default_rng(2))
    b = refsim.Crossbar(w, cfg, rng=np.random.default_rng(2))
    blocked = a.matvec(x)
    tr = b.trace(x)
    np.testing.assert_array_equal(blocked, tr.y)
    np.testing.assert_array_equal(b.matvec(x, draws=tr.draws), tr.y)


def test_ir_drop_heuristic_in_the_crossbar_matches_the_device_function():
    """The crossbar subtracts the [R23] IR-drop correction, computed from the read's signed
    G+ - G- and the row voltages, from every read current (oracle: the device function)."""
    from refsim.devices import ir_drop_rasch2023_delta_A

    w, x = _data()
    cfg = refsim.presets.get("ideal").replace(**{"device.ir_drop_scale": 2.0})
    tr = refsim.Crossbar(w, cfg).trace(x)
    d = cfg.device
    g_net = tr.conductances_S["t0.s0.pos"] - tr.conductances_S["t0.s0.neg"]
    v = tr.tiles[0].voltages_V["all"]
    expected = v @ g_net - ir_drop_rasch2023_delta_A(v, g_net, scale=d.ir_drop_scale, g_ratio=d.ir_drop_g_ratio,
                                                     g_max_S=cfg.mapping.g_max_S, v_ref_V=cfg.dac.v_read_V)
    np.testing.assert_allclose(tr.tiles[0].reads[0].current_A, expected, rtol=1e-12, atol=1e-20)
    assert not np.allclose(tr.y, x @ w, rtol=1e-6)  # the heuristic changes the output
