"""CrossSim's conventions as refsim options (docs/MODEL.md D5, D6, A4, A5, W7, M3, tiling), each
default off: the fast path and the reference multiply against the exact integer oracle
(refsim.oracles.crossbar.integer_oracle), and the level grids and splits written out by hand."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import refsim
from checks import check_against_oracle
from refsim.oracles.crossbar import tile_ranges_naive
from refsim.tiling import split_sizes
from strategies import DYADIC, crosssim_convention_problems, noisy_problems
from test_reference import check, reference_against_oracle

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(crosssim_convention_problems())
def test_crosssim_conventions_equal_the_integer_oracle(problem):
    check_against_oracle(*problem)


@SETTINGS
@given(crosssim_convention_problems())
def test_crosssim_conventions_reference_equals_oracle_and_fast_path(problem):
    reference_against_oracle(*problem)
    check(*problem)


def test_defaults_are_refsim_exact():
    cfg = refsim.CrossbarConfig()
    assert (cfg.dac.levels, cfg.adc.levels, cfg.dac.slice_scale, cfg.weight.slice_scale, cfg.adc.max_span,
            cfg.mapping.g_round) == ("sign_magnitude", "sign_magnitude", "own", "own", "read", "none")


def test_midrise_dac_levels_written_out():
    """3 bits: 8 levels -7, -5, .., 7 (over 7), zero not a level; x = 0 rounds half to even index 4 -> +1."""
    cfg = refsim.presets.get("ideal").replace(**DYADIC, **{"dac.bits": 3, "dac.levels": "midrise",
                                                           "dac.range_mode": "fixed", "dac.x_max": 1.0})
    assert cfg.dac.code_max == 7 and cfg.dac.code_range == (-7, 7)
    x = np.array([[-1.0, -0.5, 0.0, 0.3, 1.0, 2.0]])
    tr = refsim.Crossbar(np.ones((6, 1)), cfg).trace(x)
    # index j = round((x * 7 + 7) / 2): 0, 1.75 -> 2, 3.5 -> 4, 4.55 -> 5, 7, clip 7; code 2j - 7
    np.testing.assert_array_equal(tr.tiles[0].dac_codes, [[-7, -3, 1, 3, 7, 7]])


def test_midrise_adc_levels_written_out():
    cfg = refsim.presets.get("ideal").replace(**{
        **DYADIC, "weight.bits": 8, "dac.bits": 8, "adc.bits": 2, "adc.levels": "midrise", "adc.range_mode": "fixed",
        "adc.range_A": 2.0**-18, "mapping.g_min_S": 0.0})
    assert cfg.adc.n_levels == 3 and cfg.adc.code_range == (-3, 3)
    rng = np.random.default_rng(3)
    w, x = rng.normal(size=(5, 4)), rng.normal(size=(7, 5))
    tr = refsim.Crossbar(w, cfg).trace(x)
    codes = np.concatenate([c.ravel() for c in tr.adc_codes().values()])
    assert set(np.unique(codes)) <= {-3, -1, 1, 3}
    check_against_oracle(cfg, w, x)


def test_uniform_weight_slice_scale():
    """8-bit one-sided weights in 2 slices of 4 bits: the top slice (levels 0..7) is read on L = 15 (W7)."""
    base = refsim.presets.get("ideal").replace(**DYADIC, **{"weight.bits": 8, "weight.n_slices": 2})
    levels = refsim.program.weight_levels(np.array([[1.0, -0.5]]), base.replace(**{"weight.slice_scale": "uniform"}))
    assert [sl[2] for sl in levels.devices["pos"]] == [15, 15]
    assert [sl[2] for sl in refsim.program.weight_levels(np.array([[1.0]]), base).devices["pos"]] == [15, 7]
    with pytest.raises(ValueError, match="slice_scale='uniform'"):
        base.replace(**{"weight.bits_per_slice": 2, "weight.slice_scale": "uniform"})


@pytest.mark.parametrize("n, n_max, mode, sizes", [
    (10, 4, "crosssim_max", [4, 4, 2]), (12, 5, "crosssim_max", [4, 4, 4]), (8, 6, "crosssim_max", [4, 4]),
    (10, 3, "crosssim_equal", [2, 2, 2, 4]), (7, 4, "crosssim_equal", [4, 3]), (9, 5, "crosssim_equal", [4, 5]),
    (11, 4, "crosssim_equal", [4, 4, 3]), (12, 5, "crosssim_equal", [4, 4, 4]), (3, 4, "crosssim_equal", [3]),
])
def test_crosssim_partitions(n, n_max, mode, sizes):
    assert split_sizes(n, n_max, mode) == sizes
    assert [b - a for a, b in tile_ranges_naive(n, n_max, mode)] == sizes


def test_float32_pair_difference_rounds_ties_half_even():
    """(M4): fl32(G+/G_max) - fl32(G-/G_max) lies exactly half-way between two float32 here (a value met in the
    CrossSim case balanced_one_sided_ideal); it is rounded half to even from the exact float64 difference, as
    CrossSim's float32 subtraction does, not from (G+ - G-)/G_max of the scaled values (one ulp off)."""
    m = refsim.presets.get("ideal").replace(**{"mapping.g_round": "float32_pair", "mapping.g_min_S": 1e-4,
                                               "mapping.g_max_S": 1e-3}).mapping
    plus, minus = np.float32(0.2572791278362274), np.float32(0.1)
    g_plus, g_minus = np.array([float(plus) * 1e-3]), np.array([float(minus) * 1e-3])
    want = float(plus - minus)  # float32 arithmetic: correctly rounded, half to even
    got = refsim.mapping.round_pair_float32(g_plus, g_minus, m)[0] / 1e-3
    assert np.float32(got) == plus - minus and abs(got - want) <= 1e-16 * want
    naive = float(np.float32((g_plus[0] - g_minus[0]) / 1e-3))
    assert naive != want  # the scaled difference lands on the other side of the tie


def test_float32_conductances():
    cfg = refsim.presets.get("ideal").replace(**{"mapping.g_round": "float32"})
    w = np.random.default_rng(0).normal(size=(6, 3))
    g = refsim.Crossbar(w, cfg).conductances()["t0.s0.pos.target"]
    g_norm = g / cfg.mapping.g_max_S
    np.testing.assert_allclose(g_norm, g_norm.astype(np.float32).astype(np.float64), rtol=1e-15, atol=0)
    exact = refsim.Crossbar(w, refsim.presets.get("ideal")).conductances()["t0.s0.pos.target"]
    assert 0 < np.max(np.abs(g - exact)) / cfg.mapping.g_max_S < 1e-7


def test_one_bit_midrise_converters():
    """A 1-bit midrise DAC and ADC have the two levels -1 and +1 (of full scale), as CrossSim's 1-bit quantizers."""
    cfg = refsim.presets.get("ideal").replace(**{
        **DYADIC, "weight.bits": 4, "dac.bits": 1, "dac.levels": "midrise", "adc.bits": 1, "adc.levels": "midrise",
        "adc.range_mode": "fixed", "adc.range_A": 2.0**-17})
    assert cfg.dac.code_range == (-1, 1) and cfg.adc.code_range == (-1, 1)
    rng = np.random.default_rng(5)
    w, x = rng.normal(size=(4, 3)), rng.normal(size=(3, 4))
    tr = refsim.Crossbar(w, cfg).trace(x)
    assert set(np.unique(tr.tiles[0].dac_codes)) <= {-1.0, 1.0}
    check_against_oracle(cfg, w, x)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noisy_problems(), st.sampled_from(("nonnegative", "range")))
def test_clipped_read_noise_fast_path_equals_reference(problem, read_clip):
    """(R6) with replayed draws: the crossbar's per-cell read noise, clipped, equals the reference multiply's."""
    cfg, w, x = problem
    if cfg.device.read_model not in ("independent", "proportional", "sqrt_state") or not cfg.device.has_read_noise():
        cfg = cfg.replace(**{"device.read_model": "independent", "device.read_sigma_rel": 0.05})
    cfg = cfg.replace(**{"device.read_clip": read_clip, "device.read_sampling": "auto"})
    assert refsim.Crossbar(w, cfg, rng=np.random.default_rng(0)).read_sampling == "per_cell"
    check(cfg, w, x)


def test_read_clip_written_out():
    """(R6) the clipped noisy cells, by hand: G in [g_min, g_max] ("range") or >= 0 ("nonnegative")."""
    from refsim.devices import apply_read_noise_per_cell_S, read_noise_bounds
    cfg = refsim.presets.get("ideal").replace(**{"device.read_model": "independent", "device.read_sigma_rel": 0.5,
                                                 "device.read_clip": "range"})
    lo, hi = read_noise_bounds(cfg.device, cfg.mapping.g_min_S, cfg.mapping.g_max_S)
    assert (lo, hi) == (cfg.mapping.g_min_S, cfg.mapping.g_max_S)
    g = np.array([[cfg.mapping.g_min_S, cfg.mapping.g_max_S]])
    xi = np.array([[[-3.0, 3.0]], [[3.0, -3.0]]])
    out = apply_read_noise_per_cell_S(g, np.full_like(g, 0.5 * cfg.mapping.g_max_S), xi, clip_nonnegative=True,
                                      bounds=(lo, hi))
    np.testing.assert_array_equal(out[0], [[lo, hi]])
    np.testing.assert_allclose(out[1], [[hi, lo]])  # g_min + 1.5 g_max clips to g_max, g_max - 1.5 g_max to g_min
    with pytest.raises(ValueError, match="read_clip"):
        cfg.replace(**{"device.read_sampling": "output_referred"})
