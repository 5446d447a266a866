"""Named configurations. Each preset is a function returning a :class:`~refsim.CrossbarConfig`
and its docstring cites its source and states every value that differs from the defaults.

``get(name)`` returns one, ``names()`` lists them.
"""

from __future__ import annotations

from typing import Callable

from refsim.config import ADCConfig, ArrayConfig, CrossbarConfig, DACConfig, MappingConfig, WeightConfig

__all__ = ["get", "names", "register"]

_PRESETS: dict[str, Callable[[], CrossbarConfig]] = {}


def register(fn: Callable[[], CrossbarConfig]) -> Callable[[], CrossbarConfig]:
    """Decorator adding a preset function under its own name."""
    _PRESETS[fn.__name__] = fn
    return fn


def names() -> list[str]:
    """Names of all presets, sorted."""
    return sorted(_PRESETS)


def get(name: str) -> CrossbarConfig:
    """The preset called ``name``; unknown names raise ``ValueError`` listing the known ones."""
    if not isinstance(name, str) or name not in _PRESETS:
        raise ValueError(f"preset: unknown name {name!r}; expected one of {names()}")
    return _PRESETS[name]()


@register
def ideal() -> CrossbarConfig:
    """Every non-ideality off: analog weights, ideal DAC (per-vector range) and ideal ADC,
    differential one-sided mapping with in-array subtraction, no tiling. ``matvec`` equals
    ``x @ W`` to float64 round-off."""
    return CrossbarConfig(name="ideal")


@register
def int8() -> CrossbarConfig:
    """8-bit weights, 8-bit signed DAC (per-vector absolute-max range), 8-bit signed ADC with
    the "max" range, differential one-sided mapping, in-array subtraction, no tiling. A
    deterministic (noise-free) quantized baseline."""
    return CrossbarConfig(
        weight=WeightConfig(bits=8),
        dac=DACConfig(bits=8),
        adc=ADCConfig(bits=8),
        name="int8",
    )


@register
def bitserial_int8() -> CrossbarConfig:
    """As :func:`int8` but the 7 magnitude bits of the inputs are applied one bit per read
    (bit-serial, ``slice_bits=1``), each read with its own 8-bit ADC, summed digitally."""
    return CrossbarConfig(
        weight=WeightConfig(bits=8),
        dac=DACConfig(bits=8, slice_bits=1),
        adc=ADCConfig(bits=8),
        name="bitserial_int8",
    )


@register
def xiao2022_resnet50() -> CrossbarConfig:
    """The ResNet50 hardware of Xiao et al. 2022 (CrossSim; IEEE CAS Magazine, Q4 2022):
    differential one-sided ("proportional") mapping with in-array subtraction, 8-bit
    weights in one slice, 8-bit inputs, 8-bit ADC, 1152 x 256 arrays (fill-first split),
    on/off ratio 100 (``g_min = g_max / 100``), no device errors (the sweeps vary them)."""
    return CrossbarConfig(
        weight=WeightConfig(bits=8),
        mapping=MappingConfig(g_min_S=1e-7, g_max_S=1e-5),
        dac=DACConfig(bits=8),
        adc=ADCConfig(bits=8),
        array=ArrayConfig(rows_max=1152, cols_max=256, split="fill"),
        name="xiao2022_resnet50",
    )


@register
def rasch2023_standard() -> CrossbarConfig:
    """The "standard" analog forward of Rasch et al. 2023 (Nat. Commun.; aihwkit) with its
    PCM device model, as described in docs/MODEL.md (P1-P3):

    * 512 x 512 tiles (even split); analog weights with column-wise scaling; differential
      one-sided mapping, ``g_min = 0``, ``g_max = 25 uS`` (G+ carries positive weights);
    * DAC: 8-bit signed (127 levels a side, resolution 1/254 of the full range), per-vector
      absolute-maximum input range ("noise management"), input bound 1;
    * ADC: 8-bit signed with a fixed bound of 10 in aihwkit's output unit
      (``range_A = 10 * g_max * v_read``);
    * PCM programming noise, per-device drift and 1/f read noise of aihwkit's
      ``PCMLikeNoiseModel``, global drift compensation, ``t_inference_s = 0``
      (vary ``device.t_inference_s`` for drift);
    * output noise 0.04 in aihwkit's output unit (``g_max * v_read``).

    Not included: aihwkit's additional ``w_noise`` (PCM_READ, 0.0175) weight noise, since
    refsim has one read-noise model per config (``device.read_model="sqrt_state"`` with
    ``read_sigma_rel=0.0175`` selects it instead of the 1/f model), and the IR-drop
    heuristic (``device.ir_drop_scale``), off in the standard forward. The digital bias
    is the layers' business. Needs ``rng``.
    """
    from refsim.devices import pcm_rasch2023_noise

    g_max, v_read = 25e-6, 0.2
    return CrossbarConfig(
        weight=WeightConfig(scaling="column"),
        mapping=MappingConfig(g_min_S=0.0, g_max_S=g_max),
        dac=DACConfig(bits=8, v_read_V=v_read),
        adc=ADCConfig(bits=8, range_mode="fixed", range_A=10 * g_max * v_read),
        array=ArrayConfig(rows_max=512, cols_max=512, split="even"),
        device=pcm_rasch2023_noise(),
        name="rasch2023_standard",
    )


@register
def int8_bounded() -> CrossbarConfig:
    """As :func:`int8`, but with aihwkit's output-bound convention instead of the "max" ADC
    range (Rasch et al. 2023): the 8-bit ADC spans +/- 10 unit currents
    (``range_A = 10 (g_max - g_min) v_read``, the current of 10 fully-on cells driven at full
    scale), and a vector whose ADC input clips is read again with its input range doubled
    (``dac.bound_management="iterative"``, aihwkit's default). With per-vector input scaling
    this keeps most of the ADC's codes in use without calibration data."""
    base = int8()
    m = base.mapping
    return base.replace(**{
        "adc.range_mode": "fixed", "adc.range_A": 10 * (m.g_max_S - m.g_min_S) * base.dac.v_read_V,
        "dac.bound_management": "iterative", "name": "int8_bounded",
    })
