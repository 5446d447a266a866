"""What the sub-commands of the ``refsim`` command line share."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from refsim import presets
from refsim.config import CrossbarConfig, load_config

__all__ = ["resolve_config", "config_notes"]

_SECTIONS = ("weight", "mapping", "dac", "adc", "array", "device", "wire")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_notes(spec: str, cfg: CrossbarConfig) -> tuple[CrossbarConfig, list[str]]:
    """What a config file leaves implicit, and its name when it is derived from a preset.

    A file may omit sections: they take their defaults (an omitted ``adc`` section is an ideal
    ADC, an omitted ``device`` section no device noise), and a note lists them. A config named
    after a preset whose fields differ from that preset is renamed ``"<preset>+modified"`` (with
    a note naming the fields) so that no output calls it by the preset's name.
    """
    notes = []
    try:
        raw = json.loads(Path(spec).read_text())
    except (OSError, ValueError):
        raw = {}
    missing = [s for s in _SECTIONS if isinstance(raw, dict) and s not in raw]
    if missing:
        notes.append(f"{spec}: no {', '.join(repr(s) for s in missing)} section(s): completed with the defaults "
                     f"(refsim presets ideal --json shows them; an absent adc or dac section is an ideal converter)")
    if cfg.name in presets.names():
        ref, mine = _flat(presets.get(cfg.name).to_dict()), _flat(cfg.to_dict())
        diff = sorted(k for k in set(ref) | set(mine) if ref.get(k) != mine.get(k))
        if diff:
            new = f"{cfg.name}+modified"
            notes.append(f"{spec}: named {cfg.name!r} but differs from that preset in {', '.join(diff[:6])}"
                         f"{', ...' if len(diff) > 6 else ''}: reported as {new!r}")
            cfg = cfg.replace(name=new)
    return cfg, notes


def resolve_config(spec: str, *, quiet: bool = False) -> CrossbarConfig:
    """A preset name or a path to a ``.json`` config file -> :class:`CrossbarConfig`.

    A file's omitted sections are completed with their defaults and a file derived from a preset
    is renamed ``"<preset>+modified"``; both are said on stderr (:func:`config_notes`) unless ``quiet``.
    """
    if spec in presets.names():
        return presets.get(spec)
    if spec.endswith(".json"):
        cfg, notes = config_notes(spec, load_config(spec))
        if not quiet:
            for note in notes:
                print(f"refsim: note: {note}", file=sys.stderr)
        return cfg
    raise ValueError(f"--preset: {spec!r} is neither a preset ({', '.join(presets.names())}) nor a .json file")
