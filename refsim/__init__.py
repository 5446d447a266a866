"""refsim: a pure-NumPy golden-reference simulator of analog in-memory computing.

Start with :class:`Crossbar` and :mod:`refsim.presets`::

    import numpy as np, refsim
    xb = refsim.Crossbar(W, refsim.presets.get("ideal"))
    y = xb.matvec(x)          # == x @ W to round-off
    tr = xb.trace(x)          # every intermediate
"""

from refsim import presets
from refsim.config import (
    ADCConfig,
    ArrayConfig,
    CrossbarConfig,
    DACConfig,
    MappingConfig,
    NoiseConfig,
    WeightConfig,
    WireConfig,
    load_config,
)
from refsim.crossbar import Crossbar
from refsim.trace import Trace
from refsim import nn  # noqa: E402  (layers and networks; imports the crossbar)
from refsim import wires  # noqa: E402  (wire resistance: exact G_eff, SPICE netlists)

__version__ = "0.1.0"

__all__ = [
    "Crossbar",
    "CrossbarConfig",
    "WeightConfig",
    "MappingConfig",
    "DACConfig",
    "ADCConfig",
    "ArrayConfig",
    "NoiseConfig",
    "WireConfig",
    "Trace",
    "nn",
    "wires",
    "load_config",
    "presets",
    "__version__",
]
