"""Wire resistance (docs/MODEL.md section 4): the exact effective conductance matrix of an array with
resistive rows and columns (:mod:`~refsim.wires.parasitics`), the per-vector input-dependent
solve (:mod:`~refsim.wires.inputs`), a dense nodal-analysis oracle (:mod:`~refsim.wires.nodal`)
and SPICE netlists checked against ngspice (:mod:`~refsim.wires.spice`)."""

from refsim.wires import parasitics, spice

__all__ = ["parasitics", "spice"]
