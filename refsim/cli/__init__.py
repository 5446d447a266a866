"""The ``refsim`` command line: :mod:`refsim.cli.app` builds the parser and runs ``main``;
each other module adds the sub-commands of one concern (``infer``/``eval``, ``sweep``/``plot``,
``weights``, ``golden``/``calibrate``, ``spice``); :mod:`refsim.cli.common` holds what they share."""

from refsim.cli.app import build_parser, main

__all__ = ["main", "build_parser"]
