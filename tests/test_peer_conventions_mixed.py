"""The two peers' conventions together: every combination of CrossSim's options (D5, D6, A4, A5, W7,
M3, M4, R6, the ``crosssim_*`` splits) and aihwkit's (D7, D8, A9, X9, ``full_scale_code``, bound
management) is either computed alike by the fast path and the reference multiply (and, without
bound management, by the exact integer oracle), or refused when the config is built, naming the
field (docs/MODEL.md, "Peer conventions together")."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import refsim
from checks import check_against_oracle
from refsim.config import ADCConfig, DACConfig
from refsim.devices.config import NoiseConfig
from refsim.health import DeadCrossbarWarning
from refsim.reference import reference_multiply
from strategies import DYADIC, mixed_peer_convention_problems
from test_reference import check

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():  # tiny drawn problems are often "dead" crossbars: not the point here
        warnings.simplefilter("ignore", DeadCrossbarWarning)
        yield


@SETTINGS
@given(mixed_peer_convention_problems())
def test_mixed_conventions_fast_path_equals_reference(problem):
    cfg, w, x = problem
    check(cfg, w, x)
    if cfg.dac.bound_management == "none":  # the oracle has no bound management
        check_against_oracle(cfg, w, x)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_peer_convention_problems(noisy=True))
def test_mixed_conventions_with_noise_equal_the_reference_with_replayed_draws(problem):
    check(*problem)


# -- combinations refused when the config is built ---------------------------------------------
@pytest.mark.parametrize("section, kwargs, error, field", [
    (DACConfig, {"bits": 6, "levels": "midrise", "full_scale_code": 20}, ValueError, "dac.full_scale_code"),
    (DACConfig, {"bits": 6, "levels": "twos_complement", "full_scale_code": 20}, ValueError, "dac.full_scale_code"),
    (DACConfig, {"bits": 6, "levels": "midrise", "arithmetic": "aihwkit_float32"}, ValueError, "dac.arithmetic"),
    (DACConfig, {"bits": 6, "levels": "twos_complement", "arithmetic": "aihwkit_float32"}, ValueError,
     "dac.arithmetic"),
    (DACConfig, {"bits": 6, "signed": False, "arithmetic": "aihwkit_float32"}, ValueError, "dac.arithmetic"),
    (DACConfig, {"arithmetic": "aihwkit_float32"}, ValueError, "dac.arithmetic"),  # an ideal DAC
    (DACConfig, {"bits": 6, "levels": "midrise", "slice_bits": 2}, NotImplementedError, "dac.levels"),
    (DACConfig, {"bits": 6, "full_scale_code": 20, "slice_bits": 2}, NotImplementedError, "dac.full_scale_code"),
    (DACConfig, {"range_mode": "fixed", "x_max_cap": 0.5}, ValueError, "dac.x_max_cap"),
    (DACConfig, {"range_mode": "average_abs_max", "x_max_cap": 0.5}, ValueError, "dac.x_max_cap"),
    (ADCConfig, {"bits": 6, "levels": "midrise", "full_scale_code": 20}, ValueError, "adc.full_scale_code"),
    (ADCConfig, {"bits": 6, "signed": False, "full_scale_code": 20}, ValueError, "adc.full_scale_code"),
    (ADCConfig, {"bits": 6, "levels": "midrise", "bm_top_code": True}, ValueError, "adc.bm_top_code"),
    (ADCConfig, {"bm_top_code": True}, ValueError, "adc.bm_top_code"),  # an ideal ADC has no top code
    (ADCConfig, {"bits": 6, "clip_ideal": True, "range_mode": "fixed", "range_A": 1e-6}, ValueError,
     "adc.clip_ideal"),
    (ADCConfig, {"clip_ideal": True}, ValueError, "adc.clip_ideal"),  # range_mode="max"
    (NoiseConfig, {"read_model": "independent", "read_sigma_rel": 0.1, "read_clip": "range",
                   "read_sampling": "output_referred"}, ValueError, "read_clip"),
])
def test_refused_combinations_name_the_field(section, kwargs, error, field):
    with pytest.raises(error, match=field.replace(".", r"\.")):
        section(**kwargs)


def test_bound_management_needs_something_that_clips():
    with pytest.raises(ValueError, match=r"dac\.bound_management"):
        refsim.CrossbarConfig().replace(**{"dac.bound_management": "iterative", "adc.bits": None})
    # aihwkit's clipping ideal ADC (A9) is enough
    refsim.CrossbarConfig().replace(**{"dac.bound_management": "iterative", "adc.bits": None, "adc.clip_ideal": True,
                                       "adc.range_mode": "fixed", "adc.range_A": 1e-6})


# -- combinations met by the mixed strategy, written out ---------------------------------------
def base(**changes):
    return refsim.presets.get("ideal").replace(**{**DYADIC, "weight.bits": 6, "dac.bits": 6, "adc.bits": 8,
                                                  "adc.range_mode": "fixed", "adc.range_A": 2.0**-17, **changes})


def test_max_range_without_a_positive_input_reads_zero_with_a_midrise_dac():
    """(D8) with (D5): x_max = inf; a midrise DAC still drives code +1 for x / x_max = 0 (index 31.5 -> 32:
    zero is not a level), but the vector reads zero, in the fast path, the reference and the oracle alike."""
    cfg = base(**{"dac.levels": "midrise", "dac.range_mode": "max"})
    w = np.array([[1.0, -0.5], [0.25, 0.75], [-1.0, 0.5]])
    x = np.array([[-1.0, -0.5, 0.0], [0.5, -1.0, 0.25]])
    tr, ref = check(cfg, w, x)
    assert np.all(tr.tiles[0].dac_codes[0] == 1) and np.all(tr.y[0] == 0.0) and np.any(tr.y[1] != 0.0)
    check_against_oracle(cfg, w, x)


def test_aihwkit_float32_range_below_float32_reads_zero():
    """(D7) an input range that is 0 in float32 (aihwkit: nm_scale_value 0, a zero output) gives zero
    codes, not 0 * inf = NaN."""
    cfg = base(**{"dac.arithmetic": "aihwkit_float32"})
    w = np.array([[1.0], [-0.5]])
    x = np.array([[1e-300, -5e-301], [0.5, -1.0]])
    tr, _ = check(cfg, w, x)
    assert np.all(tr.tiles[0].dac_codes[0] == 0) and tr.y[0, 0] == 0.0 and np.all(np.isfinite(tr.y))
    check_against_oracle(cfg, w, x)


def test_clip_ideal_records_the_current_before_the_clip():
    """(A9): the trace and the reference record a read's ADC input, the current before the clip;
    the digital value uses the clipped current. One range per weight slice is allowed."""
    cfg = base(**{"adc.bits": None, "adc.clip_ideal": True, "adc.range_A": (2.0**-19, 2.0**-18),
                  "weight.n_slices": 2, "mapping.subtraction": "digital"})
    w = np.array([[1.0, -1.0], [1.0, -1.0], [1.0, 0.5]])
    x = np.array([[1.0, 1.0, 1.0]])
    tr, ref = check(cfg, w, x)
    biggest = max(float(np.abs(r.current_A).max()) for r in ref.tiles[0].readings[0].reads)
    assert biggest > 2.0**-18  # beyond the clip: recorded as it entered the ADC
    check_against_oracle(cfg, w, x)


@pytest.mark.parametrize("changes", [
    {"dac.levels": "midrise", "dac.bound_management": "iterative", "dac.bm_max_factor": 8},
    {"dac.arithmetic": "aihwkit_float32", "dac.slice_bits": 2, "dac.slice_scale": "uniform",
     "dac.bound_management": "iterative", "adc.bm_top_code": True},
    {"adc.levels": "midrise", "dac.bound_management": "iterative", "adc.max_span": "g_max", "adc.range_mode": "max",
     "adc.range_A": None, "dac.range_mode": "abs_max_np_sum", "dac.nm_out_bound": 0.5},
    {"dac.full_scale_code": 20, "adc.full_scale_code": 100, "mapping.g_round": "float32_pair",
     "array.rows_max": 2, "array.split": "crosssim_equal", "dac.range_mode": "average_abs_max"},
])
def test_named_mixtures_equal_the_reference(changes):
    rng = np.random.default_rng(15)
    w, x = rng.normal(size=(5, 3)), rng.normal(size=(4, 5))
    cfg = base(**changes)
    check(cfg, w, x)
    y = reference_multiply(w, x, cfg).y
    assert np.all(np.isfinite(y)) and np.any(y != 0.0)


@pytest.mark.parametrize("forward", [
    {"out_noise": 0.0, "inp_res": 1 / 100, "out_res": 1 / 200},  # full_scale_code (DAC and ADC), bm_top_code
    {"out_noise": 0.0, "nm_thres": 0.5},  # dac.x_max_cap (D8)
    {"out_noise": 0.0, "out_res": -1.0, "out_bound": 3.0},  # adc.clip_ideal (A9) under bound management
])
def test_translated_aihwkit_configs_can_be_calibrated(forward):
    """refsim.tools.calibrate profiles with an ideal ADC and a fixed DAC range: the aihwkit options of a
    quantized ADC and of a per-vector range are dropped with them, and the result is a valid config."""
    from refsim.peers import from_aihwkit
    from refsim.tools.calibrate import calibrate_crossbar
    cfg = from_aihwkit({"forward": forward})
    rng = np.random.default_rng(3)
    res = calibrate_crossbar(rng.normal(size=(16, 4)), rng.normal(size=(32, 16)), cfg)
    assert res.config.dac.range_mode == "fixed" and res.config.dac.x_max_cap is None
    assert (res.config.adc.full_scale_code, res.config.adc.clip_ideal) == (cfg.adc.full_scale_code, cfg.adc.clip_ideal)
