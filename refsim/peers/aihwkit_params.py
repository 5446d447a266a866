"""aihwkit 1.1.0's parameters as :func:`refsim.peers.from_aihwkit` reads them: their defaults and
the readers of their values (enums, sections, resolutions).

The defaults are aihwkit's own (``IOParameters``, ``MappingParameter``, ``PCMLikeNoiseModel``);
a resolution ``res`` is a fraction of the full range ``[-bound, bound]`` (``IOMetaParameter``'s
``checkRes``). The translation into a refsim config is :mod:`refsim.peers.aihwkit`, which
re-exports the public names here.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from refsim._validate import check_int, check_scalar, received, show

__all__ = ["AihwkitStateWarning", "resolution_to_bits", "AIHWKIT_VERSION", "IO_DEFAULTS", "MAPPING_DEFAULTS", "PCM_DEFAULTS"]

class AihwkitStateWarning(UserWarning):
    """An aihwkit option whose result depends on the tile's state from earlier forward calls, which
    a refsim multiply (stateless) does not carry: equal to a freshly built aihwkit layer only."""


#: The aihwkit release whose defaults and conventions this module follows.
AIHWKIT_VERSION = "1.1.0"

#: ``IOParameters`` of aihwkit 1.1.0 (``src/aihwkit/simulator/parameters/io.py``), enums by name.
IO_DEFAULTS = {
    "is_perfect": False, "mv_type": "ONE_PASS", "inp_bound": 1.0, "inp_noise": 0.0, "inp_res": 1 / (2**7 - 2),
    "inp_sto_round": False, "inp_asymmetry": 0.0, "out_bound": 12.0, "out_noise": 0.06, "out_noise_std": 0.0,
    "out_res": 1 / (2**9 - 2), "out_sto_round": False, "out_scale": 1.0, "out_asymmetry": 0.0,
    "bound_management": "ITERATIVE", "noise_management": "ABS_MAX", "w_noise": 0.0, "w_noise_type": "NONE",
    "ir_drop": 0.0, "ir_drop_g_ratio": 1.0 / 0.35 / 5e-6, "out_nonlinearity": 0.0, "out_nonlinearity_std": 0.0,
    "slope_calibration": 0.0, "v_offset_std": 0.0, "v_offset_w_min": -1.0, "r_series": 0.0,
    "w_read_asymmetry_dtod": 0.0, "max_bm_factor": 1000, "max_bm_res": 0.25, "bm_test_negative_bound": True,
    "nm_thres": 0.0,
}

#: ``MappingParameter`` of aihwkit 1.1.0 (``src/aihwkit/simulator/parameters/mapping.py``).
MAPPING_DEFAULTS = {
    "digital_bias": True, "weight_scaling_omega": 0.0, "weight_scaling_columnwise": False,
    "weight_scaling_lr_compensation": False, "learn_out_scaling": False, "out_scaling_columnwise": False,
    "max_input_size": 512, "max_output_size": 512,
}

#: ``PCMLikeNoiseModel`` of aihwkit 1.1.0 (``src/aihwkit/inference/noise/pcm.py``), g_max in uS.
PCM_DEFAULTS = {"prog_coeff": [0.26348, 1.9650, -1.1731], "g_max": 25.0, "t_read": 250e-9, "t_0": 20.0,
                "prog_noise_scale": 1.0, "read_noise_scale": 1.0, "drift_scale": 1.0,
                "prog_coeff_g_max_reference": None, "g_converter": None}

#: Keys of an ``InferenceRPUConfig`` that act on training only (updates, clipping and remapping after
#: an update, the backward pass) or are class handles: accepted and ignored by the forward.
_TRAINING_ONLY = ("clip", "remap", "modifier", "backward", "update", "device", "tile_class", "tile_array_class")

#: IOParameters options refsim does not model, with their "off" value.
_OFF = {"inp_noise": 0.0, "inp_sto_round": False, "inp_asymmetry": 0.0, "out_asymmetry": 0.0, "out_scale": 1.0,
        "out_nonlinearity": 0.0, "out_noise_std": 0.0, "v_offset_std": 0.0, "r_series": 0.0,
        "w_read_asymmetry_dtod": 0.0}

_F32 = np.float32


def _enum(value, name: str, choices: tuple[str, ...]) -> str:
    """An aihwkit enum given by member, name (``"ABS_MAX"``) or value (``"AbsMax"``) -> its name."""
    key = str(getattr(value, "name", value)).split(".")[-1].replace("_", "").upper()
    for c in choices:
        if c.replace("_", "") == key:
            return c
    raise ValueError(f"aihwkit {name}: received {value!r}; expected one of {list(choices)}")


def _section(value, name: str) -> dict:
    """A config section as a plain dict: a dict, an aihwkit dataclass, or None (all defaults).
    aihwkit's binding class variables (``bindings_class``, ``bindings_module``...) are dropped."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if not str(k).startswith("bindings_")}
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"aihwkit {name}: received {type(value).__name__}; expected a dict of its fields")


# fields that must be >= 0, > 0, integers (with their range), or may be infinite; other numbers: finite reals
_NONNEG = {"out_noise", "w_noise", "ir_drop", "weight_scaling_omega", "prog_noise_scale", "read_noise_scale",
           "drift_scale"}
_POSITIVE = {"ir_drop_g_ratio", "g_max", "t_read", "t_0"}
_INTS = {"max_bm_factor": (1, 2**31), "max_input_size": (0, 2**20), "max_output_size": (0, 2**20)}
_MAY_BE_INF = {"max_bm_res"}


def check_fields(section: str, values: dict, defaults: dict) -> None:
    """Check each field of ``values`` (merged with ``defaults``) against its default's kind, in place:
    bools are bools, integers ints in range, numbers real and not NaN (finite unless aihwkit allows
    infinity), lists lists. Enum names (string defaults) are checked where they are read (:func:`_enum`).
    Each error names ``aihwkit <section>.<field>``, what was received and what is expected."""
    for key, default in defaults.items():
        v, name = values[key], f"aihwkit {section}.{key}"
        if isinstance(default, bool):
            if not isinstance(v, (bool, np.bool_)):
                raise TypeError(received(name, f"{show(v)} ({type(v).__name__})", "True or False"))
            values[key] = bool(v)
        elif key in _INTS:
            values[key] = check_int(name, v, low=_INTS[key][0], high=_INTS[key][1])
        elif isinstance(default, (int, float)):
            if key in _MAY_BE_INF and isinstance(v, (float, np.floating)) and np.isinf(v):
                continue
            low = 0.0 if key in _NONNEG | _POSITIVE else None
            values[key] = check_scalar(name, v, low=low, low_open=key in _POSITIVE)
        elif isinstance(default, list) and not isinstance(v, (list, tuple, np.ndarray)):
            raise TypeError(received(name, f"{show(v)} ({type(v).__name__})", f"a list like {default}"))


def _steps(res: float, name: str) -> int | None:
    """aihwkit resolution -> number of steps N over ``[-bound, bound]`` (None: not quantized).

    ``IOMetaParameter``'s ``checkRes``: ``res < 0 -> 0``, ``res > 1 -> 1/res``; N = 1/res must be an
    even integer (codes ``-N/2 .. N/2``); an odd N puts the bound between two levels (refused).
    """
    res = float(res)
    if res <= 0:
        return None
    steps = 1.0 / res if res < 1 else res
    if steps > 2**31:
        raise ValueError(received(f"aihwkit {name}", show(res), "a resolution of at least 2^-31 (at most 2^31 steps)"))
    n = round(steps)
    if n < 2 or abs(steps - n) > 1e-6 * n or n % 2:
        raise NotImplementedError(
            f"aihwkit {name}={res!r}: {steps:g} steps over [-bound, bound]; refsim models an even number of "
            f"steps 2c (codes -c..c, e.g. {name}=1/254); an odd count puts the bound itself between two levels")
    return n


def _bits(c_max: int) -> tuple[int, int | None]:
    """``(bits, full_scale_code)`` of a sign-magnitude converter with codes ``-c_max .. c_max``."""
    bits = c_max.bit_length() + 1
    return bits, (None if c_max == 2 ** (bits - 1) - 1 else c_max)


def _pow2_above(limit: float) -> int:
    """The smallest power of two strictly greater than ``limit`` (compared in float32, as aihwkit)."""
    p = 1
    while not _F32(p) > _F32(limit) and p < 2**30:  # refsim's largest bm_max_factor
        p *= 2
    return p


def resolution_to_bits(res: float, name: str) -> int | None:
    """aihwkit ``inp_res``/``out_res`` -> signed (sign-magnitude) bits, or None (``res <= 0``: no quantization).

    aihwkit's resolution is ``1/steps`` over the full range ``[-bound, bound]`` (a value
    ``> 1`` is the number of steps itself); sign-magnitude ``b`` bits have ``2^b - 1``
    levels, i.e. ``2^b - 2`` steps (``1/254`` <-> 8 bits). Other step counts raise
    ``NotImplementedError`` (:func:`from_aihwkit` maps them with ``full_scale_code``).
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
