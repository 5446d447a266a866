"""All hypothesis strategies of the project: shapes, matrices, configurations, layers, files.

Conventions
-----------
* Matrices are ``W (n_in, n_out)`` and inputs ``x (B, n_in)`` (``y = x @ W``).
* :data:`DYADIC` physical parameters are exactly representable in binary (powers of two).
  The integer-oracle tests need them: with decimal values such as ``1e-7`` S a decision
  level of the ADC that is a tie in decimal arithmetic is not a tie in binary, and float64
  cannot resolve it (see ``refsim/adc.py``).
* Config strategies return complete :class:`refsim.CrossbarConfig` objects built with
  ``CrossbarConfig.replace`` and dotted names; invalid combinations are never drawn.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refsim
from refsim.config import slice_widths, weight_magnitude_bits

#: Exactly representable physical parameters (S, S, V) for bit-exact oracle comparisons.
DYADIC = {"mapping.g_min_S": 2.0**-23, "mapping.g_max_S": 2.0**-16, "dac.v_read_V": 0.25}

SCHEMES = ("differential_one_sided", "differential_two_sided", "offset")
SYMMETRIC_SCHEMES = ("differential_one_sided", "differential_two_sided")


# -- numbers and arrays -----------------------------------------------------------
def finite_floats(bound: float = 8.0) -> st.SearchStrategy[float]:
    """Finite float64 in ``[-bound, bound]``, no subnormals."""
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


def matrix_elements(bound: float = 8.0, nonneg: bool = False) -> st.SearchStrategy[float]:
    """Arbitrary floats mixed with quarter-integers (which land on rounding ties) and zeros."""
    lo = 0.0 if nonneg else -bound
    quarters = st.integers(int(4 * lo), int(4 * bound)).map(lambda v: v / 4.0)
    return st.one_of(quarters, st.floats(lo, bound, allow_nan=False, allow_subnormal=False, width=64))


def arrays(shape: tuple[int, ...], bound: float = 8.0, nonneg: bool = False) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` with :func:`matrix_elements`."""
    return hnp.arrays(np.float64, shape, elements=matrix_elements(bound, nonneg))


@st.composite
def shapes(draw, max_in: int = 6, max_out: int = 4, max_batch: int = 2) -> tuple[int, int, int]:
    """``(n_in, n_out, B)``."""
    return (
        draw(st.integers(1, max_in)),
        draw(st.integers(1, max_out)),
        draw(st.integers(1, max_batch)),
    )


@st.composite
def problems(draw, max_in: int = 6, max_out: int = 4, max_batch: int = 2, nonneg_x: bool = False):
    """``(W, x)`` with ``W (n_in, n_out)`` and ``x (B, n_in)``."""
    n_in, n_out, batch = draw(shapes(max_in, max_out, max_batch))
    w = draw(arrays((n_in, n_out)))
    x = draw(arrays((batch, n_in), nonneg=nonneg_x))
    return w, x


# -- configuration pieces -----------------------------------------------------------
@st.composite
def tiling_changes(draw, max_rows: int = 6, max_cols: int = 4) -> dict:
    """``array.*`` changes: no tiling, row splits, column splits or both, either split mode."""
    return {
        "array.rows_max": draw(st.one_of(st.none(), st.integers(1, max_rows))),
        "array.cols_max": draw(st.one_of(st.none(), st.integers(1, max_cols))),
        "array.split": draw(st.sampled_from(("even", "fill"))),
    }


@st.composite
def mapping_changes(draw, schemes: tuple[str, ...] = SCHEMES, dyadic: bool = False) -> dict:
    """``mapping.*`` changes: every scheme, subtraction place and offset removal; cell_bits=None."""
    changes = {
        "mapping.scheme": draw(st.sampled_from(schemes)),
        "mapping.subtraction": draw(st.sampled_from(("in_array", "digital"))),
        "mapping.offset_removal": draw(st.sampled_from(("digital", "reference_column"))),
        "mapping.cell_bits": None,
    }
    if dyadic:
        changes.update(DYADIC)
        changes["mapping.g_min_S"] = draw(st.sampled_from((0.0, 2.0**-23, 2.0**-20)))
    else:
        changes["mapping.g_min_S"] = draw(st.sampled_from((0.0, 1e-7, 1e-6, 3.3e-6)))
        changes["mapping.g_max_S"] = draw(st.sampled_from((1e-5, 2.5e-5)))
        changes["dac.v_read_V"] = draw(st.sampled_from((0.2, 0.25, 0.1)))
    return changes


@st.composite
def ideal_configs(draw, schemes: tuple[str, ...] = SCHEMES, max_rows: int = 6, max_cols: int = 4):
    """The ideal preset under every mapping variant and tiling (still ideal: equals ``x @ W``)."""
    changes = draw(mapping_changes(schemes))
    changes.update(draw(tiling_changes(max_rows, max_cols)))
    changes["weight.scaling"] = draw(st.sampled_from(("max", "column")))
    return refsim.presets.get("ideal").replace(**changes)


@st.composite
def weight_changes(draw, scheme: str, max_bits: int = 6) -> dict:
    """``weight.*`` changes: bits, slices (with or without bits_per_slice), range choice."""
    bits = draw(st.integers(2, max_bits))
    mag = weight_magnitude_bits(bits, scheme)
    n_slices = draw(st.integers(1, min(mag, 3)))
    options = [None] + [p for p in range(1, 4) if n_slices > 1]
    valid = []
    for per in options:
        try:
            slice_widths(mag, n_slices, per)
            valid.append(per)
        except ValueError:
            pass
    per = draw(st.sampled_from(valid))
    scaling = draw(st.sampled_from(("max", "column", "percentile", "fixed")))
    out = {"weight.bits": bits, "weight.n_slices": n_slices, "weight.bits_per_slice": per, "weight.scaling": scaling}
    if scaling == "fixed":
        out["weight.w_max"] = draw(st.sampled_from((0.5, 1.0, 4.0)))
    if scaling == "percentile":
        out["weight.percentile"] = draw(st.sampled_from((50.0, 90.0, 100.0)))
    return out


@st.composite
def dac_changes(draw, max_bits: int = 6, allow_unsigned: bool = True) -> dict:
    """``dac.*`` changes: bits, signed/unsigned, range, bit-serial slices, signed-input handling, accumulation."""
    signed = draw(st.booleans()) if allow_unsigned else True
    bits = draw(st.integers(2 if signed else 1, max_bits if signed else max_bits - 1))
    range_mode = draw(st.sampled_from(("abs_max", "fixed")))
    out = {
        "dac.bits": bits,
        "dac.signed": signed,
        "dac.range_mode": range_mode,
        "dac.slice_bits": draw(st.one_of(st.none(), st.integers(1, 3))),
        "dac.signed_inputs": draw(st.sampled_from(("bipolar", "two_pass"))),
        "dac.accumulation": draw(st.sampled_from(("digital", "analog"))),
    }
    if range_mode == "fixed":
        out["dac.x_max"] = draw(st.sampled_from((0.5, 1.0, 4.0)))
    return out


@st.composite
def adc_changes(draw, n_slices: int, max_bits: int = 10) -> dict:
    """``adc.*`` changes: ideal or quantized, signed/unsigned, "max" or fixed ranges (dyadic amperes,
    one float or a tuple with one range per weight slice)."""
    if draw(st.integers(0, 4)) == 0:
        return {"adc.bits": None, "adc.range_mode": "max", "adc.range_A": None}
    signed = draw(st.booleans())
    out = {"adc.bits": draw(st.integers(2 if signed else 1, max_bits)), "adc.signed": signed}
    if draw(st.booleans()):
        out.update({"adc.range_mode": "max", "adc.range_A": None})
    else:
        ranges = st.sampled_from(tuple(2.0**-k for k in range(15, 21)))
        if n_slices > 1 and draw(st.booleans()):
            rng_a = tuple(draw(ranges) for _ in range(n_slices))
        else:
            rng_a = draw(ranges)
        out.update({"adc.range_mode": "fixed", "adc.range_A": rng_a})
    return out


@st.composite
def quantized_configs(draw, schemes: tuple[str, ...] = SCHEMES, allow_unsigned_dac: bool = True,
                      max_rows: int = 6, max_cols: int = 4):
    """Every noise-free quantized configuration the integer oracle covers, with :data:`DYADIC` parameters."""
    changes = draw(mapping_changes(schemes, dyadic=True))
    changes.update(draw(weight_changes(changes["mapping.scheme"])))
    changes.update(draw(dac_changes(allow_unsigned=allow_unsigned_dac)))
    changes.update(draw(adc_changes(changes["weight.n_slices"])))
    changes.update(draw(tiling_changes(max_rows, max_cols)))
    return refsim.presets.get("ideal").replace(**changes)


@st.composite
def twos_complement_problems(draw):
    """``(cfg, W, x)`` as :func:`quantized_problems`, with two's-complement DAC and/or ADC codes
    wherever the drawn config allows them (signed converters; DAC without bit slicing)."""
    cfg = draw(quantized_configs())
    changes = {}
    if cfg.dac.signed and cfg.dac.slice_bits is None and draw(st.booleans()):
        changes["dac.levels"] = "twos_complement"
    if cfg.adc.bits is not None and cfg.adc.signed and (not changes or draw(st.booleans())):
        changes["adc.levels"] = "twos_complement"
    if not changes:
        changes = {"dac.signed": True, "dac.bits": max(cfg.dac.bits, 2), "dac.slice_bits": None,
                   "dac.levels": "twos_complement"}
    cfg = cfg.replace(**changes)
    w, x = draw(problems(nonneg_x=not cfg.dac.signed))
    return cfg, w, x


@st.composite
def quantized_problems(draw, schemes: tuple[str, ...] = SCHEMES):
    """``(cfg, W, x)`` small enough for the exact oracle; non-negative ``x`` for an unsigned DAC."""
    cfg = draw(quantized_configs(schemes))
    w, x = draw(problems(nonneg_x=not cfg.dac.signed))
    return cfg, w, x


@st.composite
def seeded_problems(draw, max_in: int = 64, max_out: int = 16, max_batch: int = 8):
    """``(W, x)`` of larger shapes, drawn from a seeded ``numpy.random.Generator`` (fast to generate):
    normal entries times a drawn scale, with some entries set to exactly 0."""
    n_in, n_out, batch = draw(shapes(max_in, max_out, max_batch))
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale_w, scale_x = (draw(st.sampled_from((1e-3, 1.0, 1e3))) for _ in range(2))
    w = gen.normal(size=(n_in, n_out)) * scale_w
    x = gen.normal(size=(batch, n_in)) * scale_x
    w[gen.random(w.shape) < 0.1] = 0.0
    x[gen.random(x.shape) < 0.1] = 0.0
    return w, x


@st.composite
def device_changes(draw) -> dict:
    """``device.*`` changes: every programming, fault, drift, read-noise and output-effect option,
    each on or off (sigmas large enough to move ADC codes, small enough to keep them in range)."""
    out = {"device.prog_model": draw(st.sampled_from(("none", "independent", "proportional", "pcm_rasch2023",
                                                      "table")))}
    if out["device.prog_model"] in ("independent", "proportional"):
        out["device.prog_sigma_rel"] = draw(st.sampled_from((0.01, 0.1)))
    if out["device.prog_model"] == "table":
        out["device.prog_sigma_table"] = ((0.0, 1e-8), (2.0**-16, 2e-7))
    if draw(st.booleans()):
        out.update({"device.stuck_gmin_frac": draw(st.sampled_from((0.0, 0.1))),
                    "device.stuck_gmax_frac": draw(st.sampled_from((0.05, 0.2)))})
    out["device.drift_model"] = draw(st.sampled_from(("none", "fixed_nu", "pcm_rasch2023")))
    if out["device.drift_model"] != "none":
        out["device.t_inference_s"] = draw(st.sampled_from((0.0, 3600.0)))
        out["device.drift_compensation"] = draw(st.booleans())
        if out["device.drift_model"] == "fixed_nu":
            out["device.drift_nu"] = 0.05
    out["device.read_model"] = draw(st.sampled_from(("none", "independent", "proportional", "sqrt_state",
                                                     "pcm_rasch2023")))
    if out["device.read_model"] in ("independent", "proportional", "sqrt_state"):
        out["device.read_sigma_rel"] = draw(st.sampled_from((0.01, 0.05)))
        out["device.read_sampling"] = draw(st.sampled_from(("auto", "per_cell")))
    if draw(st.booleans()):
        out["device.out_noise_rel"] = draw(st.sampled_from((0.01, 0.04)))
        out["device.out_noise_reference"] = draw(st.sampled_from(("adc_bound", "unit_current")))
    if draw(st.booleans()):
        out["device.i_col_max_A"] = draw(st.sampled_from((2.0**-20, 2.0**-16)))
    if draw(st.booleans()):
        out["device.ir_drop_scale"] = draw(st.sampled_from((0.5, 1.0)))
        out["device.ir_drop_g_ratio"] = draw(st.sampled_from((2.0, 100.0)))
    return out


@st.composite
def noisy_configs(draw, wires: bool = True):
    """:func:`quantized_configs` (or the ideal DAC and ADC) with :func:`device_changes`, stochastic ADC
    rounding, iterative bound management and wire resistance, each drawn on or off. Needs ``rng``."""
    cfg = draw(quantized_configs()) if draw(st.integers(0, 4)) else draw(ideal_configs())
    changes = draw(device_changes())
    if cfg.adc.bits is not None:
        changes["adc.rounding"] = draw(st.sampled_from(("half_even", "stochastic")))
        changes["dac.bound_management"] = draw(st.sampled_from(("none", "iterative")))
        changes["dac.bm_max_factor"] = draw(st.sampled_from((4, 1000)))
    if wires and draw(st.integers(0, 3)) == 0:
        r = st.sampled_from((0.0, 1e3, 2e4))
        changes.update({"wire.r_row_ohm": draw(r), "wire.r_col_ohm": draw(r), "wire.r_driver_ohm": draw(r),
                        "wire.r_sense_ohm": draw(r)})
        if changes["device.read_model"] == "none":  # see tests/test_reference.py for per-cell noise
            changes["wire.pair_layout"] = draw(st.sampled_from(("separate", "interleaved")))
    return cfg.replace(**changes)


@st.composite
def noisy_problems(draw, wires: bool = True):
    """``(cfg, W, x)`` with :func:`noisy_configs`; non-negative ``x`` for an unsigned DAC."""
    cfg = draw(noisy_configs(wires))
    w, x = draw(problems(nonneg_x=not cfg.dac.signed))
    return cfg, w, x


# -- refsim.nn layers ---------------------------------------------------------------
@st.composite
def conv_cases(draw):
    """Random Conv2d geometry: (x shape, weight shape, stride, padding, dilation, groups)."""
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 7))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 7))
    n = draw(st.integers(1, 2))
    return (n, c_in, h, w), (c_out, c_in // groups, kh, kw), (sh, sw), (ph, pw), (dh, dw), groups


# -- wire parasitics ----------------------------------------------------------------
def wire_resistances(values: list[float]) -> st.SearchStrategy[tuple[float, float, float, float]]:
    """``(r_row, r_col, r_driver, r_sense)`` in ohm, each drawn from ``values`` (0 merges nodes)."""
    return st.tuples(*[st.sampled_from(values)] * 4)


# -- checkpoint files ---------------------------------------------------------------
#: Tensor dtypes that safetensors and npz both store.
CHECKPOINT_DTYPES = ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]


def tensor_dicts() -> st.SearchStrategy[dict]:
    """Up to 4 named tensors of :data:`CHECKPOINT_DTYPES`, 0-3 dimensions of 0-4 elements each."""
    return st.dictionaries(
        st.text("abcdefgh.", min_size=1, max_size=6),
        st.sampled_from(CHECKPOINT_DTYPES).flatmap(
            lambda d: hnp.arrays(d, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
        ),
        max_size=4,
    )


@st.composite
def mutated(draw, data: bytes):
    """``data`` after 1-4 random byte edits: bit flip, truncation, insertion, deletion or overwrite."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite"]))
        pos = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del out[pos:]
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del out[pos:pos + draw(st.integers(1, 16))]
        else:
            chunk = draw(st.binary(min_size=1, max_size=8))
            out[pos:pos + len(chunk)] = chunk
    return bytes(out)


@st.composite
def crosssim_convention_problems(draw):
    """``(cfg, W, x)`` as :func:`quantized_problems` with CrossSim's conventions switched on where the
    drawn config allows them (docs/MODEL.md D5, D6, A4, A5, W7, M3 and the ``crosssim_*`` splits),
    each on or off."""
    cfg = draw(quantized_configs())
    changes = {"weight.slice_scale": draw(st.sampled_from(("own", "uniform"))),
               "adc.max_span": draw(st.sampled_from(("read", "g_max"))),
               "mapping.g_round": draw(st.sampled_from(("none", "float32", "float32_pair"))),
               "array.split": draw(st.sampled_from(("crosssim_max", "crosssim_equal", cfg.array.split)))}
    widths = slice_widths(weight_magnitude_bits(cfg.weight.bits, cfg.mapping.scheme), cfg.weight.n_slices,
                          cfg.weight.bits_per_slice)
    if widths[-1] > widths[0]:
        changes["weight.slice_scale"] = "own"
    if cfg.dac.signed and cfg.dac.slice_bits is None and draw(st.booleans()):
        changes["dac.levels"] = "midrise"
    if cfg.dac.slice_bits is not None:
        changes["dac.slice_scale"] = draw(st.sampled_from(("own", "uniform")))
    if cfg.adc.bits is not None and cfg.adc.signed and draw(st.booleans()):
        changes["adc.levels"] = "midrise"
    cfg = cfg.replace(**changes)
    w, x = draw(problems(nonneg_x=not cfg.dac.signed))
    return cfg, w, x


@st.composite
def mixed_peer_convention_problems(draw, noisy: bool = False):
    """``(cfg, W, x)``: :func:`quantized_configs` (or :func:`noisy_configs`) with the conventions of
    both peers mixed wherever refsim allows the combination: CrossSim's (D5, D6, A4, A5, W7, M3, M4,
    R6, the ``crosssim_*`` splits) and aihwkit's (D7, D8, A9, X9, ``full_scale_code``, bound
    management), each on or off. Combinations refsim refuses (tests/test_peer_conventions_mixed.py)
    are never drawn."""
    cfg = draw(noisy_configs(wires=False)) if noisy else draw(quantized_configs())
    ch: dict = {"weight.slice_scale": draw(st.sampled_from(("own", "uniform"))),
                "adc.max_span": draw(st.sampled_from(("read", "g_max"))),
                "mapping.g_round": draw(st.sampled_from(("none", "float32", "float32_pair"))),
                "array.split": draw(st.sampled_from(("crosssim_max", "crosssim_equal", cfg.array.split)))}
    if cfg.weight.bits is not None:
        widths = slice_widths(weight_magnitude_bits(cfg.weight.bits, cfg.mapping.scheme), cfg.weight.n_slices,
                              cfg.weight.bits_per_slice)
        if widths[-1] > widths[0]:
            ch["weight.slice_scale"] = "own"
    dac, adc = cfg.dac, cfg.adc
    # DAC: aihwkit's input ranges (D8) with any DAC; then one level grid / arithmetic per DAC
    ch["dac.range_mode"] = draw(st.sampled_from(("abs_max", "fixed", "max", "average_abs_max", "abs_max_np_sum")))
    if ch["dac.range_mode"] in ("abs_max", "max", "abs_max_np_sum") and draw(st.booleans()):
        ch["dac.x_max_cap"] = draw(st.sampled_from((0.5, 2.0)))
    if ch["dac.range_mode"] == "abs_max_np_sum":
        ch.update({"dac.nm_out_bound": draw(st.sampled_from((0.5, 1.0))),
                   "dac.nm_max_bm_res": draw(st.sampled_from((0.0, 0.25)))})
    if dac.bits is not None and dac.signed:
        grid = draw(st.sampled_from(("sign_magnitude", "aihwkit_float32", "full_scale_code", "midrise")))
        if grid == "midrise" and dac.slice_bits is None:
            ch["dac.levels"] = "midrise"
        elif grid == "aihwkit_float32":
            ch["dac.arithmetic"] = "aihwkit_float32"
        elif grid == "full_scale_code" and dac.slice_bits is None and dac.bits >= 3:
            ch["dac.full_scale_code"] = draw(st.integers(1, 2 ** (dac.bits - 1) - 2))
            ch["dac.arithmetic"] = draw(st.sampled_from(("exact", "aihwkit_float32")))
    if dac.slice_bits is not None:
        ch["dac.slice_scale"] = draw(st.sampled_from(("own", "uniform")))
    # ADC: midrise or aihwkit's step count; aihwkit's clip test; an ideal ADC that clips (A9)
    if adc.bits is not None and adc.signed:
        grid = draw(st.sampled_from(("sign_magnitude", "midrise", "full_scale_code")))
        if grid == "midrise":
            ch["adc.levels"] = "midrise"
        elif grid == "full_scale_code" and adc.bits >= 3:
            ch["adc.full_scale_code"] = draw(st.integers(1, 2 ** (adc.bits - 1) - 2))
    ch["dac.bm_max_factor"] = draw(st.sampled_from((2, 8, 1000)))
    if adc.bits is not None:
        ch["dac.bound_management"] = draw(st.sampled_from(("none", "iterative")))
        ch["adc.bm_top_code"] = ch.get("adc.levels") != "midrise" and draw(st.booleans())
    elif draw(st.booleans()):
        ranges = st.sampled_from((2.0**-17, 2.0**-15))
        n = cfg.weight.n_slices
        ch.update({"adc.clip_ideal": True, "adc.range_mode": "fixed",
                   "adc.range_A": tuple(draw(ranges) for _ in range(n)) if n > 1 and draw(st.booleans()) else draw(ranges),
                   "dac.bound_management": draw(st.sampled_from(("none", "iterative")))})
    if noisy and cfg.device.read_model in ("independent", "proportional", "sqrt_state") \
            and cfg.device.read_sampling != "output_referred":
        ch["device.read_clip"] = draw(st.sampled_from(("model", "nonnegative", "range")))
        if ch["device.read_clip"] != "model":
            ch["device.read_sampling"] = "per_cell"
    cfg = cfg.replace(**ch)
    w, x = draw(problems(nonneg_x=not cfg.dac.signed))
    return cfg, w, x
