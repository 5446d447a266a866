"""Named configurations. Each preset is a function returning a :class:`~refsim.CrossbarConfig`;
its docstring states its **source**, what **differs** from that source, and its **arrays**
(rows x columns of one physical array), then every value that differs from the defaults.

``get(name)`` returns one, ``names()`` lists them, ``describe(name)`` gives its docstring as
plain text, ``summary(name)`` its first sentence. A preset whose source calibrates ranges on
data (Xiao et al.'s ADC ranges, Rasch et al.'s input range) declares it:
``needs_calibration(name)`` says what must be calibrated, and ``refsim infer``, ``eval`` and
``sweep`` calibrate it on images disjoint from the evaluated ones
(:func:`refsim.tools.calibrate.calibrate_model` does it in Python). In Python the step is
explicit: a :mod:`refsim.nn` network whose layers use such a preset uncalibrated refuses to run
analog (:func:`check_calibrated`, :class:`CalibrationRequiredError`). What decides is the config's
field ``calibrated`` (the ranges set from data: the calibration tools and ``refsim train`` set it)
against :func:`required_calibration`, or ``calibration_waived`` (set by :func:`uncalibrated`, the
opt-out on purpose); never its name, which says ``"<name>+cal"`` / ``"+hwa"`` /
``"+uncalibrated"`` for people. A single :class:`~refsim.Crossbar` is not checked: its ranges are
whatever its config says.
"""

from __future__ import annotations

import re
from typing import Callable

from refsim.config import (CALIBRATED_RANGES, ADCConfig, ArrayConfig, CrossbarConfig, DACConfig, MappingConfig,
                           WeightConfig)

__all__ = ["get", "names", "register", "describe", "summary", "needs_calibration", "required_calibration",
           "missing_calibration", "base_name", "check_calibrated", "calibration_problem", "uncalibrated",
           "uncalibrated_if_asked", "CalibrationRequiredError"]

_PRESETS: dict[str, Callable[[], CrossbarConfig]] = {}
_CALIBRATES: dict[str, str] = {}  # preset name -> what its source calibrates on data (text)
_REQUIRES: dict[str, tuple[str, ...]] = {}  # preset name -> the ranges of that text, sorted


def register(fn: Callable[[], CrossbarConfig] | None = None, *, calibrate: str | None = None):
    """Decorator adding a preset function under its own name; ``calibrate`` (text) declares that
    the preset's source calibrates these ranges on data (see :func:`needs_calibration`): it starts
    with the ranges (``"dac"``, ``"adc"``, ``"dac and adc"``), then ``":"`` and the explanation."""
    if calibrate:
        head = calibrate.split(":", 1)[0]
        ranges = tuple(r for r in CALIBRATED_RANGES if r in head.split())
        if ":" not in calibrate or not ranges:
            raise ValueError(f"register: calibrate={calibrate!r}; expected the ranges from {CALIBRATED_RANGES} "
                             "before a ':', e.g. 'dac: the input range, profiled on data'")

    def add(f):
        _PRESETS[f.__name__] = f
        if calibrate:
            _CALIBRATES[f.__name__] = calibrate
            _REQUIRES[f.__name__] = ranges
        return f
    return add if fn is None else add(fn)


def names() -> list[str]:
    """Names of all presets, sorted."""
    return sorted(_PRESETS)


def get(name: str) -> CrossbarConfig:
    """The preset called ``name``; unknown names raise ``ValueError`` listing the known ones."""
    if not isinstance(name, str) or name not in _PRESETS:
        raise ValueError(f"preset: unknown name {name!r}; expected one of {names()}")
    return _PRESETS[name]()


def needs_calibration(name: str) -> str | None:
    """What the source of preset ``name`` calibrates on data (text), or None when nothing."""
    get(name)  # unknown names raise
    return _CALIBRATES.get(name)


def required_calibration(name: str) -> tuple[str, ...]:
    """The ranges the source of preset ``name`` sets from data, sorted (a subset of
    ``CALIBRATED_RANGES``: ``("dac",)`` for rasch2023_standard, ``("adc", "dac")`` for
    xiao2022_resnet50); ``()`` when nothing."""
    get(name)  # unknown names raise
    return _REQUIRES.get(name, ())


def missing_calibration(config: CrossbarConfig) -> tuple[str, ...]:
    """The ranges that the preset ``config`` derives from (:func:`base_name`) sets from data and
    ``config`` lacks, sorted; ``()`` when none (or no preset). A range is there when
    ``config.calibrated`` names it and its converter's ``range_mode`` is still ``"fixed"`` (a
    calibrated range changed to another mode is no longer the calibrated one).
    ``calibration_waived`` is not looked at: it permits running uncalibrated, it calibrates nothing."""
    if not isinstance(config, CrossbarConfig):
        raise TypeError(f"config: received {type(config).__name__}; expected a refsim.CrossbarConfig")
    base = base_name(config.name)
    need = _REQUIRES.get(base, ()) if base is not None else ()
    return tuple(r for r in need if r not in config.calibrated or getattr(config, r).range_mode != "fixed")


def base_name(config_name: str) -> str | None:
    """The preset a config's name derives from: ``"rasch2023_standard+device.t_inference_s=86400"``,
    ``"int8+cal"`` and ``"int8+modified"`` name configs derived from a preset (the part before the
    first ``+``); None when that part is no preset."""
    head = str(config_name).split("+", 1)[0]
    return head if head in _PRESETS else None


class CalibrationRequiredError(ValueError):
    """A network layer uses, uncalibrated, a preset whose source calibrates ranges on data."""


_UNCALIBRATED = "uncalibrated"


def _name_parts(config_name: str) -> list[str]:
    return str(config_name).split("+")[1:]


def uncalibrated(config: CrossbarConfig) -> CrossbarConfig:
    """``config`` with ``calibration_waived=True`` (and named ``"<name>+uncalibrated"`` for people):
    run a preset that needs calibration as it is, on purpose (its source's ranges are not set, so
    its accuracy is not the source's). Experts only; ``refsim infer/eval/sweep --no-calibrate`` use it."""
    if not isinstance(config, CrossbarConfig):
        raise TypeError(f"config: received {type(config).__name__}; expected a refsim.CrossbarConfig")
    name = config.name if _UNCALIBRATED in _name_parts(config.name) else f"{config.name}+{_UNCALIBRATED}"
    return config.replace(name=name, calibration_waived=True)


def uncalibrated_if_asked(config: CrossbarConfig, no_calibrate: bool) -> CrossbarConfig:
    """:func:`uncalibrated` ``(config)`` when ``no_calibrate`` and its preset needs a calibration it
    lacks (:func:`missing_calibration`), else ``config`` (what the CLI's ``--no-calibrate`` does)."""
    if no_calibrate and missing_calibration(config):
        return uncalibrated(config)
    return config


def calibration_problem(config: CrossbarConfig | None, where: str) -> str | None:
    """The message of :func:`check_calibrated` for ``config``, or None when it may run."""
    if config is None:
        return None
    missing = missing_calibration(config)
    if not missing or config.calibration_waived:
        return None
    base = base_name(config.name)
    unfixed = [f"{r}.range_mode={getattr(config, r).range_mode!r}" for r in missing if r in config.calibrated]
    done = (f"calibrated={config.calibrated!r}" + (f" but {', '.join(unfixed)} (not 'fixed')" if unfixed else "")
            + f", so the {' and '.join(missing)} range(s) were not set from data")
    return (
        f"{where}: preset {base!r}" + (f" (config {config.name!r})" if config.name != base else "")
        + f" needs calibration ({_CALIBRATES[base]}); it has {done}. Uncalibrated it "
        "is not its source's model (e.g. a network at chance). Calibrate first: "
        "cal = refsim.tools.calibrate.calibrate_model(model, calibration_images), then build again with cal "
        "(refsim.tools.inference.build_model(..., cal); calibrate_network(net, x) for a refsim.nn network); "
        "the CLI's infer, eval and sweep calibrate it for you. To run it uncalibrated on purpose, pass "
        "refsim.presets.uncalibrated(config) (calibration_waived=True).")


def check_calibrated(config: CrossbarConfig | None, where: str) -> None:
    """Raise :class:`CalibrationRequiredError` when ``config`` derives from a preset that needs
    calibration (:func:`required_calibration`) and its field ``calibrated`` lacks some of those
    ranges (:func:`missing_calibration`; :mod:`refsim.tools.calibrate` sets the field, and
    ``refsim train`` sets ``("dac",)`` for its learned input range alpha, all that
    rasch2023_standard calibrates), unless ``config.calibration_waived`` (:func:`uncalibrated`).
    The name (``+cal``, ``+hwa``, ``+uncalibrated``) plays no part. ``where`` names the layer (or
    crossbar) in the message."""
    problem = calibration_problem(config, where)
    if problem is not None:
        raise CalibrationRequiredError(problem)


def describe(name: str) -> str:
    """The docstring of preset ``name`` as plain text (no reStructuredText markup), paragraphs
    and bullet items kept, lines joined."""
    get(name)
    doc = _PRESETS[name].__doc__ or ""
    doc = re.sub(r":(?:func|class|mod|attr|meth):`~?([^`]+)`", r"\1", doc)
    doc = doc.replace("``", "")
    paras, cur = [], []
    for line in doc.strip().splitlines():
        line = line.strip()
        if not line or line.startswith("* "):
            if cur:
                paras.append(" ".join(cur))
            cur = [] if not line else ["-" + line[1:]]
            continue
        cur.append(line)
    if cur:
        paras.append(" ".join(cur))
    return "\n".join(p if p.startswith("-") else "\n" + p for p in paras).strip()


def summary(name: str) -> str:
    """The first sentence of :func:`describe` (up to the first period followed by a space)."""
    text = describe(name).split("\n")[0]
    m = re.search(r"(?<! al)(?<!e\.g)(?<!i\.e)\.(\s|$)", text)
    return text[: m.start() + 1] if m else text


@register
def ideal() -> CrossbarConfig:
    """Every non-ideality off: ``matvec`` equals ``x @ W`` to float64 round-off.

    Source: none; the exact reference every other preset is compared with. Differs: nothing is
    modeled (analog weights, ideal DAC with a per-vector range, ideal ADC, differential one-sided
    mapping with in-array subtraction). Arrays: untiled (one array per weight matrix), on
    purpose: tiling an exact pipeline changes nothing but round-off."""
    return CrossbarConfig(name="ideal")


#: Rows and columns of one physical array of the int8 family: aihwkit's default tile, and the
#: size of the arrays of Rasch et al. 2023.
_CHIP_ARRAY = ArrayConfig(rows_max=512, cols_max=512, split="even")


@register
def int8() -> CrossbarConfig:
    """8-bit converters with the ADC's "max" range: a deterministic, noise-free worst case.

    Source: refsim's own baseline (no paper). 8-bit weights, 8-bit signed DAC (per-vector
    absolute-maximum range), 8-bit signed ADC whose range is "max" (the current of every row
    fully on at full input), differential one-sided mapping, in-array subtraction, no noise.
    Differs from real chips: no chip sets its ADC range to the worst case; with hundreds of rows
    the column currents of real data use only a few ADC levels and deep layers compute (almost)
    nothing (refsim warns: DeadCrossbarWarning). Use int8_bounded or a calibrated config for
    accuracy. Arrays: 512 x 512 (even split), digital sum of the row tiles."""
    return CrossbarConfig(
        weight=WeightConfig(bits=8),
        dac=DACConfig(bits=8),
        adc=ADCConfig(bits=8),
        array=_CHIP_ARRAY,
        name="int8",
    )


@register
def bitserial_int8() -> CrossbarConfig:
    """As int8, with the inputs applied one bit per read (bit-serial).

    Source: refsim's own baseline; bit-serial inputs as in ISAAC-style designs. The 7 magnitude
    bits of the inputs are applied one bit per read (``slice_bits=1``), each read with its own
    8-bit ADC ("max" range), summed digitally. Differs: as int8 (worst-case ADC range).
    Arrays: 512 x 512 (even split)."""
    return CrossbarConfig(
        weight=WeightConfig(bits=8),
        dac=DACConfig(bits=8, slice_bits=1),
        adc=ADCConfig(bits=8),
        array=_CHIP_ARRAY,
        name="bitserial_int8",
    )


@register(calibrate="dac and adc: the input range and every layer's ADC range, profiled on data "
                    "(Xiao et al. calibrate per layer; refsim.tools.calibrate, percentile 99.9)")
def xiao2022_resnet50() -> CrossbarConfig:
    """The ResNet50 hardware of Xiao et al. 2022, with ADC and input ranges calibrated on data.

    Source: Xiao et al., "On the accuracy of analog neural network inference accelerators",
    IEEE Circuits Syst. Mag. 22(4), 2022 (CrossSim): differential one-sided ("proportional")
    mapping with in-array subtraction, 8-bit weights in one slice, 8-bit inputs, 8-bit ADC,
    on/off ratio 100 (``g_min = g_max / 100``), no device errors (the paper's sweeps vary them).
    The paper calibrates each layer's input and ADC ranges on data: this preset needs
    calibration (refsim infer / eval / sweep do it on images disjoint from the evaluated ones;
    in Python refsim.tools.calibrate.calibrate_model). Uncalibrated it uses per-vector input
    ranges and the "max" ADC range, and deep layers compute nothing.
    Differs: the calibration is refsim's (percentile 99.9 of |x| and of every slice's column
    currents), one ADC range per layer and weight slice (the paper's per-layer ranges);
    the paper's accuracy-optimal search is ``method="search"``. Arrays: 1152 x 256 (fill-first
    split), as the paper's."""
    return CrossbarConfig(
        weight=WeightConfig(bits=8),
        mapping=MappingConfig(g_min_S=1e-7, g_max_S=1e-5),
        dac=DACConfig(bits=8),
        adc=ADCConfig(bits=8),
        array=ArrayConfig(rows_max=1152, cols_max=256, split="fill"),
        name="xiao2022_resnet50",
    )


@register
def aihwkit_noise_managed() -> CrossbarConfig:
    """aihwkit's noise-managed analog forward with the PCM model of Rasch et al. 2023.

    Source: aihwkit's inference tile (Rasch et al. 2023, Nat. Commun. 14, 5282) with its
    ``PCMLikeNoiseModel`` (docs/MODEL.md P1-P3); this was called ``rasch2023_standard`` until that
    preset followed the paper's standard model more closely (see rasch2023_standard).

    * 512 x 512 tiles (even split); analog weights with column-wise scaling; differential
      one-sided mapping, ``g_min = 0``, ``g_max = 25 uS`` (G+ carries positive weights);
    * DAC: 8-bit signed (127 levels a side), per-vector absolute-maximum input range (aihwkit's
      "noise management"), input bound 1;
    * ADC: 8-bit signed with a fixed bound of 10 in aihwkit's output unit
      (``range_A = 10 * g_max * v_read``);
    * PCM programming noise, per-device drift and 1/f read noise, global drift compensation,
      ``t_inference_s = 0`` (vary ``device.t_inference_s`` for drift);
    * output noise 0.04 in aihwkit's output unit (``g_max * v_read``).

    Differs from the paper's standard model: a per-vector dynamic input range instead of the
    static, calibrated alpha; no drift (t = 0) and no IR drop; the 1/f read noise is redrawn per
    cell at every multiply (slow) instead of being drawn once at the evaluation time; aihwkit's
    short-term PCM_READ weight noise (0.0175) is not included (one read-noise model per
    config). The digital bias is the layers' business. Needs ``rng``. Arrays: 512 x 512."""
    from refsim.devices import pcm_rasch2023_noise

    g_max, v_read = 25e-6, 0.2
    return CrossbarConfig(
        weight=WeightConfig(scaling="column"),
        mapping=MappingConfig(g_min_S=0.0, g_max_S=g_max),
        dac=DACConfig(bits=8, v_read_V=v_read),
        adc=ADCConfig(bits=8, range_mode="fixed", range_A=10 * g_max * v_read),
        array=ArrayConfig(rows_max=512, cols_max=512, split="even"),
        device=pcm_rasch2023_noise(),
        name="aihwkit_noise_managed",
    )


#: Evaluation times of Rasch et al. 2023, s: ``device.t_inference_s`` of rasch2023_standard.
RASCH2023_TIMES_S = {"1s": 1.0, "1h": 3600.0, "1d": 86400.0, "1y": 365.25 * 86400.0}


@register(calibrate="dac: the static input range alpha of every layer, profiled on data "
                    "(Rasch et al. learn/calibrate it; refsim.tools.calibrate, percentile 99.9)")
def rasch2023_standard() -> CrossbarConfig:
    """Rasch et al. 2023's standard inference model (aihwkit), evaluated 1 hour after programming.

    Source: Rasch et al., "Hardware-aware training for large-scale and diverse deep learning
    inference workloads using in-memory computing-based accelerators", Nat. Commun. 14, 5282
    (2023), and aihwkit:

    * 512 x 512 tiles (even split); analog weights with column-wise scaling; differential
      one-sided mapping, ``g_min = 0``, ``g_max = 25 uS``;
    * DAC: 8-bit signed, a static input range alpha per layer calibrated on data (this preset
      needs calibration: refsim infer / eval / sweep do it on images disjoint from the evaluated
      ones; in Python refsim.tools.calibrate.calibrate_model with ranges=("dac",)), inputs
      beyond it clipped; no noise or bound management;
    * ADC: 8-bit signed with a fixed bound of 10 in aihwkit's output unit;
    * PCM programming noise and per-device drift of ``PCMLikeNoiseModel``, global drift
      compensation, evaluated at ``t_inference_s = 3600`` (1 h; 1 s, 1 day and 1 year are
      ``device.t_inference_s`` = 1, 86400, 3.156e7: presets.RASCH2023_TIMES_S);
    * aihwkit's IR-drop model (``device.ir_drop_scale = 1``);
    * the long-term 1/f PCM read noise drawn once per cell at the evaluation time and held
      (``device.pcm_read_noise_held``), as aihwkit does;
    * short-term read noise ``PCM_READ`` 0.0175 (``read_model="sqrt_state"``) and output
      noise 0.04, drawn at every multiply (output-referred: cheap).

    Differs: alpha is calibrated (percentile 99.9 of the layer's inputs), not learned during
    hardware-aware training; the weights are the checkpoint's, not hardware-aware trained ones;
    the DAC range is static and symmetric. Needs ``rng``. Arrays: 512 x 512."""
    base = aihwkit_noise_managed()
    return base.replace(**{
        "dac.range_mode": "fixed", "dac.x_max": 1.0,  # alpha placeholder: calibrated per layer
        "device.t_inference_s": RASCH2023_TIMES_S["1h"], "device.ir_drop_scale": 1.0,
        "device.read_model": "sqrt_state", "device.read_sigma_rel": 0.0175,
        "device.pcm_read_noise_held": True,
        "name": "rasch2023_standard",
    })


@register
def int8_bounded() -> CrossbarConfig:
    """As int8, with aihwkit's output bound and bound management instead of the "max" ADC range.

    Source: the output-bound convention of aihwkit (Rasch et al. 2023) on the int8 baseline:
    the 8-bit ADC spans +/- 10 unit currents (``range_A = 10 (g_max - g_min) v_read``, the
    current of 10 fully-on cells driven at full scale), and a vector whose ADC input clips is
    read again with its input range doubled (``dac.bound_management="iterative"``, aihwkit's
    default). With per-vector input scaling this keeps most of the ADC's codes in use without
    calibration data. Differs: no device noise (a noise-free quantized pipeline).
    Arrays: 512 x 512 (even split)."""
    base = int8()
    m = base.mapping
    return base.replace(**{
        "adc.range_mode": "fixed", "adc.range_A": 10 * (m.g_max_S - m.g_min_S) * base.dac.v_read_V,
        "dac.bound_management": "iterative", "name": "int8_bounded",
    })
