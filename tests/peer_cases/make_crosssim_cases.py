"""Run the real CrossSim and write the conformance cases of ``refsim.peers.from_crosssim``.

Run with CrossSim's own Python (CrossSim 3.2.0, https://github.com/sandialabs/cross-sim, tag
v3.2.0, installed editable in a separate virtual environment; it needs only numpy and scipy)::

    /path/to/crosssim-venv/bin/python tests/peer_cases/make_crosssim_cases.py

It writes one ``tests/data/peer_cases/crosssim/<case>.npz`` per case with

* ``W`` ``(n_out, n_in)``: the matrix programmed into ``AnalogCore`` (CrossSim's orientation:
  refsim's ``W`` is its transpose);
* ``X`` ``(n_in, B)``: the input vectors as columns (refsim's ``x`` is its transpose);
* ``Y`` ``(n_out, B)``: ``AnalogCore(W, params) @ X``, what CrossSim computed;
* ``params``: the peer's own parameter dump as JSON text, the file ``CrossSimParameters.to_json()``
  wrote, or (``dump == "as_dict"``) ``CrossSimParameters.as_dict()`` with NumPy arrays as nested
  lists and enums as their integer values, where ``to_json`` fails on a field that holds an array
  (the per-slice calibrated ADC ranges of a bit-sliced core);
* ``dump`` (``"to_json"`` | ``"as_dict"``), ``peer`` (``"crosssim"``), ``version`` (CrossSim's),
  ``notes`` (what the case covers).

The tests (tests/test_peer_crosssim.py) read the committed files; they never need CrossSim.
Inputs are drawn inside the input range (CrossSim's ``IdealDAC`` does not clip, refsim does).
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import tempfile
import zlib
from enum import Enum
from pathlib import Path

import numpy as np
from simulator import AnalogCore, CrossSimParameters
from simulator.parameters.core_parameters import (BalancedCoreStyle, BitSlicedCoreStyle, CoreStyle, OffsetCoreStyle,
                                                  PartitionStrategy)
from simulator.parameters.xbar_parameters import ADCRangeLimits

OUT = Path(__file__).resolve().parents[1] / "data" / "peer_cases" / "crosssim"


def _plain(value):
    """``as_dict()`` output made JSON-serializable: enums as their integer values, arrays as lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Enum):
        return int(value.value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def dump(params: CrossSimParameters) -> tuple[str, str]:
    """The parameter dump: ``to_json``'s file, else ``as_dict`` (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.json"
        try:
            params.to_json(str(path))
            return path.read_text(), "to_json"
        except (TypeError, ValueError):
            return json.dumps(_plain(params.as_dict())), "as_dict"


def base(style=CoreStyle.BALANCED) -> CrossSimParameters:
    p = CrossSimParameters()
    p.core.style = style
    return p


def adc(p, model, bits, *, option=ADCRangeLimits.MAX, calibrated=None, signed=True, per_ibit=False):
    p.xbar.adc.mvm.model = model
    p.xbar.adc.mvm.bits = bits
    p.xbar.adc.mvm.signed = signed
    p.xbar.adc.mvm.adc_range_option = option
    p.xbar.adc.mvm.adc_per_ibit = per_ibit
    if calibrated is not None:
        p.xbar.adc.mvm.calibrated_range = calibrated


def dac(p, model, bits, *, signed=True, slice_size=None):
    p.xbar.dac.mvm.model = model
    p.xbar.dac.mvm.bits = bits
    p.xbar.dac.mvm.signed = signed
    if not signed:
        p.core.mapping.inputs.mvm.min = 0.0
    if slice_size is not None:
        p.xbar.dac.mvm.input_bitslicing = True
        p.xbar.dac.mvm.slice_size = slice_size


def bitsliced(p, bits, slices, style=BitSlicedCoreStyle.BALANCED):
    p.core.weight_bits = bits
    p.core.bit_sliced.num_slices = slices
    p.core.bit_sliced.style = style


def partition(p, rows_max, cols_max, strategy):
    p.core.rows_max, p.core.cols_max = rows_max, cols_max
    p.core.mapping.weights.row_partition_strategy = strategy
    p.core.mapping.weights.col_partition_strategy = strategy


def parasitics(p, rp_row, rp_col, interleaved=False):
    p.xbar.array.parasitics.enable = True
    p.xbar.array.parasitics.Rp_row = rp_row
    p.xbar.array.parasitics.Rp_col = rp_col
    p.core.balanced.interleaved_posneg = interleaved
    # the solver's own tolerance: tightened, so that the cases measure the model, not the solver
    p.simulation.Verr_th_mvm = 1e-12
    p.simulation.Niters_max_parasitics = 2000


# -- the cases -------------------------------------------------------------------------------------------------
CASES: dict = {}


def case(name, notes, *, n_in=24, n_out=10, batch=5, x_lo=-1.0, x_hi=1.0, seed=None):
    def register(fn):
        CASES[name] = dict(fn=fn, notes=notes, n_in=n_in, n_out=n_out, batch=batch, x_lo=x_lo, x_hi=x_hi,
                           seed=zlib.crc32(name.encode()) if seed is None else seed)  # stable: from the name
        return fn
    return register


Q, SM = "QuantizerADC", "SignMagnitudeADC"
QD, SMD = "QuantizerDAC", "SignMagnitudeDAC"
CAL = ADCRangeLimits.CALIBRATED


@case("balanced_one_sided_ideal", "BALANCED ONE_SIDED, ideal converters (float32 conductances)")
def _(p):
    pass


@case("balanced_two_sided_ideal", "BALANCED TWO_SIDED, ideal converters")
def _(p):
    p.core.balanced.style = BalancedCoreStyle.TWO_SIDED


@case("balanced_digital_subtraction_ideal", "BALANCED ONE_SIDED, subtract_current_in_xbar=False, ideal")
def _(p):
    p.core.balanced.subtract_current_in_xbar = False


@case("balanced_infinite_on_off_ideal", "BALANCED, infinite_on_off_ratio, Rmin 2 kOhm")
def _(p):
    p.xbar.device.infinite_on_off_ratio = True
    p.xbar.device.Rmin = 2000.0


@case("balanced_sm_dac8_sm_adc8_max", "SignMagnitudeDAC/ADC 8 bits, ADC range MAX (in-array: +-rows G_max)")
def _(p):
    dac(p, SMD, 8)
    adc(p, SM, 8)


@case("balanced_q_dac6_q_adc6_max", "signed QuantizerDAC/ADC 6 bits (midrise), MAX")
def _(p):
    dac(p, QD, 6)
    adc(p, Q, 6)


@case("balanced_two_sided_q_adc7_calibrated", "TWO_SIDED, QuantizerADC 7 bits calibrated [-4, 4]")
def _(p):
    p.core.balanced.style = BalancedCoreStyle.TWO_SIDED
    dac(p, SMD, 7)
    adc(p, Q, 7, option=CAL, calibrated=[-4.0, 4.0])


@case("balanced_sm_adc6_calibrated", "SignMagnitudeADC 6 bits calibrated [-3, 3], SignMagnitudeDAC 5 bits")
def _(p):
    dac(p, SMD, 5)
    adc(p, SM, 6, option=CAL, calibrated=[-3.0, 3.0])


@case("balanced_unsigned_inputs_q_dac_q_adc_calibrated", "unsigned QuantizerDAC 6 bits, inputs [0, 1], "
      "digital subtraction, QuantizerADC calibrated [0, 6] (unsigned)", x_lo=0.0)
def _(p):
    p.core.balanced.subtract_current_in_xbar = False
    dac(p, QD, 6, signed=False)
    adc(p, Q, 7, option=CAL, calibrated=[0.0, 6.0])


@case("balanced_digital_subtraction_sm_adc_max", "digital subtraction, signed inputs, SignMagnitudeADC 8 MAX")
def _(p):
    p.core.balanced.subtract_current_in_xbar = False
    dac(p, SMD, 8)
    adc(p, SM, 8)


@case("balanced_two_sided_digital_subtraction_sm_max", "TWO_SIDED with digital subtraction (G+ and G- digitized "
      "apart), SignMagnitudeDAC 7, SignMagnitudeADC 8 MAX")
def _(p):
    p.core.balanced.style = BalancedCoreStyle.TWO_SIDED
    p.core.balanced.subtract_current_in_xbar = False
    dac(p, SMD, 7)
    adc(p, SM, 8)


@case("balanced_digital_subtraction_unsigned_max", "digital subtraction, unsigned inputs: MAX is [0, rows], "
      "an unsigned QuantizerADC", x_lo=0.0)
def _(p):
    p.core.balanced.subtract_current_in_xbar = False
    dac(p, QD, 7, signed=False)
    adc(p, Q, 7)


@case("balanced_in_array_unsigned_inputs_max", "in-array subtraction, unsigned inputs: MAX stays [-rows, rows]",
      x_lo=0.0)
def _(p):
    dac(p, QD, 6, signed=False)
    adc(p, Q, 6)


@case("balanced_bitserial_analog_accumulation", "SignMagnitudeDAC 8 bits, 1-bit input slices, one ADC after "
      "the analog shift-and-add (adc_per_ibit=False), SignMagnitudeADC 10 calibrated")
def _(p):
    dac(p, SMD, 8, slice_size=1)
    adc(p, SM, 10, option=CAL, calibrated=[-5.0, 5.0])


@case("balanced_bitserial_adc_per_ibit_slice2", "SignMagnitudeDAC 8 bits in 2-bit slices (top slice 1 bit, "
      "scaled by 3), an ADC per input slice, QuantizerADC 8 calibrated")
def _(p):
    dac(p, SMD, 8, slice_size=2)
    adc(p, Q, 8, option=CAL, calibrated=[-6.0, 6.0], per_ibit=True)


@case("balanced_bitserial_unsigned_adc_per_ibit", "unsigned QuantizerDAC 7 bits in 3-bit slices, ADC per "
      "slice, SignMagnitudeADC 7 MAX", x_lo=0.0)
def _(p):
    dac(p, QD, 7, signed=False, slice_size=3)
    adc(p, SM, 7, per_ibit=True)


@case("balanced_bitserial_digital_subtraction", "digital subtraction with 2-bit input slices, ADC per slice",
      )
def _(p):
    p.core.balanced.subtract_current_in_xbar = False
    dac(p, SMD, 6, slice_size=2)
    adc(p, SM, 8, option=CAL, calibrated=[-8.0, 8.0], per_ibit=True)


@case("balanced_input_range_2", "input range [-2, 2], SignMagnitudeDAC 6, QuantizerADC 8 MAX", x_lo=-2.0,
      x_hi=2.0)
def _(p):
    p.core.mapping.inputs.mvm.min, p.core.mapping.inputs.mvm.max = -2.0, 2.0
    dac(p, SMD, 6)
    adc(p, Q, 8)


@case("balanced_fixed_weight_range", "weights.min/max = -/+3 with clipping (weights beyond are clipped)")
def _(p):
    w = p.core.mapping.weights
    w.percentile, w.min, w.max, w.clipping = None, -3.0, 3.0, True
    dac(p, SMD, 8)
    adc(p, SM, 9)


@case("partition_max_remainders", "rows_max 10, cols_max 4 over 25 x 10: MAX gives [10, 10, 5] x [4, 4, 2]; "
      "ADC MAX per partition", n_in=25)
def _(p):
    partition(p, 10, 4, PartitionStrategy.MAX)
    dac(p, SMD, 8)
    adc(p, SM, 8)


@case("partition_equal_remainders", "rows_max 10, cols_max 4 over 25 x 10: EQUAL gives [8, 8, 9] x [3, 3, 4]",
      n_in=25)
def _(p):
    partition(p, 10, 4, PartitionStrategy.EQUAL)
    dac(p, SMD, 8)
    adc(p, SM, 8)


@case("partition_equal_divisible", "rows_max 10 over 24 rows (3 x 8), cols_max 6 over 10 (2 x 5); midrise",
      n_in=24)
def _(p):
    partition(p, 10, 6, PartitionStrategy.EQUAL)
    dac(p, QD, 7)
    adc(p, Q, 7)


@case("partition_max_divisible", "MAX with rows_max 9 over 24 rows: 3 x 8 (divisible), cols_max 3 over 10: "
      "[3, 3, 3, 1]", n_in=24)
def _(p):
    partition(p, 9, 3, PartitionStrategy.MAX)
    dac(p, SMD, 6)
    adc(p, Q, 9)


@case("partition_equal_ideal_rows_only", "rows_max 7 over 30 rows, EQUAL (8, 8, 8, 6: round(7.5) = 8), "
      "cols_max 0 (unlimited), ideal converters", n_in=30)
def _(p):
    partition(p, 7, 0, PartitionStrategy.EQUAL)


for _rp in (0.5, 2.0, 10.0):
    @case(f"parasitics_rp{_rp:g}".replace(".", "p"), f"Rp_row = Rp_col = {_rp} ohm (Rmin 1 kOhm), ideal "
          "converters, separate pos/neg arrays", n_in=32, n_out=12, batch=3)
    def _(p, rp=_rp):
        parasitics(p, rp, rp)


@case("parasitics_interleaved", "interleaved pos/neg columns, Rp_row 1 ohm, Rp_col 3 ohm", n_in=32, n_out=12,
      batch=3)
def _(p):
    parasitics(p, 1.0, 3.0, interleaved=True)


@case("parasitics_row_only_quantized", "Rp_row 4 ohm, Rp_col 0, SignMagnitude DAC/ADC 8 bits MAX", n_in=32,
      n_out=12, batch=3)
def _(p):
    parasitics(p, 4.0, 0.0)
    dac(p, SMD, 8)
    adc(p, SM, 8)


@case("parasitics_col_terminal", "Rp_row 1 ohm, Rp_col 1 ohm, Rp_col_terminal 20 ohm (the column's sense end), "
      "ideal converters", n_in=32, n_out=12, batch=3)
def _(p):
    parasitics(p, 1.0, 1.0)
    p.xbar.array.parasitics.Rp_col_terminal = 20.0


@case("interleaved_no_parasitics", "interleaved_posneg without wires: no effect")
def _(p):
    p.core.balanced.interleaved_posneg = True
    dac(p, SMD, 8)
    adc(p, SM, 8)


@case("offset_digital_ideal", "OFFSET DIGITAL_OFFSET, ideal converters (float64 core)")
def _(p):
    p.core.style = CoreStyle.OFFSET


@case("offset_digital_sm_max", "OFFSET DIGITAL_OFFSET, SignMagnitude DAC/ADC 8 bits, MAX")
def _(p):
    p.core.style = CoreStyle.OFFSET
    dac(p, SMD, 8)
    adc(p, SM, 8)


@case("offset_unit_column_ideal", "OFFSET UNIT_COLUMN_SUBTRACTION, ideal converters")
def _(p):
    p.core.style = CoreStyle.OFFSET
    p.core.offset.style = OffsetCoreStyle.UNIT_COLUMN_SUBTRACTION


@case("offset_unit_column_q_calibrated", "OFFSET unit column, QuantizerDAC 7 (midrise), QuantizerADC 9 "
      "calibrated [-12, 12]")
def _(p):
    p.core.style = CoreStyle.OFFSET
    p.core.offset.style = OffsetCoreStyle.UNIT_COLUMN_SUBTRACTION
    dac(p, QD, 7)
    adc(p, Q, 9, option=CAL, calibrated=[-12.0, 12.0])


@case("offset_unsigned_inputs_q_adc_max", "OFFSET digital, unsigned inputs: MAX is [0, rows], unsigned "
      "QuantizerADC 8", x_lo=0.0)
def _(p):
    p.core.style = CoreStyle.OFFSET
    dac(p, QD, 8, signed=False)
    adc(p, Q, 8)


@case("offset_bitserial_adc_per_ibit", "OFFSET digital, SignMagnitudeDAC 7 in 2-bit slices, ADC per slice, "
      "SignMagnitudeADC 9 calibrated")
def _(p):
    p.core.style = CoreStyle.OFFSET
    dac(p, SMD, 7, slice_size=2)
    adc(p, SM, 9, option=CAL, calibrated=[-10.0, 10.0], per_ibit=True)


@case("offset_icol_max", "OFFSET digital, Icol_max 6 (normalized current) clips column currents, ideal")
def _(p):
    p.core.style = CoreStyle.OFFSET
    p.xbar.array.Icol_max = 6.0


@case("bitsliced_balanced_8b_2s_ideal", "BITSLICED BALANCED, 8-bit weights in 2 slices of 4 (top slice: 3 bits "
      "on 15 levels), ideal converters")
def _(p):
    p.core.style = CoreStyle.BITSLICED
    bitsliced(p, 8, 2)


@case("bitsliced_balanced_8b_4s_sm_max", "BITSLICED BALANCED 8 bits, 4 slices of 2, SignMagnitude DAC/ADC 8 "
      "MAX")
def _(p):
    p.core.style = CoreStyle.BITSLICED
    bitsliced(p, 8, 4)
    dac(p, SMD, 8)
    adc(p, SM, 8)


@case("bitsliced_balanced_9b_8s_q_max", "BITSLICED BALANCED 9 bits, 8 slices of 1 bit, QuantizerADC 6 MAX "
      "(midrise)")
def _(p):
    p.core.style = CoreStyle.BITSLICED
    bitsliced(p, 9, 8)
    dac(p, SMD, 7)
    adc(p, Q, 6)


@case("bitsliced_offset_8b_8s_ideal", "BITSLICED OFFSET 8 bits, 8 slices of 1 bit, digital offset, ideal")
def _(p):
    p.core.style = CoreStyle.BITSLICED
    bitsliced(p, 8, 8, BitSlicedCoreStyle.OFFSET)


@case("bitsliced_offset_8b_2s_calibrated", "BITSLICED OFFSET 8 bits, 2 slices, digital offset, "
      "SignMagnitudeADC 8 calibrated per slice (an array: as_dict dump)")
def _(p):
    p.core.style = CoreStyle.BITSLICED
    bitsliced(p, 8, 2, BitSlicedCoreStyle.OFFSET)
    dac(p, SMD, 8)
    adc(p, SM, 8, option=CAL, calibrated=np.array([[-6.0, 6.0], [-12.0, 12.0]]))


@case("bitsliced_offset_unit_column_8b_4s", "BITSLICED OFFSET 8 bits, 4 slices, UNIT_COLUMN_SUBTRACTION, "
      "QuantizerADC 9 calibrated per slice (nested list)")
def _(p):
    p.core.style = CoreStyle.BITSLICED
    bitsliced(p, 8, 4, BitSlicedCoreStyle.OFFSET)
    p.core.offset.style = OffsetCoreStyle.UNIT_COLUMN_SUBTRACTION
    dac(p, SMD, 8)
    adc(p, Q, 9, option=CAL, calibrated=[[-8.0, 8.0], [-8.0, 8.0], [-8.0, 8.0], [-8.0, 8.0]])


@case("bitsliced_balanced_digital_subtraction", "BITSLICED BALANCED 6 bits, 2 slices, digital subtraction, "
      "SignMagnitudeADC 8 MAX")
def _(p):
    p.core.style = CoreStyle.BITSLICED
    bitsliced(p, 6, 2)
    p.core.balanced.subtract_current_in_xbar = False
    dac(p, SMD, 8)
    adc(p, SM, 8)


@case("bitsliced_balanced_bitserial_per_ibit", "BITSLICED BALANCED 8 bits, 4 slices, SignMagnitudeDAC 6 in 2-bit "
      "slices, ADC per input slice, QuantizerADC 8 calibrated per slice")
def _(p):
    p.core.style = CoreStyle.BITSLICED
    bitsliced(p, 8, 4)
    dac(p, SMD, 6, slice_size=2)
    adc(p, Q, 8, option=CAL, calibrated=np.array([[-4.0, 4.0]] * 4), per_ibit=True)


@case("bitsliced_balanced_infinite_on_off", "BITSLICED BALANCED 8 bits, 2 slices, infinite on/off ratio, "
      "SignMagnitudeADC 10 MAX")
def _(p):
    p.core.style = CoreStyle.BITSLICED
    bitsliced(p, 8, 2)
    p.xbar.device.infinite_on_off_ratio = True
    dac(p, SMD, 8)
    adc(p, SM, 10)


@case("bitsliced_offset_partitioned", "BITSLICED OFFSET 6 bits, 3 slices, rows_max 10 EQUAL over 25 rows",
      n_in=25)
def _(p):
    p.core.style = CoreStyle.BITSLICED
    bitsliced(p, 6, 3, BitSlicedCoreStyle.OFFSET)
    partition(p, 10, 0, PartitionStrategy.EQUAL)
    dac(p, SMD, 8)
    adc(p, SM, 10, option=CAL, calibrated=np.array([[-6.0, 6.0]] * 3))


@case("noise_programming_independent", "BALANCED ONE_SIDED, NormalIndependentDevice programming error 0.02 "
      "(one random draw: the test compares the statistics of the implied weight errors)", n_in=64, n_out=32,
      batch=64)
def _(p):
    p.xbar.device.programming_error.enable = True
    p.xbar.device.programming_error.model = "NormalIndependentDevice"
    p.xbar.device.programming_error.magnitude = 0.02


@case("noise_programming_proportional_clipped", "OFFSET, NormalProportionalDevice programming error 0.05 with "
      "clip_conductance (statistics, as above)", n_in=64, n_out=32, batch=64)
def _(p):
    p.core.style = CoreStyle.OFFSET
    p.xbar.device.clip_conductance = True
    p.xbar.device.programming_error.enable = True
    p.xbar.device.programming_error.model = "NormalProportionalDevice"
    p.xbar.device.programming_error.magnitude = 0.05


@case("noise_read_independent", "BALANCED ONE_SIDED, NormalIndependentDevice read noise 0.05 (redrawn per "
      "input vector, clipped at 0): compared by the spread of the output errors", n_in=48, n_out=32, batch=64)
def _(p):
    p.xbar.device.read_noise.enable = True
    p.xbar.device.read_noise.model = "NormalIndependentDevice"
    p.xbar.device.read_noise.magnitude = 0.05


@case("noise_read_proportional_clipped", "BALANCED ONE_SIDED, NormalProportionalDevice read noise 0.3 with "
      "clip_conductance (every noisy read clipped to [Gmin, Gmax]: the off cells' noise is one-sided)",
      n_in=48, n_out=32, batch=64)
def _(p):
    p.xbar.device.clip_conductance = True
    p.xbar.device.read_noise.enable = True
    p.xbar.device.read_noise.model = "NormalProportionalDevice"
    p.xbar.device.read_noise.magnitude = 0.3


GRAN = ADCRangeLimits.GRANULAR


@case("granular_balanced_sm", "BALANCED, GRANULAR SignMagnitudeADC 8 bits (range 127 / 2^weight_bits x the "
      "DAC correction), 1-bit input slices of a SignMagnitudeDAC 8, ADC per input slice")
def _(p):
    p.core.weight_bits = 8
    dac(p, SMD, 8, slice_size=1)
    adc(p, SM, 8, option=GRAN, per_ibit=True)


@case("granular_offset_unsigned_q", "OFFSET digital, unsigned QuantizerDAC 6 in 2-bit slices, GRANULAR unsigned "
      "QuantizerADC 9, ADC per slice", x_lo=0.0)
def _(p):
    p.core.style = CoreStyle.OFFSET
    p.core.weight_bits = 6
    dac(p, QD, 6, signed=False, slice_size=2)
    adc(p, Q, 9, option=GRAN, per_ibit=True)


@case("granular_bitsliced_balanced", "BITSLICED BALANCED 8 bits, 4 slices, GRANULAR QuantizerADC 7 (midrise), "
      "SignMagnitudeDAC 6 in 1-bit slices, ADC per slice")
def _(p):
    p.core.style = CoreStyle.BITSLICED
    bitsliced(p, 8, 4)
    dac(p, SMD, 6, slice_size=1)
    adc(p, Q, 7, option=GRAN, per_ibit=True)


def make(name: str, spec: dict) -> dict:
    rng = np.random.default_rng(spec["seed"])
    np.random.seed(spec["seed"])  # CrossSim draws its device errors from NumPy's global generator
    p = base()
    spec["fn"](p)
    p.validate()
    w = rng.normal(size=(spec["n_out"], spec["n_in"]))
    x = rng.uniform(spec["x_lo"], spec["x_hi"], size=(spec["n_in"], spec["batch"]))
    core = AnalogCore(w, p)
    y = np.stack([np.asarray(core.matvec(x[:, b]), dtype=np.float64) for b in range(x.shape[1])], axis=1)
    text, how = dump(p)
    return {"W": w, "X": x, "Y": y, "params": np.array(text), "dump": np.array(how), "peer": np.array("crosssim"),
            "version": np.array(importlib.metadata.version("crosssim")), "notes": np.array(spec["notes"])}


def main(argv: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    names = argv or sorted(CASES)
    for name in names:
        data = make(name, CASES[name])
        np.savez_compressed(OUT / f"{name}.npz", **data)
        print(f"{name}: W {data['W'].shape}, Y range {data['Y'].min():.3g} .. {data['Y'].max():.3g}")
    print(f"{len(names)} cases in {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
