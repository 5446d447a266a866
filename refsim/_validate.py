"""Validation helpers shared by configs and public functions.

Each raises ``TypeError``/``ValueError`` with a message that names the argument,
what was received and what was expected.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_choice", "check_number", "check_int", "check_optional_int", "as_float_array"]


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise unless ``value`` is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: received {value!r}; expected one of {list(choices)}")


def check_number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    """Raise unless ``value`` is a finite real number in the given interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, received {value!r} ({type(value).__name__})")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: received {value!r}; expected a finite number")
    if low is not None and (v < low or (low_open and v == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"{name}: received {value!r}; expected a value {op} {low}")
    if high is not None and v > high:
        raise ValueError(f"{name}: received {value!r}; expected a value <= {high}")


def check_int(name: str, value: object, *, low: int, high: int) -> None:
    """Raise unless ``value`` is an int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, received {value!r} ({type(value).__name__})")
    if not low <= int(value) <= high:
        raise ValueError(f"{name}: received {value!r}; expected an int in [{low}, {high}]")


def check_optional_int(name: str, value: object, *, low: int, high: int) -> None:
    """Like :func:`check_int` but ``None`` is allowed."""
    if value is not None:
        check_int(name, value, low=low, high=high)


def as_float_array(name: str, value: object, *, ndim: int | None = None, min_ndim: int | None = None,
                   check_finite: bool = True) -> np.ndarray:
    """Convert ``value`` to a finite float64 array, or raise naming ``name``.

    Booleans, complex numbers, strings and objects are refused (``TypeError``);
    NaN or infinity is refused (``ValueError``) unless ``check_finite=False`` (for a caller
    that checks finiteness itself, from reductions it computes anyway).
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected a real numeric array, received dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, received shape {arr.shape}")
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dimension(s), received shape {arr.shape}")
    arr = np.asarray(arr, dtype=np.float64)
    # min and max propagate NaN and reach +/-inf: two reductions, no boolean temporary
    if check_finite and arr.size and not (np.isfinite(np.min(arr)) and np.isfinite(np.max(arr))):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name}: contains {bad} non-finite value(s) (NaN or inf); expected finite numbers")
    return arr
