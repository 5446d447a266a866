"""What the sub-commands of the ``refsim`` command line share.

Every user-facing error of the command line reads::

    refsim <command>: error: <flag or file>: received <what>; expected <what>

and exits with status 2, without a traceback. Flags are checked by the
argparse types below (argparse prefixes ``argument --flag``); errors raised
while a command runs are caught once, in :func:`run_command`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from refsim import presets
from refsim._validate import HugeInt, received, show
from refsim.config import CrossbarConfig, load_config

__all__ = ["resolve_config", "config_notes", "int_arg", "float_arg", "command_name", "run_command", "emit_result", "USER_ERRORS"]

#: Exceptions that mean "bad input" (files, flags, data); anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, TypeError, OSError, RecursionError, NotImplementedError)


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
    """A preset name or a path to a ``.json`` config file -> :class:`CrossbarConfig` (errors name ``--preset``).

    A file's omitted sections are completed with their defaults and a file derived from a preset
    is renamed ``"<preset>+modified"``; both are said on stderr (:func:`config_notes`) unless ``quiet``.
    """
    if spec in presets.names():
        return presets.get(spec)
    expected = f"a preset ({', '.join(presets.names())}) or a .json config file"
    if os.path.isdir(spec):
        raise ValueError(received("--preset", f"the directory {spec!r}", expected))
    if spec.endswith(".json"):
        try:
            cfg, notes = config_notes(spec, load_config(spec))
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"--preset: {exc}") from None
        if not quiet:
            for note in notes:
                print(f"refsim: note: {note}", file=sys.stderr)
        return cfg
    if Path(spec).exists():
        raise ValueError(received("--preset", f"the file {spec!r}, which does not end in .json", expected))
    raise ValueError(received("--preset", repr(spec), expected))


def int_arg(low: int, high: int | None = None) -> Callable[[str], int]:
    """argparse type: an int in ``[low, high]``; argparse names the flag in the error."""
    expected = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = HugeInt(text) if text.lstrip("+-").isdigit() else None
        if value is None or isinstance(value, HugeInt) or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(received_text(text, expected))
        return value

    parse.__name__ = "int"
    return parse


def float_arg(low: float, *, low_open: bool = False) -> Callable[[str], float]:
    """argparse type: a finite float ``>= low`` (``> low`` if ``low_open``)."""
    expected = f"a finite number {'>' if low_open else '>='} {low:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(received_text(text, expected)) from None
        if not (value == value and abs(value) != float("inf")) or value < low or (low_open and value == low):
            raise argparse.ArgumentTypeError(received_text(text, expected))
        return value

    parse.__name__ = "float"
    return parse


def received_text(text: str, expected: str) -> str:
    """``"received 'TEXT'; expected ..."`` for argparse (which puts ``argument --flag: `` in front)."""
    shown = show(text) if len(text) <= 60 else f"{text[:40]!r}... ({len(text)} characters)"
    return f"received {shown}; expected {expected}"


def command_name(args: argparse.Namespace) -> str:
    """``"refsim golden compare"`` from parsed arguments."""
    parts = ["refsim", getattr(args, "command", None)]
    parts += [getattr(args, f"{args.command}_command", None)] if getattr(args, "command", None) else []
    return " ".join(p for p in parts if p)


def run_command(func: Callable[[argparse.Namespace], Any], args: argparse.Namespace) -> int:
    """Run a sub-command: its exit code; 2 and one line on stderr for bad input; quiet on a closed pipe."""
    try:
        code = int(func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # `refsim ... | head`: the reader left. Point stdout at /dev/null so that the
        # interpreter's final flush is silent too (the recipe of the Python docs, signal module).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except USER_ERRORS as exc:
        print(f"{command_name(args)}: error: {exc}", file=sys.stderr)
        return 2


def emit_result(res: dict, as_json: bool, print_body: Callable[[dict], None]) -> int:
    """Print one command's result dict and return exit status 0.

    With ``as_json`` the dict goes to stdout as one JSON line (nothing else: progress bars and
    notes of the human form stay off stdout); otherwise each of ``res["notes"]`` is printed as a
    ``NOTE:`` line, then ``print_body(res)`` prints the human-readable lines.
    """
    if as_json:
        print(json.dumps(res))
        return 0
    for note in res.get("notes") or ():
        print(f"NOTE: {note}")
    print_body(res)
    return 0
