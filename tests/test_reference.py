"""The crossbar (every execution path) against its readable twin, refsim.reference.

``refsim.reference.reference_multiply`` rebuilds one multiply from ``(W, config, draws)`` with
the pure step functions only, straight-line, in amperes. Every :meth:`refsim.Crossbar.trace` and
:meth:`~refsim.Crossbar.matvec` is compared with it stage by stage: the same ADC codes bit for
bit (same keys), the same DAC codes and input ranges, the same bound-management factors, and
conductances, currents, digital values and outputs to float64 round-off. Noisy configs replay
the trace's draws (programming and per multiply), so they are compared exactly too.

The reference itself is checked against the exact integer oracle (refsim.oracles), and planted
errors in the crossbar must make the comparison fail.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import refsim
import refsim.adc
from refsim.oracles.crossbar import integer_oracle
from refsim.reference import ReferenceMultiply, reference_multiply
from strategies import (ideal_configs, noisy_problems, problems, quantized_problems, seeded_problems,
                        twos_complement_problems)
from checks import assert_codes_equal, assert_y_exact
from tolerances import PLANTED_RELATIVE_ERROR, RTOL_EXACT

#: Outputs, digital values and currents: both sides sum the same float64 terms in different orders
#: (the crossbar forms currents in ADC steps, stacks drive passes, folds scales together), so they
#: differ by round-off, ~1e-16 per term times the number of terms (<= a few hundred here), measured
#: against the magnitude of the terms (a sum can cancel to ~0). RTOL_EXACT (1e-12) bounds that
#: with room, and is still 1000 times smaller than a planted error (PLANTED_RELATIVE_ERROR).
Y_RTOL = RTOL_EXACT
#: Conductances: the same pure functions on the same numbers; allow round-off of the (interleaved)
#: wire solve only, relative to the largest conductance.
G_RTOL = RTOL_EXACT

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the comparison ----------------------------------------------------------------------------
def reference_codes(ref: ReferenceMultiply) -> dict[str, np.ndarray]:
    """ADC codes of every tile's first reading (the one a trace records), keyed as ``Trace.adc_codes``."""
    return {f"t{t.index}.s{r.k}.{r.name}.{r.label}": r.adc_codes
            for t in ref.tiles for r in t.readings[0].reads if r.adc_codes is not None}


def magnitudes(ref: ReferenceMultiply, cfg) -> tuple[dict, np.ndarray]:
    """Magnitude of the terms summed into each digital value and output: per (tile, slice) ``(B, 1)``
    for ``p_k`` of the first reading, and ``(B, n_out)`` for ``y``. A term is every read's
    contribution ``|term|``, the terms of its analog sum ``|coef| sum_i |V_i| max|G|`` / i_unit, and
    the digital offset; round-off is relative to these, not to the (possibly cancelling) result."""
    c_max = 1 if cfg.dac.bits is None else cfg.dac.code_max
    b = ref.x.shape[0]
    p_mag, y_mag = {}, np.zeros((b, ref.y.shape[1]))
    for t in ref.tiles:
        tile_mag = np.zeros((b, 1))
        for rd in t.readings:
            out_mag = np.zeros((rd.x_max.shape[0], 1))
            for s in t.slices:
                g_abs = max(float(np.max(np.abs(g), initial=0.0)) for g in s.g_read_S.values())
                analog = sum(abs(ps.coef) * np.abs(ps.volts_V).sum(axis=1, keepdims=True) for ps in rd.passes)
                mag = len(s.g_read_S) * analog * g_abs / s.i_unit_A
                mag = mag + abs(s.digital_offset) * np.abs(rd.dac_codes).sum(axis=1, keepdims=True) / c_max
                for r in rd.reads:
                    if r.k == s.k:
                        mag = mag + np.max(np.abs(r.term), axis=1, keepdims=True, initial=0.0)
                if rd.tag == "":
                    p_mag[(t.index, s.k)] = mag
                out_mag += 2.0**s.shift * mag
            # (D8) a "max" range without a positive input (x_max = inf) reads exactly zero
            out_mag *= np.where(np.isinf(rd.x_max), 0.0, rd.x_max)[:, None] * t.drift_scale
            tile_mag[rd.vectors] = np.maximum(tile_mag[rd.vectors], out_mag)
        y_mag[:, t.c0:t.c1] += tile_mag
    return p_mag, y_mag * np.abs(ref.w_max / ref.level_scale) + np.finfo(float).tiny


def assert_close(got, want, bound, what):
    err = np.abs(np.asarray(got) - np.asarray(want))
    assert np.all(err <= bound), f"{what}: max error {err.max():.3e} > bound {np.min(bound):.3e}"


def assert_trace_equals_reference(tr: refsim.Trace, ref: ReferenceMultiply, cfg) -> None:
    """Every recorded stage of ``tr`` against the reference (raises AssertionError naming the stage)."""
    np.testing.assert_array_equal(tr.w_max, ref.w_max)
    np.testing.assert_array_equal(tr.w_norm, ref.w_norm)
    if ref.q is not None:
        np.testing.assert_array_equal(tr.weight_levels, ref.q)
    assert tr.read_sampling == ref.read_sampling
    # conductances of every physical array at every stage
    cond = {}
    for t in ref.tiles:
        for s in t.slices:
            for name, a in s.arrays.items():
                pre = f"t{t.index}.s{s.k}.{name}"
                cond.update({pre + ".target": a.target_S, pre + ".programmed": a.programmed_S,
                             pre: a.at_inference_S, pre + ".eff": a.eff_S})
    assert sorted(tr.conductances_S) == sorted(cond)
    g_scale = max(cfg.mapping.g_max_S, max(float(np.abs(g).max()) for g in cond.values()))
    for key, g in cond.items():
        assert tr.conductances_S[key].shape == g.shape, key
        assert_close(tr.conductances_S[key], g, G_RTOL * g_scale, f"conductance {key}")
    # ADC codes, bit for bit, under the same keys
    want = reference_codes(ref)
    got = tr.adc_codes()
    assert sorted(got) == sorted(want), "ADC codes: the reads differ"
    for key, codes in want.items():
        assert got[key].shape == codes.shape, key
        np.testing.assert_array_equal(got[key], codes, err_msg=f"ADC codes of read {key}")
    # tile by tile: DAC, voltages, currents, digital values, bound management, partial sums
    p_mag, y_mag = magnitudes(ref, cfg)
    assert len(tr.tiles) == len(ref.tiles)
    for tt, t in zip(tr.tiles, ref.tiles):
        first = t.readings[0]
        assert (tt.r0, tt.r1, tt.c0, tt.c1) == (t.r0, t.r1, t.c0, t.c1)
        np.testing.assert_array_equal(tt.x_max, first.x_max)
        np.testing.assert_array_equal(tt.dac_codes, first.dac_codes)
        assert tt.dac_clip_fraction == first.dac_clip_fraction
        assert sorted(tt.voltages_V) == sorted(ps.label for ps in first.passes)
        for ps in first.passes:
            assert_close(tt.voltages_V[ps.label], ps.volts_V, 4 * np.finfo(float).eps * cfg.dac.v_read_V, "voltages")
        assert tt.drift_scale == pytest.approx(t.drift_scale, rel=Y_RTOL)
        want_reads = {(r.k, r.name, r.label): r for r in first.reads}
        assert sorted((r.k, r.name, r.label) for r in tt.reads) == sorted(want_reads)
        for r in tt.reads:
            rr = want_reads[(r.k, r.name, r.label)]
            assert r.coef == rr.coef
            i_scale = p_mag[(t.index, r.k)] * t.slices[r.k].i_unit_A
            assert_close(r.current_A, rr.current_A, Y_RTOL * i_scale, f"current of t{t.index}.s{r.k}.{r.name}.{r.label}")
        for s in t.slices:
            assert_close(tt.digital[f"s{s.k}"], first.p[s.k], Y_RTOL * p_mag[(t.index, s.k)], f"p of t{t.index}.s{s.k}")
        if t.bm_factor is None:
            assert tt.bm_factor is None
        else:
            np.testing.assert_array_equal(tt.bm_factor, t.bm_factor)
        col = np.abs(ref.w_max[t.c0:t.c1] / ref.level_scale)
        assert_close(tt.partial, t.partial, Y_RTOL * y_mag[:, t.c0:t.c1] / col, f"partial sum of tile {t.index}")
    assert_close(tr.y, ref.y, Y_RTOL * y_mag, "y")


def check(cfg, w, x, seed: int = 0) -> tuple[refsim.Trace, ReferenceMultiply]:
    """Trace and matvec of a crossbar against the reference fed the trace's draws."""
    xb = refsim.Crossbar(w, cfg, rng=np.random.default_rng(seed))
    tr = xb.trace(x)
    ref = reference_multiply(w, x, cfg, tr.draws)
    assert_trace_equals_reference(tr, ref, cfg)
    _, y_mag = magnitudes(ref, cfg)
    assert_close(xb.matvec(x, draws=tr.draws), ref.y, Y_RTOL * y_mag, "matvec")
    return tr, ref


# -- every preset, and the hypothesis configurations -----------------------------------------------
DATA = np.random.default_rng(20240601)
W13, X13 = DATA.normal(size=(13, 5)), DATA.normal(size=(4, 13))


@pytest.mark.parametrize("preset", refsim.presets.names())
def test_every_preset_equals_the_reference(preset):
    cfg = refsim.presets.get(preset).replace(**{"array.rows_max": 8, "array.cols_max": 3})  # 2 x 2 tiles
    tr, _ = check(cfg, W13, X13)
    assert len(tr.tiles) == 4


@SETTINGS
@given(quantized_problems())
def test_quantized_configs_equal_the_reference(problem):
    check(*problem)


@SETTINGS
@given(twos_complement_problems())
def test_twos_complement_configs_equal_the_reference(problem):
    check(*problem)


@settings(max_examples=50, deadline=None)
@given(ideal_configs(), problems())
def test_ideal_configs_equal_the_reference(cfg, problem):
    """Linear pipelines: the crossbar multiplies through W_eff (X4), the reference step by step."""
    tr, _ = check(cfg, *problem)
    assert tr.path == "linear_effective_matrix"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noisy_problems())
def test_noisy_configs_equal_the_reference_with_replayed_draws(problem):
    """Programming error, faults, drift, read noise (per cell and output referred), output noise,
    current limit, IR drop, stochastic ADC, bound management and wires, each on or off."""
    check(*problem, seed=5)


BITSERIAL_BOUNDED = {"dac.bound_management": "iterative", "adc.range_mode": "fixed", "adc.range_A": 2e-6,
                     "weight.n_slices": 2, "mapping.subtraction": "digital"}


@pytest.mark.parametrize("preset,changes", [("int8", {}), ("bitserial_int8", {}), ("int8_bounded", {}),
                                            ("xiao2022_resnet50", {}), ("bitserial_int8", BITSERIAL_BOUNDED)])
@settings(max_examples=10, deadline=None)
@given(problem=seeded_problems(max_in=300, max_out=20, max_batch=6))
def test_decimal_presets_equal_the_reference(preset, changes, problem):
    """Decimal physical parameters (1e-7 S ...) and larger arrays: the crossbar's direct path (currents
    in ADC steps, X1') and its stacked bit-serial reads against currents in amperes."""
    w, x = problem
    cfg = refsim.presets.get(preset).replace(**{"array.rows_max": 128, "array.cols_max": 16, **changes})
    check(cfg, w, x)


# -- named cases: noise with replayed draws, bound management, wires ----------------------------------
NOISY = {"device.prog_model": "proportional", "device.prog_sigma_rel": 0.05, "device.stuck_gmin_frac": 0.05,
         "device.read_model": "independent", "device.read_sigma_rel": 0.02, "device.out_noise_rel": 0.01}
WIRES = {"wire.r_row_ohm": 2e3, "wire.r_col_ohm": 1e3, "wire.r_driver_ohm": 500.0, "wire.r_sense_ohm": 300.0}
CASES = {
    "per_cell": ("int8", {**NOISY, "device.read_sampling": "per_cell"}),
    "output_referred": ("int8", {**NOISY, "device.read_sampling": "output_referred", "dac.slice_bits": 3}),
    "pcm_drift_compensated": ("rasch2023_standard", {"device.t_inference_s": 3600.0}),
    "pcm_analog_weights_offset": ("rasch2023_standard", {"device.t_inference_s": 60.0, "mapping.scheme": "offset",
                                                         "mapping.offset_removal": "reference_column"}),
    "stochastic_adc_current_limit_ir_drop": ("int8", {"adc.rounding": "stochastic", "device.i_col_max_A": 1e-6,
                                                      "device.ir_drop_scale": 1.0, "device.out_noise_rel": 0.02}),
    "bound_management_noisy": ("int8_bounded", {**NOISY, "adc.range_A": 3e-6, "dac.slice_bits": 2, "dac.accumulation": "analog"}),
    "bound_management_two_pass": ("int8_bounded", {"adc.range_A": 3e-6, "dac.signed_inputs": "two_pass", "weight.n_slices": 3,
                                                   "adc.rounding": "stochastic"}),
    "wires_per_cell_noise": ("int8", {**NOISY, **WIRES}),
    "wires_interleaved": ("int8", {**WIRES, "wire.pair_layout": "interleaved", "device.prog_model": "independent",
                                   "device.prog_sigma_rel": 0.05}),
    "wires_reference_column": ("int8", {**WIRES, "mapping.scheme": "offset", "device.out_noise_rel": 0.01,
                                        "mapping.offset_removal": "reference_column", "weight.n_slices": 2}),
    "analog_weights_cell_bits": ("int8", {"weight.bits": None, "mapping.cell_bits": 4,
                                          "mapping.scheme": "differential_two_sided"}),
    "table_faults_ideal_adc": ("int8", {"adc.bits": None, "device.prog_model": "table",
                                        "device.prog_sigma_table": ((0.0, 1e-8), (1e-5, 5e-7)),
                                        "device.stuck_gmax_frac": 0.1, "device.drift_model": "fixed_nu",
                                        "device.drift_nu": 0.05, "device.t_inference_s": 100.0,
                                        "device.drift_compensation": True}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_named_cases_equal_the_reference(case):
    preset, changes = CASES[case]
    cfg = refsim.presets.get(preset).replace(**{"array.rows_max": 8, "array.cols_max": 3, **changes})
    tr, ref = check(cfg, W13, X13 * 3.0)
    if cfg.dac.bound_management == "iterative":  # the re-reads ran, and used their own draws
        assert any(len(t.readings) > 1 for t in ref.tiles)
        assert max(float(t.bm_factor.max()) for t in ref.tiles) > 1
        if cfg.device.has_read_noise():
            assert any(".bm1." in k for k in tr.draws)


@pytest.mark.parametrize("subtraction", ["in_array", "digital"])
def test_interleaved_pair_with_per_cell_read_noise_equals_the_reference(subtraction):
    """The pair is one array sharing row wires: one circuit per vector with both devices' noisy
    cells; with digital subtraction the pos and neg ADC reads convert the same physical read."""
    cfg = refsim.presets.get("int8").replace(**{**NOISY, **WIRES, "wire.pair_layout": "interleaved",
                                                "device.read_sampling": "per_cell",
                                                "mapping.subtraction": subtraction})
    check(cfg, W13, X13)


@pytest.mark.parametrize("preset", refsim.presets.names())
def test_an_empty_batch_gives_an_empty_result(preset):
    cfg = refsim.presets.get(preset)
    tr, ref = check(cfg, W13, np.zeros((0, 13)))
    assert ref.y.shape == (0, 5)


# -- the comparison detects planted errors --------------------------------------------------------
def test_comparison_detects_one_adc_code_off_by_one(monkeypatch):
    """One code of one conversion of the crossbar one LSB too high: the comparison must fail.
    Patched in refsim.adc and wherever another module bound ``adc_convert`` (the reference keeps
    the real one: it bound the name at import)."""
    cfg = refsim.presets.get("int8").replace(**{"array.rows_max": 8, "array.cols_max": 3})
    check(cfg, W13, X13)  # correct crossbar: passes
    real = refsim.adc.adc_convert
    calls = []

    def off_by_one(*args, **kwargs):
        k, n_clipped = real(*args, **kwargs)
        if not calls:
            k = k.copy()
            k.reshape(-1)[0] += 1  # the first code of the first conversion
        calls.append(1)
        return k, n_clipped

    for name, mod in list(sys.modules.items()):
        if name.startswith("refsim.") and name != "refsim.reference" and getattr(mod, "adc_convert", None) is real:
            monkeypatch.setattr(mod, "adc_convert", off_by_one)
    with pytest.raises(AssertionError, match="ADC codes"):
        check(cfg, W13, X13)
    assert calls  # the crossbar did convert through the patched function


def test_comparison_detects_a_planted_output_error():
    cfg = refsim.presets.get("int8")
    xb = refsim.Crossbar(W13, cfg)
    tr = xb.trace(X13)
    ref = reference_multiply(W13, X13, cfg)
    assert_trace_equals_reference(tr, ref, cfg)
    _, y_mag = magnitudes(ref, cfg)
    tr.y = tr.y.copy()
    tr.y[1, 2] += PLANTED_RELATIVE_ERROR * y_mag[1, 2]
    with pytest.raises(AssertionError, match="y: max error"):
        assert_trace_equals_reference(tr, ref, cfg)


# -- the reference's own oracle: exact integer arithmetic --------------------------------------------
@SETTINGS
@given(quantized_problems())
def test_reference_equals_the_integer_oracle(problem):
    reference_against_oracle(*problem)


def reference_against_oracle(cfg, w, x) -> None:
    """The reference multiply's ADC codes equal the integer oracle's, its output to the exact tolerance."""
    ref = reference_multiply(w, x, cfg)
    oracle = integer_oracle(w, x, cfg)
    if cfg.adc.bits is not None:
        assert_codes_equal(reference_codes(ref), oracle["adc_codes"])
    assert_y_exact(ref.y, oracle["y"], x, w, cfg)


# -- honest failures ---------------------------------------------------------------------------------
def test_missing_draws_name_the_key():
    cfg = refsim.presets.get("int8").replace(**NOISY)
    with pytest.raises(ValueError, match=r"draws: received None; expected the draw 't0.s0.pos.xi_prog'"):
        reference_multiply(W13, X13, cfg)
    tr = refsim.Crossbar(W13, cfg, rng=np.random.default_rng(0)).trace(X13)
    partial = {k: v for k, v in tr.draws.items() if not k.endswith(".read_out")}
    with pytest.raises(ValueError, match=r"read_out"):
        reference_multiply(W13, X13, cfg, partial)
    bad = {**tr.draws, "t0.s0.pos.xi_prog": tr.draws["t0.s0.pos.xi_prog"][:2]}
    with pytest.raises(ValueError, match=r"draws\['t0.s0.pos.xi_prog'\]: received shape"):
        reference_multiply(W13, X13, cfg, bad)


def test_bad_input_is_named():
    cfg = refsim.presets.get("int8")
    with pytest.raises(ValueError, match=r"x: received shape \(4, 12\); expected \(B, 13\)"):
        reference_multiply(W13, X13[:, :12], cfg)
    w_nan = W13.copy()
    w_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"weights: received 1 non-finite"):
        reference_multiply(w_nan, X13, cfg)
    with pytest.raises(ValueError, match=r"weights: received shape \(0, 5\)"):
        reference_multiply(np.zeros((0, 5)), X13[:, :0], cfg)
    with pytest.raises(TypeError, match="config: received dict"):
        reference_multiply(W13, X13, cfg.to_dict())
