"""What the sub-commands of the ``refsim`` command line share."""

from __future__ import annotations

from refsim import presets
from refsim.config import CrossbarConfig, load_config

__all__ = ["resolve_config"]


def resolve_config(spec: str) -> CrossbarConfig:
    """A preset name or a path to a ``.json`` config file -> :class:`CrossbarConfig`."""
    if spec in presets.names():
        return presets.get(spec)
    if spec.endswith(".json"):
        return load_config(spec)
    raise ValueError(f"--preset: {spec!r} is neither a preset ({', '.join(presets.names())}) nor a .json file")
