"""The Crossbar: a weight matrix programmed into analog arrays, multiplied step by step.

:class:`Crossbar` only orchestrates; every physical step is a function in its own
module (``weights``, ``mapping``, ``dac``, ``adc``, ``tiling``, ``program``).
One multiply of a batch ``x (B, n_in)`` runs, for every tile (``rows x cols`` of the matrix),
the steps of docs/MODEL.md sections 5-6 (the equations are written there once; the labels
below name them):

1. the input range ``x_max (B,)`` (D1), the DAC codes ``c (B, rows)`` (D2) and their drive
   passes (D4), shared by the column tiles of a row block;
2. for every weight slice ``k``, every ADC input ("read") and every pass, the column currents
   ``I (B, cols)`` (X1 with the voltages of D3; X1' on the direct path), with read noise and
   the output effects;
3. the ADC (A1-A3) per pass (digital accumulation) or once on the analog sum of the passes
   (analog accumulation): codes ``(B, cols)``;
4. the digital read value ``p_k (B, cols)`` in net-level units (X2);
5. bound-management re-reads (X5), then shift-and-add over passes and slices, the rescale and
   the digital sum of the row tiles' partial sums: ``y (B, n_out)`` (X3, by
   :func:`refsim.digital.combine_terms`).
"""

from __future__ import annotations

import numpy as np

from refsim import devices as dev
from refsim import health
from refsim._validate import as_float_array
from refsim.config import CrossbarConfig
from refsim.dac import RowDrive, input_range, row_drive
from refsim.digital import combine_terms, weighted_sum
from refsim.draws import DrawKey, MultiplyDraws, draws_random_numbers
from refsim.program import Streams, TileArrays, drop_reads, effective_weights, program_arrays, weight_levels
from refsim.reads import SliceReader
from refsim.scratch import Scratch, thread_scratch
from refsim.trace import MultiplyStats, TileTrace, Trace

__all__ = ["Crossbar", "draws_random_numbers"]

#: matvec runs the step-by-step path on blocks of at most this many input vectors (bounds the temporaries:
#: the element-wise steps themselves run on cache-sized blocks, :mod:`refsim.scratch`); each
#: vector's arithmetic and random draws are the same as in one big block.
BATCH_CHUNK = 1024


def _check_ranges(x2: np.ndarray, ranges) -> None:
    """Raise naming ``x`` if a per-vector input range (D1) of ``x2`` is NaN or inf: it propagates them."""
    if not all(not v.size or np.isfinite(v.max()) for v in ranges):
        bad = int(np.size(x2) - np.count_nonzero(np.isfinite(x2)))
        raise ValueError(f"x: received {bad} non-finite value(s) (NaN or inf); expected finite numbers")


class Crossbar:
    """A weight matrix ``W (n_in, n_out)`` programmed into analog crossbar arrays.

    Programming (including programming error, faults, drift and the wire solution)
    happens in the constructor; afterwards the programmed arrays are immutable. Read
    noise and output noise are drawn fresh at every multiply from per-array streams.

    Parameters
    ----------
    weights : array (n_in, n_out), finite; ``y = x @ W``.
    config : :class:`refsim.CrossbarConfig` (e.g. ``refsim.presets.get("ideal")``).
    rng : ``numpy.random.Generator``; the root of every random stream. Required by
        configs that draw random numbers; one value is drawn from it once.
    draws : dict, optional
        Programming draws recorded by an earlier crossbar (``Trace.draws``, keys
        ``t{tile}.s{k}.{device}.{name}``): replays its programming bit for bit.
    name : str, optional
        What warnings call this crossbar (a network's layers pass their layer name).

    A multiply whose ADC codes are (nearly) all zero or take fewer than a handful of levels
    warns once per crossbar (:class:`refsim.health.DeadCrossbarWarning`, H1).
    """

    def __init__(self, weights, config: CrossbarConfig, *, rng: np.random.Generator | None = None,
                 draws: dict | None = None, name: str | None = None):
        if not isinstance(config, CrossbarConfig):
            raise TypeError(f"config: received {type(config).__name__}; expected a refsim.CrossbarConfig")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: received {type(rng).__name__}; expected a numpy.random.Generator or None")
        w = as_float_array("weights", weights, ndim=2)
        if 0 in w.shape:
            raise ValueError(f"weights: received shape {w.shape}; expected shape (n_in, n_out) with both >= 1")
        d = config.device
        if rng is None and draws is None and draws_random_numbers(config):
            raise ValueError(
                "rng: the config's device section draws random numbers but rng is None; "
                "pass rng=numpy.random.default_rng(seed)"
            )
        self._config = config
        self.name = f"crossbar {w.shape[0]}x{w.shape[1]}" if name is None else str(name)
        self._health_warned = False  # DeadCrossbarWarning: once per crossbar
        self._w = w.copy()
        self._w.setflags(write=False)
        self._streams = Streams(None if rng is None else int(rng.integers(0, 2**63)))
        self._draws_in = draws  # programming draws of a replay (kept by reference)
        self._read_sampling = dev.resolve_read_sampling(d, wire_resistance=config.wire.enabled)
        keep = {"per_cell": "devices", "output_referred": "reads_var"}.get(self._read_sampling, "reads")
        levels = weight_levels(self._w, config)
        self._tiles = program_arrays(levels, config, self._streams, draws, keep=keep)
        # keep only the weight rescale w_max / lambda (X3) of steps 1-2; trace() recomputes the level
        # matrices (memory). One number when every column shares w_max.
        col = levels.w_max / levels.level_scale
        self._col_scale = float(col[0]) if np.all(col == col[0]) else col
        del levels
        self._linear = (
            config.dac.bits is None and config.adc.bits is None and not config.adc.clip_ideal
            and config.dac.range_mode in ("abs_max", "fixed") and config.dac.x_max_cap is None
            and not d.has_read_noise() and not d.has_output_effects()
        )
        w_eff = None
        if self._linear:  # multiply through W_eff; the read matrices are not needed any more
            w_eff = effective_weights(self._tiles, config, self.shape, self._col_scale)
            self._tiles = drop_reads(self._tiles)
        # the reader holds every matrix a multiply uses: W_eff, or in each read its g_mul
        self._reader = SliceReader(config, self._tiles, self._read_sampling, w_eff=w_eff)
        self._tiles = self._reader.tiles

    def _reprogram(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[TileArrays]]:
        """Run programming again (deterministic: same streams, same replayed draws) and return
        every conductance of every stage, every programming draw, and the tiles with their read
        matrices."""
        draws: dict[str, np.ndarray] = {}
        cond: dict[str, np.ndarray] = {}
        tiles = program_arrays(weight_levels(self._w, self._config), self._config, Streams(self._streams.entropy),
                               self._draws_in, draws, cond)
        return cond, draws, tiles

    # -- properties -------------------------------------------------------------
    @property
    def config(self) -> CrossbarConfig:
        return self._config

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_in, n_out)``."""
        return self._w.shape

    @property
    def weights(self) -> np.ndarray:
        """The weight matrix as given (read-only)."""
        return self._w

    @property
    def tiles(self) -> list[TileArrays]:
        """The programmed tiles (conductances per slice and device)."""
        return self._tiles

    @property
    def program_draws(self) -> dict[str, np.ndarray]:
        """Every random draw made while programming, keyed ``t{tile}.s{k}.{device}.{name}``
        (regenerated from the streams: programming is deterministic)."""
        return self._reprogram()[1]

    def conductances(self) -> dict[str, np.ndarray]:
        """Every conductance of every physical array, in S: keys ``t{tile}.s{k}.{device}`` with the
        suffixes ``.target`` (step 3), ``.programmed`` (step 4), none (at inference time, after drift)
        and ``.eff`` (effective matrix with the wires). Recomputed on demand."""
        return self._reprogram()[0]

    @property
    def read_sampling(self) -> str:
        """How read noise is drawn: ``"none"``, ``"per_cell"`` or ``"output_referred"``."""
        return self._read_sampling

    @property
    def n_arrays(self) -> int:
        """Number of physical arrays: tiles x weight slices x devices (a reference column counts as one)."""
        return sum(len(s.devices) for t in self._tiles for s in t.slices)

    def __repr__(self) -> str:
        return (f"Crossbar(shape={self.shape}, config={self._config.name!r}, "
                f"tiles={len(self._tiles)}, arrays={self.n_arrays})")

    @property
    def direct_reads(self) -> bool:
        """True when the column currents are formed directly in units of the ADC step with
        conductances pre-scaled per DAC code (X1', :mod:`refsim.reads`): nothing acts on them
        between the array and the ADC, and the pipeline is not linear."""
        return self._reader.direct

    # -- multiply ---------------------------------------------------------------
    def _inputs(self, x, *, lazy_ranges: bool = False) -> tuple[np.ndarray, tuple[int, ...], dict | None]:
        """``x`` validated, once: ``(x (B, n_in), its leading shape, ranges)`` with ``ranges`` the input
        range ``x_max (B,)`` (D1) of every row block ``(r0, r1)`` (None for a linear crossbar).
        With per-vector ranges their max reveals any NaN/inf. ``lazy_ranges``: with per-vector ranges
        and one block of vectors (:data:`BATCH_CHUNK`), ``ranges`` is None: :meth:`_forward` finds them
        with the DAC codes and checks them before any read."""
        later = not self._linear and self._config.dac.range_mode == "abs_max"
        arr = as_float_array("x", x, min_ndim=1, check_finite=not later)
        if arr.shape[-1] != self.shape[0]:
            raise ValueError(f"x: received shape {arr.shape}; expected shape (..., {self.shape[0]})")
        x2 = arr.reshape(-1, self.shape[0])
        if self._linear or (later and lazy_ranges and x2.shape[0] <= BATCH_CHUNK):
            return x2, arr.shape[:-1], None
        ranges = {}
        for t in self._tiles:
            if (t.r0, t.r1) not in ranges:
                ranges[(t.r0, t.r1)] = input_range(x2[:, t.r0 : t.r1], self._config.dac)
        if later:
            _check_ranges(x2, ranges.values())
        return x2, arr.shape[:-1], ranges

    def matvec(self, x, *, draws: dict | None = None) -> np.ndarray:
        """Analog ``x @ W``: ``x (..., n_in)`` -> ``(..., n_out)``.

        ``draws`` replays the per-multiply draws of a recorded trace (``Trace.draws``)
        instead of drawing fresh ones; the result is then bit for bit the trace's ``y``.
        """
        x2, lead, ranges = self._inputs(x, lazy_ranges=True)
        if self._linear:
            y = self._reader.linear_multiply(x2)
        elif draws is None and x2.shape[0] > BATCH_CHUNK:
            # blocks of vectors (of equal size), in order: every stream is consumed vector by vector,
            # so the draws reaching each vector are those of one big block
            mdraws = MultiplyDraws(self._streams, None, None)
            y = np.empty((x2.shape[0], self.shape[1]))
            n_blocks = -(-x2.shape[0] // BATCH_CHUNK)
            size = -(-x2.shape[0] // n_blocks)
            for b in range(0, x2.shape[0], size):
                block = slice(b, b + size)
                self._forward(x2[block], {r: v[block] for r, v in ranges.items()}, mdraws, out=y[block],
                              scratch=thread_scratch())
        else:
            y = self._forward(x2, ranges, MultiplyDraws(self._streams, draws, None), scratch=thread_scratch())
        return y.reshape(*lead, self.shape[1])

    def trace(self, x, *, draws: dict | None = None) -> Trace:
        """Run one multiply and return the record of every stage (see :class:`refsim.trace.Trace`).

        ``trace(x).y`` is what ``matvec(x)`` returns for the same draws: bit for bit equal
        for a noise-free config, and for a noisy one when ``matvec(x, draws=tr.draws)``
        replays them. For a linear pipeline (ideal DAC and ADC, no read or output noise)
        ``matvec`` uses the precomputed effective matrix; the step-by-step result is
        then in ``Trace.y_steps`` and agrees with ``y`` to round-off.
        """
        x2, lead, ranges = self._inputs(x)
        lv = weight_levels(self._w, self._config)
        tr = Trace(
            x=x2, w_max=lv.w_max, w_norm=lv.w_norm, weight_clip_fraction=lv.clip_fraction,
            weight_levels=lv.q, device_levels={n: [s[0] for s in sl] for n, sl in lv.devices.items()},
            level_scale=lv.level_scale, config=self._config.to_dict(),
        )
        cond, prog_draws, full_tiles = self._reprogram()
        tr.conductances_S.update(cond)
        tr.draws.update(prog_draws)
        tr.read_sampling = self._read_sampling
        # a linear crossbar keeps only W_eff: its step-by-step record uses the re-programmed tiles
        tiles = full_tiles if self._linear else self._tiles
        if ranges is None:
            ranges = {(t.r0, t.r1): input_range(x2[:, t.r0 : t.r1], self._config.dac) for t in tiles}
        y_steps = self._forward(x2, ranges, MultiplyDraws(self._streams, draws, tr.draws), tiles=tiles, tr=tr)
        tr.y_steps = y_steps.reshape(*lead, self.shape[1])
        tr.y = self._reader.linear_multiply(x2).reshape(*lead, self.shape[1]) if self._linear else tr.y_steps
        tr.path = "linear_effective_matrix" if self._linear else "step_by_step"
        return tr

    def adc_input_currents(self, x) -> list[list[np.ndarray]]:
        """The current at every ADC input of one multiply of ``x (..., n_in)``, A, by weight slice:
        ``out[k]`` lists one ``(B, cols)`` array per tile, read and drive pass (or analog sum of the
        passes) of slice ``k``. The same numbers as the ``current_A`` of ``trace(x).tiles[..].reads``
        (same draws), in the same order, without a trace: no re-programming, no copies of codes or
        voltages (what calibration profiles, C2). Bound management's re-reads are not included (as in
        the trace); nothing is checked for dead codes (H1)."""
        x2, _, ranges = self._inputs(x)
        tiles = self._reprogram()[2] if self._linear else self._tiles
        if ranges is None:
            ranges = {(t.r0, t.r1): input_range(x2[:, t.r0 : t.r1], self._config.dac) for t in tiles}
        stats = MultiplyStats(currents=[[] for _ in range(self._config.weight.n_slices)])
        draws, drives, scratch = MultiplyDraws(self._streams, None, None), {}, thread_scratch()
        for ti, t in enumerate(tiles):
            block = (t.r0, t.r1)
            if block not in drives:
                drives[block] = row_drive(x2[:, t.r0 : t.r1], ranges[block], self._config.dac,
                                          offset_sum=any(s.digital_offset for s in t.slices), scratch=scratch,
                                          name=("drive",) + block)
            self._tile_forward(ti, t, drives[block], draws, stats, scratch=scratch)
        return stats.currents

    # -- internals --------------------------------------------------------------
    def _forward(self, x2: np.ndarray, ranges: dict, draws: MultiplyDraws, *, tiles: list[TileArrays] | None = None,
                 tr: Trace | None = None, out: np.ndarray | None = None, scratch: Scratch | None = None) -> np.ndarray:
        """The step-by-step multiply of ``x2 (B, n_in)`` with the input ranges ``ranges`` of its row
        blocks (:meth:`_inputs`; None: found with the DAC codes, and checked before any read);
        recorded into ``tr`` if given, written into ``out`` if given.
        ``scratch`` (not with ``tr``): the arrays of the temporaries (:mod:`refsim.scratch`)."""
        cfg = self._config
        tiles = self._tiles if tiles is None else tiles
        y = np.empty((x2.shape[0], self.shape[1])) if out is None else out
        stats = MultiplyStats()
        if cfg.adc.bits is not None and (tr is not None or not self._health_warned):
            stats.codes = health.CodeTally(cfg.adc.code_range)  # H1
        written = set()  # column ranges holding a partial already: later row tiles add to them
        drives: dict[tuple[int, int], RowDrive] = {}  # DAC codes and drive passes of every row block
        for t in tiles:
            block = (t.r0, t.r1)
            if block not in drives:  # shared by the block's column tiles
                drives[block] = drive = row_drive(x2[:, t.r0 : t.r1], None if ranges is None else ranges[block],
                                                  cfg.dac, offset_sum=any(s.digital_offset for s in t.slices),
                                                  scratch=scratch, name=("drive",) + block)
                stats.dac_clip += drive.dac_clip
                stats.row_blocks += 1
        if ranges is None:
            _check_ranges(x2, [d.x_max for d in drives.values()])
        for ti, t in enumerate(tiles):
            drive = drives[(t.r0, t.r1)]
            ttr = None
            if tr is not None:
                ttr = TileTrace(t.r0, t.r1, t.c0, t.c1, drive.x_max, drive.codes, drive.dac_clip,
                                {p.label: p.volts_V for p in drive.passes}, drift_scale=t.drift_scale)
            first = (t.c0, t.c1) not in written
            written.add((t.c0, t.c1))
            acc, rows_clipped = self._tile_forward(ti, t, drive, draws, stats, ttr=ttr,
                                                   out=y[:, t.c0 : t.c1] if first else None, scratch=scratch)
            if cfg.dac.bound_management == "iterative":
                acc, factor = self._bound_management(ti, t, drive, acc, rows_clipped, draws, stats)
                if ttr is not None:
                    ttr.bm_factor = factor
            if not first:
                y[:, t.c0 : t.c1] += acc
            if ttr is not None:
                # before the weight rescale: a uniform one is inside acc, a per-column one comes last
                ttr.partial = acc / self._col_scale if np.ndim(self._col_scale) == 0 else acc.copy()
                tr.tiles.append(ttr)
        if np.ndim(self._col_scale):  # per-column weight rescale (X3): once, after the row tiles' sum
            y *= self._col_scale
        if tr is not None:
            stats.fill(tr)
        if stats.codes is not None and not self._health_warned:
            self._health_warned = health.check_codes(stats.codes, cfg, x2, self.name)
        return y

    def _bound_management(self, ti: int, t: TileArrays, drive: RowDrive, acc: np.ndarray, rows_clipped: np.ndarray,
                          draws: MultiplyDraws, stats: MultiplyStats) -> tuple[np.ndarray, np.ndarray]:
        """aihwkit's iterative bound management (X5): a vector whose ADC input clipped is read again
        with its input range doubled (codes halved), until nothing clips or the factor would exceed
        ``dac.bm_max_factor``. The output rescale uses the range actually driven, so no extra factor
        is applied. Returns the final ``acc`` and the factor per vector ``(B,)``."""
        factor = np.ones(drive.x.shape[0])
        it = 0
        while np.any(rows_clipped) and 2 * factor.max() <= self._config.dac.bm_max_factor:
            it += 1
            idx = np.nonzero(rows_clipped)[0]
            factor[idx] *= 2.0
            again = row_drive(drive.x[idx], drive.x_max[idx] * factor[idx], self._config.dac,
                              offset_sum=drive.d_sum is not None)
            acc_i, clip_i = self._tile_forward(ti, t, again, draws, stats, tag=f".bm{it}")
            acc[idx] = acc_i
            rows_clipped = np.zeros(drive.x.shape[0], dtype=bool)
            rows_clipped[idx[clip_i]] = True
        return acc, factor

    def _tile_forward(self, ti: int, t: TileArrays, drive: RowDrive, draws: MultiplyDraws, stats: MultiplyStats, *,
                      tag: str = "", ttr: TileTrace | None = None, out: np.ndarray | None = None,
                      scratch: Scratch | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Tile ``ti`` driven with ``drive``: every weight slice's reads and the digital recombination
        (X3) in output units (but for a per-column weight rescale, which ``_forward`` applies to the
        sum of the row tiles); ``(acc (B, cols), rows_clipped (B,) or None)``, ``acc`` written into
        ``out`` if given. ``tag`` marks the re-reads of bound management in draw keys and streams;
        ``scratch`` holds the reads' temporaries (their terms are consumed here)."""
        cfg = self._config
        b = drive.x.shape[0]
        rows_clipped = np.zeros(b, dtype=bool) if cfg.dac.bound_management == "iterative" else None
        shape = (b, t.c1 - t.c0)
        terms = []  # per slice (terms (array, factor), 2^shift): p_k = sum factor * array in net-level units
        # one slice without a digital offset, not recorded: its codes may go straight into the output
        direct_out = (out if out is not None and out.flags.c_contiguous and len(t.slices) == 1 and ttr is None
                      and not t.slices[0].digital_offset else None)
        for k, s in enumerate(t.slices):
            s_terms = self._reader.slice_reads(s, drive.passes, DrawKey(ti, k, tag), draws, stats, ttr=ttr,
                                               rows_clipped=rows_clipped, scratch=scratch, codes_out=direct_out)
            if stats.codes is not None:
                for codes_k, _ in s_terms:
                    stats.codes.add(codes_k)  # H1
            if s.digital_offset:
                s_terms.append((drive.d_sum.copy(), -s.digital_offset))  # (B, 1), scratch like every term
            if ttr is not None:  # the record of X2: p_k in net-level units
                ttr.digital[f"s{k}"] = weighted_sum(s_terms, shape)
            terms.append((s_terms, 2.0**s.shift))
        # a uniform weight rescale goes into the per-vector scale; a per-column one is applied by _forward
        scale = t.drift_scale * self._col_scale if np.ndim(self._col_scale) == 0 else t.drift_scale
        if cfg.dac.range_mode == "max":  # (D8) a vector without a positive input (x_max = inf) reads zero
            with np.errstate(invalid="ignore"):
                acc = combine_terms(terms, shape, drive.x_max, scale, out)
            acc[np.isinf(drive.x_max)] = 0.0
        else:
            acc = combine_terms(terms, shape, drive.x_max, scale, out)
        return acc, rows_clipped
