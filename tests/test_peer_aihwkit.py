"""Conformance with the real aihwkit 1.1.0: every case of tests/data/peer_cases/aihwkit/ through
``refsim.peers.from_aihwkit`` alone reproduces aihwkit's outputs.

The cases were written by ``tests/peer_cases/make_aihwkit_cases.py`` running aihwkit's C++ tile
(its version is in each case); this test needs neither aihwkit nor torch. The tolerance is
float32 (aihwkit computes in float32): ``|y - Y| <= 1e-6 max|Y|``, far below half an output
LSB of every quantized case (``2 out_bound / N`` times the input range), so equal numbers
are equal ADC codes. Both refsim paths are checked: the crossbar (fast path) and the readable
reference multiply.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import refsim
from refsim.peers import AihwkitStateWarning, from_aihwkit, from_aihwkit_io
from refsim.peers.aihwkit import AIHWKIT_VERSION
from refsim.reference import reference_multiply
from refsim.tiling import tile_bounds

ALL_CASES = sorted((Path(__file__).resolve().parent / "data" / "peer_cases" / "aihwkit").glob("*.json"))
#: the exact (noise-free) cases; the others ("kind": "statistical") hold output statistics of noisy configs
CASES = [p for p in ALL_CASES if json.loads(p.read_text()).get("kind", "exact") == "exact"]
STATISTICAL = [p for p in ALL_CASES if json.loads(p.read_text()).get("kind") == "statistical"]
#: aihwkit's per-tile weight scaling (omega > 0 over several tiles): refused in one crossbar
PER_TILE = [p for p in ALL_CASES if json.loads(p.read_text()).get("kind") == "per_tile_scaling"]
#: one layer called twice (AVERAGE_ABS_MAX keeps its running average between the calls)
TWO_CALLS = [p for p in ALL_CASES if json.loads(p.read_text()).get("kind") == "two_calls"]

#: aihwkit computes in float32: refsim (float64) agrees to float32 round-off of the output range.
RTOL_AIHWKIT = 1e-6


def load(path: Path) -> dict:
    case = json.loads(path.read_text())
    for key in ("W", "X", "Y", "Y_mean", "Y_std", "X2", "Y2"):
        if key in case:
            case[key] = np.array(case[key], dtype=np.float64)
    return case


def test_suite_size_and_provenance():
    assert len(CASES) >= 20, f"expected at least 20 exact aihwkit cases, found {len(CASES)}"
    assert sum(p.stat().st_size for p in ALL_CASES) <= 1_200_000
    for p in ALL_CASES:
        case = json.loads(p.read_text())
        assert case["peer"] == "aihwkit" and case["version"] == AIHWKIT_VERSION, p.name


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_reproduced(path):
    case = load(path)
    cfg = from_aihwkit(case["rpu_config"])
    # the full dump of the real config object translates to the same config: refsim's defaults are aihwkit's
    assert from_aihwkit(case["rpu_config_dump"]) == cfg
    w, x, y_peer = case["W"], case["X"], case["Y"]
    tol = RTOL_AIHWKIT * np.abs(y_peer).max()
    y_fast = refsim.Crossbar(w, cfg).matvec(x)
    err = np.abs(y_fast - y_peer)
    assert err.max() <= tol, (f"{case['name']}: max |y - Y| = {err.max():.3g} > {tol:.3g} at "
                              f"{np.unravel_index(err.argmax(), err.shape)}")
    y_ref = reference_multiply(w, x, cfg).y
    assert np.abs(y_ref - y_peer).max() <= tol, case["name"]


@pytest.mark.parametrize("path", STATISTICAL, ids=[p.stem for p in STATISTICAL])
def test_noisy_case_statistics(path):
    """Noisy configs (output noise, PCM_READ and ADDITIVE_CONSTANT weight noise): refsim's outputs
    have aihwkit's mean and standard deviation per output, over as many draws (fixed seed).
    Bounds: 5 standard errors of the difference of two means; the standard deviations within
    5 standard errors of their ratio (``sqrt(1/n)`` for two estimates of ``n`` draws) plus 2 %."""
    case = load(path)
    n, x = case["n_draws"], case["X"]
    cfg = from_aihwkit(case["rpu_config"])
    assert from_aihwkit(case["rpu_config_dump"]) == cfg
    y = refsim.Crossbar(case["W"], cfg, rng=np.random.default_rng(15)).matvec(np.repeat(x, n, axis=0))
    y = y.reshape(x.shape[0], n, -1)
    mean, std = y.mean(axis=1), y.std(axis=1)
    se = np.sqrt((std**2 + case["Y_std"] ** 2) / n)
    assert np.all(np.abs(mean - case["Y_mean"]) <= 5 * se + 1e-12), np.abs(mean - case["Y_mean"]) / se
    assert np.all(np.abs(std / case["Y_std"] - 1) <= 5 / np.sqrt(n) + 0.02), std / case["Y_std"]


@pytest.mark.parametrize("path", PER_TILE, ids=[p.stem for p in PER_TILE])
def test_per_tile_weight_scaling(path):
    """aihwkit scales each tile by its own max|W| (omega > 0): one refsim crossbar over the matrix
    refuses it, naming the fields; one crossbar per aihwkit tile, outputs added, reproduces aihwkit,
    as the error message advises; refsim's scaling over the whole matrix would not."""
    case = load(path)
    cfg = from_aihwkit(case["rpu_config"])
    assert from_aihwkit(case["rpu_config_dump"]) == cfg
    w, x, y_peer = case["W"], case["X"], case["Y"]
    tol = RTOL_AIHWKIT * np.abs(y_peer).max()
    for build in (lambda: refsim.Crossbar(w, cfg), lambda: reference_multiply(w, x, cfg)):
        with pytest.raises(NotImplementedError, match=r"weight_scaling_omega.*in_size %d.*max_input_size" % w.shape[0]):
            build()
    y = np.zeros_like(y_peer)
    for r0, r1 in tile_bounds(w.shape[0], cfg.array.rows_max, "even"):
        for c0, c1 in tile_bounds(w.shape[1], cfg.array.cols_max, "even"):
            y[:, c0:c1] += refsim.Crossbar(w[r0:r1, c0:c1], cfg).matvec(x[:, r0:r1])
    assert np.abs(y - y_peer).max() <= tol, np.abs(y - y_peer).max()
    y_matrix = refsim.Crossbar(w, cfg.replace(**{"weight.scaling_scope": "matrix"})).matvec(x)
    assert np.abs(y_matrix - y_peer).max() > 100 * tol


@pytest.mark.parametrize("path", TWO_CALLS, ids=[p.stem for p in TWO_CALLS])
def test_average_abs_max_over_two_calls(path):
    """AVERAGE_ABS_MAX: the translation warns (AihwkitStateWarning) that aihwkit carries its running
    average between calls; refsim reproduces the first call, departs from the second alone, and
    reproduces the second as the later vectors of one multiply of both calls' inputs (the warning's advice)."""
    case = load(path)
    with pytest.warns(AihwkitStateWarning, match=r"noise_management=AVERAGE_ABS_MAX.*aux_nm_value"):
        cfg = from_aihwkit(case["rpu_config"])
    xb = refsim.Crossbar(case["W"], cfg)
    tol = RTOL_AIHWKIT * max(np.abs(case["Y"]).max(), np.abs(case["Y2"]).max())
    assert np.abs(xb.matvec(case["X"]) - case["Y"]).max() <= tol
    assert np.abs(xb.matvec(case["X2"]) - case["Y2"]).max() > 100 * tol
    y_both = xb.matvec(np.vstack([case["X"], case["X2"]]))
    assert np.abs(y_both[len(case["X"]):] - case["Y2"]).max() <= tol
    assert np.abs(reference_multiply(case["W"], np.vstack([case["X"], case["X2"]]), cfg).y - y_both).max() <= tol


def test_only_average_abs_max_warns(recwarn):
    for nm in ("ABS_MAX", "NONE", "CONSTANT", "MAX", "ABS_MAX_NP_SUM"):
        from_aihwkit({"forward": {"noise_management": nm}})
    assert not [w for w in recwarn if issubclass(w.category, AihwkitStateWarning)]


def _output_codes(y: np.ndarray, tr, cfg) -> np.ndarray:
    """ADC codes behind the outputs ``y`` of a one-tile, unscaled-weight case: ``y = x_max f k res``
    with ``res = range_A / N`` in output units (aihwkit: ``out_bound / N`` times its output rescale)."""
    t = tr.tiles[0]
    f = np.ones(len(t.x_max)) if t.bm_factor is None else t.bm_factor
    step = (t.x_max * f)[:, None] * cfg.adc.range_A / cfg.adc.n_levels / (cfg.mapping.g_max_S * cfg.dac.v_read_V)
    k = y / step
    assert np.abs(k - np.rint(k)).max() < 1e-3
    return np.rint(k).astype(np.int64)


QUANTIZED_ONE_TILE = [p for p in CASES
                      if (lambda c: c.adc.bits is not None and c.weight.scaling == "fixed" and c.dac.signed_inputs
                          == "bipolar" and c.array.rows_max >= 64)(from_aihwkit(json.loads(p.read_text())["rpu_config"]))]


@pytest.mark.parametrize("path", QUANTIZED_ONE_TILE, ids=[p.stem for p in QUANTIZED_ONE_TILE])
def test_identical_adc_codes(path):
    """The ADC codes themselves, recovered from both outputs with refsim's input range and
    bound-management factor: equal integers (one-tile cases with unscaled weights)."""
    case = load(path)
    cfg = from_aihwkit(case["rpu_config"])
    tr = refsim.Crossbar(case["W"], cfg).trace(case["X"])
    np.testing.assert_array_equal(_output_codes(case["Y"], tr, cfg), _output_codes(tr.y, tr, cfg))


@pytest.mark.parametrize("name, change", [
    ("dac_ties", {"dac.arithmetic": "exact"}),  # D7: inputs on DAC decision levels
    ("dac_ties_bm", {"dac.arithmetic": "exact"}),  # D7: 63.5 codes in a bound-management re-read
    ("bm_out_bound_3", {"dac.arithmetic": "exact"}),  # D7: 31.5 codes (aihwkit's default 7-bit DAC)
    ("bm_top_code", {"adc.bm_top_code": False}),  # X9: code 255 counts as clipped
    ("out_bound_no_adc", {"adc.clip_ideal": False}),  # A9: out_bound clips without an ADC
    ("nm_average_abs_max", {"dac.range_mode": "abs_max"}),  # D8: the running average
    ("nm_abs_max_np_sum", {"dac.range_mode": "abs_max"}),  # D8: the range raised by the input sums
    ("nm_abs_max_np_sum_relu", {"dac.nm_max_bm_res": 0.0}),  # D8: ... limited by max_bm_res / inp_res
    ("nm_max", {"dac.range_mode": "abs_max"}),  # D8: the signed max
    ("bm_max_res", {"dac.bm_max_factor": 1024}),  # max_bm_res stops bound management at factor 8
    ("bm_max_factor_4", {"dac.bm_max_factor": 4}),  # aihwkit's last factor is 8, above max_bm_factor
    ("res_non_pow2", {"dac.full_scale_code": 63, "adc.full_scale_code": 127}),  # 1/100, 1/200: 50 and 100
])
def test_each_convention_is_needed(name, change):
    """Each aihwkit convention the translator switches on decides some case: without it, refsim
    departs from aihwkit by far more than float32 round-off."""
    path = next((p for p in CASES if p.stem == name), None)
    if path is None:
        pytest.skip(f"case {name} absent")
    case = load(path)
    cfg = from_aihwkit(case["rpu_config"]).replace(**change)
    y = refsim.Crossbar(case["W"], cfg).matvec(case["X"])
    assert np.abs(y - case["Y"]).max() > 100 * RTOL_AIHWKIT * np.abs(case["Y"]).max()


def test_translation_of_defaults():
    cfg = from_aihwkit({})
    assert (cfg.dac.bits, cfg.dac.full_scale_code, cfg.dac.arithmetic) == (7, None, "aihwkit_float32")
    assert (cfg.adc.bits, cfg.adc.range_A) == (9, pytest.approx(12 * 25e-6 * 0.2))
    assert cfg.adc.bm_top_code  # fl32(255 * fl32(fl32(1/510) * 24)) > 12
    assert (cfg.dac.bound_management, cfg.dac.bm_max_factor) == ("iterative", 16)  # 0.25 * 63 = 15.75 -> 16
    assert cfg.device.out_noise_rel == 0.06 and cfg.device.out_noise_reference == "unit_current"
    assert (cfg.weight.scaling, cfg.weight.w_max) == ("fixed", 1.0)
    assert (cfg.array.rows_max, cfg.array.cols_max, cfg.array.split) == (512, 512, "even")


def test_translation_details():
    c = from_aihwkit({"forward": {"inp_res": 1 / 100, "out_res": 0, "out_bound": 5, "bound_management": "None"}})
    assert (c.dac.bits, c.dac.full_scale_code) == (7, 50)
    assert c.adc.bits is None and c.adc.clip_ideal and c.adc.range_A == pytest.approx(5 * 25e-6 * 0.2)
    c = from_aihwkit({"forward": {"max_bm_factor": 100, "max_bm_res": 1.0, "inp_res": 1 / 254}})
    assert c.dac.bm_max_factor == 128  # aihwkit's last round: the first power of two above 100 (res limit 127)
    c = from_aihwkit({"mapping": {"weight_scaling_omega": 0.5, "weight_scaling_columnwise": True}},
                     g_max_S=1e-5)
    assert c.weight.scaling == "column" and c.mapping.g_max_S == pytest.approx(0.5e-5)
    assert c.device.out_noise_rel == pytest.approx(0.12)  # 0.06 of g_max v_read = 0.12 of refsim's unit current
    c = from_aihwkit({"forward": {"mv_type": "PosNegSeparate", "noise_management": "AbsMax"}})
    assert (c.dac.signed_inputs, c.dac.accumulation) == ("two_pass", "analog")


@pytest.mark.parametrize("rpu, field", [
    ({"forward": {"bound_management": "ITERATIVE_WORST_CASE"}}, "bound_management"),
    ({"forward": {"inp_res": 1 / 255}}, "inp_res"),
    ({"forward": {"out_res": 1 / 127}}, "out_res"),
    ({"forward": {"inp_noise": 0.01}}, "inp_noise"),
    ({"forward": {"out_sto_round": True}}, "out_sto_round"),
    ({"forward": {"out_nonlinearity": 0.1}}, "out_nonlinearity"),
    ({"forward": {"mv_type": "SPLIT_MODE"}}, "mv_type"),
    ({"forward": {"bm_test_negative_bound": False}}, "bm_test_negative_bound"),
    ({"forward": {"ir_drop": 1.0}, "mapping": {"weight_scaling_omega": 0.6}}, "ir_drop"),
    ({"runtime": {"data_type": "HALF"}}, "data_type"),
    ({"pre_post": {"input_range": {"enable": True}}}, "input_range"),
])
def test_unmodelled_options_are_named(rpu, field):
    with pytest.raises(NotImplementedError, match=field):
        from_aihwkit(rpu)


@pytest.mark.parametrize("rpu, field", [
    ({"forward": {"inp_bound": 2.0}}, "inp_bound"),
    ({"forward": {"no_such_field": 1}}, "no_such_field"),
    ({"mapping": {"max_in": 4}}, "max_in"),
    ({"bogus": {}}, "bogus"),
    ({"forward": {"noise_management": "LOUD"}}, "noise_management"),
])
def test_bad_input_is_named(rpu, field):
    with pytest.raises(ValueError, match=field):
        from_aihwkit(rpu)


def test_noise_model_translation():
    """The noise model acts only when the weights are programmed and drifted (t_inference_s given)."""
    rpu = {"forward": {"out_noise": 0.0},
           "noise_model": {"type": "PCMLikeNoiseModel", "prog_noise_scale": 0.5, "read_noise_scale": 2.0,
                           "drift_scale": 0.8, "t_0": 10.0, "t_read": 1e-6, "g_max": 25.0},
           "drift_compensation": "GlobalDriftCompensation"}
    assert from_aihwkit(rpu).device.prog_model == "none"  # aihwkit's forward before program_analog_weights
    d = from_aihwkit(rpu, t_inference_s=3600.0).device
    assert (d.prog_model, d.drift_model, d.read_model) == ("pcm_rasch2023",) * 3
    assert (d.pcm_prog_noise_scale, d.pcm_read_noise_scale, d.pcm_drift_scale) == (0.5, 2.0, 0.8)
    assert (d.t0_s, d.t_read_s, d.t_inference_s) == (10.0, 1e-6, 3600.0)
    assert d.drift_compensation and d.pcm_read_noise_held
    assert not from_aihwkit({**rpu, "drift_compensation": None}, t_inference_s=1.0).device.drift_compensation
    with pytest.raises(NotImplementedError, match="prog_coeff"):
        from_aihwkit({"noise_model": {"prog_coeff": [0.1, 0.2, 0.3]}}, t_inference_s=1.0)
    with pytest.raises(NotImplementedError, match="noise_model"):
        from_aihwkit({"noise_model": "CustomDriftPCMLikeNoiseModel"}, t_inference_s=1.0)
    with pytest.raises(ValueError, match="g_max_S"):
        from_aihwkit({"noise_model": {"g_max": 10.0}}, t_inference_s=1.0)


@pytest.mark.parametrize("rpu, kw, exc, field, expected", [
    ({"forward": {"inp_res": "x"}}, {}, TypeError, "aihwkit forward.inp_res", "a real number"),
    ({"forward": {"inp_res": float("nan")}}, {}, ValueError, "aihwkit forward.inp_res", "finite"),
    ({"forward": {"inp_res": True}}, {}, TypeError, "aihwkit forward.inp_res", "a real number"),
    ({"forward": {"inp_res": 1e30}}, {}, ValueError, "aihwkit forward.inp_res", "2^31 steps"),
    ({"forward": {"out_bound": "12"}}, {}, TypeError, "aihwkit forward.out_bound", "a real number"),
    ({"forward": {"out_noise": -0.1}}, {}, ValueError, "aihwkit forward.out_noise", ">= 0"),
    ({"forward": {"is_perfect": "no"}}, {}, TypeError, "aihwkit forward.is_perfect", "True or False"),
    ({"forward": {"max_bm_factor": float("nan")}}, {}, TypeError, "aihwkit forward.max_bm_factor", "an int"),
    ({"forward": {"max_bm_factor": -5}}, {}, ValueError, "aihwkit forward.max_bm_factor", "an int in"),
    ({"forward": {"ir_drop_g_ratio": "x"}}, {}, TypeError, "aihwkit forward.ir_drop_g_ratio", "a real number"),
    ({"forward": {"nm_thres": float("nan")}}, {}, ValueError, "aihwkit forward.nm_thres", "finite"),
    ({"forward": {"w_noise": -0.1, "w_noise_type": "PCM_READ"}}, {}, ValueError, "aihwkit forward.w_noise", ">= 0"),
    ({"mapping": {"weight_scaling_omega": "1"}}, {}, TypeError, "aihwkit mapping.weight_scaling_omega", "a real"),
    ({"mapping": {"max_input_size": "512"}}, {}, TypeError, "aihwkit mapping.max_input_size", "an int"),
    ({"mapping": {"max_input_size": -3}}, {}, ValueError, "aihwkit mapping.max_input_size", "an int in"),
    ({"mapping": {"weight_scaling_columnwise": "yes"}}, {}, TypeError, "weight_scaling_columnwise", "True or False"),
    ({"noise_model": {"g_max": "25"}}, {"t_inference_s": 1.0}, TypeError, "aihwkit noise_model.g_max", "a real"),
    ({"noise_model": {"g_max": float("nan")}}, {"t_inference_s": 1.0}, ValueError, "noise_model.g_max", "finite"),
    ({"noise_model": {"prog_coeff": 5}}, {"t_inference_s": 1.0}, TypeError, "noise_model.prog_coeff", "a list"),
    ({"noise_model": {"type": ["x"]}}, {"t_inference_s": 1.0}, TypeError, "noise_model.type", "a class name"),
    ({"noise_model": "PCMLikeNoiseModel"}, {"t_inference_s": "abc"}, TypeError, "t_inference_s", "a real number"),
    ({}, {"g_max_S": "x"}, TypeError, "g_max_S", "a real number"),
    ({}, {"v_read_V": float("nan")}, ValueError, "v_read_V", "finite"),
])
def test_bad_values_are_named(rpu, kw, exc, field, expected):
    """Wrong types, NaN, negative or absurd values: refused at the entry, naming aihwkit's field."""
    with pytest.raises(exc, match=field.replace(".", r"\.") + ": received") as info:
        from_aihwkit(rpu, **kw)
    assert expected in str(info.value)


def test_from_aihwkit_io_bad_arguments():
    with pytest.raises(ValueError, match="noise_model: received 3; expected one of"):
        from_aihwkit_io(noise_model=3)
    with pytest.raises(TypeError, match="drift_compensation: received 'no'"):
        from_aihwkit_io(noise_model="pcm", t_inference_s=1.0, drift_compensation="no")
    with pytest.raises(ValueError, match="aihwkit mapping.max_input_size: received -5"):
        from_aihwkit_io(max_input_size=-5)
    with pytest.raises(TypeError, match="aihwkit forward.inp_res: received 'x'"):
        from_aihwkit_io(inp_res="x")
    with pytest.raises(ValueError, match="aihwkit forward.max_bm_factor: received 0"):
        from_aihwkit_io(bound_management="iterative", max_bm_factor=0)
