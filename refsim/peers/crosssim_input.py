"""Checks of the user's CrossSim parameter dump for :mod:`refsim.peers.crosssim`: the file, each key's
type and range, the calibrated ADC range's shape; every error names the key (``"CrossSim <key>: received
...; expected ..."``) before any value is used."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from refsim._validate import check_int, check_scalar, read_json_file, received, show

#: Largest parameter file read (CrossSim's dumps are a few kB).
MAX_FILE_BYTES = 16 * 2**20


def read_json(path: Path) -> object:
    """CrossSim's JSON file, every failure named (missing, a directory, too big, not UTF-8, not JSON, too deep)."""
    return read_json_file(path, f"params (CrossSim's JSON dump {str(path)!r})",
                          file_expected="CrossSim's .json parameter file", json_expected="CrossSim's parameter dump",
                          max_bytes=MAX_FILE_BYTES)


# integer keys (the others whose default is a number are real numbers) and their least value
_INT_KEYS = {"core.rows_max": 0, "core.cols_max": 0, "core.weight_bits": 0, "core.bit_sliced.num_slices": 1,
             "simulation.convolution.x_par": 1, "simulation.convolution.y_par": 1,
             "simulation.convolution.Nwindows": 1, "simulation.analytics.ntest": 0, "simulation.gpu_id": 0,
             "simulation.Niters_max_parasitics": 0, "xbar.device.cell_bits": 0, "xbar.adc.mvm.bits": 0,
             "xbar.dac.mvm.bits": 0, "xbar.dac.mvm.slice_size": 1}
# real keys that must be positive (> 0) or non-negative (>= 0); the rest only finite
_POSITIVE = {"xbar.device.Rmin", "xbar.device.Rmax", "xbar.device.Vread"}
_NONNEG = {"xbar.device.time", "xbar.array.Icol_max", "simulation.Verr_th_mvm", "simulation.relaxation_gamma",
           *(f"xbar.array.parasitics.{k}" for k in ("Rp_row", "Rp_col", "Rp_row_terminal", "Rp_col_terminal")),
           *(f"xbar.device.{e}.magnitude" for e in ("read_noise", "programming_error", "drift_error", "nonlinear_IV"))}
_OPTIONAL_REALS = {"core.mapping.weights.min", "core.mapping.weights.max", "core.mapping.weights.percentile",
                   "core.mapping.inputs.mvm.percentile"}


def check_values(p: dict, defaults: dict, enums) -> None:
    """Check every modelled key's type and range in place (each error names the key): bools are bools,
    integers integers, reals finite, names strings; enum names are checked by :func:`_enum`."""
    for key, default in defaults.items():
        if key in enums:
            continue
        name, v = f"CrossSim {key}", p[key]
        if isinstance(default, bool):
            if not isinstance(v, (bool, np.bool_)):
                raise TypeError(received(name, f"{show(v)} ({type(v).__name__})", "true or false"))
            p[key] = bool(v)
        elif key in _INT_KEYS:
            p[key] = check_int(name, v, low=_INT_KEYS[key], high=2**20)
        elif key in _OPTIONAL_REALS or isinstance(default, (int, float)):
            low = 0.0 if key in _POSITIVE | _NONNEG else None
            p[key] = check_scalar(name, v, low=low, low_open=key in _POSITIVE, allow_none=key in _OPTIONAL_REALS)
        elif isinstance(default, str):
            if not isinstance(v, str):
                raise TypeError(received(name, f"{show(v)} ({type(v).__name__})", "a name (a string)"))
        elif key.endswith("_partition_priority"):
            if not isinstance(v, (list, tuple, np.ndarray)):
                raise TypeError(received(name, f"{show(v)} ({type(v).__name__})", "a list (empty)"))


def calibrated_pairs(value) -> list[tuple[float, float]]:
    """``calibrated_range`` as (min, max) pairs: one pair, or one per bit slice (arrays or nested lists)."""
    name = "CrossSim xbar.adc.mvm.calibrated_range"
    if isinstance(value, (list, tuple)) and not value:
        return []
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(received(name, show(value), "a (min, max) pair of numbers, or one pair per bit slice")) \
            from None
    if arr.size == 0:
        return []
    if arr.shape not in ((2,),) and not (arr.ndim == 2 and arr.shape[1] == 2):
        raise ValueError(received(name, f"an array of shape {arr.shape}",
                                  "shape (2,) (one (min, max) pair) or (n_slices, 2)"))
    if not np.isfinite(arr).all():
        raise ValueError(received(name, show(value), "finite numbers"))
    return [(float(a), float(b)) for a, b in arr.reshape(-1, 2)]
