"""The record of one crossbar multiply: every intermediate, as plain NumPy arrays.

A :class:`Trace` is returned by :meth:`refsim.Crossbar.trace`; nothing is written
as a side effect. Units are in the field names or comments; ``B`` is the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Trace", "TileTrace", "ReadTrace", "MultiplyStats"]


@dataclass
class MultiplyStats:
    """Counts of one multiply, turned into the clip fractions of a :class:`Trace`."""

    adc_clipped: int = 0  # ADC conversions that clipped
    adc_total: int = 0  # ADC conversions
    dac_clip: float = 0.0  # sum over row blocks of the fraction of clipped DAC inputs
    row_blocks: int = 0  # row blocks counted in dac_clip
    codes: Any = None  # refsim.health.CodeTally of the ADC codes (H1), when they are tallied
    #: when a list (one list per weight slice): every ADC input current (B, cols) in A is appended to
    #: ``currents[k]`` (Crossbar.adc_input_currents: calibration's profile, C2, without a trace)
    currents: Any = None

    def fill(self, tr: "Trace") -> None:
        """Write the clip fractions and the code tally into ``tr``."""
        tr.adc_clip_fraction = self.adc_clipped / self.adc_total if self.adc_total else 0.0
        tr.dac_clip_fraction = self.dac_clip / max(self.row_blocks, 1)
        tr.adc_codes_tally = self.codes


@dataclass
class ReadTrace:
    """One ADC input: weight slice ``k``, read ``name`` (``net``, ``pos``, ``neg``, ``single``, ``ref``)
    and drive pass ``label`` (``all``, ``slice0``, ``slice1-``, or ``acc`` for an analog sum of passes)."""

    k: int
    name: str
    label: str
    current_A: np.ndarray  # (B, cols) current at the ADC input, A
    adc_codes: np.ndarray | None  # (B, cols) integer-valued ADC codes; None for an ideal ADC
    coef: float  # digital weight applied to this read (sign x shift-and-add coefficient)


@dataclass
class TileTrace:
    """The record of one tile (rows ``r0:r1``, columns ``c0:c1``)."""

    r0: int
    r1: int
    c0: int
    c1: int
    x_max: np.ndarray  # (B,) input value driven at full scale
    dac_codes: np.ndarray  # (B, rows) DAC codes (real-valued for an ideal DAC)
    dac_clip_fraction: float
    voltages_V: dict[str, np.ndarray]  # pass label -> (B, rows) row voltages, V
    reads: list[ReadTrace] = field(default_factory=list)
    digital: dict[str, np.ndarray] = field(default_factory=dict)  # "s{k}" -> (B, cols) net-level units
    partial: np.ndarray | None = None  # (B, cols) tile partial sum before the weight rescale
    drift_scale: float = 1.0  # global drift compensation factor of this tile
    bm_factor: np.ndarray | None = None  # (B,) bound-management factor of the input range (None when off)


@dataclass
class Trace:
    """Everything one multiply computed. ``y`` is the output; ``tiles`` hold the per-array stages.

    Conductances of every array are in ``conductances_S`` (filled by the crossbar);
    random draws (device noise) are in ``draws``.
    """

    x: np.ndarray  # (B, n_in) inputs
    w_max: np.ndarray  # (n_out,) weight range
    w_norm: np.ndarray  # (n_in, n_out) normalized, clipped weights
    weight_clip_fraction: float
    weight_levels: np.ndarray | None  # (n_in, n_out) signed integer levels q, or None (analog)
    device_levels: dict[str, list[np.ndarray]]  # device -> per-slice levels (n_in, n_out)
    level_scale: float
    config: dict[str, Any]
    tiles: list[TileTrace] = field(default_factory=list)
    conductances_S: dict[str, np.ndarray] = field(default_factory=dict)
    draws: dict[str, np.ndarray] = field(default_factory=dict)
    y: np.ndarray | None = None  # (..., n_out) output, equal to matvec(x)
    y_steps: np.ndarray | None = None  # step-by-step output (equal to y unless path is linear)
    path: str = ""
    read_sampling: str = "none"  # how read noise was drawn: none | per_cell | output_referred
    adc_clip_fraction: float = 0.0
    dac_clip_fraction: float = 0.0
    #: the ADC codes' histogram (refsim.health.CodeTally, H1); None for an ideal ADC
    adc_codes_tally: Any = None

    @property
    def adc_zero_fraction(self) -> float:
        """Fraction of the ADC codes equal to 0 (H1), over every read of every tile; NaN for an
        ideal ADC. Near 1 the multiply computes (almost) nothing."""
        return float("nan") if self.adc_codes_tally is None else self.adc_codes_tally.zero_fraction

    @property
    def adc_levels_used(self) -> int | None:
        """Number of distinct ADC codes (H1), over every read of every tile; None for an ideal ADC.
        ``log2`` of it is the ADC's effective resolution on this data, in bits."""
        return None if self.adc_codes_tally is None else self.adc_codes_tally.levels_used

    @property
    def clip_fraction(self) -> float:
        """Fraction of ADC conversions that clipped."""
        return self.adc_clip_fraction

    def adc_codes(self) -> dict[str, np.ndarray]:
        """All ADC codes keyed ``t{tile}.s{k}.{read}.{pass}``."""
        out = {}
        for i, t in enumerate(self.tiles):
            for r in t.reads:
                if r.adc_codes is not None:
                    out[f"t{i}.s{r.k}.{r.name}.{r.label}"] = r.adc_codes
        return out
