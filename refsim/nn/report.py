"""Per-layer analog-vs-digital report: the hook behind ``refsim infer --report``.

For each analog layer of a network, the output recorded in one forward pass
is compared with the same layer recomputed with exact float64 matmuls from
the *same recorded input* (``layer.digital_replay(record)``), so errors do
not accumulate from earlier layers:

.. math:: \\varepsilon_\\ell = \\frac{\\lVert y^{analog}_\\ell - y^{digital}_\\ell(x_\\ell) \\rVert_2}
                                 {\\lVert y^{digital}_\\ell(x_\\ell) \\rVert_2}
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LayerReport", "layer_report"]


@dataclass(frozen=True)
class LayerReport:
    """One row of the report (see :func:`layer_report`)."""

    name: str
    kind: str
    analog: bool
    runtime_arrays: bool
    n_arrays: int
    clip_fraction: float  # NaN for digital layers
    rel_error: float  # NaN for digital layers
    max_abs_error: float  # NaN for digital layers


def layer_report(net, x, **forward_kwargs):
    """Run ``net.forward(x, records=records)`` and compare every analog layer with its digital replay.

    Parameters
    ----------
    net : a network or layer with ``forward(..., records=dict)`` and ``layers()``
        (or a single layer, which is its own only layer).
    x : the network input.

    Returns
    -------
    y : the network output of the (analog) forward pass.
    rows : list[LayerReport], in execution order.
    """
    records: dict = {}
    y = net.forward(x, records=records, **forward_kwargs)
    layers = net.layers() if hasattr(net, "layers") else {net.name: net}
    rows = []
    for name, rec in records.items():
        err = max_err = float("nan")
        if rec.analog:
            ref = np.asarray(layers[name].digital_replay(rec))
            diff = np.asarray(rec.output) - ref
            denom = np.linalg.norm(ref)
            err = float(np.linalg.norm(diff) / denom) if denom > 0 else float(np.linalg.norm(diff))
            max_err = float(np.max(np.abs(diff))) if diff.size else 0.0
        rows.append(LayerReport(name, rec.kind, rec.analog, rec.runtime_arrays, rec.n_arrays,
                                rec.clip_fraction, err, max_err))
    return y, rows
