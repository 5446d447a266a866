"""Configuration of the stored matrix and its arrays: the weights (docs/MODEL.md steps 1-2), the
mapping to conductances (step 3), the array size and tiling (step 13) and the wires (section 4).

Part of :mod:`refsim.config` (re-exported there); same conventions: frozen dataclasses,
SI units in the field names, validation in ``__post_init__``.
"""

from __future__ import annotations

from dataclasses import dataclass

from refsim._validate import (check_choice, check_int, check_magnitude, check_number, check_optional_int,
                              coerce_fields, received, show)

__all__ = ["WeightConfig", "MappingConfig", "ArrayConfig", "WireConfig"]


@dataclass(frozen=True)
class WeightConfig:
    """docs/MODEL.md steps 1-2: weight range, normalization, quantization and bit slicing."""

    scaling: str = "max"  # "max" | "percentile" | "column" | "fixed": how w_max is chosen
    percentile: float = 99.9  # percentile of |W| (scaling="percentile"), in (0, 100]
    w_max: float | None = None  # fixed range in weight units (scaling="fixed")
    bits: int | None = None  # signed weight bits b: integer magnitudes 0..2^(b-1)-1; None = analog
    n_slices: int = 1  # number of weight slices (each its own arrays and ADC); needs bits when > 1
    bits_per_slice: int | None = None  # bits of every slice but the top one; None = ceil(magnitude/n_slices)
    # -- peer convention (CrossSim), default off; docs/MODEL.md W7 --
    slice_scale: str = "own"  # L_k of a slice: "own" (its largest level, W5) | "uniform" (2^b_0 - 1 for every slice)
    # -- peer convention (aihwkit), default off; docs/MODEL.md W1 --
    scaling_scope: str = "matrix"  # W1 over: "matrix" | "tile" (each tile its own range; one-tile cases only)

    def __post_init__(self) -> None:
        coerce_fields(self)
        check_choice("weight.slice_scale", self.slice_scale, ("own", "uniform"))
        check_choice("weight.scaling", self.scaling, ("max", "percentile", "column", "fixed"))
        check_choice("weight.scaling_scope", self.scaling_scope, ("matrix", "tile"))
        check_number("weight.percentile", self.percentile, low=0.0, high=100.0, low_open=True)
        if self.scaling == "fixed":
            if self.w_max is None:
                raise ValueError(received("weight.w_max", "None with scaling='fixed'", "a range w_max > 0"))
            check_number("weight.w_max", self.w_max, low=0.0, low_open=True)
            check_magnitude("weight.w_max", self.w_max, "the weight scale")
        elif self.w_max is not None:
            raise ValueError(
                f"weight.w_max: received {self.w_max!r} with scaling={self.scaling!r}; "
                f"w_max is used only with scaling='fixed' (set it to None)"
            )
        check_optional_int("weight.bits", self.bits, low=2, high=32)
        check_int("weight.n_slices", self.n_slices, low=1, high=32)
        check_optional_int("weight.bits_per_slice", self.bits_per_slice, low=1, high=32)
        if self.bits is None and (self.n_slices != 1 or self.bits_per_slice is not None):
            raise ValueError(
                f"weight.n_slices={self.n_slices}, weight.bits_per_slice={self.bits_per_slice}: "
                f"bit slicing needs quantized weights; set weight.bits"
            )


@dataclass(frozen=True)
class MappingConfig:
    """docs/MODEL.md step 3: mapping of normalized weights to conductances (siemens)."""

    scheme: str = "differential_one_sided"  # | "differential_two_sided" | "offset"
    g_min_S: float = 1e-7  # lowest programmable conductance, S (0 allowed: infinite on/off ratio)
    g_max_S: float = 1e-5  # highest programmable conductance, S
    subtraction: str = "in_array"  # "in_array" (currents subtracted before one ADC) | "digital" (ADC per side)
    offset_removal: str = "digital"  # offset scheme: "digital" (exact) | "reference_column"
    cell_bits: int | None = None  # analog weights only: G rounded to 2^cell_bits levels in [g_min, g_max]
    # -- peer convention (CrossSim), default off; docs/MODEL.md M3 --
    g_round: str = "none"  # "none" | "float32": G / g_max rounded to float32 after (M1) (CrossSim's balanced cores)
    # | "float32_pair": and an in-array pair's G+ - G- (M4, CrossSim's fast balanced path)

    def __post_init__(self) -> None:
        coerce_fields(self)
        check_choice("mapping.g_round", self.g_round, ("none", "float32", "float32_pair"))
        check_choice(
            "mapping.scheme", self.scheme, ("differential_one_sided", "differential_two_sided", "offset")
        )
        check_number("mapping.g_min_S", self.g_min_S, low=0.0)
        check_number("mapping.g_max_S", self.g_max_S, low=0.0, low_open=True)
        if not self.g_min_S < self.g_max_S:
            raise ValueError(received("mapping.g_min_S", show(self.g_min_S),
                                      f"a value < mapping.g_max_S = {self.g_max_S!r}"))
        check_magnitude("mapping.g_max_S", self.g_max_S, "conductances")
        check_magnitude("mapping.g_min_S", self.g_min_S, "conductances")
        check_magnitude("mapping.g_max_S - mapping.g_min_S", self.g_max_S - self.g_min_S, "the conductance span",
                        zero=False)
        check_choice("mapping.subtraction", self.subtraction, ("in_array", "digital"))
        check_choice("mapping.offset_removal", self.offset_removal, ("digital", "reference_column"))
        check_optional_int("mapping.cell_bits", self.cell_bits, low=1, high=32)

    @property
    def differential(self) -> bool:
        """True for the two-device (G+, G-) schemes."""
        return self.scheme != "offset"


@dataclass(frozen=True)
class ArrayConfig:
    """docs/MODEL.md step 13: physical array size and tiling."""

    rows_max: int | None = None  # rows per physical array; None = unbounded (one tile row)
    cols_max: int | None = None  # columns per physical array; None = unbounded
    split: str = "even"  # "even" (near-equal tiles, as aihwkit) | "fill" (full tiles first)
    # peer conventions (CrossSim's partition strategies, docs/MODEL.md step 13 "Tiling"), chosen by split:
    # "crosssim_max" | "crosssim_equal"

    def __post_init__(self) -> None:
        coerce_fields(self)
        check_optional_int("array.rows_max", self.rows_max, low=1, high=2**20)
        check_optional_int("array.cols_max", self.cols_max, low=1, high=2**20)
        check_choice("array.split", self.split, ("even", "fill", "crosssim_max", "crosssim_equal"))


@dataclass(frozen=True)
class WireConfig:
    """docs/MODEL.md section 4: wire (parasitic) resistance of every physical array.

    Each array (each device of a differential pair, each weight slice, a reference
    column) is solved as its own circuit (:mod:`refsim.wires.parasitics`); 0 means no wire.
    """

    r_row_ohm: float = 0.0  # row wire segment between neighbouring cells (and source -> first cell), ohm
    r_col_ohm: float = 0.0  # column wire segment between neighbouring cells (and last cell -> sense), ohm
    r_driver_ohm: float = 0.0  # series resistance of each row driver, ohm
    r_sense_ohm: float = 0.0  # series resistance of each column's sense terminal, ohm
    pair_layout: str = "separate"  # differential pairs: "separate" arrays | "interleaved" columns of one array

    def __post_init__(self) -> None:
        coerce_fields(self)
        for name in ("r_row_ohm", "r_col_ohm", "r_driver_ohm", "r_sense_ohm"):
            check_number(f"wire.{name}", getattr(self, name), low=0.0)
            check_magnitude(f"wire.{name}", getattr(self, name), "wire conductances")
        check_choice("wire.pair_layout", self.pair_layout, ("separate", "interleaved"))

    @property
    def enabled(self) -> bool:
        """True when any resistance is non-zero."""
        return any(v > 0 for v in (self.r_row_ohm, self.r_col_ohm, self.r_driver_ohm, self.r_sense_ohm))
