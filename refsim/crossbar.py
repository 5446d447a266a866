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

from refsim._validate import as_float_array
from refsim.adc import adc_convert
from refsim.config import CrossbarConfig
from refsim.dac import DrivePass, dac_codes, drive_passes, input_range
from refsim.program import SliceArrays, TileArrays, program_arrays, weight_levels
from refsim.trace import ReadTrace, TileTrace, Trace

__all__ = ["Crossbar", "analog_multiply"]


def analog_multiply(codes: np.ndarray, code_max: float, v_read_V: float, g_S: np.ndarray) -> np.ndarray:
    """Ohm's and Kirchhoff's laws on an ideal array: column currents in A.

    .. math:: V_i = \\frac{c_i}{c_{max}} v_{read}, \\qquad I_j = \\sum_i V_i G_{ij}     \\tag{X1}

    ``codes (B, rows)``, ``g_S (rows, cols)`` in S -> ``(B, cols)`` in A. The scale
    ``v_read / c_max`` is applied to the ``(B, cols)`` sums (the same numbers up to
    round-off, and cheaper than scaling the ``(B, rows)`` drive).
    """
    out = codes @ g_S
    out *= v_read_V / code_max
    return out


class Crossbar:
    """A weight matrix ``W (n_in, n_out)`` programmed into analog crossbar arrays.

    Programming happens in the constructor; afterwards the object is immutable.

    Parameters
    ----------
    weights : array (n_in, n_out), finite; ``y = x @ W``.
    config : :class:`refsim.CrossbarConfig` (e.g. ``refsim.presets.get("ideal")``).
    rng : ``numpy.random.Generator`` for device randomness; not needed by noise-free configs.
    """

    def __init__(self, weights, config: CrossbarConfig, *, rng: np.random.Generator | None = None):
        if not isinstance(config, CrossbarConfig):
            raise TypeError(f"config: expected a refsim.CrossbarConfig, received {type(config).__name__}")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: expected a numpy.random.Generator or None, received {type(rng).__name__}")
        w = as_float_array("weights", weights, ndim=2)
        if 0 in w.shape:
            raise ValueError(f"weights: expected shape (n_in, n_out) with both >= 1, received {w.shape}")
        self._config = config
        self._w = w.copy()
        self._w.setflags(write=False)
        self._levels = weight_levels(self._w, config)
        self._tiles = program_arrays(self._levels, config)
        self._linear = config.dac.bits is None and config.adc.bits is None
        self._w_eff = self._effective_weights() if self._linear else None

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
    def n_arrays(self) -> int:
        """Number of physical arrays: tiles x weight slices x devices (a reference column counts as one)."""
        return sum(len(s.g_S) for t in self._tiles for s in t.slices)

    def __repr__(self) -> str:
        return f"Crossbar(shape={self.shape}, config={self._config.name!r}, tiles={len(self._tiles)}, arrays={self.n_arrays})"

    # -- multiply ---------------------------------------------------------------
    def _check_x(self, x) -> tuple[np.ndarray, tuple[int, ...]]:
        arr = as_float_array("x", x, min_ndim=1)
        if arr.shape[-1] != self.shape[0]:
            raise ValueError(f"x: expected shape (..., {self.shape[0]}), received {arr.shape}")
        return arr.reshape(-1, self.shape[0]), arr.shape[:-1]

    def matvec(self, x) -> np.ndarray:
        """Analog ``x @ W``: ``x (..., n_in)`` -> ``(..., n_out)``."""
        x2, lead = self._check_x(x)
        y = self._linear_forward(x2) if self._linear else self._forward(x2, None)
        return y.reshape(*lead, self.shape[1])

    def trace(self, x) -> Trace:
        """Run one multiply and return the record of every stage (see :class:`refsim.trace.Trace`).

        ``trace(x).y`` equals ``matvec(x)`` bit for bit. For a linear pipeline (ideal DAC and
        ADC) ``matvec`` uses the precomputed effective matrix; the step-by-step result is then
        in ``Trace.y_steps`` and agrees with ``y`` to round-off.
        """
        x2, lead = self._check_x(x)
        lv = self._levels
        tr = Trace(
            x=x2, w_max=lv.w_max, w_norm=lv.w_norm, weight_clip_fraction=lv.clip_fraction,
            weight_levels=lv.q, device_levels={n: [s[0] for s in sl] for n, sl in lv.devices.items()},
            level_scale=lv.level_scale, config=self._config.to_dict(),
        )
        y_steps = self._forward(x2, tr)
        tr.y_steps = y_steps.reshape(*lead, self.shape[1])
        tr.y = self._linear_forward(x2).reshape(*lead, self.shape[1]) if self._linear else tr.y_steps
        tr.path = "linear_effective_matrix" if self._linear else "step_by_step"
        return tr

    # -- internals --------------------------------------------------------------
    def _effective_weights(self) -> np.ndarray:
        """``W_eff`` with ``y = x_drive @ W_eff`` for a linear pipeline (X4):

        ``W_eff = w_max / lambda * sum_k 2^sigma_k (sum_reads sign G_read L_k / dG - offset_k)``.
        """
        m = self._config.mapping
        d_g = m.g_max_S - m.g_min_S
        w_eff = np.zeros(self.shape)
        for t in self._tiles:
            block = w_eff[t.r0 : t.r1, t.c0 : t.c1]
            for s in t.slices:
                g_net = sum(sign * np.broadcast_to(g, block.shape) for _, sign, g in s.reads)
                block += (2.0**s.shift) * (g_net * (s.max_level / d_g) - s.digital_offset)
        w_eff *= self._levels.w_max / self._levels.level_scale
        w_eff.setflags(write=False)
        return w_eff

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
        return x2 @ self._w_eff

    def _forward(self, x2: np.ndarray, tr: Trace | None) -> np.ndarray:
        cfg = self._config
        y = np.zeros((x2.shape[0], self.shape[1]))
        adc_clipped = adc_total = 0
        dac_clip_sum = 0.0
        n_row_tiles = 0
        for t in self._tiles:
            xt = x2[:, t.r0 : t.r1]
            x_max = input_range(xt, cfg.dac)
            codes, dac_clip = dac_codes(xt, x_max, cfg.dac)
            passes = drive_passes(codes, cfg.dac)
            c_max = 1 if cfg.dac.bits is None else cfg.dac.code_max
            d_sum = codes.sum(axis=1, keepdims=True) / c_max  # (B, 1): sum_i c_i / c_max
            if t.c0 == 0:
                dac_clip_sum += dac_clip
                n_row_tiles += 1
            ttr = TileTrace(t.r0, t.r1, t.c0, t.c1, x_max, codes, dac_clip,
                            {p.label: p.codes * (cfg.dac.v_read_V / p.code_max) for p in passes}) if tr else None
            acc = np.zeros((x2.shape[0], t.c1 - t.c0))
            for k, s in enumerate(t.slices):
                p_k, clipped, total = self._slice_reads(s, passes, k, ttr)
                p_k -= s.digital_offset * d_sum
                acc += (2.0**s.shift) * p_k
                adc_clipped += clipped
                adc_total += total
                if ttr is not None:
                    ttr.digital[f"s{k}"] = p_k
            y[:, t.c0 : t.c1] += acc * x_max[:, None]
            if ttr is not None:
                ttr.partial = acc * x_max[:, None]
                tr.tiles.append(ttr)
        y *= self._levels.w_max / self._levels.level_scale
        if tr is not None:
            tr.adc_clip_fraction = adc_clipped / adc_total if adc_total else 0.0
            tr.dac_clip_fraction = dac_clip_sum / max(n_row_tiles, 1)
        return y

    def _slice_reads(self, s: SliceArrays, passes: list[DrivePass], k: int, ttr: TileTrace | None):
        """All ADC reads of one weight slice: returns ``(p, n_clipped, n_converted)`` with
        ``p (B, cols)`` in net-level units (X2): ``p = sum_reads sign sum_passes a I_q / i_unit``."""
        adc, v_read = self._config.adc, self._config.dac.v_read_V
        analog_acc = self._config.dac.accumulation == "analog" and len(passes) > 1
        p = None
        clipped = total = 0
        for name, sign, g in s.reads:
            currents = [(ps, analog_multiply(ps.codes, ps.code_max, v_read, g)) for ps in passes]
            if analog_acc:  # analog shift-and-add of the pass currents, one ADC
                i_sum = sum(ps.coef * i for ps, i in currents)
                groups = [("acc", 1.0, i_sum)]
            else:
                groups = [(ps.label, ps.coef, i) for ps, i in currents]
            for label, coef, i_a in groups:
                if adc.bits is None:
                    i_q, codes = i_a, None
                else:
                    lsb = s.adc_range_A / adc.n_levels
                    codes, n_clip = adc_convert(i_a, lsb, adc.n_levels, adc.signed, s.tie_window)
                    i_q = codes * lsb
                    clipped += n_clip
                    total += codes.size
                if i_q.shape[-1] != p_shape(passes, s):
                    i_q = np.broadcast_to(i_q, (i_q.shape[0], p_shape(passes, s)))
                term = (sign * coef / s.i_unit_A) * i_q
                p = term if p is None else p + term
                if ttr is not None:
                    ttr.reads.append(ReadTrace(k, name, label, i_a, codes, coef * sign))
        return p, clipped, total


def p_shape(passes: list[DrivePass], s: SliceArrays) -> int:
    """Number of columns of a slice's digital result (the widest read)."""
    return max(g.shape[1] for _, _, g in s.reads)
