"""What :func:`refsim.reference.reference_multiply` returns: every intermediate of one multiply as
plain data, one record per level of the model (docs/MODEL.md section 10).

:class:`ReferenceMultiply` (the whole multiply) holds :class:`TileRecord` s; a tile holds its
:class:`SliceRecord` s (each with its physical :class:`ArrayRecord` s) and its :class:`Reading` s
(each with one :class:`ReadRecord` per ADC input). Arrays are float64 in siemens, volts and
amperes, or in the level and code units the comments name; shapes use B (vectors), rows and
cols (the tile's) and n_in, n_out (the matrix's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refsim.dac import DrivePass

__all__ = ["ReferenceMultiply", "TileRecord", "SliceRecord", "ArrayRecord", "Reading", "ReadRecord"]


@dataclass
class ArrayRecord:
    """One physical array (device ``pos``, ``neg``, ``single`` or ``ref``) of one slice of one tile, S."""

    target_S: np.ndarray  # (M1) (rows, cols); (rows, 1) for a reference column
    programmed_S: np.ndarray  # (G5, F1, G6)
    at_inference_S: np.ndarray  # (T1) after drift
    eff_S: np.ndarray  # (3)-(12) effective matrix with the wires (= at_inference_S without)
    read_sigma_S: np.ndarray | None  # (R1-R3, P3) per-cell read-noise sigma, None without read noise


@dataclass
class SliceRecord:
    """The constants of weight slice ``k`` of one tile, and its arrays."""

    k: int
    shift: int  # sigma_k (W5)
    max_level: float  # L_k (W5)
    offset_level: float  # the offset scheme's level in this slice (M1), else 0
    arrays: dict[str, ArrayRecord]
    g_read_S: dict[str, np.ndarray]  # read name -> (X1) sum of sign * G_eff of its devices
    i_unit_A: float  # (X2) v_read dG / L_k: the current of one level at full-scale drive
    adc_range_A: float  # (A1) I_fs
    lsb_A: float | None  # (A1) I_fs / N; None for an ideal ADC
    tie_window: float  # (A2), LSBs
    digital_offset: float  # (X2) g_min L_k / dG + offset level (digital offset removal), else 0


@dataclass
class ReadRecord:
    """One ADC input of one reading: slice ``k``, read ``name``, drive pass ``label`` (``acc``: analog sum)."""

    k: int
    name: str
    label: str
    coef: float  # sign of the read x coefficient of the pass (D4)
    current_A: np.ndarray  # (B, cols) current at the ADC input, A
    adc_codes: np.ndarray | None  # (B, cols) integer-valued codes (A1/A3); None for an ideal ADC
    term: np.ndarray  # (B, cols) its contribution to p_k (X2), net-level units


@dataclass
class Reading:
    """One reading of a tile: every vector (``tag == ""``), or a bound-management re-read (``.bm{n}``)."""

    tag: str
    vectors: np.ndarray  # (B',) indices into the batch of the vectors read
    x_max: np.ndarray  # (B',) (D1), times 2^n for the n-th re-read (X5)
    dac_codes: np.ndarray  # (B', rows) (D2)
    dac_clip_fraction: float
    passes: list[DrivePass]  # (D4) codes, code_max, coef, label; .volts_V (D3)
    reads: list[ReadRecord]
    p: list[np.ndarray]  # per slice (B', cols) digital value in net-level units (X2)
    out: np.ndarray  # (B', cols) x_max alpha sum_k 2^sigma_k p_k (X3 before w_max / lambda)
    clipped: np.ndarray  # (B',) bool: an ADC input of the vector lay beyond the outermost decision level


@dataclass
class TileRecord:
    """Tile ``index``: rows ``r0:r1``, columns ``c0:c1``, its slices, drift compensation and readings."""

    index: int
    r0: int
    r1: int
    c0: int
    c1: int
    slices: list[SliceRecord]
    drift_scale: float  # alpha (T3), 1 when off
    readings: list[Reading] = field(default_factory=list)
    bm_factor: np.ndarray | None = None  # (B,) final range factor of bound management (X5), None when off
    partial: np.ndarray | None = None  # (B, cols) the tile's x_max alpha sum_k 2^sigma_k p_k after (X5)


@dataclass
class ReferenceMultiply:
    """Every intermediate of one multiply, as plain arrays; ``y`` is the output."""

    x: np.ndarray  # (B, n_in)
    w_max: np.ndarray  # (n_out,) (W1)
    w_norm: np.ndarray  # (n_in, n_out) (W2)
    weight_clip_fraction: float
    q: np.ndarray | None  # (n_in, n_out) int64 (W3); None for analog weights
    device_levels: dict[str, list[np.ndarray]]  # device -> per slice s_k (n_in, n_out) (W4, W5)
    level_scale: float  # lambda (W6)
    read_sampling: str  # "none" | "per_cell" | "output_referred" (devices R4/R5)
    tiles: list[TileRecord]
    y: np.ndarray  # (B, n_out) (X3)
