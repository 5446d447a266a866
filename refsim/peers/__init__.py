"""Build a :class:`refsim.CrossbarConfig` from a peer simulator's parameter names.

* :func:`from_aihwkit_io`: IBM aihwkit's ``IOParameters`` (forward), ``MappingParameter``
  and the ``PCMLikeNoiseModel`` of [R23];
* :func:`from_crosssim` (:mod:`refsim.peers.crosssim`): Sandia CrossSim 3.2's own
  ``CrossSimParameters.to_json`` / ``as_dict`` dump (or flat dotted keys).

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

from refsim.config import ADCConfig, ArrayConfig, CrossbarConfig, DACConfig, MappingConfig, WeightConfig
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


from refsim.peers.crosssim import from_crosssim  # noqa: E402  (CrossSim 3.2: refsim/peers/crosssim.py)
