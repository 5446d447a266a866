"""One crossbar multiply ``y = x @ W``, read top to bottom: the readable twin of :class:`refsim.Crossbar`.

Open this file next to ``docs/MODEL.md``: :func:`reference_multiply` walks the model's
sections in order, in float64 and physical units (volts, siemens, amperes), and keeps every
intermediate. It calls the pure step functions (``weights``, ``mapping``, ``tiling``, ``dac``,
``adc``, ``devices``, the wire solver), writes Ohm's and Kirchhoff's laws as ``I = V @ G``, and
uses nothing of the crossbar's machinery: no effective weight matrix, no currents in ADC steps,
no stacked or chunked reads, no batch blocks, no scratch buffers, no random streams. Plain
loops over tiles, weight slices, ADC inputs ("reads") and drive passes. The records it returns
(one per tile, slice, array, reading and ADC input) are defined in ``refsim/reference_records.py``.

Randomness comes only from ``draws``, the dict of a recorded multiply (``Trace.draws`` of
:meth:`refsim.Crossbar.trace`), with its keys

* programming, once per physical array: ``t{tile}.s{k}.{device}.xi_prog | u_stuck | xi_nu``;
* every multiply: ``t{tile}.s{k}{bm}.{device}.{pass}.read`` (per-cell read noise),
  ``t{tile}.s{k}{bm}.{read}.{pass}.read_out`` (output-referred read noise),
  ``….{read}.{pass}.out`` (output noise) and ``….{read}.{pass}.adc`` (stochastic ADC),
  with ``{bm}`` empty or ``.bm{n}`` for the n-th re-read of bound management.

A config that needs a random number not in ``draws`` raises ``ValueError`` naming the key.
``precision="float32"`` configs are computed in float64 (the model; float32 is the crossbar's
speed option, equal to this only to float32 round-off).

The order of one multiply, per tile (docs/MODEL.md sections 1-6):
(W1-W6) levels → (M1) target G → (G1-G6, F1) programmed G → (T1, T2) G at inference →
(3-12) G_eff with wires; (T3) drift compensation α; then for every input:
(D1) x_max → (D2) DAC codes → (D4) drive passes → (D3) row voltages → (X1) column currents
with (R4/R5) read noise and (O3) IR drop, analog accumulation, (O1) output noise, (O2)
current limit → (A1-A3) ADC → (X2) digital terms → (X5) bound-management re-reads →
(X3) shift-and-add over slices, sum over row tiles, rescale by w_max/λ.
"""

from __future__ import annotations

import numpy as np

from refsim import devices as dev
from refsim.adc import adc_convert, tie_window
from refsim.config import CrossbarConfig
from refsim.dac import dac_codes, drive_passes, input_range
from refsim.mapping import levels_to_conductance, read_span_S, reference_conductance, round_pair_float32
# the records it returns (every intermediate, as plain data)
from refsim.reference_records import (ArrayRecord, ReadRecord, Reading, ReferenceMultiply, SliceRecord,
                                      TileRecord)
from refsim.tiling import check_scaling_scope, tile_bounds
from refsim.weights import (device_levels, level_offset, level_scale, normalize_weights, quantize_weights,
                            slice_levels, weight_range)
# the wire solver (docs/MODEL.md section 4), imported in this one place
from refsim.wires.parasitics import column_currents, effective_conductance

__all__ = ["reference_multiply", "ReferenceMultiply", "TileRecord", "SliceRecord", "ArrayRecord",
           "Reading", "ReadRecord"]


def reference_multiply(weights, x, config: CrossbarConfig, draws: dict | None = None) -> ReferenceMultiply:
    """``y = x @ W`` through the whole model, ``weights (n_in, n_out)``, ``x (B, n_in)``, float64.

    ``draws``: the random draws of a recorded multiply (``Crossbar.trace(x).draws``); needed
    exactly when the config draws random numbers. Returns a :class:`ReferenceMultiply`.
    """
    if not isinstance(config, CrossbarConfig):
        raise TypeError(f"config: received {type(config).__name__}; expected a refsim.CrossbarConfig")
    w = _matrix("weights", weights)
    if w.shape[0] == 0:
        raise ValueError(f"weights: received shape {w.shape}; expected (n_in, n_out) with both >= 1")
    x = _matrix("x", x)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x: received shape {x.shape}; expected (B, {w.shape[0]}) to match weights {w.shape}")
    cfg, d, m = config, config.device, config.mapping
    wires = cfg.wire

    # ---- 1. Weights (W1-W6) ----------------------------------------------------------------------
    check_scaling_scope(w.shape, cfg)  # weight.scaling_scope="tile": refused where it differs from W1
    w_max = weight_range(w, cfg.weight)  # (W1) (n_out,)
    w_norm, w_clip = normalize_weights(w, w_max)  # (W2)
    q = None if cfg.weight.bits is None else quantize_weights(w_norm, cfg.weight.bits)  # (W3)
    levels = device_levels(w_norm, q, cfg.weight.bits, m.scheme)  # (W4) device -> level
    sliced = {name: slice_levels(lv, cfg.weight, m.scheme) for name, lv in levels.items()}  # (W5) [(s_k, σ_k, L_k)]
    n_slices = len(next(iter(sliced.values())))
    offset = level_offset(cfg.weight.bits, m.scheme)  # the offset scheme's level 2^(b-1) (or 1/2), else 0
    if cfg.weight.bits is None:
        offsets = [offset]
    else:  # the offset level is sliced like the levels it is added to (W5)
        offsets = [float(s) for s, _, _ in slice_levels(np.array(int(offset)), cfg.weight, m.scheme)]
    lam = level_scale(cfg.weight.bits, m.scheme)  # (W6) w = net level / λ

    # The ADC inputs of one slice: (read name, sign, ((device, sign), ...)) (X1, X2)
    reads = _reads(cfg)
    in_array_pair = any(len(devs) == 2 for _, _, devs in reads)
    sampling = dev.resolve_read_sampling(d, wire_resistance=wires.enabled)  # (R4) or (R5)

    # ---- 2-4. Tiles: mapping, programming, drift, wires ------------------------------------------
    tiles: list[TileRecord] = []
    for r0, r1 in tile_bounds(w.shape[0], cfg.array.rows_max, cfg.array.split):
        for c0, c1 in tile_bounds(w.shape[1], cfg.array.cols_max, cfg.array.split):
            ti, rows = len(tiles), r1 - r0
            slices = []
            for k in range(n_slices):
                off = offsets[k]
                _, shift, max_level = next(iter(sliced.values()))[k]  # σ_k and L_k: the same for every device
                max_level = float(max_level)
                targets = {name: levels_to_conductance(sl[k][0][r0:r1, c0:c1], max_level, m)  # (M1)
                           for name, sl in sliced.items()}
                if not m.differential and m.offset_removal == "reference_column":  # (M1) at the offset level
                    targets["ref"] = np.full((rows, 1), reference_conductance(off, max_level, m))
                arrays = {name: _program_array(g, f"t{ti}.s{k}.{name}", cfg, draws) for name, g in targets.items()}
                if _interleaved(cfg):  # a differential pair in one array, columns G+_0, G-_0, G+_1, ...
                    both = _interleave(arrays["pos"].at_inference_S, arrays["neg"].at_inference_S)
                    eff = effective_conductance(both, wires.r_row_ohm, wires.r_col_ohm,
                                                r_driver_ohm=wires.r_driver_ohm, r_sense_ohm=wires.r_sense_ohm)
                    arrays["pos"].eff_S, arrays["neg"].eff_S = eff[:, 0::2], eff[:, 1::2]
                # (A1) ADC range: fixed, or the largest current: rows * v_read * span
                span = read_span_S(m, off, max_level, "net" if in_array_pair else "single", cfg.adc.max_span)
                if cfg.adc.range_mode == "max":
                    adc_range = rows * cfg.dac.v_read_V * span
                else:
                    r = cfg.adc.range_A
                    adc_range = float(r[k] if isinstance(r, tuple) else r)
                d_g = m.g_max_S - m.g_min_S
                slices.append(SliceRecord(
                    k=k, shift=shift, max_level=max_level, offset_level=off, arrays=arrays,
                    g_read_S={rn: _read_matrix(arrays, devs, m) for rn, _, devs in reads},  # (X1), (M4)
                    i_unit_A=cfg.dac.v_read_V * d_g / max_level,  # (X2)
                    adc_range_A=adc_range,
                    lsb_A=None if cfg.adc.bits is None else adc_range / cfg.adc.n_levels,  # (A1)
                    tie_window=tie_window(rows, cfg.adc.n_levels or 1, m.g_max_S / span),  # (A2)
                    digital_offset=(m.g_min_S * max_level / d_g + off)  # (X2)
                    if not m.differential and m.offset_removal == "digital" else 0.0,
                ))
            tiles.append(TileRecord(ti, r0, r1, c0, c1, slices, _drift_compensation(slices, reads, cfg, rows)))

    # ---- 5-6. Every tile reads its inputs; bound management re-reads clipped vectors (X5) -------
    for t in tiles:
        xt = x[:, t.r0:t.r1]
        x_max = input_range(xt, cfg.dac)  # (D1) (B,)
        first = _read_tile(t, xt, x_max, np.arange(x.shape[0]), "", cfg, sampling, reads, draws)
        t.readings.append(first)
        out, clipped = first.out.copy(), first.clipped.copy()
        if cfg.dac.bound_management == "iterative":
            factor, n = np.ones(x.shape[0]), 0
            while clipped.any() and 2 * factor.max() <= cfg.dac.bm_max_factor:
                n += 1
                idx = np.nonzero(clipped)[0]
                factor[idx] *= 2.0  # x_max <- 2 x_max: the codes are halved
                again = _read_tile(t, xt[idx], x_max[idx] * factor[idx], idx, f".bm{n}", cfg, sampling, reads, draws)
                t.readings.append(again)
                out[idx] = again.out
                clipped = np.zeros(x.shape[0], dtype=bool)
                clipped[idx] = again.clipped
            t.bm_factor = factor
        t.partial = out

    # ---- X3: digital sum over row tiles, then the weight rescale w_max / λ ------------------------
    y = np.zeros((x.shape[0], w.shape[1]))
    for t in tiles:
        y[:, t.c0:t.c1] += t.partial
    y = y * (w_max / lam)
    return ReferenceMultiply(
        x=x, w_max=w_max, w_norm=w_norm, weight_clip_fraction=w_clip, q=q,
        device_levels={name: [s for s, _, _ in sl] for name, sl in sliced.items()},
        level_scale=lam, read_sampling=sampling, tiles=tiles, y=y,
    )


def _program_array(g_target: np.ndarray, key: str, cfg: CrossbarConfig, draws) -> ArrayRecord:
    """One physical array from its target conductances ``g_target`` (M1), S: programming error (G1-G5),
    stuck-at faults (F1) and the clip (G6), drift to ``t_inference_s`` (T1, T2), the read-noise
    sigma (R1-R3, P3) and the effective matrix of its own circuit with wires (3)-(12).
    ``key`` = ``t{tile}.s{k}.{device}`` names its programming draws."""
    d, m, wires = cfg.device, cfg.mapping, cfg.wire
    prog_draws = {}  # (G5) xi ~ N(0, 1) and (F1) u ~ U[0, 1), per cell
    if d.prog_model != "none":
        prog_draws["xi_prog"] = _draw(draws, f"{key}.xi_prog", g_target.shape)
    if d.has_stuck_faults():
        prog_draws["u_stuck"] = _draw(draws, f"{key}.u_stuck", g_target.shape)
    g_prog = dev.program_conductances(g_target, prog_draws, d, g_min_S=m.g_min_S, g_max_S=m.g_max_S)["g_prog_S"]
    g_t = g_prog
    if d.has_drift():  # (T1) G(t) = G_prog (t / t0)^(-nu), nu (T2) from the target
        drift_draws = {}
        if d.drift_model == "pcm_rasch2023":
            drift_draws["xi_nu"] = _draw(draws, f"{key}.xi_nu", g_target.shape)
        nu = dev.drift_nu(g_target, drift_draws, d, g_max_S=m.g_max_S)
        g_t = dev.drift_conductance_S(g_prog, nu, t_inference_s=d.t_inference_s, t0_s=d.t0_s)
    if d.has_held_read_noise():  # (P3) the 1/f read noise at t_inference_s, drawn once and held
        sig = dev.pcm_read_sigma_S(g_t, g_prog, g_max_S=m.g_max_S, t_s=d.t_inference_s + d.t0_s,
                                   t_read_s=d.t_read_s, scale=d.pcm_read_noise_scale)
        g_t = np.maximum(g_t + sig * _draw(draws, f"{key}.xi_hold", g_target.shape), 0.0)
    sigma = None
    if d.has_read_noise():
        sigma = dev.read_noise_sigma_S(g_t, d, g_max_S=m.g_max_S, g_prog_S=g_prog)
    g_eff = g_t
    if wires.enabled:
        g_eff = effective_conductance(g_t, wires.r_row_ohm, wires.r_col_ohm,
                                      r_driver_ohm=wires.r_driver_ohm, r_sense_ohm=wires.r_sense_ohm)
    return ArrayRecord(g_target, g_prog, g_t, g_eff, sigma)


def _read_tile(t: TileRecord, xt, x_max, vectors, tag, cfg: CrossbarConfig, sampling, reads, draws) -> Reading:
    """One reading of tile ``t`` for the vectors ``xt (B', rows)`` driven at full scale ``x_max (B',)``."""
    d, adc, v_read = cfg.device, cfg.adc, cfg.dac.v_read_V
    codes, dac_clip = dac_codes(xt, x_max, cfg.dac)  # (D2) (B', rows)
    passes = drive_passes(codes, cfg.dac)  # (D4); each pass's volts_V = codes / code_max * v_read (D3)
    c_max = 1 if cfg.dac.bits is None else cfg.dac.code_max
    clipped = np.zeros(xt.shape[0], dtype=bool)
    records, p_all = [], []
    out = np.zeros((xt.shape[0], t.c1 - t.c0))
    for s in t.slices:
        key = f"t{t.index}.s{s.k}{tag}"
        p = np.zeros((xt.shape[0], t.c1 - t.c0))
        for name, sign, devs in reads:
            g_read = s.g_read_S[name]
            currents = []  # (label, coef, I (B', cols) in A) per drive pass
            for ps in passes:
                v = ps.volts_V  # (D3) (B', rows)
                if sampling == "per_cell":  # (R4) every vector reads its own noisy copy of the arrays
                    i_dev = _per_cell_currents(s, [dn for dn, _ in devs], v, f"{key}", ps.label, cfg, draws)
                    i_a = sum(ds * i_dev[dn] for dn, ds in devs)
                else:
                    i_a = v @ g_read  # (X1) I_j = sum_i V_i G_ij
                    if sampling == "output_referred":  # (R5) sqrt(sum_i V_i^2 sigma_ij^2) xi_j
                        sigma_read = np.sqrt(sum(s.arrays[dn].read_sigma_S ** 2 for dn, _ in devs))
                        xi = _draw(draws, f"{key}.{name}.{ps.label}.read_out", (v.shape[0], g_read.shape[1]))
                        i_a = i_a + dev.output_referred_read_noise_A(v, sigma_read, xi)
                if d.ir_drop_scale > 0:  # (O3) the IR-drop heuristic, on the read's matrix
                    g_b = np.broadcast_to(g_read, (g_read.shape[0], i_a.shape[1]))
                    i_a = i_a - dev.ir_drop_rasch2023_delta_A(v, g_b, scale=d.ir_drop_scale, g_ratio=d.ir_drop_g_ratio,
                                                              g_max_S=cfg.mapping.g_max_S, v_ref_V=v_read)
                currents.append((ps.label, ps.coef, i_a))
            if cfg.dac.accumulation == "analog" and len(passes) > 1:  # (D4) shift-and-add of currents, one ADC
                currents = [("acc", 1.0, sum(coef * i for _, coef, i in currents))]
            for label, coef, i_a in currents:
                if d.out_noise_rel > 0:  # (O1)
                    ref = s.adc_range_A if d.out_noise_reference == "adc_bound" else cfg.mapping.g_max_S * v_read
                    xi = _draw(draws, f"{key}.{name}.{label}.out", i_a.shape)
                    i_a = dev.add_output_noise_A(i_a, xi, sigma_A=dev.output_noise_sigma_A(d.out_noise_rel, ref))
                if d.i_col_max_A is not None:  # (O2)
                    i_a = dev.clip_column_current_A(i_a, d.i_col_max_A)
                if adc.bits is None:  # ideal ADC: the current itself
                    i_out = i_a
                    if adc.clip_ideal:  # (A9) clipped at +/-I_fs; (X9) beyond it counts as clipped
                        clipped |= np.any(np.abs(i_a) > s.adc_range_A, axis=1)
                        i_out = np.clip(i_a, -s.adc_range_A, s.adc_range_A)
                    k_codes, term = None, sign * coef * i_out / s.i_unit_A  # (X2)
                else:
                    k_lo, k_hi = adc.code_range
                    # (X5) "clipped": beyond the outermost decision levels (k_hi + 1/2, k_lo - 1/2) I_lsb;
                    # (X9) with adc.bm_top_code beyond (k_hi - 1/2, k_lo + 1/2): a code of +/-N counts too
                    edge = -0.5 if adc.bm_top_code else 0.5
                    clipped |= np.any((i_a >= (k_hi + edge) * s.lsb_A) | (i_a <= (k_lo - edge) * s.lsb_A), axis=1)
                    u = None
                    if adc.rounding == "stochastic":  # (A3)
                        u = _draw(draws, f"{key}.{name}.{label}.adc", i_a.shape)
                    k_codes, _ = adc_convert(i_a, s.lsb_A, (k_lo, k_hi), window=s.tie_window, u=u,  # (A1, A2)
                                              midrise=adc.levels == "midrise")  # (A4)
                    term = sign * coef * (k_codes * s.lsb_A) / s.i_unit_A  # (X2): digital k I_lsb / i_unit
                p = p + term
                records.append(ReadRecord(s.k, name, label, sign * coef, i_a, k_codes, term))
        if s.digital_offset:  # (X2) digital offset removal: offset_k sum_i c_i / c_max
            p = p - s.digital_offset * codes.sum(axis=1, keepdims=True) / c_max
        p_all.append(p)
        out = out + 2.0**s.shift * p  # (X3) shift-and-add over weight slices
    with np.errstate(invalid="ignore"):  # (D8) x_max = inf for a "max" range without a positive input
        out = x_max[:, None] * t.drift_scale * out  # (X3) x_max alpha (w_max / lambda comes after the row tiles)
    if cfg.dac.range_mode == "max":  # (D8) such a vector reads zero
        out[np.isinf(x_max)] = 0.0
    return Reading(tag, vectors, x_max, codes, dac_clip, passes, records, p_all, out, clipped)


def _per_cell_currents(s: SliceRecord, names, v, key, label, cfg: CrossbarConfig, draws) -> dict[str, np.ndarray]:
    """Column currents (A) of the device arrays ``names`` when every vector reads its own noisy copy (R4):
    ``G~[b] = G + sigma xi[b]`` (clipped at 0 S where the model or the circuit needs it), then
    ``I[b] = V[b] @ G~[b]`` (X1), or with wires the circuit of every noisy copy solved again (3)-(12)."""
    wires = cfg.wire
    if _interleaved(cfg):  # the pair is one circuit: both devices' noisy cells are needed
        names = ["pos", "neg"]
    noisy = {}
    for dn in names:
        a = s.arrays[dn]
        xi = _draw(draws, f"{key}.{dn}.{label}.read", (v.shape[0],) + a.at_inference_S.shape)
        noisy[dn] = dev.apply_read_noise_per_cell_S(  # (R4), clipped (R6) where the config says so
            a.at_inference_S, a.read_sigma_S, xi, clip_nonnegative=dev.read_noise_clips(cfg.device) or wires.enabled,
            bounds=dev.read_noise_bounds(cfg.device, cfg.mapping.g_min_S, cfg.mapping.g_max_S)
            if cfg.device.read_clip == "range" else None)
    if not wires.enabled:
        return {dn: np.einsum("bi,bij->bj", v, g) for dn, g in noisy.items()}

    def solve(g_b, v_b):
        return column_currents(g_b, v_b, wires.r_row_ohm, wires.r_col_ohm,
                               r_driver_ohm=wires.r_driver_ohm, r_sense_ohm=wires.r_sense_ohm)

    if _interleaved(cfg):
        both = np.stack([solve(_interleave(noisy["pos"][b], noisy["neg"][b]), v[b]) for b in range(v.shape[0])])
        return {"pos": both[:, 0::2], "neg": both[:, 1::2]}
    return {dn: np.stack([solve(g[b], v[b]) for b in range(v.shape[0])]) for dn, g in noisy.items()}


def _drift_compensation(slices: list[SliceRecord], reads, cfg: CrossbarConfig, rows: int) -> float:
    """(T3) ``alpha = mean |I_ref(prog)| / mean |I_ref(t)|``: every read of every slice of the tile,
    all rows at ``v_read``, noise-free and without wires; 1 when off."""
    if not (cfg.device.drift_compensation and cfg.device.has_drift()):
        return 1.0
    v = dev.drift_reference_input_V(rows, v_read_V=cfg.dac.v_read_V)  # (1, rows)
    i_prog, i_t = [], []
    for s in slices:
        cols = max(a.target_S.shape[1] for a in s.arrays.values())
        for _, _, devs in reads:
            g_prog = sum(sign * s.arrays[dn].programmed_S for dn, sign in devs)
            g_t = sum(sign * s.arrays[dn].at_inference_S for dn, sign in devs)
            i_prog.append(np.broadcast_to(v @ g_prog, (1, cols)))
            i_t.append(np.broadcast_to(v @ g_t, (1, cols)))
    return dev.drift_compensation_scale(np.concatenate(i_prog, axis=1), np.concatenate(i_t, axis=1))


def _reads(cfg: CrossbarConfig) -> list[tuple[str, float, tuple[tuple[str, float], ...]]]:
    """The ADC inputs of one weight slice: ``(name, sign, ((device, sign), ...))`` (X1: G the read's matrix)."""
    m = cfg.mapping
    in_array = m.subtraction == "in_array"
    if m.differential:  # G+ - G- in the array, or each side its own ADC, subtracted digitally
        return [("net", 1.0, (("pos", 1.0), ("neg", -1.0)))] if in_array else \
            [("pos", 1.0, (("pos", 1.0),)), ("neg", -1.0, (("neg", 1.0),))]
    if m.offset_removal == "digital":  # one device; the offset is subtracted digitally (X2)
        return [("single", 1.0, (("single", 1.0),))]
    return [("net", 1.0, (("single", 1.0), ("ref", -1.0)))] if in_array else \
        [("single", 1.0, (("single", 1.0),)), ("ref", -1.0, (("ref", 1.0),))]


def _read_matrix(arrays: dict, devs, m) -> np.ndarray:
    """(X1) a read's matrix ``sum sign G_eff`` over its devices; an in-array two-device read as (M4)."""
    if len(devs) == 2 and devs[0][1] == 1.0 and devs[1][1] == -1.0:  # (plus, minus), as _reads builds them
        return round_pair_float32(arrays[devs[0][0]].eff_S, arrays[devs[1][0]].eff_S, m)
    return sum(s * arrays[dn].eff_S for dn, s in devs)


def _interleaved(cfg: CrossbarConfig) -> bool:
    """A differential pair laid out as the interleaved columns of one array (wires only)."""
    return cfg.wire.enabled and cfg.wire.pair_layout == "interleaved" and cfg.mapping.differential


def _interleave(g_pos: np.ndarray, g_neg: np.ndarray) -> np.ndarray:
    """``(rows, 2 cols)`` with columns ``G+_0, G-_0, G+_1, G-_1, ...``."""
    both = np.empty((g_pos.shape[0], 2 * g_pos.shape[1]))
    both[:, 0::2], both[:, 1::2] = g_pos, g_neg
    return both


def _draw(draws: dict | None, key: str, shape: tuple) -> np.ndarray:
    """The recorded random draw ``key`` of ``shape``: the reference never draws a number itself."""
    if draws is None or key not in draws:
        raise ValueError(f"draws: received {'None' if draws is None else 'no key ' + repr(key)}; expected the "
                         f"draw {key!r} (shape {shape}) this config needs: pass draws=Trace.draws of a "
                         f"recorded multiply (refsim.Crossbar.trace)")
    out = np.asarray(draws[key], dtype=np.float64)
    if out.shape != tuple(shape):
        raise ValueError(f"draws[{key!r}]: received shape {out.shape}; expected {tuple(shape)}")
    return out


def _matrix(name: str, value) -> np.ndarray:
    """A finite float64 2-D array of at least one row and one column, or an error naming ``name``."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: received {type(value).__name__}; expected a 2-D array of real numbers") from None
    if arr.ndim != 2 or 0 in arr.shape[1:]:
        raise ValueError(f"{name}: received shape {arr.shape}; expected a 2-D array with >= 1 column")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: received {arr.size - np.count_nonzero(np.isfinite(arr))} non-finite value(s); "
                         f"expected finite numbers")
    return arr
