r"""The options of the hardware-aware (HWA) training forward (:class:`HWAConfig`, docs/MODEL.md section 11,
N1-N9) and the noise ramp (N3); the forward itself is :mod:`refsim.train.hwa`, which re-exports these."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from refsim import devices as dev
from refsim._validate import check_scalar, received
from refsim.config import CrossbarConfig
from refsim.tiling import tile_bounds

__all__ = ["HWAConfig", "noise_scale_at", "TRAIN_ONLY", "EVAL_ONLY", "MAX_NOISE_SCALE", "SWITCHES"]

#: Largest eta_max accepted (1000 times the preset's noise; far larger ones overflow the noisy conductances).
MAX_NOISE_SCALE = 1e3

#: The switches of :class:`HWAConfig` that turn one non-ideality of the training forward off
#: (``refsim train --train-without``); the evaluation keeps every one of them.
SWITCHES = ("dac", "adc", "out_noise", "short_term_noise", "ir_drop", "prog_noise", "read_noise_20s")

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
        for name in ("alpha_init_std", "alpha_decay", "alpha_grad_scale"):
            check_scalar(name, getattr(self, name), low=0.0)
        check_scalar("noise_scale", self.noise_scale, low=0.0, high=MAX_NOISE_SCALE)  # beyond: conductances overflow
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
