"""docs/MODEL.md steps 9-11 for one weight slice of one tile: the analog reads, read noise and
output effects, the ADC conversions, and the digital terms they contribute (X2).

:class:`SliceReader` holds what a crossbar's reads use (the configuration, how read noise is
sampled, and the matrices the analog multiplies use); :class:`refsim.Crossbar` builds one and
calls :meth:`SliceReader.slice_reads` for every weight slice of every tile.

**The direct path.** When nothing acts on the column currents between the array and the ADC
(no read noise, no output noise, no current limit, no IR-drop heuristic), the currents are
formed directly in units of the ADC step ``I_lsb`` (of ``i_unit`` for an ideal ADC) by a product
with conductances pre-scaled once (:func:`refsim.analog.conductances_per_code`, X1'), and the
ADC rounds them in place: the same numbers as the path in amperes to round-off, with fewer
passes over the data. Otherwise every step runs in amperes. ``tests/test_reference.py`` checks
both paths against the readable twin of one multiply, ``refsim/reference.py`` (ADC codes bit
for bit).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from refsim import devices as dev
from refsim.adc import adc_convert
from refsim.analog import (analog_multiply, conductances_per_code, multiply_per_code, per_cell_currents,
                           per_cell_pair_currents)
from refsim.config import CrossbarConfig
from refsim.dac import DrivePass, drive_passes, stacked_codes
from refsim.draws import DrawKey, MultiplyDraws
from refsim.program import Read, SliceArrays, TileArrays, map_reads, read_matrix
from refsim.scratch import Scratch, scratch_array
from refsim.trace import MultiplyStats, ReadTrace, TileTrace

__all__ = ["SliceReader", "PER_CELL_CHUNK"]

#: Largest number of float64 elements of a (B, rows, cols) block of per-cell read noise.
PER_CELL_CHUNK = 2**22


class SliceReader:
    """The reads of a crossbar's programmed tiles.

    Parameters
    ----------
    config : the crossbar's configuration.
    tiles : the programmed tiles. :attr:`tiles` is what the crossbar keeps afterwards: every
        :class:`~refsim.program.Read` carries the matrix its multiply uses (``Read.g_mul``): on the
        direct path pre-scaled per DAC code (X1', without the matrix in S: trace() re-programs
        it), with ``precision="float32"`` in single precision.
    sampling : how read noise is drawn (``"none"``, ``"per_cell"``, ``"output_referred"``).
    w_eff : the effective matrix ``W_eff (n_in, n_out)`` of a linear crossbar (X4), which multiplies
        through it (:meth:`linear_multiply`, no reads at all); None otherwise.
    """

    def __init__(self, config: CrossbarConfig, tiles: list[TileArrays], sampling: str, *,
                 w_eff: np.ndarray | None = None):
        d = config.device
        self.config, self.sampling = config, sampling
        linear = w_eff is not None
        #: a linear crossbar's matrix (float32 with ``precision="float32"``), else None
        self.w_eff = w_eff.astype(np.float32) if linear and config.precision == "float32" else w_eff
        #: nothing acts on the currents between the arrays and the ADCs: form them in ADC units (X1')
        self.direct = not linear and not d.has_read_noise() and not d.has_output_effects()
        #: per-cell read noise on a differential pair laid out as one array (interleaved columns sharing
        #: the row wires): both devices' currents come from one circuit per vector (:meth:`_per_cell`)
        self.pair_circuit = (sampling == "per_cell" and config.wire.enabled and config.mapping.differential
                             and config.wire.pair_layout == "interleaved")
        #: full-scale code of the first drive pass, which the pre-scaled matrices assume
        self.cm0 = drive_passes(np.zeros((1, 1)), config.dac)[0].code_max
        self.tiles = tiles if linear else map_reads(tiles, self._with_operand)

    def _with_operand(self, s: SliceArrays, r: Read) -> Read:
        """``r`` with the matrix its multiply uses (X1 or X1', float32 where asked) and, on the
        direct path, the bound ``z_bound = cm0 max_j sum_i |G~_ij|`` on ``|I / I_lsb|`` of any drive
        pass (``|c| <= c_max`` of the pass, and ``G~`` is scaled for ``cm0``)."""
        if r.g_S is None:  # per-cell read noise: every vector multiplies its own noisy arrays
            return r
        f32 = self.config.precision == "float32"
        if self.direct:
            g = conductances_per_code(r.g_S, self.config.dac.v_read_V, self.cm0, self.read_unit(s))
            z_bound = self.cm0 * float(np.max(np.abs(g).sum(axis=0)))
            return replace(r, g_S=None, g_mul=g.astype(np.float32) if f32 else g, z_bound=z_bound)
        return replace(r, g_mul=r.g_S.astype(np.float32)) if f32 else r

    def linear_multiply(self, x2: np.ndarray) -> np.ndarray:
        """Linear pipeline: clip ``x2 (B, n_in)`` to the DAC's range (D2 with an ideal DAC), then
        ``x @ W_eff`` (X4) -> ``(B, n_out)``."""
        dac = self.config.dac
        lo, hi = -np.inf, np.inf
        if dac.range_mode == "fixed":
            lo, hi = -dac.x_max, dac.x_max
        if not dac.signed:
            lo = 0.0
        if np.isfinite(lo) or np.isfinite(hi):
            x2 = np.clip(x2, lo, hi)
        if self.w_eff.dtype == np.float32:
            return (x2.astype(np.float32) @ self.w_eff).astype(np.float64)
        return x2 @ self.w_eff

    def read_unit(self, s: SliceArrays) -> float:
        """Current unit of the direct path, A: the ADC step ``I_lsb``, or ``i_unit`` for an ideal ADC."""
        adc = self.config.adc
        return s.i_unit_A if adc.bits is None else s.adc_range_A / adc.n_levels

    def _can_clip(self, s: SliceArrays, read: Read) -> bool:
        """False where the bound on ``|I / I_lsb|`` of one drive pass of this read (direct path)
        stays below the ADC's outermost decision levels, tie window and round-off included."""
        k_lo, k_hi = self.config.adc.code_range
        zb = read.z_bound
        edge = -0.5 if self.config.adc.bm_top_code else 0.5  # (X9): the top codes count as clipped
        return zb is None or zb * (1 + 1e-9) + s.tie_window >= min(k_hi + edge, edge - k_lo)

    def _convert(self, s: SliceArrays, i: np.ndarray, lsb: float, *, u: np.ndarray | None = None,
                 can_clip: bool, rows_clipped: np.ndarray | None, other_axes,
                 out: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """The ADC (A1) of this read's currents ``i`` (scratch: overwritten), in units whose step is
        ``lsb``. For bound management, marks in ``rows_clipped`` the vectors with an input beyond
        the outermost decision levels (``other_axes``: every axis of ``i`` but the vector axis)."""
        k_lo, k_hi = self.config.adc.code_range
        if rows_clipped is not None and can_clip:
            edge = -0.5 if self.config.adc.bm_top_code else 0.5  # (X5), (X9)
            hi, lo = (k_hi + edge) * lsb, (k_lo - edge) * lsb
            if i.size and (i.max() >= hi or i.min() <= lo):
                rows_clipped |= np.any((i >= hi) | (i <= lo), axis=other_axes)
        return adc_convert(i, lsb, (k_lo, k_hi), window=s.tie_window, u=u, overwrite=True, check_clip=can_clip,
                           midrise=self.config.adc.levels == "midrise",
                           out=out)

    def read_currents(self, s: SliceArrays, ps: DrivePass, read: Read, dk: DrawKey,
                      draws: MultiplyDraws, out: np.ndarray | None = None, pair: dict | None = None) -> np.ndarray:
        """Column currents of one read and one drive pass, with read noise (docs/MODEL.md step 6)
        and the IR-drop heuristic (step 10); ``(B, cols)`` (``(B, 1)`` for a reference column),
        in A, or in units of :meth:`read_unit` on the direct path (X1', written into ``out`` if given).
        ``pair``: the slice's per-cell currents of an interleaved pair, by pass label (:meth:`_per_cell`)."""
        cfg, d = self.config, self.config.device
        v_read = cfg.dac.v_read_V
        if self.sampling == "per_cell":
            width = max(s.g_S[dname].shape[1] for dname, _ in read.devices)
            i_a = np.zeros((ps.codes.shape[0], width))
            for dname, dsign in read.devices:
                i_a += dsign * self._per_cell(s, dname, ps, dk, draws, pair)
        else:
            if read.per_code:  # (X1'): already in units of read_unit
                i_a = multiply_per_code(ps.codes, read.g_mul, self.cm0 / ps.code_max, out=out)
            else:
                i_a = analog_multiply(ps.codes, ps.code_max, v_read, read.g_mul)
            if self.sampling == "output_referred":
                var = s.read_var_S2[read.name]
                xi = draws.normal(dk, (read.name, ps.label, "read_out"), (ps.codes.shape[0], var.shape[1]))
                noise = dev.output_referred_std_A(ps.codes, ps.code_max, v_read, var)  # (R5)
                i_a += np.multiply(noise, xi, out=noise)
        if d.ir_drop_scale > 0:
            g_r = read_matrix(s, read, cfg.mapping)  # (M4) as the reference's read matrix
            g_b = np.broadcast_to(g_r, (g_r.shape[0], i_a.shape[1]))
            i_a = i_a - dev.ir_drop_rasch2023_delta_A(ps.volts_V, g_b, scale=d.ir_drop_scale, g_ratio=d.ir_drop_g_ratio,
                                                      g_max_S=cfg.mapping.g_max_S, v_ref_V=v_read)
        return i_a

    def _per_cell(self, s: SliceArrays, dname: str, ps: DrivePass, dk: DrawKey, draws: MultiplyDraws,
                  pair: dict | None = None) -> np.ndarray:
        """Exact per-cell read noise of one device array and one drive pass (:func:`per_cell_currents`).

        An interleaved differential pair (:attr:`pair_circuit`) is one array: the currents of
        both devices come from one circuit per vector (:func:`per_cell_pair_currents`), computed
        once per drive pass into ``pair[label]`` and reused by every read of the slice (with digital
        subtraction the ``pos`` and ``neg`` ADC reads see the same noisy cells of one physical
        read). Each device's noise comes from its own draw key, as for separate arrays."""
        cfg = self.config
        if self.pair_circuit and dname in ("pos", "neg"):
            if ps.label not in pair:
                v, g = ps.volts_V, s.g_S["pos"]
                chunk = max(1, PER_CELL_CHUNK // max(g.size, 1))
                blocks = tuple(draws.normal_chunks(dk, (dn, ps.label, "read"), v.shape[0], g.shape, chunk)
                               for dn in ("pos", "neg"))
                i_pos, i_neg = per_cell_pair_currents((s.g_S["pos"], s.g_S["neg"]),
                                                      (s.read_sigma_S["pos"], s.read_sigma_S["neg"]), v, blocks,
                                                      wire=cfg.wire, bounds=self._read_range())
                pair[ps.label] = {"pos": i_pos, "neg": i_neg}
            return pair[ps.label][dname]
        g, sig = s.g_S[dname], s.read_sigma_S[dname]
        v = ps.volts_V
        chunk = max(1, PER_CELL_CHUNK // max(g.size, 1))
        blocks = draws.normal_chunks(dk, (dname, ps.label, "read"), v.shape[0], g.shape, chunk)
        return per_cell_currents(g, sig, v, blocks, clip=self._read_range() or dev.read_noise_clips(cfg.device),
                                 wire=cfg.wire if cfg.wire.enabled else None)

    def _read_range(self) -> tuple[float, float] | None:
        """(R6) ``(g_min, g_max)`` S where noisy reads are clipped to the conductance range, else None."""
        cfg = self.config
        if cfg.device.read_clip != "range":
            return None
        return dev.read_noise_bounds(cfg.device, cfg.mapping.g_min_S, cfg.mapping.g_max_S)

    def slice_reads(self, s: SliceArrays, passes: list[DrivePass], dk: DrawKey, draws: MultiplyDraws,
                    stats: MultiplyStats, *, ttr: TileTrace | None = None, rows_clipped: np.ndarray | None = None,
                    scratch: Scratch | None = None, codes_out: np.ndarray | None = None):
        """All ADC reads of weight slice ``dk.k``: returns the digital terms ``(array, factor)`` whose
        weighted sum ``sum factor * array`` is the slice's digital value ``p (B, cols)`` of (X2) in
        net-level units, without the offset term (:mod:`refsim.digital`); counts the conversions in
        ``stats``.

        When nothing acts on the currents between the array and the ADC (no read or output
        noise, no current limit, no IR-drop heuristic) they are formed directly in units of
        the ADC step ``I_lsb`` (of ``i_unit`` for an ideal ADC): the same numbers to round-off,
        one pass fewer (:func:`refsim.analog.conductances_per_code`). There, where the largest
        current the array can carry stays below the ADC's outermost decision levels (an ADC
        range of ``"max"``), the ADC skips its clip test: nothing can clip. ``scratch`` holds the
        direct path's currents and codes (the terms returned are then scratch arrays); ``codes_out``, a
        contiguous ``(B, cols)`` array, takes the codes instead where the slice has a single conversion
        (one read of one drive pass: the tile's output, which :func:`refsim.digital.combine_terms` then
        scales in place, one array fewer in cache)."""
        cfg, adc, d = self.config, self.config.adc, self.config.device
        analog_acc = cfg.dac.accumulation == "analog" and len(passes) > 1
        out_sigma = 0.0
        if d.out_noise_rel > 0:
            ref = s.adc_range_A if d.out_noise_reference == "adc_bound" else cfg.mapping.g_max_S * cfg.dac.v_read_V
            out_sigma = dev.output_noise_sigma_A(d.out_noise_rel, ref)
        lsb = None if adc.bits is None else s.adc_range_A / adc.n_levels
        unit = self.read_unit(s) if self.direct else 1.0  # A per unit of the currents below
        terms = []
        pair = {} if self.pair_circuit else None  # per-cell currents of an interleaved pair, by pass label
        stack = None
        if self.direct and lsb is not None and not analog_acc and adc.rounding == "half_even":
            stack = stacked_codes(passes)  # bit-serial drive passes: read all of them at once
        for read in s.reads:
            if stack is not None:
                terms.append(self._stacked_read(s, passes, stack, read, stats, ttr, rows_clipped, dk.k, scratch))
                continue
            scratch_ok = scratch is not None and self.direct and not analog_acc and read.g_mul.dtype == np.float64
            currents = [(ps, self.read_currents(s, ps, read, dk, draws,
                                                out=scratch.get((dk.k, read.name, p, "z"), (ps.codes.shape[0], read.g_mul.shape[1]))
                                                if scratch_ok else None, pair=pair))
                        for p, ps in enumerate(passes)]
            if analog_acc:  # analog shift-and-add of the pass currents, one ADC
                groups = [("acc", 1.0, sum(ps.coef * i for ps, i in currents))]
            else:
                groups = [(ps.label, ps.coef, i) for ps, i in currents]
            for p, (label, coef, i_a) in enumerate(groups):
                if out_sigma > 0:
                    xi = draws.normal(dk, (read.name, label, "out"), i_a.shape)
                    i_a = dev.add_output_noise_A(i_a, xi, sigma_A=out_sigma)
                if d.i_col_max_A is not None:
                    i_a = dev.clip_column_current_A(i_a, d.i_col_max_A)
                i_rec = None if ttr is None and stats.currents is None else (
                    i_a * unit if unit != 1.0 else i_a.copy())  # A
                if stats.currents is not None:
                    stats.currents[dk.k].append(i_rec)
                if lsb is None:
                    if cfg.adc.clip_ideal:  # (A9) an ideal ADC clipped at +/-I_fs; (X9) beyond counts as clipped
                        i_fs = s.adc_range_A / unit
                        if rows_clipped is not None:
                            rows_clipped |= np.any(np.abs(i_a) > i_fs, axis=1)
                        i_a = np.clip(i_a, -i_fs, i_fs)
                    codes, term = None, (i_a, read.sign * coef * unit / s.i_unit_A)
                else:
                    u = None
                    if adc.rounding == "stochastic":
                        u = draws.uniform(dk, (read.name, label, "adc"), i_a.shape)
                    k_out = None
                    if scratch_ok and u is None:
                        single = codes_out is not None and len(s.reads) == 1 and len(groups) == 1
                        k_out = codes_out if single else scratch.get((dk.k, read.name, p, "k"), i_a.shape)
                    codes, n_clip = self._convert(s, i_a, lsb / unit, u=u, can_clip=analog_acc or self._can_clip(s, read),
                                                  rows_clipped=rows_clipped, other_axes=1, out=k_out)
                    stats.adc_clipped += n_clip
                    stats.adc_total += codes.size
                    term = (codes, read.sign * coef * lsb / s.i_unit_A)  # digital: k I_lsb / i_unit
                terms.append(term)
                if ttr is not None:
                    ttr.reads.append(ReadTrace(dk.k, read.name, label, i_rec, None if codes is None else codes.copy(),
                                               coef * read.sign))
        return terms

    def _stacked_read(self, s: SliceArrays, passes: list[DrivePass], stack: np.ndarray, read: Read,
                      stats: MultiplyStats, ttr: TileTrace | None, rows_clipped: np.ndarray | None, k: int,
                      scratch: Scratch | None):
        """One read of every drive pass at once on the direct path (bit-serial inputs, digital
        accumulation, deterministic ADC): the passes' codes ``stack (P, B, rows)`` in one product,
        their ADC conversions in one call. The same arithmetic per pass as one pass at a time (each
        row of a product is its own sum). Returns the stacked term ``(codes (P, B, cols), factors (P,))``
        (:mod:`refsim.digital`); counts the conversions in ``stats``."""
        n_p, b, rows = stack.shape
        lsb = s.adc_range_A / self.config.adc.n_levels
        cols = read.g_mul.shape[1]
        f64 = read.g_mul.dtype == np.float64
        z = multiply_per_code(stack.reshape(n_p * b, rows), read.g_mul,
                              out=scratch_array(scratch, (k, read.name, "stack", "z"), (n_p * b, cols)) if f64 else None)
        z = z.reshape(n_p, b, cols)  # I / I_lsb per pass (X1')
        for p, ps in enumerate(passes):
            if ps.code_max != self.cm0:
                z[p] *= self.cm0 / ps.code_max
        i_rec = None if ttr is None and stats.currents is None else z * lsb  # A
        if stats.currents is not None:
            stats.currents[k].extend(i_rec)
        k_out = scratch_array(scratch, (k, read.name, "stack", "k"), (n_p * b, cols))
        codes, n_clip = self._convert(s, z, 1.0, can_clip=self._can_clip(s, read), rows_clipped=rows_clipped,
                                      other_axes=(0, 2), out=None if k_out is None else k_out.reshape(z.shape))
        stats.adc_clipped += n_clip
        stats.adc_total += codes.size
        if ttr is not None:
            for p, ps in enumerate(passes):
                ttr.reads.append(ReadTrace(k, read.name, ps.label, i_rec[p], codes[p].copy(), ps.coef * read.sign))
        factors = np.array([read.sign * ps.coef * lsb / s.i_unit_A for ps in passes])  # k I_lsb / i_unit
        return codes, factors
