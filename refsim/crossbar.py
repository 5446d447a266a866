"""The Crossbar: a weight matrix programmed into analog arrays, multiplied step by step.

:class:`Crossbar` only orchestrates; every physical step is a function in its own
module (``weights``, ``mapping``, ``dac``, ``adc``, ``tiling``, ``program``).
One multiply of a batch ``x (B, n_in)`` runs, for every tile:

1. input range and DAC codes (D1, D2), split into drive passes (D4);
2. for every weight slice ``k``, every ADC input ("read") and every pass, the
   analog multiply ``I = V @ G`` with ``V = codes / code_max * v_read`` (X1);
3. the ADC (A1) per pass (digital accumulation) or once on the analog sum of
   the passes (analog accumulation);
4. the digital read value in net-level units ``p = I_q / i_unit`` with
   ``i_unit = v_read (G_max - G_min) / L_k``, minus the digital offset (X2);
5. digital shift-and-add over passes and slices and the rescale (X3)

.. math:: y_j = x_{max} \\frac{w_{max,j}}{\\lambda} \\sum_k 2^{\\sigma_k}
          \\sum_{passes} a \\, p_{k,j}                                      \\tag{X3}

where ``lambda`` is the level scale (:func:`refsim.weights.level_scale`); tile
partial sums are added digitally.
"""

from __future__ import annotations

import numpy as np

from refsim import devices as dev
from refsim import health
from refsim._validate import as_float_array
from refsim.config import CrossbarConfig
from refsim.analog import analog_multiply
from refsim.dac import dac_codes, drive_passes, input_range
from refsim.digital import combine_terms, weighted_sum
from refsim.draws import MultiplyDraws, draws_random_numbers
from refsim.program import Streams, TileArrays, drop_reads, effective_weights, program_arrays, weight_levels
from refsim.reads import SliceReader
from refsim.trace import TileTrace, Trace

__all__ = ["Crossbar", "analog_multiply", "draws_random_numbers"]

#: matvec runs the step-by-step path on blocks of this many input vectors (temporaries stay in
#: cache); each vector's arithmetic and random draws are the same as in one big block.
BATCH_CHUNK = 512


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
            raise TypeError(f"config: expected a refsim.CrossbarConfig, received {type(config).__name__}")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: expected a numpy.random.Generator or None, received {type(rng).__name__}")
        w = as_float_array("weights", weights, ndim=2)
        if 0 in w.shape:
            raise ValueError(f"weights: expected shape (n_in, n_out) with both >= 1, received {w.shape}")
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
            config.dac.bits is None and config.adc.bits is None
            and not d.has_read_noise() and not d.has_output_effects()
        )
        self._w_eff = None
        if self._linear:  # multiply through W_eff; the read matrices are not needed any more
            self._w_eff = self._effective_weights()
            self._tiles = drop_reads(self._tiles)
        self._f32 = config.precision == "float32"
        if self._f32 and self._w_eff is not None:
            self._w_eff = self._w_eff.astype(np.float32)
        self._reader = SliceReader(config, self._tiles, self._read_sampling, linear=self._linear)
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

    # -- multiply ---------------------------------------------------------------
    def _check_x(self, x) -> tuple[np.ndarray, tuple[int, ...]]:
        # with per-vector input ranges the DAC's row-wise max/min reveal any NaN/inf (see _forward)
        later = not self._linear and self._config.dac.range_mode == "abs_max"
        arr = as_float_array("x", x, min_ndim=1, check_finite=not later)
        if arr.shape[-1] != self.shape[0]:
            raise ValueError(f"x: expected shape (..., {self.shape[0]}), received {arr.shape}")
        return arr.reshape(-1, self.shape[0]), arr.shape[:-1]

    def matvec(self, x, *, draws: dict | None = None) -> np.ndarray:
        """Analog ``x @ W``: ``x (..., n_in)`` -> ``(..., n_out)``.

        ``draws`` replays the per-multiply draws of a recorded trace (``Trace.draws``)
        instead of drawing fresh ones; the result is then bit for bit the trace's ``y``.
        """
        x2, lead = self._check_x(x)
        if self._linear:
            y = self._linear_forward(x2)
        elif draws is None and x2.shape[0] >= 2 * BATCH_CHUNK:
            # blocks of vectors, in order: every stream is consumed vector by vector, so the
            # draws reaching each vector are those of one big block
            mdraws = MultiplyDraws(self._streams, None, None)
            y = np.empty((x2.shape[0], self.shape[1]))
            for b in range(0, x2.shape[0], BATCH_CHUNK):
                self._forward(x2[b : b + BATCH_CHUNK], None, mdraws, out=y[b : b + BATCH_CHUNK])
        else:
            y = self._forward(x2, None, MultiplyDraws(self._streams, draws, None))
        return y.reshape(*lead, self.shape[1])

    def trace(self, x, *, draws: dict | None = None) -> Trace:
        """Run one multiply and return the record of every stage (see :class:`refsim.trace.Trace`).

        ``trace(x).y`` is what ``matvec(x)`` returns for the same draws: bit for bit equal
        for a noise-free config, and for a noisy one when ``matvec(x, draws=tr.draws)``
        replays them. For a linear pipeline (ideal DAC and ADC, no read or output noise)
        ``matvec`` uses the precomputed effective matrix; the step-by-step result is
        then in ``Trace.y_steps`` and agrees with ``y`` to round-off.
        """
        x2, lead = self._check_x(x)
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
        y_steps = self._forward(x2, tr, MultiplyDraws(self._streams, draws, tr.draws), tiles)
        tr.y_steps = y_steps.reshape(*lead, self.shape[1])
        tr.y = self._linear_forward(x2).reshape(*lead, self.shape[1]) if self._linear else tr.y_steps
        tr.path = "linear_effective_matrix" if self._linear else "step_by_step"
        return tr

    # -- internals --------------------------------------------------------------
    def _effective_weights(self) -> np.ndarray:
        """``W_eff`` of a linear pipeline (X4), see :func:`refsim.program.effective_weights`."""
        return effective_weights(self._tiles, self._config, self.shape, self._col_scale)

    def _linear_forward(self, x2: np.ndarray) -> np.ndarray:
        """Linear pipeline: clip to the DAC's range (D2 with an ideal DAC), then ``x @ W_eff``."""
        dac = self._config.dac
        lo, hi = -np.inf, np.inf
        if dac.range_mode == "fixed":
            lo, hi = -dac.x_max, dac.x_max
        if not dac.signed:
            lo = 0.0
        if np.isfinite(lo) or np.isfinite(hi):
            x2 = np.clip(x2, lo, hi)
        if self._f32:
            return (x2.astype(np.float32) @ self._w_eff).astype(np.float64)
        return x2 @ self._w_eff

    def _forward(self, x2: np.ndarray, tr: Trace | None, draws: MultiplyDraws,
                 tiles: list[TileArrays] | None = None, out: np.ndarray | None = None) -> np.ndarray:
        cfg = self._config
        tiles = self._tiles if tiles is None else tiles
        y = np.empty((x2.shape[0], self.shape[1])) if out is None else out
        stats = {"adc_clipped": 0, "adc_total": 0, "dac_clip": 0.0, "row_tiles": 0}
        if cfg.adc.bits is not None and (tr is not None or not self._health_warned):
            stats["codes"] = health.CodeTally(cfg.adc.code_range)  # H1
        x_maxes = {}
        for t in tiles:  # input ranges of every row block, checked before any read draws noise
            if (t.r0, t.r1) not in x_maxes:
                x_maxes[(t.r0, t.r1)] = input_range(x2[:, t.r0 : t.r1], cfg.dac)
        if cfg.dac.range_mode == "abs_max" and not all(not v.size or np.isfinite(v.max()) for v in x_maxes.values()):
            bad = int(np.size(x2) - np.count_nonzero(np.isfinite(x2)))
            raise ValueError(f"x: contains {bad} non-finite value(s) (NaN or inf); expected finite numbers")
        written = set()  # column ranges holding a partial already: later row tiles add to them
        drives = {}  # DAC codes and drive passes of every row block, shared by its column tiles
        for ti, t in enumerate(tiles):
            xt = x2[:, t.r0 : t.r1]
            x_max = x_maxes[(t.r0, t.r1)]
            ttr = None if tr is None else TileTrace(t.r0, t.r1, t.c0, t.c1, x_max, None, 0.0, {},
                                                    drift_scale=t.drift_scale)
            first = (t.c0, t.c1) not in written
            written.add((t.c0, t.c1))
            drive = drives.setdefault((t.r0, t.r1), {})
            acc, rows_clipped = self._tile_forward(ti, t, xt, x_max, draws, ttr, stats, "",
                                                   y[:, t.c0 : t.c1] if first else None, drive)
            if cfg.dac.bound_management == "iterative":
                acc, factor = self._bound_management(ti, t, xt, x_max, acc, rows_clipped, draws, stats)
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
            tr.adc_clip_fraction = stats["adc_clipped"] / stats["adc_total"] if stats["adc_total"] else 0.0
            tr.dac_clip_fraction = stats["dac_clip"] / max(stats["row_tiles"], 1)
            tr.adc_codes_tally = stats.get("codes")
        if "codes" in stats and not self._health_warned:
            self._health_warned = health.check_codes(stats["codes"], cfg, bool(np.any(x2)), self.name)
        return y

    def _bound_management(self, ti, t, xt, x_max, acc, rows_clipped, draws, stats):
        """aihwkit's iterative bound management (X5): a vector whose ADC input clipped is read again
        with its input range doubled (codes halved), until nothing clips or the factor would exceed
        ``dac.bm_max_factor``. The output rescale uses the range actually driven, so no extra factor
        is applied. Returns the final ``acc`` and the factor per vector ``(B,)``."""
        factor = np.ones(xt.shape[0])
        it = 0
        while np.any(rows_clipped) and 2 * factor.max() <= self._config.dac.bm_max_factor:
            it += 1
            idx = np.nonzero(rows_clipped)[0]
            factor[idx] *= 2.0
            acc_i, clip_i = self._tile_forward(ti, t, xt[idx], x_max[idx] * factor[idx], draws, None,
                                               stats, f".bm{it}")
            acc[idx] = acc_i
            rows_clipped = np.zeros(xt.shape[0], dtype=bool)
            rows_clipped[idx[clip_i]] = True
        return acc, factor

    def _tile_forward(self, ti, t, xt, x_max, draws, ttr, stats, tag, out=None, drive=None):
        """One tile: DAC, every weight slice's reads, digital recombination (X3) in output units
        (but for a per-column weight rescale, which ``_forward`` applies to the sum of the row
        tiles); ``(acc (B, cols), rows_clipped (B,))``, ``acc`` written into ``out`` if given.

        ``tag`` distinguishes the re-reads of bound management in draw keys and streams. ``drive``:
        a dict shared by the tiles of one row block, which fills it with their DAC codes, drive
        passes and offset sums on first use (the same numbers for every column tile)."""
        cfg = self._config
        c_max = 1 if cfg.dac.bits is None else cfg.dac.code_max
        drive = {} if drive is None else drive
        if "codes" not in drive:
            drive["codes"], drive["clip"] = dac_codes(xt, x_max, cfg.dac)
            drive["passes"] = drive_passes(drive["codes"], cfg.dac)
        codes, dac_clip, passes = drive["codes"], drive["clip"], drive["passes"]
        if any(sl.digital_offset for sl in t.slices) and "d_sum" not in drive:
            # (B, 1): sum_i c_i / c_max, needed by the digital offset removal only
            drive["d_sum"] = codes.sum(axis=1, keepdims=True) / c_max
        d_sum = drive.get("d_sum")
        if t.c0 == 0 and not tag:
            stats["dac_clip"] += dac_clip
            stats["row_tiles"] += 1
        if ttr is not None:
            ttr.dac_codes, ttr.dac_clip_fraction = codes, dac_clip
            ttr.voltages_V = {p.label: p.volts_V for p in passes}
        rows_clipped = np.zeros(xt.shape[0], dtype=bool) if cfg.dac.bound_management == "iterative" else None
        shape = (xt.shape[0], t.c1 - t.c0)
        terms = []  # per slice (terms (array, factor), 2^shift): p_k = sum factor * array in net-level units
        for k, s in enumerate(t.slices):
            s_terms, clipped, total = self._reader.slice_reads(s, passes, f"t{ti}.s{k}{tag}",
                                                        (ti, k) + ((tag,) if tag else ()), draws, ttr, k, rows_clipped)
            if "codes" in stats:
                for codes_k, _ in s_terms:
                    stats["codes"].add(codes_k)  # H1
            if s.digital_offset:
                s_terms.append((d_sum.copy(), -s.digital_offset))  # (B, 1), scratch like every term
            if ttr is not None:  # the record of X2: p_k in net-level units
                ttr.digital[f"s{k}"] = weighted_sum(s_terms, shape)
            terms.append((s_terms, 2.0**s.shift))
            stats["adc_clipped"] += clipped
            stats["adc_total"] += total
        # a uniform weight rescale goes into the per-vector scale; a per-column one is applied by _forward
        scale = t.drift_scale * self._col_scale if np.ndim(self._col_scale) == 0 else t.drift_scale
        acc = combine_terms(terms, shape, x_max, scale, out)
        return acc, rows_clipped
