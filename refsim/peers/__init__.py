"""Build a :class:`refsim.CrossbarConfig` from a peer simulator's parameter names.

* :func:`from_aihwkit` (:mod:`refsim.peers.aihwkit`): IBM aihwkit 1.1.0's ``InferenceRPUConfig`` as a
  dict (``forward`` IOParameters, ``mapping``, ``noise_model``...); :func:`from_aihwkit_io` with keywords;
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
from refsim.devices.config import NoiseConfig
from refsim.peers.aihwkit import from_aihwkit, from_aihwkit_io, resolution_to_bits

__all__ = ["from_aihwkit", "from_aihwkit_io", "from_crosssim", "resolution_to_bits"]


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
