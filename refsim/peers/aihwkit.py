"""IBM aihwkit 1.1.0 -> refsim: :func:`from_aihwkit` takes an ``InferenceRPUConfig`` laid out as a dict.

aihwkit's analog forward (``ForwardBackwardPassIOManaged<float>::forwardVector`` in
``src/rpucuda/rpu_forward_backward_pass.cpp``) per input vector and per tile: noise
management (the input scale), the DAC (``prepareInput``: ``rintf(x s / res) res`` clipped at
``±inp_bound``), the float32 ``gemv``, the IR-drop heuristic, the ADC (``finalizeOutput``:
output noise, ``rintf(y / res) res`` clipped at ``±out_bound``), iterative bound management
(the whole vector again with its input scale halved while an output clips), and the output
rescale. Resolutions are fractions of the full range: ``res = inp_res · 2 inp_bound``
(``IOMetaParameter::initializeForForward``). The translation is explicit and documented in
``docs/peer_mapping.md``; the float32 conventions that decide codes are the config options
``dac.arithmetic="aihwkit_float32"`` (D7), ``dac.full_scale_code``/``adc.full_scale_code``,
``adc.bm_top_code`` (X9) and ``adc.clip_ideal`` (A9).

refsim's ``W (n_in, n_out)`` is aihwkit's weight ``(out_size, in_size)`` transposed; inputs are
aihwkit's rows. aihwkit's normalized units: weight 1 is ``g_max_S``, input 1 is ``v_read_V``,
one output unit is ``g_max_S · v_read_V``; these two only set refsim's physical scale.
aihwkit's defaults and the readers of its values are in :mod:`refsim.peers.aihwkit_params`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from refsim._validate import check_choice, check_scalar, received, show
from refsim.config import ADCConfig, ArrayConfig, CrossbarConfig, DACConfig, MappingConfig, WeightConfig
from refsim.devices.config import NoiseConfig, pcm_rasch2023_noise
# aihwkit's defaults and the readers of its values (re-exported: the public names stay here)
from refsim.peers.aihwkit_params import (_F32, _OFF, _TRAINING_ONLY, AIHWKIT_VERSION, AihwkitStateWarning, IO_DEFAULTS, MAPPING_DEFAULTS,
                                         PCM_DEFAULTS, _bits, _enum, _pow2_above, _section, _steps,
                                         check_fields, resolution_to_bits)

__all__ = ["from_aihwkit", "from_aihwkit_io", "resolution_to_bits", "AihwkitStateWarning", "AIHWKIT_VERSION", "IO_DEFAULTS",
           "MAPPING_DEFAULTS"]


def from_aihwkit(rpu_config, *, t_inference_s: float | None = None, g_max_S: float = 25e-6, v_read_V: float = 0.2,
                 name: str = "aihwkit") -> CrossbarConfig:
    """A config whose multiply equals aihwkit 1.1.0's analog forward with ``rpu_config``.

    Parameters
    ----------
    rpu_config : dict laid out like aihwkit's ``InferenceRPUConfig`` (or that dataclass itself):
        ``forward`` (``IOParameters`` fields), ``mapping`` (``MappingParameter``), ``noise_model``
        (None, a class name, or a dict with ``"type"`` and the model's parameters),
        ``drift_compensation`` (None or ``"GlobalDriftCompensation"``), ``clip`` and the other
        training-only sections (accepted, no effect on a forward), ``runtime`` (float32 only),
        ``pre_post`` (input-range learning off). Enums by aihwkit name (``"ABS_MAX"``) or value
        (``"AbsMax"``). Every missing field takes aihwkit 1.1.0's default (:data:`IO_DEFAULTS`,
        :data:`MAPPING_DEFAULTS`); note the default ``out_noise=0.06`` (noisy) and the default
        ``bound_management="ITERATIVE"``.
    t_inference_s : None (default): the weights as set (aihwkit's forward before
        ``program_analog_weights``/``drift_analog_weights``; the noise model is not used); a
        time: the noise model programs and drifts the weights to it (with the drift compensation).
    g_max_S, v_read_V : physical scale of aihwkit's normalized units (weight 1, input 1).

    Options that would change the result and are not modelled raise ``NotImplementedError``
    naming the field; unknown fields and invalid values raise ``ValueError``. refsim's ``W`` is
    aihwkit's weight transposed. The returned config switches on the aihwkit conventions
    (``dac.arithmetic="aihwkit_float32"`` and friends, docs/MODEL.md D7, A9, X9).
    """
    top = _section(rpu_config, "rpu_config")
    known = {"forward", "mapping", "noise_model", "drift_compensation", "runtime", "pre_post", *_TRAINING_ONLY}
    unknown = sorted(set(top) - known)
    if unknown:
        raise ValueError(f"aihwkit rpu_config: unknown key(s) {unknown}; expected some of {sorted(known)}")
    io = _section(top.get("forward"), "forward")
    bad = sorted(set(io) - set(IO_DEFAULTS))
    if bad:
        raise ValueError(f"aihwkit forward: unknown IOParameters field(s) {bad}; expected some of {sorted(IO_DEFAULTS)}")
    io = {**IO_DEFAULTS, **io}
    check_fields("forward", io, IO_DEFAULTS)
    mp = _section(top.get("mapping"), "mapping")
    bad = sorted(set(mp) - set(MAPPING_DEFAULTS))
    if bad:
        raise ValueError(f"aihwkit mapping: unknown MappingParameter field(s) {bad}; expected some of "
                         f"{sorted(MAPPING_DEFAULTS)}")
    mp = {**MAPPING_DEFAULTS, **mp}
    check_fields("mapping", mp, MAPPING_DEFAULTS)
    _check_runtime(top)
    t_inference_s = check_scalar("t_inference_s", t_inference_s, low=0.0, allow_none=True)
    g_max_S = check_scalar("g_max_S", g_max_S, low=0.0, low_open=True)
    v_read_V = check_scalar("v_read_V", v_read_V, low=0.0, low_open=True)

    weight, g_max_eff = _weight_mapping(mp, g_max_S)
    omega = float(mp["weight_scaling_omega"])
    array = ArrayConfig(rows_max=int(mp["max_input_size"]) if mp["max_input_size"] > 0 else None,
                        cols_max=int(mp["max_output_size"]) if mp["max_output_size"] > 0 else None, split="even")
    mapping = MappingConfig(scheme="differential_one_sided", g_min_S=0.0, g_max_S=g_max_eff, subtraction="in_array")
    mv = _enum(io["mv_type"], "forward.mv_type",
               ("IDEAL", "ONE_PASS", "POS_NEG_SEPARATE", "POS_NEG_SEPARATE_DIGITAL_SUM", "SPLIT_MODE", "BIT_WISE"))
    if io["is_perfect"] or mv == "IDEAL":  # forwardVector's short cut: W x in float32, times out_scale
        if float(io["out_scale"]) != 1.0:
            raise NotImplementedError(f"aihwkit forward.out_scale={io['out_scale']!r}: not modelled by refsim")
        return CrossbarConfig(weight=weight, mapping=mapping, dac=DACConfig(v_read_V=v_read_V), name=name)
    for key, off in _OFF.items():
        if io[key] != off:
            raise NotImplementedError(f"aihwkit forward.{key}={io[key]!r}: not modelled by refsim (only {off!r})")
    if mv in ("SPLIT_MODE", "BIT_WISE"):
        raise NotImplementedError(f"aihwkit forward.mv_type={io['mv_type']!r}: refsim has ONE_PASS, POS_NEG_SEPARATE "
                                  f"and POS_NEG_SEPARATE_DIGITAL_SUM")
    dac = _dac(io, mv, v_read_V)
    adc, bm_on = _adc(io, g_max_S, v_read_V)
    bm = _enum(io["bound_management"], "forward.bound_management", ("NONE", "ITERATIVE", "ITERATIVE_WORST_CASE", "SHIFT"))
    if bm in ("ITERATIVE_WORST_CASE", "SHIFT"):
        raise NotImplementedError(f"aihwkit forward.bound_management={io['bound_management']!r}: refsim has NONE "
                                  f"and ITERATIVE")
    if bm == "ITERATIVE" and bm_on:
        if not io["bm_test_negative_bound"]:
            raise NotImplementedError("aihwkit forward.bm_test_negative_bound=False: refsim's bound management "
                                      "tests both bounds")
        dac = dataclasses.replace(dac, bound_management="iterative", bm_max_factor=_bm_max_factor(io))
    else:
        adc = dataclasses.replace(adc, bm_top_code=False)
    device = _device(io, top, omega, t_inference_s, g_max_S)
    return CrossbarConfig(weight=weight, mapping=mapping, dac=dac, adc=adc, array=array, device=device, name=name)


def _check_runtime(top: dict) -> None:
    rt = _section(top.get("runtime"), "runtime")
    dtype = rt.get("data_type", "FLOAT")
    if _enum(dtype, "runtime.data_type", ("FLOAT", "DOUBLE", "HALF")) != "FLOAT":
        raise NotImplementedError(f"aihwkit runtime.data_type={dtype!r}: refsim follows aihwkit's float32 arithmetic")
    pre = _section(top.get("pre_post"), "pre_post")
    ir = _section(pre.get("input_range"), "pre_post.input_range")
    if ir.get("enable", False):
        raise NotImplementedError("aihwkit pre_post.input_range.enable=True (learned input ranges): not modelled "
                                  "by refsim")


def _weight_mapping(mp: dict, g_max_S: float) -> tuple[WeightConfig, float]:
    """``MappingParameter`` -> (weight section, refsim's ``g_max_S``).

    ``weight_scaling_omega = 0``: the weights are stored as given (refsim ``w_max = 1``);
    ``omega > 0``: ``W / alpha`` with ``alpha = max|W| / omega`` per output (columnwise) or per
    matrix, i.e. refsim's ``column``/``max`` scaling with the full-scale conductance ``omega g_max``.
    aihwkit scales every tile (``max_input_size x max_output_size``) on its own: ``scaling_scope="tile"``
    makes a :class:`refsim.Crossbar` refuse a matrix whose tiles would be scaled otherwise than the
    whole (several input tiles; several tiles of a layer-wise scale) with ``NotImplementedError``.
    """
    omega = float(mp["weight_scaling_omega"])
    if omega < 0:
        raise ValueError(f"aihwkit mapping.weight_scaling_omega: received {omega!r}; expected >= 0")
    if omega == 0:
        return WeightConfig(scaling="fixed", w_max=1.0), g_max_S
    return (WeightConfig(scaling="column" if mp["weight_scaling_columnwise"] else "max", scaling_scope="tile"),
            omega * g_max_S)


def _dac(io: dict, mv: str, v_read_V: float) -> DACConfig:
    nm = _enum(io["noise_management"], "forward.noise_management",
               ("NONE", "ABS_MAX", "ABS_MAX_NP_SUM", "MAX", "CONSTANT", "AVERAGE_ABS_MAX"))
    bound, thres = float(io["inp_bound"]), float(io["nm_thres"])
    if nm != "NONE" and bound != 1.0:
        raise ValueError(f"aihwkit forward.inp_bound: received {bound!r} with noise_management={nm}; aihwkit "
                         f"requires inp_bound=1 with noise management ('Forward noise managment expects bound==1')")
    cap = float(_F32(thres)) if thres > 0 else None  # (D8) x_max = min(max, nm_thres), in float32
    if nm == "ABS_MAX":
        rng = {"range_mode": "abs_max", "x_max_cap": cap}
    elif nm == "MAX":  # the largest input, signed; none positive: a zero output
        rng = {"range_mode": "max", "x_max_cap": cap}
    elif nm == "ABS_MAX_NP_SUM":  # max(max|x|, the sums' bound on the output), computeNoiseManagement
        ob = float(io["out_bound"])
        rng = {"range_mode": "abs_max_np_sum", "x_max_cap": cap, "nm_out_bound": ob if 0 < ob < math.inf else 1.0,
               "nm_max_bm_res": max(float(io["max_bm_res"]), 0.0) if float(io["inp_res"]) > 0 else 0.0}
    elif nm == "AVERAGE_ABS_MAX":  # (D8) a running average over the vectors of one call (a fresh layer)
        warnings.warn(
            "aihwkit forward.noise_management=AVERAGE_ABS_MAX: aihwkit keeps the running average of max|x| in "
            "each tile (its aux_nm_value, updated at every input vector, in training and in eval, and saved in "
            "the layer's state) and carries it over between forward calls; a refsim multiply starts it afresh "
            "at its first vector. Equal to a freshly built aihwkit layer's first call only; to reproduce later "
            "calls, multiply the earlier inputs and the new ones in one call (the average runs over the "
            "vectors in order; docs/peer_mapping.md, dac.range_mode)", AihwkitStateWarning, stacklevel=3)
        rng = {"range_mode": "average_abs_max"}
    elif nm == "CONSTANT":
        rng = {"range_mode": "fixed", "x_max": thres if thres > 0 else 1.0}
    elif nm == "NONE":
        if bound <= 0:
            raise NotImplementedError(f"aihwkit forward.inp_bound={bound!r} with noise_management NONE (unbounded "
                                      f"inputs): refsim's DAC has a range")
        rng = {"range_mode": "fixed", "x_max": bound}
    else:
        raise NotImplementedError(f"aihwkit forward.noise_management={io['noise_management']!r}: not modelled")
    n = _steps(io["inp_res"], "forward.inp_res")
    signed_inputs = "bipolar" if mv == "ONE_PASS" else "two_pass"
    accumulation = "analog" if mv == "POS_NEG_SEPARATE" else "digital"
    if n is None:
        return DACConfig(v_read_V=v_read_V, signed_inputs=signed_inputs, accumulation=accumulation, **rng)
    bits, fsc = _bits(n // 2)
    return DACConfig(bits=bits, full_scale_code=fsc, arithmetic="aihwkit_float32", v_read_V=v_read_V,
                     signed_inputs=signed_inputs, accumulation=accumulation, **rng)


def _adc(io: dict, g_max_S: float, v_read_V: float) -> tuple[ADCConfig, bool]:
    """The ADC and whether anything can clip (bound management has something to test)."""
    bound = float(io["out_bound"])
    n = _steps(io["out_res"], "forward.out_res") if bound > 0 else None  # res * 2 bound <= 0: not quantized
    if bound <= 0:  # aihwkit: an infinite bound
        return ADCConfig(), False
    range_A = bound * g_max_S * v_read_V
    if n is None:  # aihwkit clips at +/-out_bound even without a resolution (A9)
        return ADCConfig(range_mode="fixed", range_A=range_A, clip_ideal=True), True
    c = n // 2
    bits, fsc = _bits(c)
    res = _F32(_F32(1.0 / n) * _F32(2.0 * bound))
    top_clips = bool(_F32(_F32(c) * res) > _F32(bound))  # (X9): finalizeOutput tests value > out_bound
    return ADCConfig(bits=bits, full_scale_code=fsc, range_mode="fixed", range_A=range_A, bm_top_code=top_clips), True


def _bm_max_factor(io: dict) -> int:
    """aihwkit stops after the round whose reduction r exceeds ``max_bm_factor`` or ``max_bm_res / res``
    (``res = inp_res · 2``): the largest factor used is the smallest power of two above either limit.
    refsim doubles while ``2 f <= bm_max_factor`` (X5), so that power of two is ``bm_max_factor``."""
    f = _pow2_above(int(io["max_bm_factor"]))
    n = _steps(io["inp_res"], "forward.inp_res")
    if n is not None:
        res = _F32(_F32(1.0 / n) * _F32(2.0 * float(io["inp_bound"])))
        f = min(f, _pow2_above(_F32(io["max_bm_res"]) / res))
    return f


def _device(io: dict, top: dict, omega: float, t_inference_s: float | None, g_max_S: float) -> NoiseConfig:
    wt = _enum(io["w_noise_type"], "forward.w_noise_type", ("NONE", "ADDITIVE_CONSTANT", "PCM_READ"))
    w_noise, out_noise, ir_drop = float(io["w_noise"]), float(io["out_noise"]), float(io["ir_drop"])
    scale = omega if omega > 0 else 1.0  # refsim's unit current is omega g_max v_read (see _weight_mapping)
    if scale != 1.0:
        for key, val, active in (("forward.ir_drop", ir_drop, ir_drop > 0), ("forward.w_noise", w_noise, w_noise > 0),
                                 ("t_inference_s", t_inference_s, t_inference_s is not None)):
            if active:
                raise NotImplementedError(f"aihwkit {key}={val!r} with mapping.weight_scaling_omega={omega!r}: refsim "
                                          f"models these relative to g_max; use omega 0 or 1")
    dev: dict = {"out_noise_rel": out_noise / scale, "out_noise_reference": "unit_current",
                 "ir_drop_scale": ir_drop, "ir_drop_g_ratio": float(io["ir_drop_g_ratio"])}
    if io["out_sto_round"]:
        raise NotImplementedError("aihwkit forward.out_sto_round=True: refsim's stochastic ADC rounding "
                                  "(adc.rounding) draws its own numbers; not translated")
    if w_noise > 0 and wt == "PCM_READ":
        dev.update(read_model="sqrt_state", read_sigma_rel=w_noise)
    elif w_noise > 0 and wt == "ADDITIVE_CONSTANT":
        dev.update(read_model="independent", read_sigma_rel=w_noise / math.sqrt(2.0))
    if t_inference_s is None:
        return NoiseConfig(**dev)
    nm = top.get("noise_model")
    params = _noise_model(nm)
    if params is None:
        return NoiseConfig(**dev)
    if "read_model" in dev:
        raise NotImplementedError("aihwkit forward.w_noise together with the PCM 1/f read noise: refsim has one "
                                  "read-noise model per config")
    if abs(params["g_max"] * 1e-6 - g_max_S) > 1e-12 * g_max_S:
        raise ValueError(f"g_max_S: received {g_max_S!r}; expected the noise model's g_max = {params['g_max']} uS")
    dc = top.get("drift_compensation", "GlobalDriftCompensation")
    if dc is None or isinstance(dc, str):
        dc_name = dc
    elif isinstance(dc, dict):
        dc_name = dc.get("type", "GlobalDriftCompensation")
    else:
        dc_name = type(dc).__name__
    if dc_name not in (None, "GlobalDriftCompensation"):
        raise NotImplementedError(f"aihwkit drift_compensation={dc_name!r}: refsim has GlobalDriftCompensation")
    base = pcm_rasch2023_noise(float(t_inference_s), drift_compensation=dc_name is not None, out_noise_rel=out_noise)
    return NoiseConfig(**{**base.to_dict(), "ir_drop_scale": ir_drop, "ir_drop_g_ratio": float(io["ir_drop_g_ratio"]),
                          "pcm_prog_noise_scale": float(params["prog_noise_scale"]),
                          "pcm_read_noise_scale": float(params["read_noise_scale"]),
                          "pcm_drift_scale": float(params["drift_scale"]), "t0_s": float(params["t_0"]),
                          "t_read_s": float(params["t_read"]), "pcm_read_noise_held": True})


def _noise_model(nm) -> dict | None:
    """The ``noise_model`` entry -> PCMLikeNoiseModel parameters, or None for no noise model."""
    if nm is None:
        return None
    if isinstance(nm, str):
        kind, params = nm, {}
    elif isinstance(nm, dict):
        params = dict(nm)
        kind = params.pop("type", "PCMLikeNoiseModel")
    else:
        kind, params = type(nm).__name__, {k: v for k, v in vars(nm).items() if k in PCM_DEFAULTS}
    if not isinstance(kind, str):
        raise TypeError(received("aihwkit noise_model.type", show(kind), "a class name such as 'PCMLikeNoiseModel'"))
    if kind in ("NullNoiseModel", "None", "none"):
        return None
    if kind not in ("PCMLikeNoiseModel", "pcm"):
        raise NotImplementedError(f"aihwkit noise_model={kind!r}: refsim has PCMLikeNoiseModel")
    bad = sorted(set(params) - set(PCM_DEFAULTS))
    if bad:
        raise ValueError(f"aihwkit noise_model: unknown PCMLikeNoiseModel field(s) {bad}")
    p = {**PCM_DEFAULTS, **params}
    check_fields("noise_model", p, PCM_DEFAULTS)
    if list(p["prog_coeff"]) != PCM_DEFAULTS["prog_coeff"]:
        raise NotImplementedError(f"aihwkit noise_model.prog_coeff={p['prog_coeff']!r}: refsim has the [R23] "
                                  f"polynomial only")
    if p["prog_coeff_g_max_reference"] not in (None, p["g_max"]):
        raise NotImplementedError("aihwkit noise_model.prog_coeff_g_max_reference != g_max: not modelled by refsim")
    conv = p["g_converter"]
    conv_name = conv if conv is None or isinstance(conv, str) else type(conv).__name__
    if conv_name not in (None, "SinglePairConductanceConverter") or float(getattr(conv, "g_min", 0.0) or 0.0) != 0.0:
        raise NotImplementedError(f"aihwkit noise_model.g_converter={conv!r}: refsim maps one device pair with "
                                  f"g_min = 0 (SinglePairConductanceConverter)")
    return p


def from_aihwkit_io(*, inp_res: float = 1 / 254, out_res: float = 1 / 254, inp_bound: float = 1.0,
                    out_bound: float = 10.0, out_noise: float = 0.0, noise_management: str = "abs_max",
                    bound_management: str = "none", nm_thres: float = 0.0, w_noise: float = 0.0,
                    w_noise_type: str = "none", ir_drop: float = 0.0, ir_drop_g_ratio: float = 1.0 / (0.35 * 5e-6),
                    inp_noise: float = 0.0, inp_sto_round: bool = False, out_sto_round: bool = False,
                    out_scale: float = 1.0, mv_type: str = "one_pass", is_perfect: bool = False,
                    out_nonlinearity: float = 0.0, r_series: float = 0.0, v_offset_std: float = 0.0,
                    w_read_asymmetry_dtod: float = 0.0, inp_asymmetry: float = 0.0, out_asymmetry: float = 0.0,
                    out_noise_std: float = 0.0, max_bm_factor: int = 1000, max_input_size: int | None = 512,
                    max_output_size: int | None = 512, weight_scaling_columnwise: bool = True,
                    noise_model: str = "none", t_inference_s: float = 0.0, drift_compensation: bool = True,
                    g_max_S: float = 25e-6, v_read_V: float = 0.2, name: str = "aihwkit") -> CrossbarConfig:
    """:func:`from_aihwkit` with keyword arguments (enum values as lower-case names) and this
    function's own defaults (8-bit converters, ``out_bound=10``, no output noise, no bound management,
    weights scaled to their maximum: ``weight_scaling_omega=1``). ``mv_type="two_pass"`` is
    ``POS_NEG_SEPARATE_DIGITAL_SUM``; ``noise_model="pcm"`` applies ``PCMLikeNoiseModel`` at
    ``t_inference_s``; ``max_bm_factor`` is aihwkit's (the largest factor used is the power of two
    above it, ``max_bm_res`` off)."""
    check_choice("noise_model", noise_model, ("none", "pcm"))
    if not isinstance(drift_compensation, (bool, np.bool_)):
        raise TypeError(received("drift_compensation", show(drift_compensation), "True or False"))
    forward = {k: v for k, v in locals().items() if k in IO_DEFAULTS}  # the IOParameters among the arguments
    forward["mv_type"] = {"two_pass": "POS_NEG_SEPARATE_DIGITAL_SUM", "split": "SPLIT_MODE"}.get(mv_type, mv_type)
    forward["max_bm_res"] = float("inf")
    mapping = {"weight_scaling_omega": 1.0, "weight_scaling_columnwise": weight_scaling_columnwise,
               "max_input_size": max_input_size or 0, "max_output_size": max_output_size or 0}
    rpu = {"forward": forward, "mapping": mapping, "noise_model": "PCMLikeNoiseModel" if noise_model == "pcm" else None,
           "drift_compensation": "GlobalDriftCompensation" if drift_compensation else None}
    return from_aihwkit(rpu, t_inference_s=t_inference_s if noise_model == "pcm" else None, g_max_S=g_max_S,
                        v_read_V=v_read_V, name=name)
