"""Programming a weight matrix into physical arrays (docs/MODEL.md steps 1-3 and 13).

:func:`program_arrays` turns ``W (n_in, n_out)`` and a config into a list of
:class:`TileArrays`, one per tile, each holding, for every weight slice, the
conductance matrix of every device and the constants its reads need. Nothing
here is random yet: device errors are applied by the caller on top of the
target conductances.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from refsim import devices as dev
from refsim.adc import tie_window
from refsim.streams import keyed_rng
from refsim.config import CrossbarConfig, MappingConfig
from refsim.wires.parasitics import effective_conductance
from refsim.mapping import levels_to_conductance, read_span_S, reference_conductance, round_pair_float32
from refsim.tiling import check_scaling_scope, tile_bounds
from refsim.weights import (
    device_levels,
    level_offset,
    level_scale,
    normalize_weights,
    quantize_weights,
    slice_levels,
    weight_range,
)

__all__ = ["WeightLevels", "Read", "SliceArrays", "TileArrays", "weight_levels", "program_arrays", "Streams",
           "map_reads", "drop_reads", "read_matrix", "effective_weights"]


class Streams:
    """Independent random streams derived from one root seed (docs/MODEL.md section 0, determinism).

    ``get(key)`` returns the generator of ``key``, a tuple naming the tile, weight slice,
    device, drive pass and noise source, e.g. ``(0, 1, "pos", "slice3", "read")``. Its
    seed is :func:`refsim.streams.keyed_rng` ``(entropy, key)``: a stream depends only
    on the root entropy and its key, never on the order in which streams are created or
    used. The same key always returns the same (stateful) generator, so successive
    multiplies continue the stream.
    """

    def __init__(self, entropy: int | None):
        self.entropy = entropy
        self._gens: dict[tuple, np.random.Generator] = {}

    def get(self, key: tuple) -> np.random.Generator:
        if self.entropy is None:
            raise ValueError(
                "rng: this configuration draws random numbers (device noise) but no generator was "
                "given; pass rng=numpy.random.default_rng(seed) to Crossbar"
            )
        if key not in self._gens:
            self._gens[key] = keyed_rng(self.entropy, key)
        return self._gens[key]


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
    check_scaling_scope(w.shape, cfg)  # (W1) weight.scaling_scope="tile": one-tile blocks only
    w_max = weight_range(w, wc)
    w_norm, clip_frac = normalize_weights(w, w_max)
    q = None if wc.bits is None else quantize_weights(w_norm, wc.bits)
    devices = {name: slice_levels(lv, wc, scheme) for name, lv in device_levels(w_norm, q, wc.bits, scheme).items()}
    off = level_offset(wc.bits, scheme)
    if wc.bits is None:
        offsets = [off]
    else:  # the offset 2^(b-1), sliced like the levels it is added to
        offsets = [float(sl) for sl, _, _ in slice_levels(np.array(int(off)), wc, scheme)]
    return WeightLevels(w_max, w_norm, clip_frac, q, devices, level_scale(wc.bits, scheme), offsets)


@dataclass(frozen=True)
class Read:
    """One ADC input of a weight slice: the column currents of ``devices`` combined in the array.

    ``g_S = sum(sign_d * G_eff[d])`` over ``devices = ((device, sign_d), ...)`` is the matrix
    whose column currents that ADC converts (S, ``(rows, cols)``; ``(rows, 1)`` for a reference
    column). ``g_mul`` is the matrix the analog multiply uses, its one home: ``g_S`` itself
    (X1), its float32 copy (``precision="float32"``) or its copy pre-scaled to currents per
    DAC code in units of the ADC step (X1', :class:`refsim.reads.SliceReader`); None where no
    product uses it (per-cell read noise, a linear crossbar). ``z_bound`` (X1' only) bounds
    ``|I / I_lsb|`` of one drive pass: ``c_max' max_j sum_i |G~_ij|``.
    """

    name: str  # "net", "pos", "neg", "single" or "ref"
    sign: float  # digital sign of this read's codes
    devices: tuple[tuple[str, float], ...]
    g_S: np.ndarray | None  # (rows, cols), S; None when not kept
    g_mul: np.ndarray | None  # (rows, cols): what the multiply uses (see above)
    z_bound: float | None = None  # X1' only: bound on |I / I_lsb| of one drive pass

    @property
    def per_code(self) -> bool:
        """``g_mul`` is pre-scaled per DAC code (X1'): the product is the current in ADC units."""
        return self.z_bound is not None


@dataclass(frozen=True)
class SliceArrays:
    """The arrays of one weight slice of one tile, and the constants of their reads.

    ``devices`` names the physical arrays of the slice (``pos``, ``neg``, ``single``,
    ``ref``). ``reads`` lists the ADC inputs (:class:`Read`).

    Only what the multiplies need is kept (memory): the read matrices (noise-free or
    output-referred read noise, with ``read_var_S2`` the summed per-cell variance of each
    read), or, for per-cell read noise, the conductances of every device at inference
    time ``g_S``, their effective matrices ``g_eff_S`` and read-noise sigmas
    ``read_sigma_S``. Every conductance of every stage (target, programmed, at inference,
    effective) is recomputed on demand by :meth:`refsim.Crossbar.trace` /
    :meth:`refsim.Crossbar.conductances`: programming is deterministic.
    """

    shift: int  # weight slice shift sigma_k
    max_level: float  # L_k
    offset_level: float  # offset level in this slice (offset scheme), else 0
    devices: tuple[str, ...]
    cols: int  # columns of the tile (a reference column's read is broadcast to them)
    reads: tuple[Read, ...]
    g_S: dict[str, np.ndarray]  # per-cell read noise only: device -> G at inference time (S)
    g_eff_S: dict[str, np.ndarray]  # per-cell read noise only: device -> G_eff (S)
    read_sigma_S: dict[str, np.ndarray]  # per-cell read noise only: device -> sigma (S)
    read_var_S2: dict[str, np.ndarray]  # output-referred read noise only: read -> sum of sigma^2 (S^2)
    i_unit_A: float  # v_read * dG / L_k: current of one level at full-scale drive
    adc_range_A: float  # full-scale current of this slice's ADCs
    digital_offset: float  # subtracted per unit of sum(d): g_min L / dG + offset (digital removal), else 0
    tie_window: float  # ADC tie band, LSBs


@dataclass(frozen=True)
class TileArrays:
    """One tile: rows ``r0:r1`` and columns ``c0:c1`` of the matrix, and its weight slices.

    ``drift_scale`` is the global drift compensation factor of the tile (1 when off).
    """

    r0: int
    r1: int
    c0: int
    c1: int
    slices: list[SliceArrays] = field(default_factory=list)
    drift_scale: float = 1.0


def _read_devices(cfg: CrossbarConfig) -> list[tuple[str, float, tuple[tuple[str, float], ...]]]:
    """The ADC inputs of one slice: ``(name, sign, ((device, sign), ...))``."""
    in_array = cfg.mapping.subtraction == "in_array"
    if cfg.mapping.differential:
        if in_array:
            return [("net", 1.0, (("pos", 1.0), ("neg", -1.0)))]
        return [("pos", 1.0, (("pos", 1.0),)), ("neg", -1.0, (("neg", 1.0),))]
    if cfg.mapping.offset_removal == "digital":
        return [("single", 1.0, (("single", 1.0),))]
    if in_array:
        return [("net", 1.0, (("single", 1.0), ("ref", -1.0)))]
    return [("single", 1.0, (("single", 1.0),)), ("ref", -1.0, (("ref", 1.0),))]


def program_device(g_target: np.ndarray, cfg: CrossbarConfig, rng_fn, draws_in: dict | None, record: dict,
                   solve_wires: bool = True) -> tuple:
    """Steps 4-5 and §2 for one physical array: programming error, stuck-at faults, clipping,
    drift to ``t_inference_s``, the held 1/f read noise (``device.pcm_read_noise_held``: drawn
    once, ``xi_hold``), read-noise sigma and the effective matrix with wires.

    ``rng_fn(source)`` returns the generator of a noise source; ``draws_in`` (replay) gives
    the draws instead. Every draw is stored in ``record``. Returns
    ``(g_prog, g_t, g_eff, read_sigma)``, all ``(rows, cols)`` in S.
    """
    d, m, w = cfg.device, cfg.mapping, cfg.wire
    if draws_in is not None:
        pdraws = {k: draws_in[k] for k in ("xi_prog", "u_stuck") if k in draws_in}
        ddraws = {k: draws_in[k] for k in ("xi_nu",) if k in draws_in}
        hdraws = {k: draws_in[k] for k in ("xi_hold",) if k in draws_in}
    else:
        needs_prog = d.prog_model != "none" or d.has_stuck_faults()
        pdraws = dev.draw_programming(g_target.shape, d, rng_fn("program")) if needs_prog else {}
        ddraws = dev.draw_drift(g_target.shape, d, rng_fn("drift")) if d.drift_model == "pcm_rasch2023" else {}
        hdraws = {"xi_hold": rng_fn("read_hold").standard_normal(g_target.shape)} if d.has_held_read_noise() else {}
    record.update(pdraws)
    record.update(ddraws)
    record.update(hdraws)
    if d.prog_model == "none" and not d.has_stuck_faults():
        g_prog = g_target
    else:
        g_prog = dev.program_conductances(g_target, pdraws, d, g_min_S=m.g_min_S, g_max_S=m.g_max_S)["g_prog_S"]
    if d.has_drift():
        nu = dev.drift_nu(g_target, ddraws, d, g_max_S=m.g_max_S)
        g_t = dev.drift_conductance_S(g_prog, nu, t_inference_s=d.t_inference_s, t0_s=d.t0_s)
    else:
        g_t = g_prog
    if d.has_held_read_noise():  # the 1/f read noise at t_inference_s, drawn once and held (P3)
        if "xi_hold" not in hdraws:
            raise ValueError("draws: a replay of a config with device.pcm_read_noise_held needs 'xi_hold'")
        sig = dev.pcm_read_sigma_S(g_t, g_prog, g_max_S=m.g_max_S, t_s=d.t_inference_s + d.t0_s,
                                   t_read_s=d.t_read_s, scale=d.pcm_read_noise_scale)
        g_t = np.maximum(g_t + sig * hdraws["xi_hold"], 0.0)
    read_sigma = dev.read_noise_sigma_S(g_t, d, g_max_S=m.g_max_S, g_prog_S=g_prog) if d.has_read_noise() else None
    g_eff = g_t
    if w.enabled and solve_wires:
        g_eff = effective_conductance(g_t, w.r_row_ohm, w.r_col_ohm, r_driver_ohm=w.r_driver_ohm, r_sense_ohm=w.r_sense_ohm)
    return g_prog, g_t, g_eff, read_sigma


def interleaved_pair_g_eff(g_pos: np.ndarray, g_neg: np.ndarray, cfg: CrossbarConfig) -> tuple[np.ndarray, np.ndarray]:
    """Effective matrices of a differential pair laid out in one array, columns interleaved
    ``[G+_0, G-_0, G+_1, G-_1, ...]`` (shape ``(rows, 2 cols)``), sharing the row wires."""
    rows, cols = g_pos.shape
    both = np.empty((rows, 2 * cols))
    both[:, 0::2], both[:, 1::2] = g_pos, g_neg
    w = cfg.wire
    eff = effective_conductance(both, w.r_row_ohm, w.r_col_ohm, r_driver_ohm=w.r_driver_ohm, r_sense_ohm=w.r_sense_ohm)
    return np.ascontiguousarray(eff[:, 0::2]), np.ascontiguousarray(eff[:, 1::2])


def _freeze(*dicts: dict) -> None:
    for dct in dicts:
        for arr in dct.values():
            arr.setflags(write=False)


def program_arrays(levels: WeightLevels, cfg: CrossbarConfig, streams: "Streams", draws_in: dict | None,
                   draws_out: dict | None = None, conductances_out: dict | None = None, *,
                   keep: str = "reads") -> list[TileArrays]:
    """Steps 3-5, 13 and §2: split into tiles, map every slice of every device to
    conductances, program them with device errors, drift them and solve their wires.

    Draws are keyed ``t{tile}.s{k}.{device}.{name}`` in ``draws_out`` (and read from
    ``draws_in`` for a replay); ``conductances_out`` receives the target
    (``….target``), programmed (``….programmed``) and inference-time conductances.
    Programming is deterministic given the streams' root and the draws, so running it
    again with these outputs reproduces a crossbar's record. ``keep`` chooses what the
    slices retain: ``"reads"`` (read matrices), ``"reads_var"`` (and their read-noise
    variance), ``"devices"`` (per-device conductances and sigmas, for per-cell noise).
    """
    m, (n_in, n_out) = cfg.mapping, levels.w_norm.shape
    d_g = m.g_max_S - m.g_min_S
    use_ref = (not m.differential) and m.offset_removal == "reference_column"
    # an ADC input that subtracts two devices in the array is a "net" read, else single-ended
    read_kind = "net" if any(len(devs) == 2 for _, _, devs in _read_devices(cfg)) else "single"
    tiles = []
    for r0, r1 in tile_bounds(n_in, cfg.array.rows_max, cfg.array.split):
        for c0, c1 in tile_bounds(n_out, cfg.array.cols_max, cfg.array.split):
            ti = len(tiles)
            slices, drift_parts = [], []
            for k in range(len(levels.offsets)):
                g_target = {}
                for name, sl in levels.devices.items():
                    lv, shift, max_level = sl[k]
                    g_target[name] = levels_to_conductance(lv[r0:r1, c0:c1], max_level, m)
                off = levels.offsets[k]
                if use_ref:
                    g_target["ref"] = np.full((r1 - r0, 1), reference_conductance(off, max_level, m))
                g_prog, g_t, g_eff, sig = {}, {}, {}, {}
                interleave = cfg.wire.enabled and cfg.wire.pair_layout == "interleaved" and m.differential
                for name, gt in g_target.items():
                    prefix = f"t{ti}.s{k}.{name}."
                    rec: dict = {}
                    sub_in = None if draws_in is None else {kk[len(prefix):]: v for kk, v in draws_in.items() if kk.startswith(prefix)}
                    g_prog[name], g_t[name], g_eff[name], sig_n = program_device(
                        gt, cfg, lambda src, key=(ti, k, name): streams.get(key + (src,)), sub_in, rec,
                        solve_wires=not interleave)
                    if sig_n is not None:
                        sig[name] = sig_n
                    if draws_out is not None:
                        draws_out.update({prefix + kk: v for kk, v in rec.items()})
                    if conductances_out is not None:
                        conductances_out[prefix + "target"] = gt
                        conductances_out[prefix + "programmed"] = g_prog[name]
                        conductances_out[prefix[:-1]] = g_t[name]
                if interleave:
                    g_eff["pos"], g_eff["neg"] = interleaved_pair_g_eff(g_t["pos"], g_t["neg"], cfg)
                if conductances_out is not None:
                    conductances_out.update({f"t{ti}.s{k}.{name}.eff": g for name, g in g_eff.items()})
                rows = r1 - r0
                span = read_span_S(m, off, max_level, read_kind, cfg.adc.max_span)
                if cfg.adc.range_mode == "max":
                    adc_range = rows * cfg.dac.v_read_V * span
                else:
                    rng_a = cfg.adc.range_A
                    adc_range = float(rng_a[k] if isinstance(rng_a, tuple) else rng_a)
                digital_offset = 0.0
                if not m.differential and m.offset_removal == "digital":
                    digital_offset = m.g_min_S * max_level / d_g + off
                read_list = _read_devices(cfg)
                per_cell = keep == "devices"
                reads = tuple(_read(name, sign, devs, None if per_cell else _pair(g_eff, devs, (rows, c1 - c0), m))
                              for name, sign, devs in read_list)
                var = {}
                if keep == "reads_var":
                    var = {name: sum(sig[dn] ** 2 for dn, _ in devs) for name, _, devs in read_list}
                kept = (g_t, g_eff, sig) if per_cell else ({}, {}, {})
                _freeze(*kept, var, {r.name: r.g_S for r in reads if r.g_S is not None})
                drift_parts.append((g_prog, g_t))
                slices.append(
                    SliceArrays(
                        shift=shift, max_level=float(max_level), offset_level=off,
                        devices=tuple(g_target), cols=c1 - c0, reads=reads,
                        g_S=kept[0], g_eff_S=kept[1], read_sigma_S=kept[2], read_var_S2=var,
                        i_unit_A=cfg.dac.v_read_V * d_g / max_level,
                        adc_range_A=adc_range,
                        digital_offset=digital_offset,
                        tie_window=tie_window(rows, cfg.adc.n_levels or 1, m.g_max_S / span),
                    )
                )
            tiles.append(TileArrays(r0, r1, c0, c1, slices, _drift_scale(drift_parts, cfg, rows=r1 - r0)))
    return tiles


def _read(name: str, sign: float, devs: tuple, g: np.ndarray | None) -> Read:
    """A read whose multiply uses its matrix in S as it is (X1)."""
    return Read(name, sign, devs, g, g_mul=g)


def _pair(g: dict[str, np.ndarray], devs, shape, m) -> np.ndarray:
    """:func:`_combine`, with an in-array two-device read's matrix formed as ``mapping.g_round`` asks (M4)."""
    if len(devs) == 2 and m.g_round == "float32_pair":
        return round_pair_float32(g[devs[0][0]], g[devs[1][0]], m)
    return _combine(g, devs, shape)


def _combine(g: dict[str, np.ndarray], devs, shape) -> np.ndarray:
    """``sum(sign * g[device])`` over the devices of one read; a single ``ref`` column stays ``(rows, 1)``."""
    if len(devs) == 1 and devs[0][1] == 1.0:
        return g[devs[0][0]]
    if len(devs) == 2 and devs[0][1] == 1.0 and devs[1][1] == -1.0:
        return g[devs[0][0]] - g[devs[1][0]]  # broadcasts a (rows, 1) reference column
    return sum(sign * np.broadcast_to(g[name], shape) for name, sign in devs)


def read_matrix(s: SliceArrays, read: Read, m: MappingConfig | None = None) -> np.ndarray:
    """The matrix ``g_S`` of one read of a slice, S: stored, or combined from ``g_eff_S`` on demand,
    an in-array pair as ``m.g_round`` asks (M4; per-cell sampling keeps no read matrix)."""
    if read.g_S is not None:
        return read.g_S
    shape = (next(iter(s.g_eff_S.values())).shape[0], s.cols)
    return _combine(s.g_eff_S, read.devices, shape) if m is None else _pair(s.g_eff_S, read.devices, shape, m)


def effective_weights(tiles: list[TileArrays], cfg: CrossbarConfig, shape: tuple[int, int],
                      scale: np.ndarray) -> np.ndarray:
    """``W_eff`` (weight units, ``shape``) with ``y = x_drive @ W_eff`` for a linear pipeline (X4):

    ``W_eff = alpha * scale * sum_k 2^sigma_k (sum_reads sign G_read L_k / dG - offset_k)``, with
    ``scale = w_max / lambda`` per column and ``alpha`` the tile's drift compensation.
    """
    d_g = cfg.mapping.g_max_S - cfg.mapping.g_min_S
    w_eff = np.zeros(shape)
    for t in tiles:
        block = w_eff[t.r0 : t.r1, t.c0 : t.c1]
        for s in t.slices:
            g_net = sum(r.sign * np.broadcast_to(read_matrix(s, r, cfg.mapping), block.shape) for r in s.reads)
            block += (t.drift_scale * 2.0**s.shift) * (g_net * (s.max_level / d_g) - s.digital_offset)
    w_eff *= scale
    w_eff.setflags(write=False)
    return w_eff


def map_reads(tiles: list[TileArrays], fn) -> list[TileArrays]:
    """The tiles with every read ``r`` of every slice ``s`` replaced by ``fn(s, r)`` (a :class:`Read`)."""
    return [replace(t, slices=[replace(s, reads=tuple(fn(s, r) for r in s.reads)) for s in t.slices]) for t in tiles]


def drop_reads(tiles: list[TileArrays]) -> list[TileArrays]:
    """The tiles without their read matrices (a linear crossbar keeps its effective weights instead)."""
    return map_reads(tiles, lambda s, r: replace(r, g_S=None, g_mul=None, z_bound=None))


def _drift_scale(parts: list[tuple[dict, dict]], cfg: CrossbarConfig, rows: int) -> float:
    """Global drift compensation (T3): ``alpha = mean|I_ref(prog)| / mean|I_ref(t)|``
    from a noise-free reference read of all rows at ``v_read`` through every read of the tile."""
    if not (cfg.device.drift_compensation and cfg.device.has_drift()):
        return 1.0
    v = dev.drift_reference_input_V(rows, v_read_V=cfg.dac.v_read_V)
    i0, it = [], []
    for g_prog, g_t in parts:
        cols = max(g.shape[1] for g in g_t.values())
        for _, _, devs in _read_devices(cfg):
            i0.append(np.broadcast_to(v @ _combine(g_prog, devs, (rows, cols)), (1, cols)))
            it.append(np.broadcast_to(v @ _combine(g_t, devs, (rows, cols)), (1, cols)))
    return dev.drift_compensation_scale(np.concatenate(i0, axis=1), np.concatenate(it, axis=1))
