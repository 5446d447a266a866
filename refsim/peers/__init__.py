"""Build a :class:`refsim.CrossbarConfig` from a peer simulator's own configuration.

* :func:`from_aihwkit` (:mod:`refsim.peers.aihwkit`): IBM aihwkit 1.1.0's ``InferenceRPUConfig`` as a
  dict (``forward`` IOParameters, ``mapping``, ``noise_model``...); :func:`from_aihwkit_io` with keywords;
* :func:`from_crosssim` (:mod:`refsim.peers.crosssim`): Sandia CrossSim 3.2's own
  ``CrossSimParameters.to_json`` / ``as_dict`` dump (or flat dotted keys).

Every translation is explicit; options refsim does not model raise
``NotImplementedError`` naming the option. ``docs/peer_mapping.md`` has the full table
(every refsim field, its aihwkit and CrossSim counterpart, and what differs), and the
conformance cases made by the real peers (``tests/data/peer_cases/``) that settle each entry.

Scale: aihwkit works in normalized units (weights in [-1, 1] map to ``[-g_max, g_max]``,
inputs in [-1, 1] to ``[-v_read, v_read]``, one output unit = ``g_max * v_read``). refsim
needs physical values; ``g_max_S`` and ``v_read_V`` set them and do not change any
normalized result.
"""

from __future__ import annotations

from refsim.peers.aihwkit import AihwkitStateWarning, from_aihwkit, from_aihwkit_io, resolution_to_bits
from refsim.peers.crosssim import from_crosssim

__all__ = ["AihwkitStateWarning", "from_aihwkit", "from_aihwkit_io", "from_crosssim", "resolution_to_bits"]
