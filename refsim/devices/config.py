"""``NoiseConfig``: the device and output non-idealities of one crossbar.

One frozen dataclass section, every effect off by default. Choices are
strings, quantities carry their SI unit in the name; the section round-trips
through plain JSON with :meth:`NoiseConfig.to_dict` / :meth:`NoiseConfig.from_dict`
(except a user callable ``prog_sigma_fn``, which cannot be serialized: use the
JSON-friendly ``prog_sigma_table`` instead). Equations: ``docs/devices.md``.

Sources: [R23] Rasch et al., Nat. Commun. 14, 5282 (2023) and its simulator
aihwkit; [X22] Xiao et al., IEEE Circuits Syst. Mag. 22(4) (2022).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Optional

from refsim._validate import check_magnitude, check_scalar, coerce_fields, received, show

PROG_MODELS = ("none", "independent", "proportional", "pcm_rasch2023", "table", "callable")
CLIP_POLICIES = ("nonnegative", "range")
DRIFT_MODELS = ("none", "pcm_rasch2023", "fixed_nu")
READ_MODELS = ("none", "independent", "proportional", "sqrt_state", "pcm_rasch2023")
READ_SAMPLINGS = ("auto", "per_cell", "output_referred")
OUT_NOISE_REFERENCES = ("adc_bound", "unit_current")

#: aihwkit's default ``ir_drop_g_ratio`` = 1 / (0.35 ohm * 5e-6 S) [R23].
IR_DROP_G_RATIO_DEFAULT = 1.0 / (0.35 * 5e-6)

_NOT_SERIALIZABLE = ("prog_sigma_fn",)


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(received(f"device.{name}", show(value), f"one of {list(choices)}"))


def _normalize_table(table) -> tuple[tuple[float, float], ...]:
    """Validate ``((g_S, sigma_S), ...)`` and return it as a tuple of float pairs."""
    try:
        rows = [tuple(r) for r in table]
    except TypeError as exc:
        raise TypeError(received("device.prog_sigma_table", show(table), "a sequence of (g_S, sigma_S) pairs")) from exc
    if len(rows) == 0:
        raise ValueError(received("device.prog_sigma_table", "no pairs", "at least one (g_S, sigma_S) pair"))
    out = []
    for k, r in enumerate(rows):
        if len(r) != 2:
            raise ValueError(received(f"device.prog_sigma_table[{k}]", show(r), "a (g_S, sigma_S) pair"))
        g = check_scalar(f"device.prog_sigma_table[{k}][0] (g_S)", r[0], low=0.0)
        s = check_scalar(f"device.prog_sigma_table[{k}][1] (sigma_S)", r[1], low=0.0)
        check_magnitude(f"device.prog_sigma_table[{k}][0] (g_S)", g, "conductances")
        check_magnitude(f"device.prog_sigma_table[{k}][1] (sigma_S)", s, "conductances")
        out.append((g, s))
    for k in range(1, len(out)):
        if out[k][0] <= out[k - 1][0]:
            raise ValueError(received("device.prog_sigma_table", f"g_S {out[k - 1][0]!r} then {out[k][0]!r} at "
                                      f"index {k}", "strictly increasing g_S"))
    return tuple(out)


@dataclass(frozen=True)
class NoiseConfig:
    """Device and output non-idealities; every effect is off by default.

    Programming (drawn once when an array is programmed)
    ----------------------------------------------------
    prog_model : str
        "none" | "independent" (sigma = prog_sigma_rel * g_max_S) |
        "proportional" (sigma = prog_sigma_rel * |G_target|) |
        "pcm_rasch2023" (polynomial of [R23], scaled by ``pcm_prog_noise_scale``) |
        "table" (``prog_sigma_table``, piecewise linear) | "callable" (``prog_sigma_fn``).
    prog_sigma_rel : float
        Relative programming sigma (dimensionless), for "independent"/"proportional".
    prog_sigma_table : tuple of (g_S, sigma_S) or None
        Knots of sigma (S) versus target conductance (S), strictly increasing g_S;
        linear in between, constant beyond the end knots.
    prog_sigma_fn : callable or None
        ``fn(g_target_S: ndarray) -> sigma_S ndarray`` of the same shape. Not JSON
        serializable (``to_dict`` raises ``TypeError``).
    pcm_prog_noise_scale : float
        Multiplies the [R23] programming sigma (aihwkit ``prog_noise_scale``).
    stuck_gmin_frac, stuck_gmax_frac : float
        Fractions of cells stuck at g_min_S / g_max_S, in [0, 1], sum <= 1.
    clip : str
        "nonnegative": G = max(G, 0) after programming (always at least this);
        "range": G clipped to [g_min_S, g_max_S].

    Drift
    -----
    drift_model : str
        "none" | "pcm_rasch2023" (nu drawn per device from its target) |
        "fixed_nu" (nu = ``drift_nu`` for every device).
    drift_nu : float
        Drift exponent for "fixed_nu" (dimensionless, >= 0).
    pcm_drift_scale : float
        Multiplies the [R23] per-device nu (aihwkit ``drift_scale``).
    t_inference_s : float
        Time of inference after the end of programming (s, >= 0); drift is
        applied for t_inference_s > 0 at t = t_inference_s + t0_s.
    t0_s : float
        Reference time of the drift law (s, > 0); [R23] uses 20 s.
    drift_compensation : bool
        Global drift compensation: one digital output scale from a reference read.

    Read noise (fresh at every multiply)
    ------------------------------------
    read_model : str
        "none" | "independent" (sigma = read_sigma_rel * g_max_S) |
        "proportional" (sigma = read_sigma_rel * |G|) |
        "sqrt_state" (sigma = read_sigma_rel * sqrt(|G| g_max_S); aihwkit's
        ``w_noise_type=PCM_READ`` with ``w_noise = read_sigma_rel``) |
        "pcm_rasch2023" (1/f noise of [R23], clipped at 0).
    read_sigma_rel : float
        Relative read sigma for "independent"/"proportional"/"sqrt_state".
    pcm_read_noise_scale : float
        Multiplies the [R23] 1/f sigma (aihwkit ``read_noise_scale``).
    t_read_s : float
        Read pulse duration for the 1/f model (s, > 0); [R23]: 250 ns.
    pcm_read_noise_held : bool
        Draw the [R23] 1/f read noise (P3, scaled by ``pcm_read_noise_scale``) once per cell at
        the evaluation time ``t_inference_s``, after drift, and hold it for every multiply, as
        aihwkit does at evaluation: ``G_t <- max(G_t + sigma_P3 xi, 0)`` (draw ``xi_hold``).
        Independent of ``read_model``, which is the noise redrawn at every multiply.
    read_sampling : str
        "auto" (output-referred where exact, else per cell) | "per_cell" |
        "output_referred" (error where not exact in distribution).

    Output effects (per multiply, on column currents)
    -------------------------------------------------
    out_noise_rel : float
        Additive Gaussian output noise sigma relative to a reference current.
    out_noise_reference : str
        "adc_bound": reference = ADC full-scale current bound;
        "unit_current": reference = g_max_S * v_max_V, aihwkit's normalized
        output unit (aihwkit ``out_noise=0.04`` is this reference).
    i_col_max_A : float or None
        Column current limit (A, > 0); currents clipped to +-i_col_max_A. None = off.
    ir_drop_scale : float
        Scale of the IR-drop *heuristic* of [R23]/aihwkit (``ir_drop``); 0 = off.
    ir_drop_g_ratio : float
        Wire conductance per segment over g_max (aihwkit ``ir_drop_g_ratio``),
        default 1 / (0.35 ohm * 5 uS).
    """

    # programming
    prog_model: str = "none"
    prog_sigma_rel: float = 0.0
    prog_sigma_table: Optional[tuple] = None
    prog_sigma_fn: Optional[Callable] = field(default=None, repr=False)
    pcm_prog_noise_scale: float = 1.0
    stuck_gmin_frac: float = 0.0
    stuck_gmax_frac: float = 0.0
    clip: str = "nonnegative"
    # drift
    drift_model: str = "none"
    drift_nu: float = 0.0
    pcm_drift_scale: float = 1.0
    t_inference_s: float = 0.0
    t0_s: float = 20.0
    drift_compensation: bool = False
    # read noise
    read_model: str = "none"
    read_sigma_rel: float = 0.0
    pcm_read_noise_scale: float = 1.0
    t_read_s: float = 250e-9
    read_sampling: str = "auto"
    pcm_read_noise_held: bool = False
    # output effects
    out_noise_rel: float = 0.0
    out_noise_reference: str = "adc_bound"
    i_col_max_A: Optional[float] = None
    ir_drop_scale: float = 0.0
    ir_drop_g_ratio: float = IR_DROP_G_RATIO_DEFAULT
    # -- peer convention (CrossSim), default off; docs/MODEL.md R6 --
    read_clip: str = "model"  # noisy reads: "model" (as the read model says) | "nonnegative" (>= 0) | "range" ([g_min, g_max])

    def __post_init__(self) -> None:
        def set_(name, value):  # normalize a field of the frozen instance
            object.__setattr__(self, name, value)

        coerce_fields(self)

        _check_choice("prog_model", self.prog_model, PROG_MODELS)
        _check_choice("clip", self.clip, CLIP_POLICIES)
        _check_choice("drift_model", self.drift_model, DRIFT_MODELS)
        _check_choice("read_model", self.read_model, READ_MODELS)
        _check_choice("read_sampling", self.read_sampling, READ_SAMPLINGS)
        _check_choice("out_noise_reference", self.out_noise_reference, OUT_NOISE_REFERENCES)
        _check_choice("read_clip", self.read_clip, ("model", "nonnegative", "range"))
        for name in ("prog_sigma_rel", "pcm_prog_noise_scale", "drift_nu", "pcm_drift_scale",
                     "t_inference_s", "read_sigma_rel", "pcm_read_noise_scale",
                     "out_noise_rel", "ir_drop_scale"):
            set_(name, check_scalar(f"device.{name}", getattr(self, name), low=0.0))
        for name in ("stuck_gmin_frac", "stuck_gmax_frac"):
            set_(name, check_scalar(f"device.{name}", getattr(self, name), low=0.0, high=1.0))
        total = self.stuck_gmin_frac + self.stuck_gmax_frac
        if total > 1.0:
            raise ValueError(received("device.stuck_gmin_frac + device.stuck_gmax_frac",
                                      f"{self.stuck_gmin_frac!r} + {self.stuck_gmax_frac!r} = {total!r}",
                                      "a sum <= 1"))
        for name in ("t0_s", "t_read_s", "ir_drop_g_ratio"):
            set_(name, check_scalar(f"device.{name}", getattr(self, name), low=0.0, low_open=True))
        set_("i_col_max_A", check_scalar("device.i_col_max_A", self.i_col_max_A, low=0.0,
                                         low_open=True, allow_none=True))
        # times, currents and ratios multiply conductances: keep them away from under/overflow
        for name in ("t0_s", "t_read_s", "t_inference_s", "i_col_max_A", "ir_drop_g_ratio"):
            check_magnitude(f"device.{name}", getattr(self, name) or 0.0, "drift, read noise and output currents")
        check_magnitude("(device.t_inference_s + device.t0_s) / device.t_read_s",
                        (self.t_inference_s + self.t0_s) / self.t_read_s, "the 1/f read-noise integral", zero=False)
        check_magnitude("(device.t_inference_s + device.t0_s) / device.t0_s",
                        (self.t_inference_s + self.t0_s) / self.t0_s, "the drift factor", zero=False)
        if not isinstance(self.pcm_read_noise_held, bool):
            raise TypeError(received("device.pcm_read_noise_held", show(self.pcm_read_noise_held), "a bool"))
        if not isinstance(self.drift_compensation, bool):
            raise TypeError(received("device.drift_compensation", show(self.drift_compensation), "a bool"))
        # table / callable: present exactly when their model asks for them
        if self.prog_sigma_table is not None:
            set_("prog_sigma_table", _normalize_table(self.prog_sigma_table))
        if self.prog_model == "table" and self.prog_sigma_table is None:
            raise ValueError(received("device.prog_sigma_table", "None with prog_model='table'",
                                      "((g_S, sigma_S), ...)"))
        if self.prog_sigma_fn is not None and not callable(self.prog_sigma_fn):
            raise TypeError(received("device.prog_sigma_fn", show(self.prog_sigma_fn), "a callable or None"))
        if self.prog_model == "callable" and self.prog_sigma_fn is None:
            raise ValueError(received("device.prog_sigma_fn", "None with prog_model='callable'",
                                      "a callable fn(g_target_S) -> sigma_S"))
        if self.read_sampling == "output_referred" and self.read_clip != "model":
            raise ValueError(received("device.read_sampling", f"'output_referred' with read_clip={self.read_clip!r} "
                                      "(not exact in distribution: clipped)", "'auto' or 'per_cell'"))
        if self.read_sampling == "output_referred" and self.read_model == "pcm_rasch2023":
            raise ValueError(received("device.read_sampling", "'output_referred' with read_model='pcm_rasch2023' "
                                      "(not exact in distribution: clipped at 0)", "'auto' or 'per_cell'"))

    # ------------------------------------------------------------------ predicates
    def has_programming_noise(self) -> bool:
        """True if programming adds a Gaussian error of possibly non-zero sigma."""
        m = self.prog_model
        if m in ("independent", "proportional"):
            return self.prog_sigma_rel > 0
        if m == "pcm_rasch2023":
            return self.pcm_prog_noise_scale > 0
        if m == "table":
            return any(s > 0 for _, s in self.prog_sigma_table)
        return m == "callable"  # unknown sigma: assume noisy

    def has_stuck_faults(self) -> bool:
        """True if any cell can be stuck."""
        return self.stuck_gmin_frac > 0 or self.stuck_gmax_frac > 0

    def has_drift(self) -> bool:
        """True if conductances change between programming and inference."""
        if self.drift_model == "none" or self.t_inference_s == 0:
            return False
        if self.drift_model == "fixed_nu":
            return self.drift_nu > 0
        return self.pcm_drift_scale > 0

    def has_read_noise(self) -> bool:
        """True if every multiply draws read noise of possibly non-zero sigma."""
        if self.read_model == "none":
            return False
        if self.read_model == "pcm_rasch2023":
            return self.pcm_read_noise_scale > 0
        return self.read_sigma_rel > 0

    def has_held_read_noise(self) -> bool:
        """True if the 1/f read noise is drawn once at the evaluation time and held (``pcm_read_noise_held``)."""
        return self.pcm_read_noise_held and self.pcm_read_noise_scale > 0

    def has_output_effects(self) -> bool:
        """True if output noise, a column current limit or the IR-drop heuristic is on."""
        return self.out_noise_rel > 0 or self.i_col_max_A is not None or self.ir_drop_scale > 0

    def is_noise_free(self) -> bool:
        """True if the section changes nothing: device and output are ideal."""
        return not (self.has_programming_noise() or self.has_stuck_faults() or self.has_drift()
                    or self.has_read_noise() or self.has_held_read_noise() or self.has_output_effects())

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        """Plain-JSON dict of every field except ``prog_sigma_fn``.

        Raises
        ------
        TypeError
            If ``prog_sigma_fn`` is set: a Python callable cannot be serialized;
            express sigma(g) as ``prog_sigma_table`` instead.
        """
        if self.prog_sigma_fn is not None:
            raise TypeError(received("device.prog_sigma_fn", f"{self.prog_sigma_fn!r}, which cannot be serialized to "
                                     "JSON", "None: use prog_model='table' with prog_sigma_table=((g_S, sigma_S), ...)"))
        out = {}
        for f in dataclasses.fields(self):
            if f.name in _NOT_SERIALIZABLE:
                continue
            v = getattr(self, f.name)
            if f.name == "prog_sigma_table" and v is not None:
                v = [[g, s] for g, s in v]
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "NoiseConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        if not isinstance(d, dict):
            raise TypeError(received("device", type(d).__name__, "a dict"))
        known = {f.name for f in dataclasses.fields(cls)} - set(_NOT_SERIALIZABLE)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(received("device", f"unknown keys {unknown}", f"a subset of {sorted(known)}"))
        return cls(**d)


def pcm_rasch2023_noise(t_inference_s: float = 0.0, *, drift_compensation: bool = True,
                        out_noise_rel: float = 0.04) -> NoiseConfig:
    """Preset: the PCM device model of [R23] as implemented by aihwkit.

    Programming noise, per-device drift and 1/f read noise of aihwkit's
    ``PCMLikeNoiseModel`` (g_max-relative, so any ``g_max_S`` may be used; [R23]
    uses 25 uS), global drift compensation, and the "standard" output noise
    0.04 in aihwkit's normalized output unit (g_max_S * v_max_V).
    """
    return NoiseConfig(prog_model="pcm_rasch2023", drift_model="pcm_rasch2023",
                       read_model="pcm_rasch2023", t_inference_s=t_inference_s, t0_s=20.0,
                       t_read_s=250e-9, drift_compensation=drift_compensation,
                       out_noise_rel=out_noise_rel, out_noise_reference="unit_current")
