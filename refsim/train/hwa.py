r"""The hardware-aware (HWA) training forward of Rasch et al. 2023 (Methods, "Hardware-aware
training"), one analog layer at a time; equations N1-N9 of docs/MODEL.md section 11.

An analog layer holds, in aihwkit's normalized units (a weight of 1 is ``g_max`` on one device of
the differential pair, an input of 1 is ``v_read``, an output of 1 is ``g_max v_read``):

* ``w`` (n_in, n_out): the analog weights, clipped to [-1, 1] (N8), crossbar convention ``x @ w``;
* ``s`` (n_out,): learnable per-column output scales (N6), initialised to the columns' max |W|;
* ``alpha``: the static input range of the crossbar (N2, N7), initialised from data, learned;
* ``b`` (n_out,) or None: a digital bias.

Forward (N1-N6): ``y = alpha s * Z(Q_dac(clip(x / alpha)), w~) + b``, ``Z`` the crossbar model of
the preset (per row tile of the preset's arrays: short-term read noise, the IR-drop heuristic,
output noise, the ADC, the tiles' digital sum) on weights ``w~ = w + eta * Delta`` carrying the
programming error and the 20 s read noise drawn once per mini-batch and scaled by the ramped
``eta`` (N3). Every physical step calls the function that inference calls (refsim.dac.dac_codes,
refsim.adc.adc_convert, refsim.devices.program_conductances, pcm_read_sigma_S,
read_noise_sigma_S, output_referred_std_A, add_output_noise_A, ir_drop_rasch2023_from_sums).

The options (:class:`HWAConfig`) and the noise ramp (:func:`noise_scale_at`) live in
:mod:`refsim.train.hwa_config` and are re-exported here.

Backward (N9): in floating point, straight through the quantizers and the noise:
``dZ = dy alpha s``, ``dw = x_n^T dZ``, ``dx_n = dZ w~^T``, ``dx = dx_n / alpha`` inside the range
(0 outside), ``ds = sum dy alpha Z``, ``db = sum dy``; ``d alpha`` by aihwkit's input-range rule (N7).
"""
from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from refsim import devices as dev
from refsim._validate import received
from refsim.adc import adc_convert
from refsim.dac import dac_codes
from refsim.train.hwa_config import EVAL_ONLY, TRAIN_ONLY, HWAConfig, noise_scale_at

__all__ = ["HWAConfig", "AnalogLayer", "CrossbarTile", "standard_normal", "noise_scale_at", "TRAIN_ONLY", "EVAL_ONLY"]

def standard_normal(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    r"""Standard normal draws of ``shape`` by the Box-Muller transform: from uniforms ``u1`` (float64) and
    ``u2`` in [0, 1), each pair

    .. math:: r = \sqrt{-2 \ln(1 - u_1)}, \qquad \xi = (r \cos 2\pi u_2,\ r \sin 2\pi u_2)

    is two independent N(0, 1) (exact in distribution). ``r^2 = -2 ln(1 - u1)`` is formed in float64
    (``log1p``: accurate for every ``u1``; its largest value, at ``u1 = 1 - 2^-53``, reaches 8.6 sigma)
    and rounded to ``dtype`` once; the square root and the rest run in ``dtype``. The first half of the
    values are the cosines, the second the sines. The noise of the HWA forward (about 25 million draws
    per ResNet-20 step at batch 128) costs a third of ``Generator.standard_normal``'s float64 ziggurat
    this way. Drawn from ``rng``: same stream, same bits."""
    n = int(np.prod(shape))
    h = (n + 1) // 2
    t = np.dtype(dtype).type
    r2 = np.log1p(-rng.random(h))
    r2 *= -2.0
    r = r2.astype(dtype)
    del r2
    np.sqrt(r, out=r)
    theta = rng.random(h, dtype=dtype)
    theta *= t(2 * np.pi)
    xi = np.empty(2 * h, dtype=dtype)
    np.cos(theta, out=xi[:h])
    np.sin(theta, out=xi[h:])
    xi[:h] *= r
    xi[h:] *= r
    return xi[:n].reshape(shape)


class CrossbarTile(NamedTuple):
    """One row tile's operands of (N4) (:meth:`AnalogLayer.crossbar_tiles`): ``sel`` its columns of ``cols``,
    ``n`` its rows in the array, ``w_cat`` the matrix of its product, ``w_abs`` ``|w_t|`` (signed inputs with
    IR drop, else None), ``var`` the read variance (R3) or None, ``ir`` whether (O3) applies."""

    sel: slice | np.ndarray
    n: int
    w_cat: np.ndarray
    w_abs: np.ndarray | None
    var: np.ndarray | None
    ir: bool


class AnalogLayer:
    """One crossbar layer of the HWA network (a conv as its im2col matmul, or a linear layer).

    Parameters
    ----------
    weight : (n_out, n_in) the layer's weight in PyTorch layout (a conv reshaped ``(C_out, C_in kh kw)``),
        mapped by (N6): ``s_j = max_i |W_ji|`` and ``w = (W / s)^T``.
    bias : (n_out,) or None, the digital bias.
    cfg : HWAConfig or None (None: an FP layer, ``w = W^T``, ``s = 1`` not learned, ``y = x @ w + b``).
    name : the layer's state-dict prefix (``"layer1.0.conv1"``); keys the random streams.
    dtype : float32 (training) or float64 (the gradient checks).
    """

    def __init__(self, weight, bias, cfg: HWAConfig | None, name: str, dtype=np.float32):
        W = np.asarray(weight, dtype=np.float64)
        if cfg is None:  # an FP layer: plain W, s = 1 (not learned)
            s = np.ones(W.shape[0])
        else:
            s = np.max(np.abs(W), axis=1)
            s = np.where(s > 0, s, 1.0)
        self.name, self.cfg, self.dtype = name, cfg, np.dtype(dtype)
        self.w = np.ascontiguousarray((W / s[:, None]).T, dtype=self.dtype)  # (n_in, n_out)
        self.s = s.astype(self.dtype)
        self.b = None if bias is None else np.asarray(bias, dtype=self.dtype).copy()
        self.alpha = np.zeros((), dtype=np.float64)  # 0: not initialised (N7)
        self.alpha_seen = 0  # batches that initialised alpha
        self.row_order = None  # crossbar row of each input column (None: the same order)
        self._plan = None

    def set_row_order(self, row_order) -> None:
        """The inputs arrive in another order than the crossbar's rows: column ``q`` of ``cols`` drives
        row ``row_order[q]`` (a conv's channels-last im2col). The tiles, the IR drop's row positions
        and the weight gradient follow the crossbar's order."""
        ro = np.asarray(row_order, dtype=np.intp)
        if sorted(ro.tolist()) != list(range(self.w.shape[0])):
            raise ValueError(received("row_order", f"{ro.size} indices", f"a permutation of 0..{self.w.shape[0] - 1}"))
        self.row_order, self._plan = ro, None

    def _tiles(self):
        """Per row tile of the crossbar: (column selector of ``cols``, the tile's rows of ``w`` in column order,
        rows n, IR-drop position weights (n, 1))."""
        if self._plan is None:
            n_in = self.w.shape[0]
            ro = np.arange(n_in) if self.row_order is None else self.row_order
            plan = []
            for r0, r1 in self.cfg.row_tiles(n_in):
                idx = np.flatnonzero((ro >= r0) & (ro < r1))
                sel = slice(int(idx[0]), int(idx[-1]) + 1) if np.all(np.diff(idx) == 1) else idx
                pw = dev.ir_drop_position_weights(r1 - r0)[ro[idx] - r0].astype(self.dtype)[:, None]
                plan.append((sel, ro[idx], r1 - r0, pw))
            self._plan = plan
        return self._plan

    # -- parameters --------------------------------------------------------------------------
    def effective_weight(self) -> np.ndarray:
        """``W = (w s)^T`` (n_out, n_in), float64: what inference maps (N6)."""
        return (self.w.astype(np.float64) * self.s.astype(np.float64)).T

    def state(self) -> dict:
        out = {"w": self.w, "s": self.s, "alpha": self.alpha, "alpha_seen": np.asarray(self.alpha_seen)}
        if self.b is not None:
            out["b"] = self.b
        return out

    def load_state(self, st: dict) -> None:
        self.w = np.array(st["w"], dtype=self.dtype)
        self.s = np.array(st["s"], dtype=self.dtype)
        self.alpha = np.array(st["alpha"], dtype=np.float64)
        self.alpha_seen = int(st["alpha_seen"])
        if "b" in st:
            self.b = np.array(st["b"], dtype=self.dtype)

    def clip_and_remap(self, remap: bool) -> None:
        r"""(N8) after an update: ``w = clip(w, -c, c)``; with ``remap``
        ``m_j = max_i |w_ij|, w_{:j} /= m_j, s_j *= m_j`` (the product ``w s`` unchanged)."""
        if self.cfg is None:
            return
        if self.cfg.clip_weights is not None:
            np.clip(self.w, -self.cfg.clip_weights, self.cfg.clip_weights, out=self.w)
        if remap:
            m = np.max(np.abs(self.w), axis=0)
            m = np.where(m > 0, m, 1).astype(self.dtype)
            self.w /= m
            self.s *= m

    # -- input (N2, N7) -------------------------------------------------------------------------
    def observe_alpha(self, x: np.ndarray, n_batches: int) -> None:
        r"""(N7) initialisation from data: over the first ``n_batches`` training batches,
        :math:`\alpha_0 = \frac{1}{K}\sum_k c\,\mathrm{std}(x_k)` (running mean), ``c = alpha_init_std``."""
        if self.alpha_seen >= n_batches:
            return
        a = self.cfg.alpha_init_std * float(np.std(x, dtype=np.float64))
        a = a if a > 0 else 1.0
        self.alpha = np.asarray((float(self.alpha) * self.alpha_seen + a) / (self.alpha_seen + 1))
        self.alpha_seen += 1

    def input_forward(self, x: np.ndarray):
        r"""(N2) ``x_n = Q_dac(clip(x / alpha, -1, 1))`` on any shape (elementwise: a conv quantizes its
        activation before im2col, padding stays 0). FP layers pass ``x`` through. Returns ``(x_n, cache)``."""
        if self.cfg is None:
            return x, None
        alpha = float(self.alpha)
        flat = x.reshape(-1, x.shape[-1])
        dcfg = self.cfg.xbar.dac if self.cfg.dac else replace(self.cfg.xbar.dac, bits=None)
        codes, clip_frac = dac_codes(flat, np.full(flat.shape[0], alpha), dcfg,
                                     out=np.empty(flat.shape, dtype=self.dtype))  # (D1, D2): x_max = alpha
        c_max = 1 if dcfg.bits is None else dcfg.code_max
        if c_max != 1:
            codes *= self.dtype.type(1.0 / c_max)
        return codes.reshape(x.shape), (x, alpha, clip_frac)

    def input_backward(self, dx_n: np.ndarray, cache):
        r"""(N9, N7): ``dx = dx_n / alpha`` where ``|x| <= alpha`` (0 beyond); the alpha gradient of
        aihwkit's input range (``gradient_relative``: times alpha),

        .. math:: g_\alpha = \gamma \Big(\sum_{x \ge \alpha} \min(\partial_{x_n}, 0) -
                  \sum_{x \le -\alpha} \max(\partial_{x_n}, 0)\Big)
                  + \delta\,\alpha\,[\mathrm{frac}(|x| < \alpha) > p_{min}]

        (``gamma = alpha_grad_scale``, ``delta = alpha_decay``, ``p_min = alpha_min_percentage``)."""
        if self.cfg is None:
            return dx_n, 0.0
        x, alpha, _ = cache
        dx = np.multiply(dx_n, self.dtype.type(1.0 / alpha), order="C")  # C order: dx.reshape(-1) is a view
        g, n_edge = 0.0, 0  # n_edge: inputs on or beyond the range
        for hi in (True, False):
            if hi:  # the indices of x >= alpha (flat, few): no mask kept over the whole array
                idx = np.flatnonzero(x >= alpha)
            elif x.size and x.min() <= -alpha:  # (after a ReLU no x is)
                idx = np.flatnonzero(x <= -alpha)
            else:
                continue
            if idx.size == 0:
                continue
            n_edge += idx.size
            d = dx_n.reshape(-1)[idx]
            g += float(np.minimum(d, 0).sum(dtype=np.float64)) if hi else -float(np.maximum(d, 0).sum(dtype=np.float64))
            dx.reshape(-1)[idx[x.reshape(-1)[idx] != (alpha if hi else -alpha)]] = 0  # aihwkit's clamp passes +-alpha
        g *= self.cfg.alpha_grad_scale
        inside = 1.0 - n_edge / x.size
        if self.cfg.alpha_decay > 0 and inside > self.cfg.alpha_min_percentage:
            g += self.cfg.alpha_decay * alpha
        return dx, g

    # -- weights (N3) ---------------------------------------------------------------------------
    def noisy_weights(self, eta: float, rng: np.random.Generator | None) -> np.ndarray:
        r"""(N3) ``w~ = w + eta (w_prog - w)`` with ``w_prog = (G+ - G-) / g_max`` of the pair programmed
        from ``G+ = max(w, 0) g_max``, ``G- = max(-w, 0) g_max`` by the preset's programming model
        (G5, G6; P1 for PCM) and then read with the 1/f noise at ``t = t0`` (P3, R4, clipped at 0).
        Drawn once per mini-batch from ``rng``; ``eta = 0`` or no random effect returns ``w``."""
        c = self.cfg
        d = c.xbar.device
        prog = c.prog_noise and d.prog_model != "none"
        rd = c.read_noise_20s and d.drift_model == "pcm_rasch2023" and d.pcm_read_noise_scale > 0
        if eta == 0 or rng is None or not (prog or rd):
            return self.w
        w = self.w.astype(np.float64)
        g_max = c.g_max
        g_new = []
        for g_t in (np.maximum(w, 0) * g_max, np.maximum(-w, 0) * g_max):
            g = g_t
            if prog:
                g = dev.program_conductances(g_t, {"xi_prog": rng.standard_normal(g_t.shape)},
                                             replace(d, stuck_gmin_frac=0.0, stuck_gmax_frac=0.0),
                                             g_min_S=0.0, g_max_S=g_max)["g_prog_S"]
            if rd:
                sig = dev.pcm_read_sigma_S(g, g, g_max_S=g_max, t_s=d.t0_s, t_read_s=d.t_read_s,
                                           scale=d.pcm_read_noise_scale)
                g = dev.apply_read_noise_per_cell_S(g, sig, rng.standard_normal((1,) + g.shape),
                                                    clip_nonnegative=True)[0]
            g_new.append(g)
        w_prog = (g_new[0] - g_new[1]) / g_max
        return (w + eta * (w_prog - w)).astype(self.dtype)

    # -- the crossbar (N4, N5) -------------------------------------------------------------------
    def crossbar_tiles(self, w_used: np.ndarray, nonneg: bool = True) -> list[CrossbarTile]:
        r"""The weight-side operands of (N4) per row tile, formed once per mini-batch (the rows of
        ``cols`` then stream through them block by block). FP layers: one tile, ``w_cat = w`` in the
        order of ``cols``. HWA, per tile ``t`` with rows ``w_t`` and IR-drop position weights ``p``:

        * ``w_cat = [w_t | |w_t| | w_t p]`` (IR drop, ``nonneg`` inputs: one product ``x_t w_cat`` gives
          the output and both sums of (O3), as ``|x| = x``), ``[w_t | w_t p]`` (signed inputs: the
          absolute sum is ``|x_t| @ w_abs``) or ``w_t`` (no IR drop);
        * ``var`` (n_t, n_out): the per-cell variance of the short-term read noise (R3), both devices of
          the pair, in units of ``g_max^2`` (None without it)."""
        c = self.cfg
        if c is None:
            w = w_used if self.row_order is None else w_used[self.row_order]
            return [CrossbarTile(slice(None), w.shape[0], w, None, None, False)]
        d = c.xbar.device
        ir = c.ir_drop and d.ir_drop_scale > 0
        st = c.short_term_noise and d.read_model == "sqrt_state" and d.read_sigma_rel > 0
        tiles = []
        for sel, rows, n, pw in self._tiles():
            w_t = w_used[rows]  # the tile's rows, in the order of cols
            w_abs = None
            if not ir:
                w_cat = w_t
            elif nonneg:
                w_cat = np.concatenate([w_t, np.abs(w_t), w_t * pw], axis=1)
            else:
                w_cat, w_abs = np.concatenate([w_t, w_t * pw], axis=1), np.abs(w_t)
            var = None
            if st:  # (R3) sigma^2 of G+ = max(w, 0) g_max and G- = max(-w, 0) g_max, output referred (R5)
                g_max, wt64 = c.g_max, w_t.astype(np.float64)
                var = sum(dev.read_sigma_sqrt_state_S(np.maximum(sgn * wt64, 0) * g_max, sigma_rel=d.read_sigma_rel,
                                                      g_max_S=g_max) ** 2 for sgn in (1, -1)) / g_max**2
                var = var.astype(self.dtype)
            tiles.append(CrossbarTile(sel, n, np.ascontiguousarray(w_cat), w_abs, var, ir))
        return tiles

    def mvm_forward(self, cols: np.ndarray, w_used: np.ndarray, rng: np.random.Generator | None,
                    nonneg: bool | None = None, tiles: list | None = None) -> np.ndarray:
        r"""``Z = sum_t ADC(x_t w~_t - IR_t + n_t)`` (N4, N5) over the row tiles t of the preset's arrays,
        in units of ``g_max v_read``; ``cols (M, n_in)`` normalized inputs -> ``Z (M, n_out)``. FP layers:
        ``cols @ w``. ``tiles``: :meth:`crossbar_tiles` of ``w_used`` (formed here when None; ``nonneg``:
        whether every input is >= 0, looked up here when None). The noise ``n_t`` (R5 + O1) is drawn from
        ``rng`` tile by tile, in the order of the rows: the rows of ``cols`` passed in blocks draw the
        same numbers as all at once (one tile)."""
        c = self.cfg
        if tiles is None:
            if nonneg is None:
                nonneg = bool(cols.size == 0 or cols.min() >= 0)
            tiles = self.crossbar_tiles(w_used, nonneg)
        if c is None:
            return cols @ tiles[0].w_cat
        d = c.xbar.device
        n_out = w_used.shape[1]
        osig = c.out_sigma if (c.out_noise and rng is not None) else 0.0
        z_sum = None
        for t in tiles:
            x_t = cols[:, t.sel]
            zz = x_t @ t.w_cat  # (M, k n_out): the output [and the two sums of (O3)]
            z = zz[:, :n_out]
            if t.ir:  # (O3) the IR drop from its sums (the first sum, a slice of zz, is scratch space)
                a_sum = zz[:, n_out:2 * n_out] if t.w_abs is None else np.abs(x_t) @ t.w_abs
                z = z - dev.ir_drop_rasch2023_from_sums(a_sum, zz[:, -n_out:], t.n, scale=d.ir_drop_scale,
                                                         g_ratio=d.ir_drop_g_ratio, overwrite=True)
            if t.var is not None and rng is not None:
                # the short-term noise (R5) and the output noise (O1) are independent Gaussians added before
                # the ADC: one draw of their joint sigma sqrt(x^2 @ var + sigma_out^2)
                std = dev.output_referred_std_A(x_t, 1.0, 1.0, t.var, extra_var=osig * osig)
                std *= standard_normal(rng, z.shape, self.dtype)
                z += std
                del std
            elif osig > 0:
                z = dev.add_output_noise_into(z, standard_normal(rng, z.shape, self.dtype), osig)
            if c.adc and c.xbar.adc.bits is not None:
                lsb = c.out_bound / c.xbar.adc.n_levels
                k, _ = adc_convert(np.ascontiguousarray(z), lsb, c.xbar.adc.code_range, overwrite=True,
                                   out=np.empty(z.shape, dtype=self.dtype))  # (A1)
                z = k
                z *= self.dtype.type(lsb)
            z_sum = z if z_sum is None else z_sum + z
        return z_sum

    def output_forward(self, z: np.ndarray) -> np.ndarray:
        r"""(N6) ``y = alpha s * Z + b`` (FP layers: ``alpha = 1``)."""
        a = 1.0 if self.cfg is None else float(self.alpha)
        y = z * (self.s * self.dtype.type(a))
        if self.b is not None:
            y += self.b
        return y

    # -- backward (N9) ---------------------------------------------------------------------------
    def output_backward(self, dy: np.ndarray, z: np.ndarray):
        r"""(N6, N9) from ``dy = dL/dy (M, n_out)``: ``(dZ, ds, db)`` with ``dZ = dy alpha s``,
        ``ds = alpha sum_r dy Z`` (0 unless the scales are learned), ``db = sum_r dy`` (None without a bias)."""
        a = 1.0 if self.cfg is None else float(self.alpha)
        dz = dy * (self.s * self.dtype.type(a))
        learn_s = self.cfg is not None and self.cfg.learn_out_scales
        ds = (np.einsum("ij,ij->j", dy, z) * self.dtype.type(a)) if learn_s else np.zeros_like(self.s)
        db = None if self.b is None else dy.sum(axis=0)
        return dz, ds, db

    def weight_grad(self, cols: np.ndarray, dz: np.ndarray) -> np.ndarray:
        r"""(N9) ``dw = cols^T dZ`` (n_in, n_out), rows in the crossbar's order (like ``w``)."""
        if self.row_order is None:
            return cols.T @ dz
        dw = np.empty((self.w.shape[0], dz.shape[1]), dtype=np.result_type(cols, dz))
        dw[self.row_order] = cols.T @ dz
        return dw

    def input_grad(self, dz: np.ndarray, w_used: np.ndarray) -> np.ndarray:
        r"""(N9) straight through the crossbar: ``dcols = dZ w~^T`` (M, n_in), in the order of ``cols``."""
        return dz @ (w_used if self.row_order is None else w_used[self.row_order]).T

    def mvm_backward(self, dy: np.ndarray, z: np.ndarray, cols: np.ndarray, w_used: np.ndarray):
        r"""(N9) from ``dy = dL/dy (M, n_out)``: ``(dcols, dw, ds, db)`` with
        ``dZ = dy alpha s``, ``dw = cols^T dZ``, ``dcols = dZ w~^T``, ``ds = alpha sum_r dy Z``, ``db = sum_r dy``
        (:meth:`output_backward`, :meth:`weight_grad`, :meth:`input_grad`)."""
        dz, ds, db = self.output_backward(dy, z)
        return self.input_grad(dz, w_used), self.weight_grad(cols, dz), ds, db
