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

Backward (N9): in floating point, straight through the quantizers and the noise:
``dZ = dy alpha s``, ``dw = x_n^T dZ``, ``dx_n = dZ w~^T``, ``dx = dx_n / alpha`` inside the range
(0 outside), ``ds = sum dy alpha Z``, ``db = sum dy``; ``d alpha`` by aihwkit's input-range rule (N7).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from refsim import devices as dev
from refsim._validate import check_choice, check_scalar, received
from refsim.adc import adc_convert
from refsim.config import CrossbarConfig
from refsim.dac import dac_codes
from refsim.tiling import tile_bounds

__all__ = ["HWAConfig", "AnalogLayer", "noise_scale_at", "TRAIN_ONLY", "EVAL_ONLY"]

#: Non-idealities of the training forward (with ``HWAConfig`` defaults), and those only at evaluation.
TRAIN_ONLY = ("DAC quantization and input clipping at alpha", "PCM programming error (P1, G5, G6)",
              "1/f read noise at t0 = 20 s (P3)", "short-term read noise (R3, R5)", "IR-drop heuristic (O3)",
              "output noise (O1)", "ADC quantization and clipping (A1)", "row tiling (digital sum)")
EVAL_ONLY = ("conductance drift (P2) and global drift compensation", "the 1/f read noise at the evaluation time",
             "weight quantization / bit slicing, stuck-at faults, wire resistance (not in rasch2023_standard)")


@dataclass(frozen=True)
class HWAConfig:
    """What the HWA forward models; every field is one option of docs/MODEL.md section 11.

    ``xbar``: the crossbar config evaluated after training (e.g. ``rasch2023_standard``): its DAC,
    ADC, arrays, output noise, short-term read noise, IR drop and programming model are used.
    The switches turn single non-idealities off; ``noise_scale`` (eta_max) and ``ramp_epochs``
    set the ramp of the injected weight noise (N3)."""

    xbar: CrossbarConfig
    dac: bool = True                 # N2: DAC quantization (input clipping at alpha stays)
    adc: bool = True                 # N5: ADC quantization and clipping
    out_noise: bool = True           # N5: output noise (O1)
    short_term_noise: bool = True    # N4: short-term read noise (R3, R5)
    ir_drop: bool = True             # N4: IR-drop heuristic (O3)
    prog_noise: bool = True          # N3: programming error (P1, G5, G6)
    read_noise_20s: bool = True      # N3: 1/f read noise at t0 (P3)
    noise_scale: float = 1.0         # N3: eta_max
    ramp_epochs: int = 1             # N3: eta reaches eta_max after this many epochs
    learn_alpha: bool = True         # N7
    alpha_init_std: float = 3.0      # N7: alpha_0 = alpha_init_std * std(x)
    alpha_init_batches: int = 10     # N7: over the first this many training batches
    alpha_decay: float = 0.01        # N7
    alpha_min_percentage: float = 0.95  # N7
    alpha_grad_scale: float = 1.0    # N7 (gradient relative to alpha, times this)
    learn_out_scales: bool = True    # N6
    clip_weights: float | None = 1.0  # N8: |w| <= clip after every update; None: no clip
    remap_per_epoch: bool = False    # N8: w[:, j] /= max|w[:, j]|, s_j *= max|w[:, j]| once per epoch
    extras: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.xbar, CrossbarConfig):
            raise TypeError(received("xbar", type(self.xbar).__name__, "a refsim.CrossbarConfig"))
        c = self.xbar
        if c.weight.n_slices != 1 or c.weight.bits is not None or c.wire.enabled:
            raise ValueError(received("xbar", f"config {c.name!r} (weight bits/slices or wire resistance)",
                                      "a config with analog weights in one slice and ideal wires (the HWA "
                                      "forward of Rasch et al.)"))
        if c.dac.range_mode != "fixed":
            raise ValueError(received("xbar.dac.range_mode", repr(c.dac.range_mode),
                                      "'fixed' (HWA training learns the static input range alpha)"))
        if c.adc.bits is not None and c.adc.range_mode != "fixed":
            raise ValueError(received("xbar.adc.range_mode", repr(c.adc.range_mode), "'fixed' (a bound in "
                                      "units of g_max v_read, as aihwkit's out_bound)"))
        if c.device.read_model not in ("none", "sqrt_state"):
            raise ValueError(received("xbar.device.read_model", repr(c.device.read_model),
                                      "'none' or 'sqrt_state' (aihwkit's PCM_READ short-term noise)"))
        for name in ("noise_scale", "alpha_init_std", "alpha_decay", "alpha_grad_scale"):
            check_scalar(name, getattr(self, name), low=0.0)
        check_scalar("alpha_min_percentage", self.alpha_min_percentage, low=0.0, high=1.0)
        if isinstance(self.ramp_epochs, bool) or not isinstance(self.ramp_epochs, int) or self.ramp_epochs < 0:
            raise ValueError(received("ramp_epochs", repr(self.ramp_epochs), "an int >= 0"))
        if isinstance(self.alpha_init_batches, bool) or not isinstance(self.alpha_init_batches, int) \
                or self.alpha_init_batches < 1:
            raise ValueError(received("alpha_init_batches", repr(self.alpha_init_batches), "an int >= 1"))
        check_scalar("clip_weights", self.clip_weights, low=0.0, low_open=True, allow_none=True)

    # -- derived constants (normalized units) ---------------------------------------------
    @property
    def g_max(self) -> float:
        return self.xbar.mapping.g_max_S

    @property
    def out_bound(self) -> float:
        """ADC full scale in units of g_max v_read (aihwkit's out_bound; 10 for rasch2023_standard)."""
        r = self.xbar.adc.range_A
        r = r[0] if isinstance(r, (tuple, list)) else r
        return float(r) / (self.g_max * self.xbar.dac.v_read_V)

    @property
    def out_sigma(self) -> float:
        """(O1) sigma in units of g_max v_read."""
        d = self.xbar.device
        ref = self.out_bound if d.out_noise_reference == "adc_bound" else 1.0
        return dev.output_noise_sigma_A(d.out_noise_rel, ref) if d.out_noise_rel > 0 else 0.0

    def row_tiles(self, n_in: int) -> list[tuple[int, int]]:
        """Row ranges of the arrays the layer is split over (refsim.tiling, as at inference)."""
        a = self.xbar.array
        return tile_bounds(n_in, a.rows_max, a.split)

    def without_noise(self) -> "HWAConfig":
        """Every random effect off (quantizers, IR drop and tiling kept): a deterministic forward."""
        return replace(self, out_noise=False, short_term_noise=False, prog_noise=False, read_noise_20s=False)


def noise_scale_at(cfg: HWAConfig, epoch: int) -> float:
    r"""The injected-noise scale of epoch ``epoch`` (0-based), eq. (N3):
    :math:`\eta_e = \eta_{max} \min(1, (e + 1) / E_{ramp})` (``E_ramp = 0``: eta_max from the start)."""
    if cfg.ramp_epochs == 0:
        return cfg.noise_scale
    return cfg.noise_scale * min(1.0, (epoch + 1) / cfg.ramp_epochs)


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
        up, lo = x >= alpha, x <= -alpha
        g = float(np.minimum(dx_n[up], 0).sum(dtype=np.float64) - np.maximum(dx_n[lo], 0).sum(dtype=np.float64))
        g *= self.cfg.alpha_grad_scale
        inside = 1.0 - (np.count_nonzero(up) + np.count_nonzero(lo)) / x.size
        if self.cfg.alpha_decay > 0 and inside > self.cfg.alpha_min_percentage:
            g += self.cfg.alpha_decay * alpha
        dx = dx_n * self.dtype.type(1.0 / alpha)
        dx[(x > alpha) | (x < -alpha)] = 0  # aihwkit's clamp passes x = +-alpha
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
    def mvm_forward(self, cols: np.ndarray, w_used: np.ndarray, rng: np.random.Generator | None,
                    nonneg: bool | None = None, scratch: dict | None = None) -> np.ndarray:
        r"""``Z = sum_t ADC(x_t w~_t - IR_t + n_t)`` (N4, N5) over the row tiles t of the preset's arrays,
        in units of ``g_max v_read``; ``cols (M, n_in)`` normalized inputs. FP layers: ``cols @ w``.
        ``scratch``: a dict of arrays reused from call to call (the training network's)."""
        c = self.cfg
        if c is None:
            return cols @ (w_used if self.row_order is None else w_used[self.row_order])
        d = c.xbar.device
        n_out = w_used.shape[1]
        ir = c.ir_drop and d.ir_drop_scale > 0
        st = c.short_term_noise and d.read_model == "sqrt_state" and d.read_sigma_rel > 0 and rng is not None
        osig = c.out_sigma if (c.out_noise and rng is not None) else 0.0
        if nonneg is None and ir:
            nonneg = bool(cols.size == 0 or cols.min() >= 0)
        z_sum = None
        for sel, rows, n, pw in self._tiles():
            x_t, w_t = cols[:, sel], w_used[rows]  # the tile's inputs and rows, in the order of cols
            if ir:
                if nonneg:  # |x| = x: one product gives the output and both sums of (O3)
                    zz = x_t @ np.concatenate([w_t, np.abs(w_t), w_t * pw], axis=1)
                    z, a_sum, p_sum = zz[:, :n_out], zz[:, n_out:2 * n_out], zz[:, 2 * n_out:]
                else:
                    zz = x_t @ np.concatenate([w_t, w_t * pw], axis=1)
                    z, p_sum = zz[:, :n_out], zz[:, n_out:]
                    a_sum = np.abs(x_t) @ np.abs(w_t)
                z = z - dev.ir_drop_rasch2023_from_sums(a_sum, p_sum, n, scale=d.ir_drop_scale, g_ratio=d.ir_drop_g_ratio)
            else:
                z = x_t @ w_t
            std = None
            if st:  # (R3) per device of the pair, output referred (R5): std = sqrt(x^2 @ sigma^2)
                g_max = c.g_max
                wt64 = w_t.astype(np.float64)
                var = sum(dev.read_sigma_sqrt_state_S(np.maximum(sgn * wt64, 0) * g_max, sigma_rel=d.read_sigma_rel,
                                                      g_max_S=g_max) ** 2 for sgn in (1, -1)) / g_max**2
                if scratch is None:
                    std = dev.output_referred_std_A(x_t, 1.0, 1.0, var.astype(self.dtype))
                else:  # the same (R5) with the squares in a reused array (no fresh pages every step)
                    sq = scratch.get(("sq", x_t.shape))  # consumed at once: shared by the layers
                    if sq is None:
                        sq = scratch[("sq", x_t.shape)] = np.empty(x_t.shape, dtype=self.dtype)
                    std = np.sqrt(np.square(x_t, out=sq) @ var.astype(self.dtype))
            if std is not None or osig > 0:
                # the short-term noise (R5) and the output noise (O1) are independent Gaussians added before
                # the ADC (the IR drop does not depend on them): one draw of their joint sigma
                if std is None:
                    z = dev.add_output_noise_A(z, rng.standard_normal(z.shape, dtype=self.dtype), sigma_A=osig)
                    z = z.astype(self.dtype, copy=False)
                else:
                    if osig > 0:
                        np.sqrt(np.square(std, out=std) + self.dtype.type(osig * osig), out=std)
                    std *= rng.standard_normal(z.shape, dtype=self.dtype)
                    z += std
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
        if self.cfg is None:  # s = 1, alpha = 1: nothing to scale
            return z + self.b if self.b is not None else z
        y = z * (self.s * self.dtype.type(float(self.alpha)))
        if self.b is not None:
            y += self.b
        return y

    def mvm_backward(self, dy: np.ndarray, z: np.ndarray, cols: np.ndarray, w_used: np.ndarray,
                     out: np.ndarray | None = None, want_dcols: bool = True):
        r"""(N9) from ``dy = dL/dy (M, n_out)``: ``(dcols, dw, ds, db)`` with
        ``dZ = dy alpha s``, ``dw = cols^T dZ``, ``dcols = dZ w~^T``, ``ds = alpha sum_r dy Z``, ``db = sum_r dy``
        (``out``: an array of the shape of ``cols`` for ``dcols``; ``want_dcols=False`` returns ``dZ`` in its
        place, for a caller that forms ``dZ w~^T`` as a convolution)."""
        a = 1.0 if self.cfg is None else float(self.alpha)
        dz = dy if self.cfg is None else dy * (self.s * self.dtype.type(a))  # FP: s = 1, alpha = 1
        if self.row_order is None:
            dw = cols.T @ dz
            dcols = np.matmul(dz, w_used.T, out=out) if want_dcols else dz
        else:
            dw = np.empty_like(w_used)
            dw[self.row_order] = cols.T @ dz
            dcols = np.matmul(dz, w_used[self.row_order].T, out=out) if want_dcols else dz
        learn_s = self.cfg is not None and self.cfg.learn_out_scales
        ds = (np.einsum("ij,ij->j", dy, z) * self.dtype.type(a)) if learn_s else np.zeros_like(self.s)
        db = None if self.b is None else dy.sum(axis=0)
        return dcols, dw, ds, db
