"""Build a :class:`refsim.CrossbarConfig` from a peer simulator's parameter names.

* :func:`from_aihwkit_io`: IBM aihwkit's ``IOParameters`` (forward), ``MappingParameter``
  and the ``PCMLikeNoiseModel`` of [R23];
* :func:`from_crosssim`: Sandia CrossSim 3.x ``CrossSimParameters`` paths
  (``core.*``, ``xbar.device.*``, ``xbar.array.*``, ``xbar.adc.mvm.*``, ``xbar.dac.mvm.*``),
  as a nested dict (the layout of CrossSim's JSON configs) or flat dotted keys.

Every translation is explicit; options refsim does not model raise
``NotImplementedError`` naming the option. ``docs/peer_mapping.md`` has the full table
(every refsim field, its aihwkit and CrossSim counterpart, and what differs).

Scale: aihwkit works in normalized units (weights in [-1, 1] map to ``[-g_max, g_max]``,
inputs in [-1, 1] to ``[-v_read, v_read]``, one output unit = ``g_max * v_read``). refsim
needs physical values; ``g_max_S`` and ``v_read_V`` set them and do not change any
normalized result.
"""

from __future__ import annotations

import math

from refsim.config import ADCConfig, ArrayConfig, CrossbarConfig, DACConfig, MappingConfig, WeightConfig, WireConfig
from refsim.devices.config import NoiseConfig, pcm_rasch2023_noise

__all__ = ["from_aihwkit_io", "from_crosssim", "resolution_to_bits"]


def resolution_to_bits(res: float, name: str) -> int | None:
    """aihwkit ``inp_res``/``out_res`` -> signed (sign-magnitude) bits, or None (``res <= 0``: no quantization).

    aihwkit's resolution is ``1/steps`` over the full range ``[-bound, bound]`` (a value
    ``> 1`` is the number of steps itself); sign-magnitude ``b`` bits have ``2^b - 1``
    levels, i.e. ``2^b - 2`` steps (``1/254`` <-> 8 bits). Other step counts raise
    ``NotImplementedError``.
    """
    if res <= 0:
        return None
    steps = 1.0 / res if res < 1 else float(res)
    b = math.log2(steps + 2.0)
    if abs(b - round(b)) > 1e-9 or round(b) < 2:
        raise NotImplementedError(
            f"{name}={res!r}: {steps:g} steps over [-bound, bound]; refsim's signed converters have 2^b - 2 steps "
            f"(e.g. {name}=1/254 for 8 bits). Another number of levels needs a 'levels' option in refsim")
    return int(round(b))


def _refuse(name: str, value, default) -> None:
    if value != default:
        raise NotImplementedError(f"aihwkit {name}={value!r}: not modelled by refsim (only {default!r} is supported)")


def from_aihwkit_io(*, inp_res: float = 1 / 254, out_res: float = 1 / 254, inp_bound: float = 1.0,
                    out_bound: float = 10.0, out_noise: float = 0.0, noise_management: str = "abs_max",
                    bound_management: str = "none", nm_thres: float = 0.0, w_noise: float = 0.0,
                    w_noise_type: str = "none", ir_drop: float = 0.0, ir_drop_g_ratio: float = 1.0 / (0.35 * 5e-6),
                    inp_noise: float = 0.0, inp_sto_round: bool = False, out_sto_round: bool = False,
                    out_scale: float = 1.0, mv_type: str = "one_pass", is_perfect: bool = False,
                    out_nonlinearity: float = 0.0, r_series: float = 0.0, v_offset_std: float = 0.0,
                    w_read_asymmetry_dtod: float = 0.0, inp_asymmetry: float = 0.0, out_asymmetry: float = 0.0,
                    out_noise_std: float = 0.0, max_bm_factor: int = 1000, max_input_size: int | None = 512, max_output_size: int | None = 512,
                    weight_scaling_columnwise: bool = True, noise_model: str = "none", t_inference_s: float = 0.0,
                    drift_compensation: bool = True, g_max_S: float = 25e-6, v_read_V: float = 0.2,
                    name: str = "aihwkit") -> CrossbarConfig:
    """A config equivalent to aihwkit's forward ``IOParameters`` (enum values as lower-case strings).

    Parameters (aihwkit names; see ``docs/peer_mapping.md``)
    -----------------------------------------------------------
    inp_res, out_res : resolutions (1/steps); 1/254 -> 8-bit sign-magnitude DAC/ADC; <= 0: ideal.
    inp_bound : must be 1 with ``noise_management="abs_max"`` (refsim maps max|x| to full scale);
        with ``"none"`` it is the fixed input range ``dac.x_max``.
    out_bound : ADC bound in output units: ``adc.range_A = out_bound * g_max_S * v_read_V``.
    out_noise : ``device.out_noise_rel`` with ``out_noise_reference="unit_current"``.
    noise_management : ``"abs_max"`` (``dac.range_mode="abs_max"``), ``"none"`` (fixed x_max =
        inp_bound) or ``"constant"`` (fixed x_max = nm_thres * inp_bound).
    bound_management, max_bm_factor : ``"none"`` or ``"iterative"`` (``dac.bound_management``, ``dac.bm_max_factor``;
        aihwkit's ``max_bm_res`` limit is not modelled: refsim stops on the factor only).
    w_noise, w_noise_type : ``"pcm_read"`` -> ``read_model="sqrt_state"``;
        ``"additive_constant"`` -> ``read_model="independent"`` with sigma per device
        ``w_noise / sqrt(2)`` (two devices per weight give aihwkit's per-weight sigma).
    ir_drop, ir_drop_g_ratio : the IR-drop heuristic (``device.ir_drop_scale``, ``ir_drop_g_ratio``).
    mv_type : ``"one_pass"`` (bipolar drive) or ``"two_pass"`` (``dac.signed_inputs="two_pass"``).
    max_input_size, max_output_size : ``MappingParameter`` tile size (``array.rows_max/cols_max``, even split).
    weight_scaling_columnwise : ``weight.scaling="column"`` (else ``"max"``).
    noise_model : ``"none"`` or ``"pcm"`` (``PCMLikeNoiseModel`` defaults, [R23]) with
        ``t_inference_s`` and ``drift_compensation`` (``GlobalDriftCompensation``).
    g_max_S, v_read_V : physical scale of the normalized units (aihwkit: 25 uS for PCM).

    Every other argument must keep aihwkit's "off" value, else ``NotImplementedError``.
    """
    if is_perfect:
        return CrossbarConfig(mapping=MappingConfig(g_min_S=0.0, g_max_S=g_max_S),
                              dac=DACConfig(v_read_V=v_read_V), name=name)
    for opt, val, off in (("inp_noise", inp_noise, 0.0), ("inp_sto_round", inp_sto_round, False),
                          ("out_sto_round", out_sto_round, False), ("out_scale", out_scale, 1.0),
                          ("out_nonlinearity", out_nonlinearity, 0.0), ("r_series", r_series, 0.0),
                          ("v_offset_std", v_offset_std, 0.0), ("w_read_asymmetry_dtod", w_read_asymmetry_dtod, 0.0),
                          ("inp_asymmetry", inp_asymmetry, 0.0), ("out_asymmetry", out_asymmetry, 0.0),
                          ("out_noise_std", out_noise_std, 0.0)):
        _refuse(opt, val, off)
    nm = noise_management.lower()
    if nm == "abs_max":
        if inp_bound != 1.0:
            raise NotImplementedError(f"aihwkit inp_bound={inp_bound!r} with noise_management='abs_max': refsim maps "
                                      f"max|x| to the full DAC scale (inp_bound=1)")
        if nm_thres != 0.0:
            raise NotImplementedError(f"aihwkit nm_thres={nm_thres!r} with abs_max (x_max = min(max|x|, thres)): "
                                      f"not modelled by refsim")
        dac_range = {"range_mode": "abs_max"}
    elif nm == "none":
        dac_range = {"range_mode": "fixed", "x_max": float(inp_bound)}
    elif nm == "constant":
        dac_range = {"range_mode": "fixed", "x_max": float(nm_thres * inp_bound)}
    else:
        raise NotImplementedError(f"aihwkit noise_management={noise_management!r}: refsim has 'abs_max', 'none', "
                                  f"'constant' (max, abs_max_np_sum, average_abs_max are not modelled)")
    bm = bound_management.lower()
    if bm not in ("none", "iterative"):
        raise NotImplementedError(f"aihwkit bound_management={bound_management!r}: refsim has 'none' and 'iterative'")
    if mv_type.lower() not in ("one_pass", "two_pass"):
        raise NotImplementedError(f"aihwkit mv_type={mv_type!r}: refsim has one_pass and two_pass "
                                  f"(split/bit-wise PWM modes are not modelled)")
    in_bits, out_bits = resolution_to_bits(inp_res, "inp_res"), resolution_to_bits(out_res, "out_res")
    dev: dict = {}
    wt = w_noise_type.lower()
    if w_noise > 0 and wt == "pcm_read":
        dev.update(read_model="sqrt_state", read_sigma_rel=float(w_noise))
    elif w_noise > 0 and wt == "additive_constant":
        dev.update(read_model="independent", read_sigma_rel=float(w_noise) / math.sqrt(2.0))
    elif w_noise > 0 and wt != "none":
        raise NotImplementedError(f"aihwkit w_noise_type={w_noise_type!r}: refsim has none, pcm_read, additive_constant")
    if noise_model == "pcm":
        if "read_model" in dev:
            raise NotImplementedError("aihwkit w_noise together with the PCM 1/f read noise: refsim has one read-noise "
                                      "model per config")
        base = pcm_rasch2023_noise(t_inference_s, drift_compensation=drift_compensation, out_noise_rel=out_noise)
        noise = NoiseConfig(**{**base.to_dict(), "ir_drop_scale": float(ir_drop), "ir_drop_g_ratio": ir_drop_g_ratio})
    elif noise_model == "none":
        noise = NoiseConfig(out_noise_rel=float(out_noise), out_noise_reference="unit_current",
                            ir_drop_scale=float(ir_drop), ir_drop_g_ratio=ir_drop_g_ratio, **dev)
    else:
        raise NotImplementedError(f"aihwkit noise_model={noise_model!r}: refsim has 'none' and 'pcm' (PCMLikeNoiseModel)")
    adc = ADCConfig(bits=out_bits, range_mode="fixed", range_A=float(out_bound * g_max_S * v_read_V)) if out_bits \
        else ADCConfig()
    return CrossbarConfig(
        weight=WeightConfig(scaling="column" if weight_scaling_columnwise else "max"),
        mapping=MappingConfig(scheme="differential_one_sided", g_min_S=0.0, g_max_S=g_max_S, subtraction="in_array"),
        dac=DACConfig(bits=in_bits, v_read_V=v_read_V, signed_inputs=mv_type.lower().replace("one_pass", "bipolar"),
                      bound_management=bm if out_bits else "none", bm_max_factor=int(max_bm_factor), **dac_range),
        adc=adc,
        array=ArrayConfig(rows_max=max_input_size, cols_max=max_output_size, split="even"),
        device=noise,
        name=name,
    )


_CS_DEFAULTS = {
    "core.style": "BALANCED", "core.rows_max": 1024, "core.cols_max": 1024, "core.weight_bits": 0,
    "core.complex_matrix": False, "core.complex_input": False,
    "core.balanced.style": "ONE_SIDED", "core.balanced.interleaved_posneg": False,
    "core.balanced.subtract_current_in_xbar": True, "core.bit_sliced.style": "BALANCED",
    "core.bit_sliced.num_slices": 2, "core.offset.style": "DIGITAL_OFFSET",
    "core.mapping.weights.clipping": True, "core.mapping.weights.min": None, "core.mapping.weights.max": None,
    "core.mapping.weights.percentile": 1.0, "core.mapping.weights.row_partition_strategy": "MAX",
    "core.mapping.weights.col_partition_strategy": "MAX",
    "core.mapping.inputs.mvm.clipping": False, "core.mapping.inputs.mvm.min": -1.0,
    "core.mapping.inputs.mvm.max": 1.0, "core.mapping.inputs.mvm.percentile": None,
    "xbar.device.cell_bits": 0, "xbar.device.Rmin": 1000.0, "xbar.device.Rmax": 10000.0, "xbar.device.time": 0.0,
    "xbar.device.infinite_on_off_ratio": False, "xbar.device.clip_conductance": False,
    "xbar.device.read_noise.enable": False, "xbar.device.read_noise.model": "IdealDevice",
    "xbar.device.read_noise.magnitude": 0.0,
    "xbar.device.programming_error.enable": False, "xbar.device.programming_error.model": "IdealDevice",
    "xbar.device.programming_error.magnitude": 0.0,
    "xbar.device.drift_error.enable": False, "xbar.device.drift_error.model": "IdealDevice",
    "xbar.device.drift_error.magnitude": 0.0,
    "xbar.array.Icol_max": 0.0, "xbar.array.parasitics.enable": False, "xbar.array.parasitics.Rp_row": 0.0,
    "xbar.array.parasitics.Rp_col": 0.0, "xbar.array.parasitics.current_from_input": True,
    "xbar.adc.mvm.model": "IdealADC", "xbar.adc.mvm.bits": 0, "xbar.adc.mvm.signed": True,
    "xbar.adc.mvm.stochastic_rounding": False, "xbar.adc.mvm.adc_per_ibit": False,
    "xbar.adc.mvm.calibrated_range": None, "xbar.adc.mvm.adc_range_option": "MAX",
    "xbar.dac.mvm.model": "IdealDAC", "xbar.dac.mvm.bits": 0, "xbar.dac.mvm.input_bitslicing": False,
    "xbar.dac.mvm.signed": True, "xbar.dac.mvm.slice_size": 1,
}
_CS_NOISE = {"IdealDevice": "none", "NormalIndependentDevice": "independent",
             "NormalProportionalDevice": "proportional"}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _cs_str(v) -> str:
    return str(getattr(v, "name", v)).upper()


def from_crosssim(params: dict, *, v_read_V: float = 0.2, name: str = "crosssim") -> CrossbarConfig:
    """A config equivalent to CrossSim 3.x parameters (MVM direction only).

    ``params``: nested dict as in CrossSim's JSON configs, or flat dotted keys
    (``{"xbar.adc.mvm.bits": 8}``); missing keys take CrossSim's defaults
    (:data:`_CS_DEFAULTS`), ``"_match"`` and ``vmm`` entries are ignored. Enum values may be
    strings (``"BALANCED"``) or enum members. Unknown keys raise ``ValueError``; options
    refsim does not model raise ``NotImplementedError`` naming them.
    ``Rp_row``/``Rp_col`` are read as resistances normalized to ``Rmin`` (uncertain, see
    ``docs/peer_mapping.md``). ``v_read_V`` sets the physical drive scale.
    """
    flat = {k: v for k, v in _flatten(params).items()
            if not k.endswith("._match") and ".vmm." not in k and not k.startswith("simulation.")}
    unknown = sorted(set(flat) - set(_CS_DEFAULTS))
    if unknown:
        raise ValueError(f"CrossSim parameters: unknown or unsupported key(s) {unknown}")
    p = {**_CS_DEFAULTS, **flat}

    def refuse(key, ok):
        if not ok:
            raise NotImplementedError(f"CrossSim {key}={p[key]!r}: not modelled by refsim")

    for key in ("core.complex_matrix", "core.complex_input", "core.balanced.interleaved_posneg",
                "xbar.adc.mvm.stochastic_rounding", "xbar.device.drift_error.enable"):
        refuse(key, not p[key])
    refuse("xbar.array.parasitics.current_from_input", p["xbar.array.parasitics.current_from_input"])
    refuse("core.mapping.inputs.mvm.percentile", p["core.mapping.inputs.mvm.percentile"] is None)
    refuse("xbar.adc.mvm.model", p["xbar.adc.mvm.model"] in ("IdealADC", "QuantizerADC"))
    refuse("xbar.dac.mvm.model", p["xbar.dac.mvm.model"] in ("IdealDAC", "QuantizerDAC"))
    style = _cs_str(p["core.style"])
    refuse("core.style", style in ("BALANCED", "OFFSET", "BITSLICED"))
    weight_bits = int(p["core.weight_bits"]) or None
    n_slices = 1
    inner = style
    if style == "BITSLICED":
        n_slices = int(p["core.bit_sliced.num_slices"])
        inner = _cs_str(p["core.bit_sliced.style"])
        if weight_bits is None:
            raise NotImplementedError("CrossSim core.style=BITSLICED with weight_bits=0: slicing needs weight bits")
    scheme = "offset" if inner == "OFFSET" else (
        "differential_two_sided" if _cs_str(p["core.balanced.style"]) == "TWO_SIDED" else "differential_one_sided")
    off_style = _cs_str(p["core.offset.style"])
    refuse("core.offset.style", off_style in ("DIGITAL_OFFSET", "UNIT_COLUMN_SUBTRACTION"))
    # weights
    wmin, wmax, pct = p["core.mapping.weights.min"], p["core.mapping.weights.max"], p["core.mapping.weights.percentile"]
    if wmax is not None:
        refuse("core.mapping.weights.min", wmin is None or wmin == -wmax)
        wcfg = {"scaling": "fixed", "w_max": float(wmax)}
    elif pct is not None and pct < 1.0:
        wcfg = {"scaling": "percentile", "percentile": 100.0 * float(pct)}
    else:
        wcfg = {"scaling": "max"}
    refuse("core.mapping.weights.clipping", p["core.mapping.weights.clipping"] or wcfg["scaling"] == "max")
    parts = {_cs_str(p["core.mapping.weights.row_partition_strategy"]),
             _cs_str(p["core.mapping.weights.col_partition_strategy"])}
    refuse("core.mapping.weights.row_partition_strategy", len(parts) == 1 and parts <= {"MAX", "EVEN"})
    # device
    rmin, rmax = float(p["xbar.device.Rmin"]), float(p["xbar.device.Rmax"])
    g_min = 0.0 if p["xbar.device.infinite_on_off_ratio"] else 1.0 / rmax
    dev = {"clip": "range" if p["xbar.device.clip_conductance"] else "nonnegative",
           "t_inference_s": float(p["xbar.device.time"])}
    for src, model_key, sigma_key in (("read_noise", "read_model", "read_sigma_rel"),
                                      ("programming_error", "prog_model", "prog_sigma_rel")):
        if p[f"xbar.device.{src}.enable"]:
            m = p[f"xbar.device.{src}.model"]
            if m not in _CS_NOISE:
                raise NotImplementedError(f"CrossSim xbar.device.{src}.model={m!r}: refsim has {sorted(_CS_NOISE)}")
            dev[model_key], dev[sigma_key] = _CS_NOISE[m], float(p[f"xbar.device.{src}.magnitude"])
    if p["xbar.array.Icol_max"]:
        dev["i_col_max_A"] = float(p["xbar.array.Icol_max"])
    wire = {}
    if p["xbar.array.parasitics.enable"]:
        wire = {"r_row_ohm": float(p["xbar.array.parasitics.Rp_row"]) * rmin,
                "r_col_ohm": float(p["xbar.array.parasitics.Rp_col"]) * rmin}
    # converters
    dac_bits = int(p["xbar.dac.mvm.bits"]) or None
    imin, imax = float(p["core.mapping.inputs.mvm.min"]), float(p["core.mapping.inputs.mvm.max"])
    dac_signed = bool(p["xbar.dac.mvm.signed"])
    refuse("core.mapping.inputs.mvm.min", imin == (-imax if dac_signed else 0.0))
    slice_bits = int(p["xbar.dac.mvm.slice_size"]) if p["xbar.dac.mvm.input_bitslicing"] else None
    adc_bits = int(p["xbar.adc.mvm.bits"]) or None
    opt = _cs_str(p["xbar.adc.mvm.adc_range_option"])
    refuse("xbar.adc.mvm.adc_range_option", opt in ("MAX", "CALIBRATED"))
    adc = {"bits": adc_bits, "signed": bool(p["xbar.adc.mvm.signed"])}
    if opt == "CALIBRATED" and adc_bits:
        lo_hi = p["xbar.adc.mvm.calibrated_range"]
        raise NotImplementedError(f"CrossSim xbar.adc.mvm.calibrated_range={lo_hi!r} is in CrossSim's normalized "
                                  f"units; calibrate with refsim.tools.calibrate and set adc.range_A in A instead")
    return CrossbarConfig(
        weight=WeightConfig(bits=weight_bits, n_slices=n_slices, **wcfg),
        mapping=MappingConfig(scheme=scheme, g_min_S=g_min, g_max_S=1.0 / rmin,
                              subtraction="in_array" if p["core.balanced.subtract_current_in_xbar"] else "digital",
                              offset_removal="digital" if off_style == "DIGITAL_OFFSET" else "reference_column",
                              cell_bits=(int(p["xbar.device.cell_bits"]) or None) if weight_bits is None else None),
        dac=DACConfig(bits=dac_bits, signed=dac_signed, range_mode="fixed", x_max=imax, v_read_V=v_read_V,
                      slice_bits=slice_bits,
                      accumulation="digital" if p["xbar.adc.mvm.adc_per_ibit"] or slice_bits is None else "analog"),
        adc=ADCConfig(**adc),
        array=ArrayConfig(rows_max=int(p["core.rows_max"]), cols_max=int(p["core.cols_max"]),
                          split="fill" if parts == {"MAX"} else "even"),
        device=NoiseConfig(**dev),
        wire=WireConfig(**wire),
        name=name,
    )
