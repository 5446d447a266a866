"""Sandia CrossSim 3.2's own parameter dump -> :class:`refsim.CrossbarConfig` (MVM direction).

:func:`from_crosssim` reads exactly what ``CrossSimParameters.to_json(path)`` writes (a dict, or
the path of that file) or what ``CrossSimParameters.as_dict()`` returns (enum members, NumPy
arrays or nested lists), or a ``CrossSimParameters`` object itself. Every key of CrossSim 3.2's
dump is known: keys that cannot change an MVM are accepted, keys whose value would change the
result and that refsim does not model raise ``NotImplementedError`` naming the key, and a key
CrossSim 3.2 does not have raises ``ValueError``.

Orientation: CrossSim's ``AnalogCore(W_cs)`` computes ``W_cs @ x_cs``; refsim's ``W`` is
``W_cs.T`` and its ``x`` is ``x_cs.T`` (``y = x @ W``). Units: CrossSim's conductances are
normalized by ``G_max = 1/Rmin`` and its inputs by the input range, so one unit of its ADC input
is ``G_max * Vread``; refsim's are SI (``g_max_S = 1/Rmin``, ``v_read_V = Vread``).

The conventions CrossSim uses where refsim's defaults differ are switched on here
(docs/MODEL.md D5, D6, A4, A5, W7, M3, M4, R6 and the ``crosssim_*`` partitions); docs/peer_mapping.md
has every key, the CrossSim source each translation follows, and the conformance case that
checks it (tests/data/peer_cases/crosssim/).
"""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

from refsim._validate import check_scalar, show
from refsim.config import ADCConfig, ArrayConfig, CrossbarConfig, DACConfig, MappingConfig, WeightConfig, WireConfig
from refsim.devices.config import NoiseConfig
from refsim.peers.crosssim_input import check_values, calibrated_pairs, read_json

__all__ = ["from_crosssim", "CROSSSIM_KEYS"]

# integer codes of CrossSim 3.2's enums (simulator/parameters/*.py)
_ENUMS = {
    "core.style": {1: "BALANCED", 2: "BITSLICED", 3: "OFFSET"},
    "core.output_dtype": {1: "NATIVE", 2: "MATRIX", 3: "INPUT", 4: "FLOAT32", 5: "FLOAT64", 6: "FLOAT16",
                          7: "INT64", 8: "INT32", 9: "INT16", 10: "INT8"},
    "core.balanced.style": {1: "ONE_SIDED", 2: "TWO_SIDED"},
    "core.bit_sliced.style": {1: "BALANCED", 3: "OFFSET"},
    "core.offset.style": {1: "DIGITAL_OFFSET", 2: "UNIT_COLUMN_SUBTRACTION"},
    "core.mapping.weights.row_partition_strategy": {1: "MAX", 2: "EQUAL"},
    "core.mapping.weights.col_partition_strategy": {1: "MAX", 2: "EQUAL"},
    "xbar.adc.mvm.adc_range_option": {1: "CALIBRATED", 2: "MAX", 3: "GRANULAR"},
}

#: Every key of CrossSim 3.2's dump (``vmm`` twins and ``_match`` flags are accepted as well), with its default.
CROSSSIM_KEYS = {
    "core.style": "BALANCED", "core.rows_max": 0, "core.cols_max": 0, "core.weight_bits": 0,
    "core.complex_matrix": False, "core.complex_input": False, "core.output_dtype": "NATIVE",
    "core.balanced.style": "ONE_SIDED", "core.balanced.interleaved_posneg": False,
    "core.balanced.subtract_current_in_xbar": True, "core.bit_sliced.style": "BALANCED",
    "core.bit_sliced.num_slices": 2, "core.offset.style": "DIGITAL_OFFSET",
    "core.mapping.weights.clipping": True, "core.mapping.weights.min": None, "core.mapping.weights.max": None,
    "core.mapping.weights.percentile": 1.0, "core.mapping.weights.row_partition_priority": [],
    "core.mapping.weights.col_partition_priority": [], "core.mapping.weights.row_partition_strategy": "EQUAL",
    "core.mapping.weights.col_partition_strategy": "EQUAL", "core.mapping.inputs.mvm.clipping": False,
    "core.mapping.inputs.mvm.min": -1.0, "core.mapping.inputs.mvm.max": 1.0,
    "core.mapping.inputs.mvm.percentile": None,
    "simulation.convolution.is_conv_core": False, "simulation.convolution.x_par": 1,
    "simulation.convolution.y_par": 1, "simulation.convolution.Nwindows": 1,
    "simulation.analytics.profile_xbar_inputs": False, "simulation.analytics.profile_adc_inputs": False,
    "simulation.analytics.ntest": 0, "simulation.useGPU": False, "simulation.gpu_id": 0,
    "simulation.Niters_max_parasitics": 100, "simulation.Verr_th_mvm": 0.001,
    "simulation.Verr_matmul_criterion": "max_max", "simulation.relaxation_gamma": 1,
    "simulation.disable_fast_balanced": False, "simulation.disable_fast_matmul": False,
    "simulation.disable_fast_nonlinear_IV": False, "simulation.hide_convergence_msg": False,
    "xbar.device.cell_bits": 0, "xbar.device.Rmin": 1000.0, "xbar.device.Rmax": 10000.0, "xbar.device.Vread": 0.1,
    "xbar.device.time": 0, "xbar.device.infinite_on_off_ratio": False, "xbar.device.clip_conductance": False,
    **{f"xbar.device.{e}.{f}": v for e in ("read_noise", "programming_error", "drift_error", "nonlinear_IV")
       for f, v in (("enable", False), ("model", "IdealDevice"), ("magnitude", 0))},
    "xbar.array.Icol_max": 0, "xbar.array.parasitics.enable": False, "xbar.array.parasitics.Rp_row": 0,
    "xbar.array.parasitics.Rp_col": 0, "xbar.array.parasitics.Rp_row_terminal": 0,
    "xbar.array.parasitics.Rp_col_terminal": 0, "xbar.array.parasitics.current_from_input": True,
    "xbar.array.parasitics.selected_rows": "top",
    "xbar.adc.mvm.model": "IdealADC", "xbar.adc.mvm.bits": 0, "xbar.adc.mvm.signed": True,
    "xbar.adc.mvm.stochastic_rounding": False, "xbar.adc.mvm.adc_per_ibit": False,
    "xbar.adc.mvm.calibrated_range": [], "xbar.adc.mvm.adc_range_option": "CALIBRATED",
    "xbar.dac.mvm.model": "IdealDAC", "xbar.dac.mvm.bits": 0, "xbar.dac.mvm.input_bitslicing": False,
    "xbar.dac.mvm.signed": True, "xbar.dac.mvm.slice_size": 1,
}
# keys of CrossSim's non-ideal ADC models (RampADC, SarADC, PipelineADC, CyclicADC): present only when such a
# model is chosen, which is refused by name (xbar.adc.mvm.model)
_ADC_MODEL_KEYS = {"gain_db", "sigma_capacitor", "sigma_comparator", "symmetric_cdac", "split_cdac", "group_size",
                   "sigma_C1", "sigma_C2", "sigma_Cpar"}
_NOISE = {"IdealDevice": "none", "NormalIndependentDevice": "independent",
          "NormalProportionalDevice": "proportional"}


def _flatten(d: dict, prefix: str = "", depth: int = 0) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and depth >= 8:  # CrossSim's dump nests 6 levels deep
            raise ValueError(f"CrossSim parameters: received a dict nested more than 8 levels deep at "
                             f"{(prefix + str(k))[:80]!r}; expected CrossSim 3.2's CrossSimParameters dump")
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}.", depth + 1))
        else:
            out[prefix + str(k)] = v
    return out


def _enum(key: str, value) -> str:
    """An enum value as its name: an enum member, its integer code or its name (any case)."""
    names = _ENUMS[key]
    if hasattr(value, "name") and not isinstance(value, str):
        return str(value.name).upper()
    if isinstance(value, str) and value.upper() in names.values():
        return value.upper()
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 20:
        value = int(value)  # ASCII digits only: '²'.isdigit() is True but int('²') fails, as do 5,000 digits
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) and int(value) in names:
        return names[int(value)]
    raise ValueError(f"CrossSim {key}: received {show(value)}; expected one of {sorted(names.values())} or its "
                     f"integer code {sorted(names)}")


def _load(params) -> dict:
    """The dump as a flat dict of dotted keys."""
    if hasattr(params, "as_dict") and callable(params.as_dict):  # a CrossSimParameters object
        params = params.as_dict()
    if isinstance(params, (str, Path)):
        params = read_json(Path(params))
    if not isinstance(params, dict):
        raise TypeError(f"params: received {type(params).__name__}; expected CrossSim's parameter dump (a dict, "
                        f"the path of the file CrossSimParameters.to_json wrote, or a CrossSimParameters)")
    return _flatten(params)


def _known(key: str) -> bool:
    if key in CROSSSIM_KEYS or key.endswith("._match"):
        return True
    if ".vmm." in key:  # the VMM (transposed multiply) twin of an MVM key
        return key.replace(".vmm.", ".mvm.") in CROSSSIM_KEYS or key.rsplit(".", 1)[-1] in _ADC_MODEL_KEYS
    return key.startswith("xbar.adc.mvm.") and key.rsplit(".", 1)[-1] in _ADC_MODEL_KEYS


def from_crosssim(params, *, v_read_V: float | None = None, name: str = "crosssim") -> CrossbarConfig:
    """A config equivalent to CrossSim 3.2's parameters for ``AnalogCore(W_cs, params) @ x_cs``.

    ``params``: ``CrossSimParameters.to_json``'s file (path or loaded dict), ``as_dict()``'s
    dict, or the ``CrossSimParameters`` object. Missing keys take CrossSim 3.2's defaults
    (:data:`CROSSSIM_KEYS`). ``v_read_V`` overrides ``xbar.device.Vread`` (the physical scale;
    it changes no output). Raises ``NotImplementedError`` naming a key refsim does not model,
    ``ValueError`` for a key CrossSim 3.2 does not have or a value it would refuse itself.
    """
    flat = _load(params)
    unknown = sorted(k for k in flat if not _known(k))
    if unknown:
        raise ValueError(f"CrossSim parameters: unknown key(s) {unknown}; expected the keys of CrossSim 3.2's "
                         f"CrossSimParameters dump (refsim.peers.crosssim.CROSSSIM_KEYS)")
    p = {**CROSSSIM_KEYS, **{k: v for k, v in flat.items() if k in CROSSSIM_KEYS}}
    for key in _ENUMS:
        p[key] = _enum(key, p[key])
    check_values(p, CROSSSIM_KEYS, _ENUMS)
    v_read_V = check_scalar("v_read_V", v_read_V, low=0.0, low_open=True, allow_none=True)

    def refuse(key, ok, why="not modelled by refsim"):
        if not ok:
            raise NotImplementedError(f"CrossSim {key}={p[key]!r}: {why}")

    for key in ("core.complex_matrix", "core.complex_input", "xbar.adc.mvm.stochastic_rounding"):
        refuse(key, not p[key])
    refuse("core.output_dtype", p["core.output_dtype"] in ("NATIVE", "MATRIX", "INPUT", "FLOAT64"),
           "a lower-precision output type rounds the result")
    for key in ("simulation.convolution.x_par", "simulation.convolution.y_par"):
        refuse(key, int(p[key]) == 1, "parallel convolution windows are not modelled")
    refuse("xbar.device.cell_bits", int(p["xbar.device.cell_bits"]) == 0,
           "CrossSim's cell quantization (and its Wmin_res threshold) is not modelled")
    refuse("xbar.device.drift_error.enable", not p["xbar.device.drift_error.enable"]
           or p["xbar.device.drift_error.model"] == "IdealDevice", "CrossSim's drift models are not modelled")
    refuse("xbar.device.nonlinear_IV.enable", not p["xbar.device.nonlinear_IV.enable"]
           or p["xbar.device.nonlinear_IV.model"] == "IdealDevice", "nonlinear cells are not modelled")
    refuse("core.mapping.inputs.mvm.percentile", p["core.mapping.inputs.mvm.percentile"] is None,
           "a per-call input range over the whole vector is not modelled (refsim's abs_max is per row tile)")
    for key in ("core.mapping.weights.row_partition_priority", "core.mapping.weights.col_partition_priority"):
        refuse(key, not list(p[key]), "partition priorities are not modelled")

    style = p["core.style"]
    rmin, rmax = float(p["xbar.device.Rmin"]), float(p["xbar.device.Rmax"])
    v_read = float(p["xbar.device.Vread"]) if v_read_V is None else float(v_read_V)
    unit_A = v_read / rmin  # one unit of CrossSim's normalized current: G_max * Vread
    unit_column = p["core.offset.style"] == "UNIT_COLUMN_SUBTRACTION"
    parasitic = bool(p["xbar.array.parasitics.enable"]) and any(
        float(p[f"xbar.array.parasitics.{k}"]) > 0 for k in ("Rp_row", "Rp_col", "Rp_row_terminal", "Rp_col_terminal"))
    in_array = bool(p["core.balanced.subtract_current_in_xbar"])
    weight, mapping, scheme = _weights(p, style, refuse)
    if scheme != "offset":
        refuse("core.balanced.interleaved_posneg", in_array or not p["core.balanced.interleaved_posneg"],
               "CrossSim cannot subtract an interleaved pair digitally")

    # inputs and DAC (simulator/circuits/dac/quantizer_dac.py, simulator/cores/wrapper_core.py)
    dac_model, dac_bits = p["xbar.dac.mvm.model"], int(p["xbar.dac.mvm.bits"])
    signed_in = bool(p["xbar.dac.mvm.signed"])
    refuse("xbar.dac.mvm.model", dac_model in ("IdealDAC", "QuantizerDAC", "SignMagnitudeDAC"))
    imin, imax = float(p["core.mapping.inputs.mvm.min"]), float(p["core.mapping.inputs.mvm.max"])
    refuse("core.mapping.inputs.mvm.min", imin == (-imax if signed_in else 0.0) and imax > 0,
           f"refsim's input range is [-max, max] (signed DAC) or [0, max] (unsigned); got [{imin}, {imax}]")
    dac: dict = {"signed": signed_in, "range_mode": "fixed", "x_max": imax, "v_read_V": v_read}
    quantized_dac = dac_model != "IdealDAC" and dac_bits > 0
    if quantized_dac:
        if dac_model == "SignMagnitudeDAC" and not signed_in:
            raise ValueError("CrossSim xbar.dac.mvm.model='SignMagnitudeDAC' needs xbar.dac.mvm.signed=True "
                             "(CrossSim refuses it too)")
        dac.update(bits=dac_bits, levels="midrise" if dac_model == "QuantizerDAC" and signed_in else "sign_magnitude")
    bitserial = bool(p["xbar.dac.mvm.input_bitslicing"])
    if bitserial:
        refuse("xbar.dac.mvm.input_bitslicing", quantized_dac and dac["levels"] == "sign_magnitude",
               "CrossSim slices inputs of a quantized SignMagnitudeDAC or unsigned QuantizerDAC only")
        dac.update(slice_bits=int(p["xbar.dac.mvm.slice_size"]), slice_scale="uniform",
                   accumulation="digital" if p["xbar.adc.mvm.adc_per_ibit"] else "analog")

    adc = _adc(p, style, scheme, in_array, signed_in, unit_A, refuse)
    icol = float(p["xbar.array.Icol_max"])
    dev = _device(p)
    if icol > 0:
        refuse("xbar.array.Icol_max", not (scheme != "offset" and in_array),
               "CrossSim clips each device of an in-array pair before the subtraction")
        refuse("xbar.array.Icol_max", not (bitserial and dac["accumulation"] == "analog"),
               "CrossSim clips every input slice before the analog shift-and-add")
        dev["i_col_max_A"] = icol * unit_A
    wire: dict = {}
    if parasitic:
        refuse("xbar.array.parasitics.current_from_input", p["xbar.array.parasitics.current_from_input"])
        refuse("xbar.array.parasitics.Rp_row_terminal", float(p["xbar.array.parasitics.Rp_row_terminal"]) == 0,
               "CrossSim 3.2 adds it to every segment of the first input's row wire (Rp_in_mat[:, 0] in "
               "simulator/circuits/array/*.py), not to each row's driver")
        refuse("core.style", style != "BITSLICED", "wire resistance of bit-sliced cores is not modelled")
        refuse("core.offset.style", not (scheme == "offset" and unit_column),
               "the unit column shares the array's wires in CrossSim")
        refuse("core.balanced.interleaved_posneg", not p["core.balanced.interleaved_posneg"],
               "CrossSim's interleaved pair (both cells on one column, the negative one driven by -V) is not "
               "refsim's interleaved column layout")
        wire = {"r_row_ohm": float(p["xbar.array.parasitics.Rp_row"]),  # ohms (Rp_row_norm = Rp_row / Rmin)
                "r_col_ohm": float(p["xbar.array.parasitics.Rp_col"]),
                "r_sense_ohm": float(p["xbar.array.parasitics.Rp_col_terminal"])}  # the last segment to the sense end
    parts = {p["core.mapping.weights.row_partition_strategy"], p["core.mapping.weights.col_partition_strategy"]}
    refuse("core.mapping.weights.row_partition_strategy", len(parts) == 1,
           "refsim splits rows and columns alike; set row and column strategies equal")
    rows_max, cols_max = int(p["core.rows_max"]), int(p["core.cols_max"])
    try:
        return CrossbarConfig(
            weight=WeightConfig(**weight),
            mapping=MappingConfig(scheme=scheme, g_min_S=0.0 if p["xbar.device.infinite_on_off_ratio"] else 1.0 / rmax,
                                  g_max_S=1.0 / rmin, **mapping),
            dac=DACConfig(**dac),
            adc=ADCConfig(**adc),
            array=ArrayConfig(rows_max=rows_max or None, cols_max=cols_max or None,
                              split="crosssim_max" if parts == {"MAX"} else "crosssim_equal"),
            device=NoiseConfig(**dev),
            wire=WireConfig(**wire),
            name=name,
        )
    except (ValueError, TypeError) as exc:  # e.g. Rmax < Rmin: name the translation, then refsim's field
        raise type(exc)(f"CrossSim parameters give an invalid refsim config: {exc}") from None


def _weights(p: dict, style: str, refuse) -> tuple[dict, dict, str]:
    """``weight`` and ``mapping`` fields and the scheme (simulator/cores/balanced_core.py, offset_core.py,
    bitsliced_core.py ``_wrapper_set_matrix``; simulator/cores/analog_core.py ``set_matrix``)."""
    wmin, wmax, pct = p["core.mapping.weights.min"], p["core.mapping.weights.max"], p["core.mapping.weights.percentile"]
    if pct is not None:
        refuse("core.mapping.weights.percentile", float(pct) == 1.0,
               "CrossSim's percentile range (max of two signed percentiles, or max|W| times p > 1) is not modelled")
        weight: dict = {"scaling": "max"}
    else:
        refuse("core.mapping.weights.min", wmin is not None and wmax is not None and float(wmin) == -float(wmax),
               "refsim's fixed weight range is symmetric")
        refuse("core.mapping.weights.clipping", bool(p["core.mapping.weights.clipping"]),
               "refsim always clips weights to the fixed range")
        weight = {"scaling": "fixed", "w_max": float(wmax)}
    unit_column = p["core.offset.style"] == "UNIT_COLUMN_SUBTRACTION"
    mapping = {"subtraction": "in_array" if p["core.balanced.subtract_current_in_xbar"] else "digital"}
    if style == "BALANCED":  # (M3) BalancedCore stores mat_pos/mat_neg as float32; (M4) its fast path subtracts them
        fast = (p["core.balanced.subtract_current_in_xbar"] and not p["simulation.disable_fast_balanced"]
                and not p["xbar.array.parasitics.enable"] and not p["core.balanced.interleaved_posneg"]
                and not float(p["xbar.array.Icol_max"]) > 0 and not (p["xbar.device.read_noise.enable"] and
                                                                  p["xbar.device.read_noise.model"] != "IdealDevice")
                and not p["xbar.device.nonlinear_IV.enable"])  # SimulationParameters.fast_balanced
        mapping["g_round"] = "float32_pair" if fast else "float32"
        scheme = "differential_two_sided" if p["core.balanced.style"] == "TWO_SIDED" else "differential_one_sided"
        return weight, mapping, scheme
    if style == "OFFSET":  # the unit column is digitized and subtracted digitally
        mapping.update(subtraction="digital", offset_removal="reference_column" if unit_column else "digital")
        return weight, mapping, "offset"
    bits, n = int(p["core.weight_bits"]), int(p["core.bit_sliced.num_slices"])
    refuse("core.weight_bits", bits >= 2, "a bit-sliced core needs weight bits")
    balanced = p["core.bit_sliced.style"] == "BALANCED"
    per = bits // n if bits % n == 0 else -(-(bits - 1) // n) if balanced else -(-bits // n)  # Wbits_slice
    mag = bits - 1 if balanced else bits
    top = mag - (n - 1) * per
    refuse("core.bit_sliced.num_slices", top >= 1,
           f"CrossSim's top slice of {bits}-bit weights in {n} slices of {per} bits holds no bit")
    if not balanced and unit_column:
        refuse("core.bit_sliced.num_slices", top == per,
               "CrossSim's unit column then holds 2^(bits per slice - 1) in the top slice, not the offset 2^(b-1)")
    weight.update(bits=bits, n_slices=n, bits_per_slice=per, slice_scale="uniform")
    if balanced:
        return weight, mapping, "differential_one_sided"
    mapping.update(subtraction="digital", offset_removal="reference_column" if unit_column else "digital")
    return weight, mapping, "offset"


def _adc(p: dict, style: str, scheme: str, in_array: bool, signed_in: bool, unit_A: float, refuse) -> dict:
    """``adc`` fields (simulator/circuits/adc/iadc.py ``set_limits``, quantizer_adc.py ``convert``)."""
    model, bits = p["xbar.adc.mvm.model"], int(p["xbar.adc.mvm.bits"])
    refuse("xbar.adc.mvm.model", model in ("IdealADC", "QuantizerADC", "SignMagnitudeADC"))
    if model == "IdealADC" or bits == 0:
        return {}
    if model == "SignMagnitudeADC" and not p["xbar.adc.mvm.signed"]:
        raise ValueError("CrossSim xbar.adc.mvm.model='SignMagnitudeADC' needs xbar.adc.mvm.signed=True "
                         "(CrossSim refuses it too)")
    option = p["xbar.adc.mvm.adc_range_option"]
    if option == "GRANULAR":  # a fixed range: the level spacing is the smallest step of the column current
        n_in, w_bits = int(p["xbar.dac.mvm.bits"]), int(p["core.weight_bits"])
        refuse("xbar.adc.mvm.adc_range_option", n_in > 0 and p["xbar.adc.mvm.adc_per_ibit"],
               "CrossSim's GRANULAR range needs a quantized DAC and an ADC per input bit")
        corr = 2 ** (n_in - 1) / (2 ** (n_in - 1) - 1) if signed_in else 2**n_in / (2**n_in - 1)
        if style == "BITSLICED":
            n = int(p["core.bit_sliced.num_slices"])
            per = w_bits // n if w_bits % n == 0 else -(-(w_bits - 1) // n) if scheme != "offset" else -(-w_bits // n)
            y_min, signed = corr / (2**per - 1), scheme != "offset" or signed_in
        else:
            y_min, signed = corr / 2**w_bits, signed_in or (scheme != "offset" and in_array)
        hi = y_min * (2 ** (bits - 1) - 1 if signed else 2**bits - 1)
        out = {"range_mode": "fixed", "range_A": hi * unit_A}
        if style == "BITSLICED":
            out["range_A"] = (hi * unit_A,) * int(p["core.bit_sliced.num_slices"])
    elif option == "MAX":
        refuse("xbar.adc.mvm.adc_range_option", not (style == "BITSLICED" and scheme == "offset"),
               "the MAX range of a bit-sliced OFFSET core (rows rounded to a power of 2, corrected) is not modelled")
        signed = style == "BITSLICED" or signed_in or (scheme != "offset" and in_array)
        out = {"range_mode": "max", "max_span": "g_max"}  # (A5) [-rows, rows] or [0, rows] units of G_max Vread
    else:
        pairs = calibrated_pairs(p["xbar.adc.mvm.calibrated_range"])
        n_sl = int(p["core.bit_sliced.num_slices"]) if style == "BITSLICED" else 1
        refuse("xbar.adc.mvm.calibrated_range", len(pairs) == n_sl,
               f"expected {n_sl} (min, max) pair(s) for a {style} core")
        sym = all(lo == -hi and hi > 0 for lo, hi in pairs)
        uns = all(lo == 0 and hi > 0 for lo, hi in pairs)
        refuse("xbar.adc.mvm.calibrated_range", sym or uns, "refsim's ADC range is [-r, r] or [0, r]")
        signed = sym
        hi = tuple(b * unit_A for _, b in pairs)  # calibrated_range * Vread / Rmin
        out = {"range_mode": "fixed", "range_A": hi if style == "BITSLICED" else hi[0]}
    if model == "SignMagnitudeADC" and not signed:
        raise ValueError(f"CrossSim xbar.adc.mvm.model='SignMagnitudeADC' with a range [0, r]: CrossSim refuses it "
                         f"(SignMagnitudeADC requires a symmetric range)")
    out.update(bits=bits, signed=signed, levels="midrise" if model == "QuantizerADC" and signed else "sign_magnitude")
    return out


def _device(p: dict) -> dict:
    """``device`` fields: Gaussian programming error and read noise (simulator/devices/generic_device.py
    ``GenericDevice``: ``G + s xi`` or ``G (1 + s xi)`` in units of G_max), each clipped by
    simulator/devices/device.py ``Device.clip_and_mask`` at 0 or to [Gmin, Gmax] (refsim's G6 and R6);
    CrossSim draws read noise per cell for every input vector (``NumericCore.read_noise_matrix``: R4)."""
    clip = "range" if p["xbar.device.clip_conductance"] else "nonnegative"  # time: only for drift (refused)
    dev = {"clip": clip}
    for src, model_key, sigma_key in (("read_noise", "read_model", "read_sigma_rel"),
                                      ("programming_error", "prog_model", "prog_sigma_rel")):
        if p[f"xbar.device.{src}.enable"]:
            model = p[f"xbar.device.{src}.model"]
            if model not in _NOISE:
                raise NotImplementedError(f"CrossSim xbar.device.{src}.model={model!r}: refsim has {sorted(_NOISE)}")
            if _NOISE[model] != "none":
                dev[model_key], dev[sigma_key] = _NOISE[model], float(p[f"xbar.device.{src}.magnitude"])
    if "read_model" in dev:
        dev["read_clip"] = clip  # (R6)
    return dev

