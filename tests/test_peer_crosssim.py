"""refsim.peers.from_crosssim against the real CrossSim 3.2.0: every committed conformance case.

Each case under tests/data/peer_cases/crosssim/ holds CrossSim's own parameter dump, a matrix, inputs
and the outputs CrossSim computed (tests/peer_cases/make_crosssim_cases.py wrote them with the real
CrossSim; this test needs no CrossSim). The translator alone must reproduce the peer:

* every output within ``TOL[kind] * max|Y|``: 1e-12 for CrossSim's float64 cores (offset and
  bit-sliced) and for its balanced cores (float32 conductances and, on its fast path, a float32
  G+ - G-: reproduced by mapping.g_round, M3/M4; the issue allows 1e-6 there), 1e-9 with wire
  resistance (CrossSim's iterative solver, run to Verr_th_mvm = 1e-12);
  with an ADC an output off by one code would exceed these bounds by orders of magnitude, so
  within them the ADC codes are identical;
* except where CrossSim's float arithmetic decides an exact tie of its ADC (docs/peer_mapping.md,
  "Where CrossSim is inexact"): such an output is accepted only where refsim's own ADC input of
  that output lies on a decision level (refsim rounds an exact tie half to even; CrossSim's
  ``rint((I - min) * qmult)`` lands on either side).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import refsim
from refsim.peers import from_crosssim
from refsim.peers.crosssim import CROSSSIM_KEYS
from refsim.reference import reference_multiply

CASE_DIR = Path(__file__).resolve().parent / "data" / "peer_cases" / "crosssim"
CASES = sorted(p.stem for p in CASE_DIR.glob("*.npz"))
TOL = {"float64": 1e-12, "float32": 1e-12, "wires": 1e-9}
#: cases the translator refuses, with the key it must name
REFUSED = {"parasitics_interleaved": "core.balanced.interleaved_posneg"}
#: cases where CrossSim decides exact ADC ties by float round-off (docs/peer_mapping.md); all others exact
TIES = {"bitsliced_balanced_8b_4s_sm_max", "bitsliced_balanced_bitserial_per_ibit"}
#: cases with random programming errors or read noise: compared statistically (test_*_noise_case_statistics)
NOISY = [c for c in CASES if c.startswith("noise_")]


def load(name: str) -> dict:
    with np.load(CASE_DIR / f"{name}.npz") as f:
        return {k: f[k] if f[k].dtype.kind == "f" else str(f[k]) for k in f.files}


def kind(cfg: refsim.CrossbarConfig) -> str:
    if cfg.wire.enabled:
        return "wires"
    return "float64" if cfg.mapping.g_round == "none" else "float32"


def tie_outputs(w, x, cfg) -> np.ndarray:
    """(B, n_out) bool: an ADC input of that output lies on a decision level (A1, A4), per refsim's reference."""
    ref = reference_multiply(w, x, cfg)
    out = np.zeros((x.shape[0], w.shape[1]), dtype=bool)
    n = cfg.adc.n_levels
    for t in ref.tiles:
        for reading in t.readings:
            for r in reading.reads:
                z = r.current_A / t.slices[r.k].lsb_A
                if cfg.adc.levels == "midrise":
                    z = (z + n) / 2
                on = np.abs(np.abs(z - np.floor(z)) - 0.5) < 1e-9
                out[reading.vectors[:, None], np.arange(t.c0, t.c1)[None, :]] |= np.broadcast_to(
                    on, (len(reading.vectors), t.c1 - t.c0))
    return out


def test_there_are_enough_cases():
    assert len(CASES) >= 40
    assert sum(p.stat().st_size for p in CASE_DIR.glob("*.npz")) <= 1.5e6


def implied_weight_errors(w, x, y, cfg) -> np.ndarray:
    """``dW = solve(x, y - y_ideal)``, ``(n_in, n_out)``: the weight errors an output ``y`` implies, with
    ``y_ideal`` the noise-free multiply of ``cfg`` (``x`` square and invertible)."""
    ideal = cfg.replace(**{"device.prog_model": "none", "device.prog_sigma_rel": 0.0})
    return np.linalg.solve(x, y - refsim.Crossbar(w, ideal).matvec(x))


@pytest.mark.parametrize("name", [c for c in NOISY if "programming" in c])
def test_programming_noise_case_statistics(name):
    """Programming error is one random draw: compare the spread of the weight errors CrossSim's outputs
    imply (n_in x n_out of them) with refsim's, over 4 seeds; a sigma off by sqrt(2) or a wrong unit
    (G_max vs G, the clip) would fail."""
    case = load(name)
    cfg = from_crosssim(json.loads(case["params"]))
    w, x = case["W"].T, case["X"].T
    s_peer = np.std(implied_weight_errors(w, x, case["Y"].T, cfg))
    s_ref = np.sqrt(np.mean([np.var(implied_weight_errors(w, x, refsim.Crossbar(
        w, cfg, rng=np.random.default_rng(seed)).matvec(x), cfg)) for seed in range(4)]))
    assert 0.9 < s_peer / s_ref < 1.1, (s_peer, s_ref)


@pytest.mark.parametrize("name", [c for c in NOISY if "read" in c])
def test_read_noise_case_statistics(name):
    """Read noise is redrawn for every input vector: compare the spread of the output errors (B x n_out of
    them, independent) with refsim's over 4 seeds, within 6 %; CrossSim's clip to [Gmin, Gmax] (R6) shrinks
    it by ~10 % in noise_read_proportional_clipped, so a missing or wrong clip fails."""
    case = load(name)
    cfg = from_crosssim(json.loads(case["params"]))
    w, x = case["W"].T, case["X"].T
    quiet = cfg.replace(**{"device.read_model": "none", "device.read_sigma_rel": 0.0, "device.read_clip": "model"})
    y_quiet = refsim.Crossbar(w, quiet).matvec(x)
    s_peer = np.std(case["Y"].T - y_quiet)
    s_ref = np.sqrt(np.mean([np.var(refsim.Crossbar(w, cfg, rng=np.random.default_rng(seed)).matvec(x) - y_quiet)
                             for seed in range(4)]))
    assert 0.94 < s_peer / s_ref < 1.06, (s_peer, s_ref)


@pytest.mark.parametrize("name", CASES)
def test_case_reproduces_crosssim(name):
    case = load(name)
    assert case["peer"] == "crosssim" and case["version"] == "3.2.0"
    params = json.loads(case["params"])
    if name in NOISY:
        return  # random draws: test_noise_case_statistics
    if name in REFUSED:
        with pytest.raises(NotImplementedError, match=REFUSED[name].replace(".", r"\.")):
            from_crosssim(params)
        return
    cfg = from_crosssim(params)
    w, x, y_peer = case["W"].T, case["X"].T, case["Y"].T  # refsim's orientation
    y = refsim.Crossbar(w, cfg).matvec(x)
    scale = np.max(np.abs(y_peer))
    bad = np.abs(y - y_peer) > TOL[kind(cfg)] * scale
    if bad.any():
        assert name in TIES, f"{name}: {bad.sum()} output(s) beyond {TOL[kind(cfg)]:g} max|Y|, " \
                             f"max rel. error {np.max(np.abs(y - y_peer)) / scale:.3e}"
        ties = tie_outputs(w, x, cfg)
        assert np.all(ties[bad]), f"{name}: outputs differ where no ADC input is on a tie: {np.argwhere(bad & ~ties)}"
    elif cfg.adc.bits is not None:
        assert name not in TIES, f"{name}: listed in TIES but exact"


def test_tie_cases_do_differ_on_ties():
    """The TIES list is not a blanket excuse: each of its cases has at least one tie-decided output."""
    for name in sorted(TIES):
        case = load(name)
        cfg = from_crosssim(json.loads(case["params"]))
        y = refsim.Crossbar(case["W"].T, cfg).matvec(case["X"].T)
        assert np.any(np.abs(y - case["Y"].T) > TOL[kind(cfg)] * np.max(np.abs(case["Y"])))


def _as_dict_form(params: dict, arrays: bool) -> dict:
    """``as_dict``-like: enum-coded keys as members of a stand-in IntEnum, calibrated ranges as arrays."""
    import enum

    class Style(enum.IntEnum):
        BALANCED = 1
        BITSLICED = 2
        OFFSET = 3

    out = json.loads(json.dumps(params))
    out["core"]["style"] = Style(out["core"]["style"])
    if arrays:
        out["xbar"]["adc"]["mvm"]["calibrated_range"] = np.array(out["xbar"]["adc"]["mvm"]["calibrated_range"])
    return out


@pytest.mark.parametrize("name", ["bitsliced_offset_8b_2s_calibrated", "balanced_sm_adc6_calibrated"])
def test_dump_forms_agree(name, tmp_path):
    """The JSON file's path, the loaded dict, as_dict's enum members and NumPy arrays, and names for codes."""
    params = json.loads(load(name)["params"])
    want = from_crosssim(params)
    path = tmp_path / "params.json"
    path.write_text(json.dumps(params))
    assert from_crosssim(path) == want and from_crosssim(str(path)) == want
    assert from_crosssim(_as_dict_form(params, arrays=True)) == want
    named = json.loads(json.dumps(params))
    named["core"]["style"] = {1: "BALANCED", 2: "BITSLICED", 3: "OFFSET"}[named["core"]["style"]]
    named["xbar"]["adc"]["mvm"]["adc_range_option"] = "calibrated"
    assert from_crosssim(named) == want
    coded = json.loads(json.dumps(params))
    coded["core"]["style"] = np.int64(coded["core"]["style"])  # NumPy integers as codes
    assert from_crosssim(coded) == want

    class Params:  # anything with CrossSimParameters' as_dict()
        def as_dict(self):
            return _as_dict_form(params, arrays=False)

    assert from_crosssim(Params()) == want


def test_every_default_key_is_accepted():
    """CrossSim 3.2's default dump: an ideal one-sided balanced core, every key known."""
    nested: dict = {}
    for key, value in CROSSSIM_KEYS.items():
        d = nested
        *head, last = key.split(".")
        for h in head:
            d = d.setdefault(h, {})
        d[last] = value
    nested["core"]["mapping"]["inputs"]["vmm"] = dict(nested["core"]["mapping"]["inputs"]["mvm"])
    nested["xbar"]["adc"]["vmm"] = dict(nested["xbar"]["adc"]["mvm"])
    nested["xbar"]["adc"]["_match"] = True
    cfg = from_crosssim(nested)
    assert cfg.mapping.scheme == "differential_one_sided" and cfg.mapping.g_round == "float32_pair"
    assert from_crosssim({**nested, "simulation": {"disable_fast_balanced": True}}).mapping.g_round == "float32"
    assert cfg.array.rows_max is None and cfg.adc.bits is None and cfg.dac.v_read_V == 0.1
    assert math.isclose(cfg.mapping.g_max_S, 1e-3) and math.isclose(cfg.mapping.g_min_S, 1e-4)


def test_translations_written_out():
    c = from_crosssim({"xbar.array.parasitics.enable": True, "xbar.array.parasitics.Rp_row": 2.0,
                       "xbar.array.parasitics.Rp_col": 3.0, "xbar.device.Rmin": 5000.0, "xbar.device.Vread": 0.2,
                       "xbar.adc.mvm.model": "QuantizerADC", "xbar.adc.mvm.bits": 6,
                       "xbar.adc.mvm.calibrated_range": [0.0, 4.0], "core.balanced.subtract_current_in_xbar": False,
                       "core.rows_max": 0, "core.cols_max": 64})
    assert (c.wire.r_row_ohm, c.wire.r_col_ohm, c.wire.r_sense_ohm) == (2.0, 3.0, 0.0)  # ohms, not normalized
    assert from_crosssim({"xbar.array.parasitics.enable": True, "xbar.array.parasitics.Rp_col_terminal": 7.0}
                         ).wire.r_sense_ohm == 7.0
    r = from_crosssim({"xbar.device.read_noise.enable": True, "xbar.device.read_noise.model": "NormalProportionalDevice",
                       "xbar.device.read_noise.magnitude": 0.1, "xbar.device.clip_conductance": True}).device
    assert (r.read_model, r.read_sigma_rel, r.read_clip, r.clip) == ("proportional", 0.1, "range", "range")
    assert from_crosssim({"xbar.device.read_noise.enable": True, "xbar.device.read_noise.model": "IdealDevice"}
                         ).device.read_model == "none"
    assert c.adc.range_A == pytest.approx(4.0 * 0.2 / 5000.0) and not c.adc.signed  # [0, hi]: unsigned
    assert c.array.rows_max is None and c.array.cols_max == 64 and c.array.split == "crosssim_equal"
    s = from_crosssim({"xbar.adc.mvm.model": "SignMagnitudeADC", "xbar.adc.mvm.bits": 8,
                       "xbar.adc.mvm.adc_range_option": 2, "xbar.dac.mvm.model": "QuantizerDAC",
                       "xbar.dac.mvm.bits": 5, "core.style": 3, "core.offset.style": 2})
    assert (s.adc.levels, s.adc.range_mode, s.adc.max_span) == ("sign_magnitude", "max", "g_max")
    assert (s.dac.levels, s.dac.bits) == ("midrise", 5)
    assert (s.mapping.scheme, s.mapping.offset_removal, s.mapping.subtraction) == ("offset", "reference_column",
                                                                                   "digital")


@pytest.mark.parametrize("params, key", [
    ({"core.complex_matrix": True}, "core.complex_matrix"),
    ({"xbar.adc.mvm.stochastic_rounding": True}, "xbar.adc.mvm.stochastic_rounding"),
    ({"xbar.device.read_noise.enable": True, "xbar.device.read_noise.model": "PCMJoshi"}, "read_noise.model"),
    ({"xbar.device.programming_error.enable": True, "xbar.device.programming_error.model": "PCMJoshi"},
     "programming_error.model"),
    ({"xbar.adc.mvm.adc_range_option": "GRANULAR", "xbar.adc.mvm.bits": 8, "xbar.adc.mvm.model": "QuantizerADC"},
     "xbar.adc.mvm.adc_range_option"),
    ({"xbar.device.drift_error.enable": True, "xbar.device.drift_error.model": "PCMDrift"},
     "xbar.device.drift_error.enable"),
    ({"xbar.device.cell_bits": 4}, "xbar.device.cell_bits"),
    ({"core.mapping.weights.percentile": 0.99}, "core.mapping.weights.percentile"),
    ({"core.mapping.inputs.mvm.percentile": 1.0}, "core.mapping.inputs.mvm.percentile"),
    ({"core.mapping.weights.row_partition_strategy": 1}, "core.mapping.weights.row_partition_strategy"),
    ({"core.mapping.weights.col_partition_priority": [2]}, "core.mapping.weights.col_partition_priority"),
    ({"xbar.adc.mvm.model": "SarADC", "xbar.adc.mvm.bits": 8}, "xbar.adc.mvm.model"),
    ({"xbar.adc.mvm.model": "QuantizerADC", "xbar.adc.mvm.bits": 8, "xbar.adc.mvm.calibrated_range": [-1.0, 2.0]},
     "xbar.adc.mvm.calibrated_range"),
    ({"core.style": "BITSLICED", "core.weight_bits": 8, "core.bit_sliced.num_slices": 8},
     "core.bit_sliced.num_slices"),
    ({"core.style": "BITSLICED", "core.weight_bits": 8, "core.bit_sliced.style": "OFFSET",
      "xbar.adc.mvm.model": "QuantizerADC", "xbar.adc.mvm.bits": 8, "xbar.adc.mvm.adc_range_option": "MAX"},
     "xbar.adc.mvm.adc_range_option"),
    ({"xbar.array.Icol_max": 2.0}, "xbar.array.Icol_max"),
    ({"xbar.array.parasitics.enable": True, "xbar.array.parasitics.Rp_row": 1.0,
      "xbar.array.parasitics.Rp_row_terminal": 5.0}, "xbar.array.parasitics.Rp_row_terminal"),
    ({"core.output_dtype": "FLOAT32"}, "core.output_dtype"),
    ({"core.mapping.inputs.mvm.min": -1.0, "core.mapping.inputs.mvm.max": 2.0}, "core.mapping.inputs.mvm.min"),
])
def test_unmodelled_keys_are_named(params, key):
    with pytest.raises(NotImplementedError, match=key.replace(".", r"\.")):
        from_crosssim(params)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown key"):
        from_crosssim({"xbar.device.Rmiddle": 3})
    with pytest.raises(ValueError, match="core.style"):
        from_crosssim({"core.style": 7})
    with pytest.raises(ValueError, match="SignMagnitudeADC"):
        from_crosssim({"xbar.adc.mvm.model": "SignMagnitudeADC", "xbar.adc.mvm.bits": 8, "xbar.adc.mvm.signed": False})
    with pytest.raises(ValueError, match="SignMagnitudeDAC"):
        from_crosssim({"xbar.dac.mvm.model": "SignMagnitudeDAC", "xbar.dac.mvm.bits": 8, "xbar.dac.mvm.signed": False,
                       "core.mapping.inputs.mvm.min": 0.0})
    with pytest.raises(TypeError, match="params"):
        from_crosssim(3)
    with pytest.raises(ValueError, match="does not exist"):
        from_crosssim("/nonexistent/crosssim.json")


@pytest.mark.parametrize("params, exc, key, expected", [
    ({"xbar.device.Rmin": "abc"}, TypeError, "xbar.device.Rmin", "a real number"),
    ({"xbar.device.Rmin": 0}, ValueError, "xbar.device.Rmin", "> 0"),
    ({"xbar.device.Rmin": float("nan")}, ValueError, "xbar.device.Rmin", "finite"),
    ({"xbar.device.Vread": float("inf")}, ValueError, "xbar.device.Vread", "finite"),
    ({"xbar.adc.mvm.bits": 7.9}, TypeError, "xbar.adc.mvm.bits", "an int"),
    ({"xbar.adc.mvm.bits": "8"}, TypeError, "xbar.adc.mvm.bits", "an int"),
    ({"xbar.adc.mvm.bits": True}, TypeError, "xbar.adc.mvm.bits", "an int"),
    ({"xbar.dac.mvm.bits": -3}, ValueError, "xbar.dac.mvm.bits", "an int in"),
    ({"core.rows_max": 3.5}, TypeError, "core.rows_max", "an int"),
    ({"core.style": "BITSLICED", "core.weight_bits": 8, "core.bit_sliced.num_slices": 0}, ValueError,
     "core.bit_sliced.num_slices", "an int in"),
    ({"core.complex_matrix": "false"}, TypeError, "core.complex_matrix", "true or false"),
    ({"xbar.adc.mvm.model": ["QuantizerADC"]}, TypeError, "xbar.adc.mvm.model", "a name"),
    ({"xbar.device.read_noise.enable": True, "xbar.device.read_noise.model": [1]}, TypeError,
     "xbar.device.read_noise.model", "a name"),
    ({"xbar.device.read_noise.magnitude": -0.1}, ValueError, "xbar.device.read_noise.magnitude", ">= 0"),
    ({"core.mapping.inputs.mvm.max": "1"}, TypeError, "core.mapping.inputs.mvm.max", "a real number"),
    ({"core.mapping.weights.percentile": None, "core.mapping.weights.min": -1.0, "core.mapping.weights.max": "1"},
     TypeError, "core.mapping.weights.max", "a real number"),
    ({"xbar.array.Icol_max": "x"}, TypeError, "xbar.array.Icol_max", "a real number"),
    ({"xbar.array.parasitics.Rp_row": -1.0}, ValueError, "xbar.array.parasitics.Rp_row", ">= 0"),
    ({"core.mapping.weights.row_partition_priority": 5}, TypeError, "row_partition_priority", "a list"),
    ({"simulation.convolution.x_par": "a"}, TypeError, "simulation.convolution.x_par", "an int"),
    ({"xbar.adc.mvm.model": "QuantizerADC", "xbar.adc.mvm.bits": 8, "xbar.adc.mvm.calibrated_range": [[-1, 1, 2]]},
     ValueError, "calibrated_range", "shape"),
    ({"xbar.adc.mvm.model": "QuantizerADC", "xbar.adc.mvm.bits": 8, "xbar.adc.mvm.calibrated_range": [-1, 1, 3]},
     ValueError, "calibrated_range", "shape"),
    ({"core.style": "BITSLICED", "core.weight_bits": 8, "xbar.adc.mvm.model": "QuantizerADC", "xbar.adc.mvm.bits": 8,
      "xbar.adc.mvm.calibrated_range": [[-1, 1], [-1]]}, ValueError, "calibrated_range", "pair"),
    ({"xbar.adc.mvm.model": "QuantizerADC", "xbar.adc.mvm.bits": 8, "xbar.adc.mvm.calibrated_range": ["a", "b"]},
     ValueError, "calibrated_range", "pair"),
    ({"xbar.adc.mvm.model": "QuantizerADC", "xbar.adc.mvm.bits": 8,
      "xbar.adc.mvm.calibrated_range": [float("nan")] * 2}, ValueError, "calibrated_range", "finite"),
])
def test_bad_values_are_named(params, exc, key, expected):
    """Every wrong type or value is refused at the entry, naming the key, what came and what is expected."""
    with pytest.raises(exc, match=key.replace(".", r"\.")) as info:
        from_crosssim(params)
    assert "received" in str(info.value) and expected in str(info.value)


def test_bad_files_are_named(tmp_path):
    """A directory, bytes that are not UTF-8, text that is not JSON or nests too deeply, a file too big,
    an integer literal too long to convert: each a ValueError naming the file."""
    from refsim.peers.crosssim_input import MAX_FILE_BYTES
    files = {"dir.json": None, "bin.json": b"\xff\xfe\x00", "bad.json": b"{not json",
             "deep.json": b"[" * 100_000 + b"]" * 100_000, "huge.json": b" " * (MAX_FILE_BYTES + 1)}
    for name, content in files.items():
        path = tmp_path / name
        path.mkdir() if content is None else path.write_bytes(content)
        with pytest.raises(ValueError, match=f"params .*{name}.*: received"):
            from_crosssim(path)
    (tmp_path / "long.json").write_text('{"core": {"rows_max": ' + "9" * 5000 + "}}")
    with pytest.raises(ValueError, match="core.rows_max: received an integer of 5000 digits"):
        from_crosssim(tmp_path / "long.json")
    with pytest.raises(TypeError, match="v_read_V: received"):
        from_crosssim({}, v_read_V="abc")


@pytest.mark.parametrize("key, value", [
    ("simulation.useGPU", True), ("simulation.gpu_id", 3), ("simulation.Niters_max_parasitics", 7),
    ("simulation.Verr_th_mvm", 1e-9), ("simulation.relaxation_gamma", 0.5), ("simulation.hide_convergence_msg", True),
    ("simulation.analytics.profile_adc_inputs", True), ("simulation.analytics.ntest", 10),
    ("simulation.convolution.is_conv_core", True), ("simulation.convolution.Nwindows", 4),
    ("simulation.disable_fast_matmul", True), ("core.mapping.inputs.mvm.clipping", True),
    ("core.mapping.inputs.vmm.min", -3.0), ("xbar.adc.vmm.bits", 4), ("xbar.dac.vmm.model", "QuantizerDAC"),
    ("xbar.adc._match", False), ("xbar.device.time", 100.0), ("xbar.device.read_noise.magnitude", 0.3),
    ("xbar.array.parasitics.selected_rows", "bottom"), ("xbar.array.parasitics.Rp_row", 5.0),
    ("core.bit_sliced.num_slices", 3), ("core.weight_bits", 6), ("xbar.dac.mvm.slice_size", 4),
    ("xbar.device.drift_error.enable", True), ("core.output_dtype", "FLOAT64"),
])
def test_keys_that_cannot_change_this_mvm_are_accepted(key, value):
    """Keys that do not act on this MVM (the VMM twins, solver and profiling settings, options of other core
    styles or of disabled models) leave the translation unchanged (v_read aside: it sets the scale only)."""
    params = json.loads(load("balanced_sm_dac8_sm_adc8_max")["params"])
    base = from_crosssim(params)
    assert from_crosssim({**{k: v for k, v in _flat(params).items()}, key: value}) == base


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


def test_invalid_translations_and_deep_dicts_are_named():
    """Rmax < Rmin (g_min > g_max) names the translation and refsim's field; a dict nested absurdly
    deep is a ValueError, not a RecursionError."""
    with pytest.raises(ValueError, match=r"CrossSim parameters give an invalid refsim config: mapping\.g_min_S: "
                                         r"received 0\.002; expected a value < mapping\.g_max_S"):
        from_crosssim({"xbar.device.Rmax": 500.0})
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ValueError, match="nested more than 8 levels deep"):
        from_crosssim(deep)
