"""The one validation module of refsim: every check of user input, one message style.

Each check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right
kind, bad value) with the message::

    "<name>: received <what was received>; expected <what is expected>"

where ``<name>`` is the argument, the config field (``"mapping.g_max_S"``) or
the file entry that is wrong. Build any other message with :func:`received`
so that it reads the same way.

Physical scales
---------------
Conductances, voltages, currents, times and resistances multiply and divide
each other (``I = G V``, ``I_lsb = I_fs / N``, ``(t / t0)^-nu``). A value that
is finite but tiny (``g_max_S = 1e-318``, a subnormal) or huge (``1e200``)
makes those products underflow to 0 or overflow to inf, and every output NaN.
:func:`check_magnitude` therefore requires every non-zero physical value --
and the products that configs form from them -- to lie in
``[MAGNITUDE_MIN, MAGNITUDE_MAX] = [2^-400, 2^400]`` (about ``[3.9e-121,
2.6e120]``, some 110 decades beyond any physical device): squared (variances
of noise currents) and summed over 2^64 rows times codes of up to 32 bits,
such values remain normal, finite floats.
"""

from __future__ import annotations

import dataclasses
import numbers
import reprlib

import numpy as np

__all__ = [
    "read_json_file",
    "received",
    "show",
    "HugeInt",
    "check_choice",
    "check_number",
    "check_scalar",
    "check_int",
    "check_optional_int",
    "check_magnitude",
    "coerce_fields",
    "as_float_array",
    "as_finite_array",
    "as_nonneg_array",
    "check_g_range",
    "check_same_shape",
    "check_2d",
    "check_shape_tuple",
    "check_rng",
    "MAGNITUDE_MIN",
    "MAGNITUDE_MAX",
]

#: Smallest and largest magnitude accepted for a physical value or product (see the module docstring).
MAGNITUDE_MIN = 2.0**-400
MAGNITUDE_MAX = 2.0**400

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


class HugeInt(str):
    """An integer literal too long to convert (a JSON config with a 5,000-digit number).

    Python refuses ``int()`` of more than 4,300 digits (a denial-of-service
    guard); the JSON reader keeps such a literal as this marker so that the
    field that holds it is named in the error.
    """

    def __repr__(self) -> str:
        return f"an integer of {len(self.lstrip('-'))} digits"


def show(value: object) -> str:
    """A bounded ``repr`` of ``value`` for messages (a huge int is shown by its number of digits)."""
    if isinstance(value, HugeInt):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 100:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return _short.repr(value)


def received(name: str, value_text: str, expected: str) -> str:
    """The house message: ``"<name>: received <value_text>; expected <expected>"``."""
    return f"{name}: received {value_text}; expected {expected}"


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise unless ``value`` is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(received(name, show(value), f"one of {list(choices)}"))


def check_scalar(name: str, value: object, *, low: float | None = None, low_open: bool = False,
                 high: float | None = None, allow_none: bool = False) -> float | None:
    """Validate a finite real scalar in an optional interval and return it as ``float``.

    ``low_open=True`` excludes the lower bound (``value > low``). NumPy scalars
    are accepted and returned as Python floats. ``allow_none`` passes None through.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, HugeInt):
        raise ValueError(received(name, show(value), "a finite number"))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(received(name, f"{show(value)} ({type(value).__name__})", "a real number"))
    try:
        v = float(value)
    except OverflowError:  # an int beyond float range
        raise ValueError(received(name, show(value), "a finite number")) from None
    if not np.isfinite(v):
        raise ValueError(received(name, show(value), "a finite number"))
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(received(name, show(value), f"a value {'>' if low_open else '>='} {low}"))
    if high is not None and v > high:
        raise ValueError(received(name, show(value), f"a value <= {high}"))
    return v


def check_number(name: str, value: object, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False) -> float:
    """Raise unless ``value`` is a finite real number in the given interval; return it as float."""
    return check_scalar(name, value, low=low, low_open=low_open, high=high)


def check_int(name: str, value: object, *, low: int, high: int) -> int:
    """Raise unless ``value`` is an int in ``[low, high]``; return it as a Python int."""
    if isinstance(value, HugeInt):
        raise ValueError(received(name, show(value), f"an int in [{low}, {high}]"))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(received(name, f"{show(value)} ({type(value).__name__})", "an int"))
    if not low <= int(value) <= high:
        raise ValueError(received(name, show(value), f"an int in [{low}, {high}]"))
    return int(value)


def check_optional_int(name: str, value: object, *, low: int, high: int) -> int | None:
    """Like :func:`check_int` but ``None`` is allowed."""
    return None if value is None else check_int(name, value, low=low, high=high)


def check_magnitude(name: str, value: float, what: str = "", *, zero: bool = True) -> None:
    """Raise unless ``MAGNITUDE_MIN <= |value| <= MAGNITUDE_MAX`` (or ``value == 0`` if ``zero``).

    ``name`` may be a product (``"mapping.g_max_S * dac.v_read_V"``): pass
    ``zero=False`` for a product of non-zero factors, which is 0 only by
    underflow. ``what`` says what the value sets (shown in the message).
    """
    v = abs(float(value))
    if (v != 0.0 or not zero) and not MAGNITUDE_MIN <= v <= MAGNITUDE_MAX:
        tail = f" (to keep {what} clear of underflow and overflow)" if what else ""
        head = "0 or a magnitude" if zero else "a magnitude"
        raise ValueError(received(name, show(value), f"{head} in [{MAGNITUDE_MIN:.3g}, "
                                                     f"{MAGNITUDE_MAX:.3g}]{tail}"))


def coerce_fields(obj: object) -> None:
    """Replace NumPy scalars in the fields of a frozen dataclass by Python numbers.

    ``np.int64(3)`` becomes ``3``, ``np.float32(0.5)`` becomes ``0.5``, ``np.bool_``
    becomes ``bool``, ``np.str_`` becomes ``str``, also inside tuples; so a config
    built from NumPy values serializes with ``json``.
    """
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        new = _python(value)
        if new is not value:
            object.__setattr__(obj, f.name, new)


def _python(value: object) -> object:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.str_):
        return str(value)
    if isinstance(value, tuple):
        items = tuple(_python(v) for v in value)
        return value if all(a is b for a, b in zip(items, value)) else items
    return value


def as_float_array(name: str, value: object, *, ndim: int | None = None, min_ndim: int | None = None,
                   check_finite: bool = True) -> np.ndarray:
    """Convert ``value`` to a finite float64 array, or raise naming ``name``.

    Booleans, complex numbers, strings and objects are refused (``TypeError``);
    NaN or infinity is refused (``ValueError``) unless ``check_finite=False`` (for a caller
    that checks finiteness itself, from reductions it computes anyway).
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(received(name, f"dtype {arr.dtype}", "a real numeric array"))
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(received(name, f"shape {arr.shape}", f"a {ndim}-D array"))
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(received(name, f"shape {arr.shape}", f"at least {min_ndim} dimension(s)"))
    arr = np.asarray(arr, dtype=np.float64)
    if check_finite:
        check_finite_array(name, arr)
    return arr


def check_finite_array(name: str, arr: np.ndarray) -> None:
    """Raise ``ValueError`` naming ``name`` if the float array holds NaN or inf."""
    # min and max propagate NaN and reach +/-inf: two reductions, no boolean temporary
    if arr.size and not (np.isfinite(np.min(arr)) and np.isfinite(np.max(arr))):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(received(name, f"{bad} non-finite value(s) (NaN or inf)", "finite numbers"))


def as_finite_array(name: str, x: object) -> np.ndarray:
    """``x`` converted to float64 (lists, ints and bools allowed), refusing NaN and inf."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(received(name, type(x).__name__, "a real numeric array")) from exc
    check_finite_array(name, arr)
    return arr


def as_nonneg_array(name: str, x: object) -> np.ndarray:
    """Return ``x`` as a finite float64 array with every element >= 0."""
    arr = as_finite_array(name, x)
    if arr.size and arr.min() < 0:
        raise ValueError(received(name, f"minimum {float(arr.min())!r}", "values >= 0"))
    return arr


def check_g_range(g_min_S: object, g_max_S: object) -> tuple[float, float]:
    """Validate the mapping range ``0 <= g_min_S < g_max_S`` (siemens)."""
    g_max = check_scalar("g_max_S", g_max_S, low=0.0, low_open=True)
    g_min = check_scalar("g_min_S", g_min_S, low=0.0)
    if g_min >= g_max:
        raise ValueError(received("g_min_S", repr(g_min), f"a value < g_max_S = {g_max!r}"))
    return g_min, g_max


def check_same_shape(name: str, arr: np.ndarray, expected: tuple, expected_desc: str) -> None:
    """Raise ``ValueError`` if ``arr.shape != expected``."""
    if arr.shape != tuple(expected):
        raise ValueError(received(name, f"shape {arr.shape}", f"shape {tuple(expected)} ({expected_desc})"))


def check_2d(name: str, arr: np.ndarray, desc: str = "(rows, cols)") -> None:
    """Raise ``ValueError`` unless ``arr`` is two-dimensional."""
    if arr.ndim != 2:
        raise ValueError(received(name, f"shape {arr.shape}", f"a 2-D array {desc}"))


def check_shape_tuple(name: str, shape: object) -> tuple[int, ...]:
    """Validate an array shape given as a tuple of non-negative ints."""
    try:
        out = tuple(int(s) for s in shape)
    except TypeError as exc:
        raise TypeError(received(name, show(shape), "a tuple of ints")) from exc
    if any(s < 0 for s in out) or any(isinstance(s, bool) for s in shape):
        raise ValueError(received(name, show(shape), "non-negative ints"))
    return out


def check_rng(rng: object) -> np.random.Generator:
    """Require an explicit ``numpy.random.Generator`` (no global RNG)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(received("rng", type(rng).__name__,
                                 "numpy.random.Generator (create one with numpy.random.default_rng(seed))"))
    return rng


def _json_int(text: str) -> "int | HugeInt":
    """JSON integer literal -> int; one too long for ``int()`` becomes a :class:`HugeInt` (refused by field)."""
    return int(text) if len(text.lstrip("-")) <= 4000 else HugeInt(text)


def read_text_file(path, name: str, expected: str, *, newline: str | None = None) -> str:
    """The UTF-8 text of the file ``path`` (``newline`` as :func:`open`'s); bytes that are not UTF-8 are a
    ``ValueError`` naming ``name`` and the file (``expected``: what the argument should be)."""
    import os

    try:
        with open(path, encoding="utf-8", newline=newline) as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise ValueError(received(name, f"{os.fspath(path)!r}, whose bytes are not UTF-8 ({exc.reason} at byte "
                                  f"{exc.start})", expected)) from None


def read_json_file(path, where: str, *, file_expected: str, json_expected: str, deep_expected: str | None = None,
                   utf8_expected: str = "UTF-8 JSON text", max_bytes: int | None = None) -> object:
    """The JSON value of the file ``path``, every failure a ``ValueError`` naming ``where``.

    Refused: a missing path or a directory, an unreadable file, one over ``max_bytes`` (when given),
    bytes that are not UTF-8, text that is not JSON (``json_expected``) or nests more deeply than
    Python can parse (``deep_expected``, default ``json_expected``). Integer literals too long for
    ``int()`` come back as :class:`HugeInt`, for the field that reads them to refuse.
    """
    import json
    from pathlib import Path

    p = Path(path)
    try:
        if max_bytes is not None:
            size = p.stat().st_size
            if not p.is_dir() and size > max_bytes:
                raise ValueError(received(where, f"a file of {size} bytes", f"at most {max_bytes} bytes"))
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ValueError(received(where, "a path that does not exist", file_expected)) from None
    except IsADirectoryError:
        raise ValueError(received(where, "a directory", file_expected)) from None
    except UnicodeDecodeError as exc:
        raise ValueError(received(where, f"bytes that are not UTF-8 ({exc.reason} at byte {exc.start})",
                                  utf8_expected)) from None
    except OSError as exc:
        raise ValueError(received(where, f"an unreadable file ({exc.strerror or exc})", file_expected)) from None
    try:
        return json.loads(text, parse_int=_json_int)
    except RecursionError:
        raise ValueError(received(where, "JSON nested too deeply to parse", deep_expected or json_expected)) from None
    except ValueError as exc:
        raise ValueError(received(where, f"text that is not valid JSON ({exc})", json_expected)) from None
