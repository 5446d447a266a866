"""Programming a weight matrix into physical arrays (MODEL_SPEC §1 steps 1-3 and 13).

:func:`program_arrays` turns ``W (n_in, n_out)`` and a config into a list of
:class:`TileArrays`, one per tile, each holding, for every weight slice, the
conductance matrix of every device and the constants its reads need. Nothing
here is random yet: device errors are applied by the caller on top of the
target conductances.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refsim.adc import tie_window
from refsim.config import CrossbarConfig
from refsim.mapping import levels_to_conductance, read_span_S, reference_conductance
from refsim.tiling import tile_bounds
from refsim.weights import (
    device_levels,
    level_offset,
    level_scale,
    normalize_weights,
    quantize_weights,
    slice_levels,
    weight_range,
)

__all__ = ["WeightLevels", "SliceArrays", "TileArrays", "weight_levels", "program_arrays"]


@dataclass(frozen=True)
class WeightLevels:
    """Steps 1-2 for the whole matrix: range, normalized weights, integer levels and slices."""

    w_max: np.ndarray  # (n_out,) weight units
    w_norm: np.ndarray  # (n_in, n_out) in [-1, 1]
    clip_fraction: float  # fraction of weights clipped to +/- w_max
    q: np.ndarray | None  # (n_in, n_out) int64 signed levels in [-Q, Q]; None for analog weights
    devices: dict[str, list[tuple[np.ndarray, int, int]]]  # device -> [(slice level, shift, L)]
    level_scale: float  # w_norm = net level / level_scale
    offsets: list[float]  # per slice: the offset scheme's level in that slice (0 otherwise)


def weight_levels(w: np.ndarray, cfg: CrossbarConfig) -> WeightLevels:
    """Run steps 1-2: range (:func:`~refsim.weights.weight_range`), clip and normalize,
    quantize, split into device levels and slices."""
    wc, scheme = cfg.weight, cfg.mapping.scheme
    w_max = weight_range(w, wc)
    w_norm, clip_frac = normalize_weights(w, w_max)
    q = None if wc.bits is None else quantize_weights(w_norm, wc.bits)
    devices = {name: slice_levels(lv, wc, scheme) for name, lv in device_levels(w_norm, q, wc.bits, scheme).items()}
    off = level_offset(wc.bits, scheme)
    first = next(iter(devices.values()))
    if wc.bits is None:
        offsets = [off]
    else:
        offsets = [float((int(off) >> shift) & (2 ** _width(first, k) - 1)) for k, (_, shift, _) in enumerate(first)]
    return WeightLevels(w_max, w_norm, clip_frac, q, devices, level_scale(wc.bits, scheme), offsets)


def _width(slices: list, k: int) -> int:
    if k + 1 < len(slices):
        return slices[k + 1][1] - slices[k][1]
    return 64


@dataclass(frozen=True)
class SliceArrays:
    """The arrays of one weight slice of one tile, and the constants of their reads.

    ``g_S`` maps a device name (``pos``, ``neg``, ``single``, ``ref``) to its
    conductances ``(rows, cols)`` (``ref``: ``(rows, 1)``). ``reads`` lists the ADC
    inputs as ``(name, sign, g_read)``: ``g_read`` is the matrix whose column currents
    that ADC converts (``G+ - G-`` or ``G - G_ref`` for an in-array subtraction).
    """

    shift: int  # weight slice shift sigma_k
    max_level: float  # L_k
    offset_level: float  # offset level in this slice (offset scheme), else 0
    g_S: dict[str, np.ndarray]
    reads: list[tuple[str, float, np.ndarray]]
    i_unit_A: float  # v_read * dG / L_k: current of one level at full-scale drive
    adc_range_A: float  # full-scale current of this slice's ADCs
    digital_offset: float  # subtracted per unit of sum(d): g_min L / dG + offset (digital removal), else 0
    tie_window: float  # ADC tie band, LSBs


@dataclass(frozen=True)
class TileArrays:
    """One tile: rows ``r0:r1`` and columns ``c0:c1`` of the matrix, and its weight slices."""

    r0: int
    r1: int
    c0: int
    c1: int
    slices: list[SliceArrays] = field(default_factory=list)


def _reads(g: dict[str, np.ndarray], cfg: CrossbarConfig) -> list[tuple[str, float, np.ndarray]]:
    in_array = cfg.mapping.subtraction == "in_array"
    if cfg.mapping.differential:
        if in_array:
            return [("net", 1.0, g["pos"] - g["neg"])]
        return [("pos", 1.0, g["pos"]), ("neg", -1.0, g["neg"])]
    if cfg.mapping.offset_removal == "digital":
        return [("single", 1.0, g["single"])]
    if in_array:
        return [("net", 1.0, g["single"] - g["ref"])]
    return [("single", 1.0, g["single"]), ("ref", -1.0, g["ref"])]


def program_arrays(levels: WeightLevels, cfg: CrossbarConfig) -> list[TileArrays]:
    """Steps 3 and 13: split into tiles and map every slice of every device to conductances."""
    m, n_in_out = cfg.mapping, levels.w_norm.shape
    d_g = m.g_max_S - m.g_min_S
    use_ref = (not m.differential) and m.offset_removal == "reference_column"
    read_kind = "net" if (m.subtraction == "in_array" and (m.differential or use_ref)) else "single"
    tiles = []
    for r0, r1 in tile_bounds(n_in_out[0], cfg.array.rows_max, cfg.array.split):
        for c0, c1 in tile_bounds(n_in_out[1], cfg.array.cols_max, cfg.array.split):
            tile = TileArrays(r0, r1, c0, c1)
            for k in range(len(levels.offsets)):
                g = {}
                for name, sl in levels.devices.items():
                    lv, shift, max_level = sl[k]
                    g[name] = levels_to_conductance(lv[r0:r1, c0:c1], max_level, m)
                off = levels.offsets[k]
                if use_ref:
                    g["ref"] = np.full((r1 - r0, 1), reference_conductance(off, max_level, m))
                span = read_span_S(m, off, max_level, read_kind)
                rows = r1 - r0
                if cfg.adc.range_mode == "max":
                    adc_range = rows * cfg.dac.v_read_V * span
                else:
                    rng_a = cfg.adc.range_A
                    adc_range = float(rng_a[k] if isinstance(rng_a, tuple) else rng_a)
                digital_offset = 0.0
                if not m.differential and m.offset_removal == "digital":
                    digital_offset = m.g_min_S * max_level / d_g + off
                n_lv = cfg.adc.n_levels or 1
                for arr in g.values():
                    arr.setflags(write=False)
                tile.slices.append(
                    SliceArrays(
                        shift=shift,
                        max_level=float(max_level),
                        offset_level=off,
                        g_S=g,
                        reads=_reads(g, cfg),
                        i_unit_A=cfg.dac.v_read_V * d_g / max_level,
                        adc_range_A=adc_range,
                        digital_offset=digital_offset,
                        tie_window=tie_window(rows, n_lv, m.g_max_S / span),
                    )
                )
            tiles.append(tile)
    return tiles
