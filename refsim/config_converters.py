"""Configuration of the converters: the DAC (docs/MODEL.md steps 7-8) and the ADC (step 11).

Part of :mod:`refsim.config` (re-exported there); same conventions: frozen dataclasses,
SI units in the field names, validation in ``__post_init__``.
"""

from __future__ import annotations

from dataclasses import dataclass

from refsim._validate import (check_choice, check_int, check_magnitude, check_number, check_optional_int,
                              coerce_fields, received, show)

__all__ = ["DACConfig", "ADCConfig"]


@dataclass(frozen=True)
class DACConfig:
    """docs/MODEL.md steps 7-8: input range, DAC and bit-serial inputs."""

    bits: int | None = None  # DAC bits; None = ideal (continuous) drive
    signed: bool = True  # sign-magnitude codes -(2^(b-1)-1)..2^(b-1)-1; False: unsigned 0..2^b-1
    range_mode: str = "abs_max"  # "abs_max" (per vector) | "fixed" (x_max) | aihwkit's (D8): "average_abs_max" | "max" | "abs_max_np_sum"
    x_max: float = 1.0  # input value driven at full scale when range_mode="fixed"
    v_read_V: float = 0.2  # full-scale read voltage, V: code c drives c / c_max * v_read_V
    slice_bits: int | None = None  # bit-serial inputs: bits per input slice; None = all bits at once
    signed_inputs: str = "bipolar"  # "bipolar" (+/-V drive) | "two_pass" (positive part, then negative part)
    accumulation: str = "digital"  # input slices: "digital" (ADC per slice) | "analog" (shift-and-add, one ADC)
    bound_management: str = "none"  # "none" | "iterative" (aihwkit: re-read clipped vectors with the range doubled)
    bm_max_factor: int = 1000  # iterative bound management stops before the range factor exceeds this
    levels: str = "sign_magnitude"  # signed codes: "sign_magnitude" (2^b - 1 levels) | "twos_complement" (2^b levels)
    # -- aihwkit conventions (docs/MODEL.md D7; off by default; refsim.peers.from_aihwkit switches them on) --
    full_scale_code: int | None = None  # sign-magnitude c_max override: codes -c..c (aihwkit inp_res = 1/(2c)); None: 2^(b-1)-1
    arithmetic: str = "exact"  # "exact" (D2) | "aihwkit_float32" (D7: the codes of aihwkit's float32 operation order)
    nm_decay: float = 1e-3  # range_mode="average_abs_max" (D8): weight of each vector's max|x| in the running average
    x_max_cap: float | None = None  # range_mode "abs_max"/"max"/"abs_max_np_sum" (D8): x_max <- min(x_max, cap) (nm_thres)
    nm_assumed_wmax: float = 0.6  # range_mode="abs_max_np_sum" (D8): assumed largest |w| (aihwkit nm_assumed_wmax)
    nm_out_bound: float = 1.0  # range_mode="abs_max_np_sum" (D8): aihwkit's out_bound (normalized output units)
    nm_max_bm_res: float = 0.0  # range_mode="abs_max_np_sum" (D8): aihwkit's max_bm_res limit; 0: none
    # -- peer conventions (CrossSim), default off; docs/MODEL.md D5, D6 --
    # levels="midrise": 2^b levels evenly over [-x_max, x_max], both ends levels, zero not a level (D5)
    slice_scale: str = "own"  # input slices' full scale: "own" (2^b_j - 1, D4) | "uniform" (2^slice_bits - 1, D6)

    def __post_init__(self) -> None:
        coerce_fields(self)
        _check_aihwkit_fields("dac", self)
        check_optional_int("dac.bits", self.bits, low=1, high=32)
        check_choice("dac.levels", self.levels, ("sign_magnitude", "twos_complement", "midrise"))
        check_choice("dac.slice_scale", self.slice_scale, ("own", "uniform"))
        if self.levels != "sign_magnitude" and not self.signed:
            raise ValueError(f"dac.levels={self.levels!r} describes signed codes; set dac.signed=True or "
                             "levels='sign_magnitude'")
        if self.levels != "sign_magnitude" and self.slice_bits is not None:
            raise NotImplementedError(f"dac.levels={self.levels!r} with bit-serial inputs (dac.slice_bits): "
                                      "refsim slices sign-magnitude codes only")
        if not isinstance(self.signed, bool):
            raise TypeError(received("dac.signed", show(self.signed), "a bool"))
        if self.signed and self.bits == 1 and self.levels != "midrise":  # midrise: levels -1, +1
            raise ValueError("dac.bits=1 with signed=True leaves no magnitude bit; use bits >= 2 or signed=False")
        check_choice("dac.range_mode", self.range_mode, ("abs_max", "fixed", "average_abs_max", "max", "abs_max_np_sum"))
        check_number("dac.x_max", self.x_max, low=0.0, low_open=True)
        check_magnitude("dac.x_max", self.x_max, "the input scale")
        check_number("dac.v_read_V", self.v_read_V, low=0.0, low_open=True)
        check_magnitude("dac.v_read_V", self.v_read_V, "read voltages")
        check_optional_int("dac.slice_bits", self.slice_bits, low=1, high=32)
        if self.slice_bits is not None and self.bits is None:
            raise ValueError("dac.slice_bits: bit-serial inputs need a quantized DAC; set dac.bits")
        check_choice("dac.signed_inputs", self.signed_inputs, ("bipolar", "two_pass"))
        check_choice("dac.accumulation", self.accumulation, ("digital", "analog"))
        check_choice("dac.bound_management", self.bound_management, ("none", "iterative"))
        check_int("dac.bm_max_factor", self.bm_max_factor, low=1, high=2**30)

    @property
    def magnitude_bits(self) -> int | None:
        """Bits of the code magnitude: b-1 (signed) or b (unsigned); None for an ideal DAC."""
        if self.bits is None:
            return None
        return self.bits - 1 if self.signed else self.bits

    @property
    def code_max(self) -> int | None:
        """Full-scale code ``c_max``: ``x_max`` maps to it (D2) and it drives ``v_read_V`` (D3).

        ``2^(magnitude bits) - 1`` (sign-magnitude, unsigned); ``2^(b-1)`` for two's complement,
        whose positive codes stop one short of it. None for an ideal DAC.
        """
        m = self.magnitude_bits
        if m is None:
            return None
        if self.full_scale_code is not None:
            return self.full_scale_code
        if self.levels == "midrise":  # odd codes -c_max, -c_max + 2, ..., c_max (D5)
            return 2**self.bits - 1
        return 2 ** (self.bits - 1) if self.levels == "twos_complement" else 2**m - 1

    @property
    def code_range(self) -> tuple[int, int] | None:
        """``(c_lo, c_hi)``, the smallest and largest codes: ``(-c_max, c_max)`` (sign-magnitude;
        midrise, odd codes only), ``(0, 2^b - 1)`` (unsigned), ``(-2^(b-1), 2^(b-1) - 1)`` (two's complement)."""
        c = self.code_max
        if c is None:
            return None
        if self.levels == "twos_complement":
            return -c, c - 1
        return (-c if self.signed else 0), c


@dataclass(frozen=True)
class ADCConfig:
    """docs/MODEL.md step 11: the analog-to-digital converter of every column read."""

    bits: int | None = None  # ADC bits; None = ideal (no quantization, no clipping)
    signed: bool = True  # sign-magnitude levels +/-(2^(b-1)-1); False: unsigned 0..2^b-1
    range_mode: str = "max"  # "max" (largest current the array can produce) | "fixed" (range_A)
    range_A: float | tuple[float, ...] | None = None  # full-scale current, A; a tuple gives one per weight slice
    rounding: str = "half_even"  # "half_even" | "stochastic" (floor(I / I_lsb + u), u ~ U[0, 1); needs rng)
    levels: str = "sign_magnitude"  # signed codes: "sign_magnitude" (2^b - 1 levels) | "twos_complement" (2^b levels)
    # -- aihwkit conventions (docs/MODEL.md A9, X9; off by default; refsim.peers.from_aihwkit switches them on) --
    full_scale_code: int | None = None  # sign-magnitude N override: codes -N..N (aihwkit out_res = 1/(2N)); None: 2^(b-1)-1
    bm_top_code: bool = False  # bound management (X9) also re-reads a vector that reached a code +/-N
    clip_ideal: bool = False  # an ideal ADC (bits=None, range_mode="fixed") clips at +/-range_A (A9; aihwkit's out_bound)
    # -- peer conventions (CrossSim), default off; docs/MODEL.md A4, A5 --
    # levels="midrise": 2^b levels evenly over [-I_fs, I_fs], both ends levels, zero not a level (A4)
    max_span: str = "read"  # range_mode="max": span of one cell, "read" (the read's own, A1) | "g_max" (G_max, A5)

    def __post_init__(self) -> None:
        coerce_fields(self)
        _check_aihwkit_fields("adc", self)
        check_optional_int("adc.bits", self.bits, low=1, high=32)
        check_choice("adc.levels", self.levels, ("sign_magnitude", "twos_complement", "midrise"))
        check_choice("adc.max_span", self.max_span, ("read", "g_max"))
        if self.levels != "sign_magnitude" and not self.signed:
            raise ValueError(f"adc.levels={self.levels!r} describes signed codes; set adc.signed=True or "
                             "levels='sign_magnitude'")
        check_choice("adc.rounding", self.rounding, ("half_even", "stochastic"))
        if not isinstance(self.signed, bool):
            raise TypeError(received("adc.signed", show(self.signed), "a bool"))
        if self.signed and self.bits == 1 and self.levels != "midrise":
            raise ValueError("adc.bits=1 with signed=True leaves no magnitude bit; use bits >= 2 or signed=False")
        check_choice("adc.range_mode", self.range_mode, ("max", "fixed"))
        if self.range_mode == "fixed":
            if self.range_A is None:
                raise ValueError(received("adc.range_A", "None with range_mode='fixed'", "a full-scale current in A"))
            values = self.range_A if isinstance(self.range_A, tuple) else (self.range_A,)
            if isinstance(self.range_A, list):
                raise TypeError(received("adc.range_A", "a list", "a float or a tuple of floats"))
            if len(values) == 0:
                raise ValueError("adc.range_A: received an empty tuple; expected one range per weight slice")
            for i, v in enumerate(values):
                check_number(f"adc.range_A[{i}]", v, low=0.0, low_open=True)
                check_magnitude(f"adc.range_A[{i}]", v, "the ADC range")
        elif self.range_A is not None:
            raise ValueError(
                f"adc.range_A: received {self.range_A!r} with range_mode='max'; set range_mode='fixed' or range_A=None"
            )

    @property
    def n_levels(self) -> int | None:
        """Steps from 0 to the full-scale current ``N`` (``I_lsb = I_fs / N``, A1): 2^(b-1)-1
        (signed, sign-magnitude), 2^(b-1) (two's complement), 2^b-1 (unsigned); None for an ideal ADC."""
        if self.bits is None:
            return None
        if self.full_scale_code is not None:
            return self.full_scale_code
        if self.levels == "twos_complement":
            return 2 ** (self.bits - 1)
        if self.levels == "midrise":  # odd codes -N .. N, output k I_lsb (A4)
            return 2**self.bits - 1
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1

    @property
    def code_range(self) -> tuple[int, int] | None:
        """``(k_lo, k_hi)``: ``(-N, N)`` (sign-magnitude), ``(0, N)`` (unsigned),
        ``(-N, N - 1)`` with ``N = 2^(b-1)`` (two's complement)."""
        n = self.n_levels
        if n is None:
            return None
        if self.levels == "twos_complement":
            return -n, n - 1
        return (-n if self.signed else 0), n


def _check_aihwkit_fields(section: str, cfg) -> None:
    """Validate the aihwkit-convention fields of ``cfg`` (a :class:`DACConfig` or :class:`ADCConfig`)."""
    fsc = cfg.full_scale_code
    if fsc is not None:
        check_int(f"{section}.full_scale_code", fsc, low=1, high=2**30)
        if cfg.bits is None or not cfg.signed or cfg.levels != "sign_magnitude":
            raise ValueError(received(f"{section}.full_scale_code", show(fsc),
                                      f"None, or a code with a signed sign-magnitude {section} (bits set, signed=True, "
                                      f"levels='sign_magnitude')"))
        if fsc > 2 ** (cfg.bits - 1) - 1:
            raise ValueError(received(f"{section}.full_scale_code", show(fsc),
                                      f"a code <= 2^(bits-1) - 1 = {2 ** (cfg.bits - 1) - 1} for {section}.bits={cfg.bits}"))
    if section == "dac":
        check_choice("dac.arithmetic", cfg.arithmetic, ("exact", "aihwkit_float32"))
        check_number("dac.nm_decay", cfg.nm_decay, low=0.0, high=1.0, low_open=True)
        if cfg.x_max_cap is not None:
            check_number("dac.x_max_cap", cfg.x_max_cap, low=0.0, low_open=True)
            if cfg.range_mode not in ("abs_max", "max", "abs_max_np_sum"):
                raise ValueError(received("dac.x_max_cap", show(cfg.x_max_cap), f"None with range_mode="
                                          f"{cfg.range_mode!r} (a cap needs 'abs_max', 'max' or 'abs_max_np_sum')"))
        check_number("dac.nm_assumed_wmax", cfg.nm_assumed_wmax, low=0.0)
        check_number("dac.nm_out_bound", cfg.nm_out_bound, low=0.0, low_open=True)
        check_number("dac.nm_max_bm_res", cfg.nm_max_bm_res, low=0.0)
        if fsc is not None and cfg.slice_bits is not None:
            raise NotImplementedError("dac.full_scale_code with bit-serial inputs (dac.slice_bits): refsim slices "
                                      "codes of 2^(b-1) - 1 only")
        if cfg.arithmetic == "aihwkit_float32" and (cfg.bits is None or not cfg.signed or cfg.levels != "sign_magnitude"):
            raise ValueError(received("dac.arithmetic", show(cfg.arithmetic),
                                      "'exact', or a signed sign-magnitude DAC (bits set) for 'aihwkit_float32'"))
        return
    for name in ("bm_top_code", "clip_ideal"):
        if not isinstance(getattr(cfg, name), bool):
            raise TypeError(received(f"adc.{name}", show(getattr(cfg, name)), "a bool"))
    if cfg.bm_top_code and (cfg.bits is None or cfg.levels == "midrise"):
        raise ValueError(received("adc.bm_top_code", "True", f"False with adc.bits={cfg.bits!r}, levels={cfg.levels!r}: "
                                  "it counts a code +/-N as clipped (X9), which needs a quantized ADC whose top code "
                                  "begins half a step below N (a midrise ADC's top code begins a whole step below)"))
    if cfg.clip_ideal and (cfg.bits is not None or cfg.range_mode != "fixed"):
        raise ValueError("adc.clip_ideal=True clips an ideal ADC at +/-range_A: it needs adc.bits=None and "
                         "range_mode='fixed' (range_A one float, or one per weight slice)")
