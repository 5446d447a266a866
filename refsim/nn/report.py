"""Per-layer analog-vs-digital report: the hook behind ``refsim infer --report``.

For each analog layer of a network, the output recorded in one forward pass
is compared with the same layer recomputed with exact float64 matmuls from
the *same recorded input* (``layer.digital_replay(record)``), so errors do
not accumulate from earlier layers: the relative error of docs/MODEL.md (L18),
dimensionless, the norm over all of the layer's outputs.
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
    clip_fraction: float  # ADC conversions clipped; NaN for digital layers
    rel_error: float  # NaN for digital layers
    max_abs_error: float  # NaN for digital layers
    dac_clip_fraction: float = float("nan")  # inputs clipped by the DAC; NaN for digital layers
    adc_zero_fraction: float = float("nan")  # ADC codes equal to 0 (H1); NaN for digital layers or an ideal ADC
    adc_levels_used: int | None = None  # distinct ADC codes (H1); None for digital layers or an ideal ADC
    adc_levels_available: int | None = None  # codes the ADC can output
    matrix_shape: tuple | None = None  # (n_in, n_out) of the layer's (first) crossbar
    array_shape: tuple | None = None  # (rows, cols) of its largest physical array (tile)
    n_tiles: int = 0  # tiles of that crossbar
    digital_norm: float = float("nan")  # ||y_digital(x_l)||_2 of the layer

    @property
    def adc_effective_bits(self) -> float:
        """``log2`` of the ADC levels used: the resolution the layer's data sees, in bits (NaN if none)."""
        from refsim.health import effective_bits

        return effective_bits(self.adc_levels_used)

    @property
    def dead(self) -> bool:
        """True for an analog layer whose multiplies compute (almost) nothing: its ADC codes are
        (nearly) all zero or take fewer than a handful of levels (:func:`refsim.health.is_dead`), or
        its output is identically zero while the digital one is not."""
        from refsim.health import MIN_LEVELS_WARN, ZERO_FRACTION_WARN

        if not self.analog:
            return False
        if self.adc_zero_fraction >= ZERO_FRACTION_WARN:
            return True
        if self.adc_levels_used is not None and self.adc_levels_used < min(MIN_LEVELS_WARN, self.adc_levels_available):
            return True
        return self.rel_error == 1.0 and self.digital_norm > 0


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
        err = max_err = norm = float("nan")
        if rec.analog:
            ref = np.asarray(layers[name].digital_replay(rec))
            diff = np.asarray(rec.output) - ref
            denom = norm = float(np.linalg.norm(ref))
            err = float(np.linalg.norm(diff) / denom) if denom > 0 else float(np.linalg.norm(diff))
            max_err = float(np.max(np.abs(diff))) if diff.size else 0.0
        st = getattr(rec, "stats", None) or {}
        rows.append(LayerReport(name, rec.kind, rec.analog, rec.runtime_arrays, rec.n_arrays,
                                rec.clip_fraction, err, max_err,
                                dac_clip_fraction=st.get("dac_clip_fraction", float("nan")),
                                adc_zero_fraction=st.get("adc_zero_fraction", float("nan")),
                                adc_levels_used=st.get("adc_levels_used"),
                                adc_levels_available=st.get("adc_levels_available"),
                                matrix_shape=st.get("matrix_shape"), array_shape=st.get("array_shape"),
                                n_tiles=st.get("n_tiles", 0), digital_norm=norm))
    return y, rows
