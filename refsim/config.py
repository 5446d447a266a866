"""Configuration of one crossbar: frozen dataclasses, one section per concern.

Every field is in SI units with the unit in its name (``g_max_S``, ``v_read_V``,
``range_A``); choices are strings; sections nest one level deep inside
:class:`CrossbarConfig`. Configs are immutable: vary them with
:func:`dataclasses.replace` (or :meth:`CrossbarConfig.replace` with dotted
names) and serialize them with :meth:`CrossbarConfig.to_dict` /
:meth:`CrossbarConfig.from_dict` / :func:`load_config`.

Validation happens in ``__post_init__``: a bad value raises ``ValueError`` or
``TypeError`` naming the field, the value received and what is expected.

The sections live beside it, all re-exported here: the weights, mapping, array size and wires in
``refsim/config_arrays.py``, the DAC and ADC in ``refsim/config_converters.py``, the devices in
``refsim/devices/config.py``; this module holds :class:`CrossbarConfig` (the checks across
sections and the serialization) and :func:`load_config`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refsim._validate import HugeInt, check_choice, check_magnitude, coerce_fields, read_json_file, received, show
from refsim.config_arrays import ArrayConfig, MappingConfig, WeightConfig, WireConfig
from refsim.config_converters import ADCConfig, DACConfig
from refsim.devices.config import NoiseConfig

__all__ = [
    "WeightConfig",
    "MappingConfig",
    "DACConfig",
    "ADCConfig",
    "ArrayConfig",
    "WireConfig",
    "NoiseConfig",
    "CrossbarConfig",
    "load_config",
    "slice_widths",
    "CALIBRATED_RANGES",
]


def slice_widths(total_bits: int, n_slices: int, bits_per_slice: int | None) -> tuple[int, ...]:
    """Bit widths of the slices of a ``total_bits``-bit unsigned integer, least significant first.

    Every slice but the top one has ``bits_per_slice`` bits; the top slice takes the
    remainder ``total_bits - (n_slices - 1) * bits_per_slice``, which must be >= 1.
    With ``bits_per_slice=None`` it is ``ceil(total_bits / n_slices)``.

    Raises ``ValueError`` when the widths are inconsistent.
    """
    if bits_per_slice is None:
        bits_per_slice = math.ceil(total_bits / n_slices)
    top = total_bits - (n_slices - 1) * bits_per_slice
    if top < 1:
        raise ValueError(
            f"inconsistent slicing: {n_slices} slices of {bits_per_slice} bits leave {top} bits "
            f"for the top slice of a {total_bits}-bit magnitude; expected the top slice to get >= 1 bit "
            f"(use fewer slices or fewer bits per slice)"
        )
    return (bits_per_slice,) * (n_slices - 1) + (top,)


#: What ``CrossbarConfig.calibrated`` may name, sorted: the ADC's full-scale currents and the DAC's input range.
CALIBRATED_RANGES = ("adc", "dac")

#: Top-level fields of :class:`CrossbarConfig` that are no section.
_TOP = ("name", "precision", "calibrated", "calibration_waived")

_SECTIONS = {
    "weight": WeightConfig,
    "mapping": MappingConfig,
    "dac": DACConfig,
    "adc": ADCConfig,
    "array": ArrayConfig,
    "device": NoiseConfig,
    "wire": WireConfig,
}


@dataclass(frozen=True)
class CrossbarConfig:
    """Everything a :class:`refsim.Crossbar` needs, one section per concern."""

    weight: WeightConfig = field(default_factory=WeightConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    dac: DACConfig = field(default_factory=DACConfig)
    adc: ADCConfig = field(default_factory=ADCConfig)
    array: ArrayConfig = field(default_factory=ArrayConfig)
    device: NoiseConfig = field(default_factory=NoiseConfig)
    wire: WireConfig = field(default_factory=WireConfig)
    name: str = "custom"  # free-form label, e.g. the preset it came from
    precision: str = "float64"  # arithmetic of the analog multiplies: "float64" (reference) | "float32" (speed)
    #: which ranges were set from data (calibration, or alpha learned by refsim train): a sorted tuple
    #: of CALIBRATED_RANGES; read by refsim.presets (a range counts while its range_mode is "fixed")
    calibrated: tuple[str, ...] = ()
    #: True: run uncalibrated on purpose a preset that needs calibration (refsim.presets.uncalibrated)
    calibration_waived: bool = False

    def __post_init__(self) -> None:
        coerce_fields(self)
        for key, cls in _SECTIONS.items():
            value = getattr(self, key)
            if not isinstance(value, cls):
                raise TypeError(received(key, type(value).__name__, f"a {cls.__name__}"))
        if not isinstance(self.name, str) or isinstance(self.name, HugeInt):
            raise TypeError(received("name", show(self.name), "a str"))
        check_choice("precision", self.precision, ("float64", "float32"))
        self._check_calibration()
        self._check_cross_section()

    def _check_calibration(self) -> None:
        """``calibrated``: a tuple or list of distinct CALIBRATED_RANGES (stored sorted);
        ``calibration_waived``: a bool. A range named here whose converter is no longer fixed (e.g.
        a probe with ``adc.range_mode="max"``) is allowed, and counts as not calibrated
        (:func:`refsim.presets.missing_calibration`)."""
        cal = self.calibrated
        expected = f"a tuple of distinct names from {CALIBRATED_RANGES} (the ranges set from data), e.g. ('dac',)"
        if not isinstance(cal, (tuple, list)):
            raise TypeError(received("calibrated", show(cal), expected))
        bad = [c for c in cal if not isinstance(c, str) or c not in CALIBRATED_RANGES]
        if bad or len(set(cal)) != len(cal):
            raise ValueError(received("calibrated", show(tuple(cal)), expected))
        cal = tuple(sorted(str(c) for c in cal))
        if cal != self.calibrated or not isinstance(self.calibrated, tuple):
            object.__setattr__(self, "calibrated", cal)
        if not isinstance(self.calibration_waived, bool):
            raise TypeError(received("calibration_waived", show(self.calibration_waived), "True or False"))

    def _check_cross_section(self) -> None:
        w, m, adc = self.weight, self.mapping, self.adc
        if w.bits is not None:
            try:
                slice_widths(weight_magnitude_bits(w.bits, m.scheme), w.n_slices, w.bits_per_slice)
            except ValueError as exc:
                raise ValueError(
                    f"weight.n_slices={w.n_slices}, weight.bits_per_slice={w.bits_per_slice} with "
                    f"weight.bits={w.bits} and mapping.scheme={m.scheme!r}: {exc}"
                ) from None
            widths = slice_widths(weight_magnitude_bits(w.bits, m.scheme), w.n_slices, w.bits_per_slice)
            if w.slice_scale == "uniform" and widths[-1] > widths[0]:
                raise ValueError(
                    f"weight.slice_scale='uniform' with slice widths {widths}: the top slice is wider than the "
                    f"others and its levels would exceed L = 2^{widths[0]} - 1 (W7); use fewer bits per slice "
                    f"below the top or slice_scale='own'"
                )
            if m.cell_bits is not None:
                raise ValueError(
                    f"mapping.cell_bits={m.cell_bits}: with quantized weights (weight.bits={w.bits}) each "
                    f"slice's integer level is the cell level; cell_bits applies to analog weights only "
                    f"(set mapping.cell_bits=None)"
                )
        if self.dac.bound_management == "iterative" and adc.bits is None and not adc.clip_ideal:
            raise ValueError(
                "dac.bound_management='iterative' reacts to ADC clipping; it needs a quantized ADC (set adc.bits) "
                "or a clipping ideal one (adc.clip_ideal)"
            )
        if adc.range_mode == "fixed" and isinstance(adc.range_A, tuple) and len(adc.range_A) != w.n_slices:
            raise ValueError(
                f"adc.range_A: received {len(adc.range_A)} ranges for {w.n_slices} weight slices; "
                f"expected one per slice (or a single float)"
            )
        self._check_scales()

    def _check_scales(self) -> None:
        """Products of physical values must neither underflow nor overflow (see :mod:`refsim._validate`).

        ``g_max_S * v_read_V`` is the unit current of every read (A); the ADC step
        ``I_lsb = range_A / N`` (A1) divides every current; the output-noise and
        column-limit currents are compared with both.
        """
        m, dac, adc = self.mapping, self.dac, self.adc
        check_magnitude("mapping.g_max_S * dac.v_read_V", m.g_max_S * dac.v_read_V, "the unit current", zero=False)
        check_magnitude("(mapping.g_max_S - mapping.g_min_S) * dac.v_read_V",
                        (m.g_max_S - m.g_min_S) * dac.v_read_V, "the current span", zero=False)
        if adc.range_mode == "fixed" and adc.bits is not None:
            for i, r in enumerate(adc.range_A if isinstance(adc.range_A, tuple) else (adc.range_A,)):
                check_magnitude(f"adc.range_A[{i}] / adc levels ({adc.n_levels})", r / adc.n_levels, "the ADC step", zero=False)
                check_magnitude(f"adc.range_A[{i}] / (mapping.g_max_S * dac.v_read_V)",
                                r / (m.g_max_S * dac.v_read_V), "the ADC range in unit currents",
                                zero=False)

    # -- serialization ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary (tuples become lists)."""
        out: dict[str, Any] = {"name": self.name, "precision": self.precision, "calibrated": list(self.calibrated),
                               "calibration_waived": self.calibration_waived}
        for key in _SECTIONS:
            sec = getattr(self, key)
            if key == "device":
                out[key] = sec.to_dict()
                continue
            out[key] = {f.name: _to_json(getattr(sec, f.name)) for f in dataclasses.fields(sec)}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CrossbarConfig":
        """Inverse of :meth:`to_dict`; unknown sections or fields raise ``ValueError``.

        A dict with neither ``calibrated`` nor ``calibration_waived`` (a file written before they
        existed) gets them from its name, as refsim decided before: :func:`_legacy_calibration`.
        """
        if not isinstance(data, dict):
            raise TypeError(received("config", type(data).__name__, "a dict"))
        unknown = set(data) - set(_SECTIONS) - set(_TOP)
        if unknown:
            raise ValueError(f"config: unknown section(s) {sorted(unknown)}; expected {sorted(_SECTIONS)} and "
                             f"the fields {list(_TOP)}")
        kwargs: dict[str, Any] = {}
        for key, sec_cls in _SECTIONS.items():
            if key not in data:
                continue
            sec = data[key]
            if not isinstance(sec, dict):
                raise TypeError(received(f"config.{key}", type(sec).__name__, "a dict"))
            if key == "device":
                kwargs[key] = NoiseConfig.from_dict(sec)
                continue
            names = {f.name for f in dataclasses.fields(sec_cls)}
            bad = set(sec) - names
            if bad:
                raise ValueError(f"config.{key}: unknown field(s) {sorted(bad)}; expected some of {sorted(names)}")
            kwargs[key] = sec_cls(**{k: _from_json(v) for k, v in sec.items()})
        for key in _TOP:
            if key in data:
                kwargs[key] = _from_json(data[key])
        cfg = cls(**kwargs)
        if "calibrated" not in data and "calibration_waived" not in data:
            cfg = _legacy_calibration(cfg)
        return cfg

    def to_json(self, path: str | Path | None = None) -> str:
        """JSON text of :meth:`to_dict`; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def replace(self, **dotted: Any) -> "CrossbarConfig":
        """Copy with fields changed by dotted names, e.g. ``cfg.replace(**{"adc.bits": 6})``."""
        sections: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        for key, value in dotted.items():
            if "." not in key:
                if key not in _SECTIONS and key not in _TOP:
                    raise ValueError(f"replace: unknown field {key!r}; expected 'section.field' or one of {list(_TOP)}")
                top[key] = value
                continue
            sec, _, fld = key.partition(".")
            if sec not in _SECTIONS or fld not in {f.name for f in dataclasses.fields(_SECTIONS[sec])}:
                raise ValueError(f"replace: unknown field {key!r}; see CrossbarConfig.to_dict() for the names")
            sections.setdefault(sec, {})[fld] = value
        for sec, changes in sections.items():
            top[sec] = dataclasses.replace(getattr(self, sec), **changes)
        return dataclasses.replace(self, **top)


def _legacy_calibration(cfg: CrossbarConfig) -> CrossbarConfig:
    """The calibration fields of a config read from a file written before they existed, from the
    parts of its name that refsim decided by then: ``+cal`` (refsim.tools.calibrate) -> the fixed
    ranges among those its preset calibrates (all fixed ranges for a config of no such preset),
    ``+hwa`` (refsim train's learned alpha) -> ``("dac",)``, ``+uncalibrated`` -> waived. Only
    files: a config built in Python (or a file with either field) is judged by its fields alone.
    Why: calibration files saved by ``refsim eval --calibration`` and ``OUT.layers.json`` of
    ``refsim train`` were written by refsim's own tools, which named them so; refusing them would
    make users recalibrate or retrain for no physical reason. Every file written now carries the
    fields, so the name is read at most once, when an old file is loaded."""
    parts = cfg.name.split("+")[1:]
    if not {"cal", "hwa", "uncalibrated"} & set(parts):
        return cfg
    from refsim import presets

    fixed = {r for r in CALIBRATED_RANGES if getattr(cfg, r).range_mode == "fixed"}
    cal: set[str] = set()
    if "cal" in parts:
        base = presets.base_name(cfg.name)
        need = set(presets.required_calibration(base)) if base is not None else set()
        cal |= fixed & need if need else fixed
    if "hwa" in parts:
        cal |= fixed & {"dac"}
    return dataclasses.replace(cfg, calibrated=tuple(cal), calibration_waived="uncalibrated" in parts)


def weight_magnitude_bits(bits: int, scheme: str) -> int:
    """Bits of the unsigned integer level stored per device.

    differential_one_sided: |q| <= 2^(b-1)-1 -> b-1 bits; differential_two_sided: Q +/- q <= 2Q -> b bits;
    offset (binary offset q + 2^(b-1) <= 2^b - 1) -> b bits.
    """
    return bits - 1 if scheme == "differential_one_sided" else bits


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"config value {value!r} is not finite and cannot be written as JSON")
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value


def load_config(path: str | Path) -> CrossbarConfig:
    """Read a :class:`CrossbarConfig` from a ``.json`` file written by :meth:`CrossbarConfig.to_json`.

    A file may omit sections or fields: they take their defaults (an omitted ``adc`` section is
    an ideal ADC). The command line says so when it reads such a file
    (:func:`refsim.cli.common.config_notes`).

    Every problem raises ``ValueError`` (or ``TypeError`` for a wrong kind of
    value) whose message starts with the file's path and names the field:
    a missing file or a directory, bytes that are not UTF-8, text that is not
    JSON or nests more deeply than Python can parse, an integer literal too
    long to convert (shown by its number of digits), or any invalid field.
    """
    p = Path(path)
    where = f"config file {str(p)!r}"
    data = read_json_file(p, where, file_expected="a .json config file", json_expected="a JSON config object",
                          deep_expected="a config object (two levels deep)")
    try:
        return CrossbarConfig.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
