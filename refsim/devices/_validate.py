"""Boundary checks shared by the device-model functions (private helpers).

Every check raises ``ValueError``/``TypeError`` whose message names the
argument, what was received and what was expected.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_float_array(name: str, x) -> np.ndarray:
    """Return ``x`` as a float64 array, rejecting non-numeric or non-finite input."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected a real numeric array, got {type(x).__name__}") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite values, got NaN or inf")
    return arr


def as_nonneg_array(name: str, x) -> np.ndarray:
    """Return ``x`` as a finite float64 array with every element >= 0."""
    arr = as_float_array(name, x)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name}: expected values >= 0, got minimum {arr.min()!r}")
    return arr


def check_scalar(name: str, value, *, low: float | None = None, low_open: bool = False,
                 high: float | None = None, allow_none: bool = False) -> float | None:
    """Validate a real scalar against an optional range and return it as ``float``.

    ``low_open=True`` means the lower bound is excluded (``value > low``).
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if low is not None and (v <= low if low_open else v < low):
        op = ">" if low_open else ">="
        raise ValueError(f"{name}: expected a value {op} {low}, got {value!r}")
    if high is not None and v > high:
        raise ValueError(f"{name}: expected a value <= {high}, got {value!r}")
    return v


def check_g_range(g_min_S, g_max_S) -> tuple[float, float]:
    """Validate the mapping range ``0 <= g_min_S < g_max_S`` (siemens)."""
    g_max = check_scalar("g_max_S", g_max_S, low=0.0, low_open=True)
    g_min = check_scalar("g_min_S", g_min_S, low=0.0)
    if g_min >= g_max:
        raise ValueError(f"g_min_S: expected g_min_S < g_max_S = {g_max!r}, got {g_min!r}")
    return g_min, g_max


def check_same_shape(name: str, arr: np.ndarray, expected: tuple, expected_desc: str) -> None:
    """Raise ``ValueError`` if ``arr.shape != expected``."""
    if arr.shape != tuple(expected):
        raise ValueError(f"{name}: expected shape {tuple(expected)} ({expected_desc}), "
                         f"got {arr.shape}")


def check_2d(name: str, arr: np.ndarray, desc: str = "(rows, cols)") -> None:
    """Raise ``ValueError`` unless ``arr`` is two-dimensional."""
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array {desc}, got shape {arr.shape}")


def check_shape_tuple(name: str, shape) -> tuple[int, ...]:
    """Validate an array shape given as a tuple of non-negative ints."""
    try:
        out = tuple(int(s) for s in shape)
    except TypeError as exc:
        raise TypeError(f"{name}: expected a tuple of ints, got {shape!r}") from exc
    if any(s < 0 for s in out) or any(isinstance(s, bool) for s in shape):
        raise ValueError(f"{name}: expected non-negative ints, got {shape!r}")
    return out


def check_rng(rng) -> np.random.Generator:
    """Require an explicit ``numpy.random.Generator`` (no global RNG)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected numpy.random.Generator, got {type(rng).__name__}; "
                        "create one with numpy.random.default_rng(seed)")
    return rng
