"""Calibration of the fixed DAC and ADC ranges of one crossbar (docs/MODEL.md section 7, C1-C3).

A calibrated crossbar has ``dac.range_mode="fixed"`` with ``dac.x_max`` and
``adc.range_mode="fixed"`` with one ``adc.range_A`` per weight slice. The ranges are
profiled once, on calibration inputs, and are constants of the returned config: at
inference nothing is taken from the data being evaluated.

Two methods (:func:`calibrate_crossbar`):

* ``"percentile"`` (profiling, as CrossSim's calibrated ranges): the ``p``-th percentile of
  ``|x|`` over every element of every calibration input (C1), and of ``|I_k|`` over every column
  current of every read of slice ``k`` (C2). The currents of (C2) are profiled with the DAC
  already at its calibrated range and an ideal ADC (``adc.bits=None``), so they are the
  currents the ADC will see.
* ``"search"``: a grid over candidate ranges, ``x_max = s max|x|`` then (with that DAC)
  ``I_fs,k = s' max|I_k|``, each chosen to minimize the output mean squared error (C3) against
  the exact product on the calibration set.

``ranges`` chooses what is calibrated: ``("dac", "adc")`` (both, as CrossSim/Xiao et al.),
``("dac",)`` (the static input range alpha of Rasch et al.; the ADC keeps its range) or
``("adc",)``. A calibrated config records what was calibrated in its field ``calibrated`` (what
:func:`refsim.presets.check_calibrated` reads) and is named, for people, as derived: ``"<name>+cal"``.

Networks and models are calibrated layer by layer by :mod:`refsim.tools.calibrate`, which
re-exports every name here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from refsim.config import CrossbarConfig
from refsim.crossbar import Crossbar
from refsim.health import DeadCrossbarWarning

__all__ = ["CalibrationResult", "profile_input_range", "profile_adc_ranges", "calibrate_crossbar", "derived_name",
           "DEFAULT_SCALES", "RANGES"]

#: What can be calibrated: the DAC's input range and the ADC's full-scale currents.
RANGES = ("dac", "adc")

#: Candidate multipliers of the largest profiled value for ``method="search"``.
DEFAULT_SCALES = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)


@dataclass(frozen=True)
class CalibrationResult:
    """A calibrated config, its ranges and the output MSE (C3) on the calibration set."""

    config: CrossbarConfig
    x_max: float  # input units
    range_A: tuple[float, ...]  # A, one per weight slice
    mse: float  # (C3) with the calibrated config
    mse_uncalibrated: float  # (C3) with the config given


def _check_percentile(p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 100:
        raise ValueError(f"percentile: received {p!r}; expected a number in (0, 100]")
    return float(p)


def _pairs(W, x) -> list[tuple[np.ndarray, np.ndarray]]:
    """Normalize ``(W, x)`` or a list of such pairs (several crossbars sharing one config)."""
    pairs = W if isinstance(W, list) else [(W, x)]
    out = []
    for i, (w, xi) in enumerate(pairs):
        w = np.asarray(w, dtype=np.float64)
        xi = np.asarray(xi, dtype=np.float64)
        if w.ndim != 2 or xi.ndim < 1 or xi.shape[-1] != w.shape[0]:
            raise ValueError(f"calibration pair {i}: expected W (n_in, n_out) and x (..., n_in), "
                             f"received {w.shape} and {xi.shape}")
        if xi.size == 0:
            raise ValueError(f"calibration pair {i}: the calibration set is empty")
        out.append((w, xi.reshape(-1, w.shape[0])))
    return out


def profile_input_range(xs: list[np.ndarray], percentile: float) -> float:
    """(C1): ``x_max = P_p(|x|)`` over every element; falls back to ``max|x|``, then 1, if that is 0."""
    p = _check_percentile(percentile)
    a = np.abs(xs[0]).ravel() if len(xs) == 1 else np.abs(np.concatenate([x.ravel() for x in xs]))
    v = float(np.percentile(a, p, overwrite_input=True))  # a is ours: partitioned in place, no copy
    if v <= 0:
        v = float(a.max()) if a.max() > 0 else 1.0
    return v


def _slice_currents(per_crossbar: list[list[list[np.ndarray]]], n_slices: int) -> list[np.ndarray]:
    """|I| of every column current of every read (``Crossbar.adc_input_currents`` of every crossbar),
    grouped by weight slice."""
    out: list[list[np.ndarray]] = [[] for _ in range(n_slices)]
    for cur in per_crossbar:
        for k, arrays in enumerate(cur):
            out[k].extend(np.abs(a).ravel() for a in arrays)
    return [np.concatenate(c) if c else np.zeros(1) for c in out]


def _ideal_adc(cfg: CrossbarConfig) -> CrossbarConfig:
    """``cfg`` with an ideal ADC. An ideal ADC never clips, so bound management (which re-reads
    clipped vectors) never acts: it is switched off, as the config requires, with the options of a
    quantized ADC (aihwkit's ``full_scale_code`` and ``bm_top_code``, X9)."""
    return cfg.replace(**{"adc.bits": None, "adc.full_scale_code": None, "adc.bm_top_code": False,
                          "dac.bound_management": "none"})


def _probe_config(cfg: CrossbarConfig, x_max: float) -> CrossbarConfig:
    """The config with the DAC at ``x_max`` (fixed) and an ideal ADC: for profiling currents."""
    return _ideal_adc(cfg).replace(**{"dac.range_mode": "fixed", "dac.x_max": float(x_max), "dac.x_max_cap": None})


def _currents(pairs, cfg: CrossbarConfig, rngs) -> list:
    """The ADC input currents of one multiply of every pair, by weight slice (no trace recorded)."""
    return [Crossbar(w, cfg, rng=rng()).adc_input_currents(x) for (w, x), rng in zip(pairs, rngs)]


def profile_adc_ranges(pairs, cfg: CrossbarConfig, x_max: float, percentile: float, rngs) -> tuple[float, ...]:
    """(C2): ``I_fs,k = P_p(|I_k|)`` per weight slice, profiled with the DAC fixed at ``x_max``.

    A slice whose currents are all 0 gets the current of one full-scale cell,
    ``g_max_S v_read_V``.
    """
    p = _check_percentile(percentile)
    cur = _slice_currents(_currents(pairs, _probe_config(cfg, x_max), rngs), cfg.weight.n_slices)
    out = []
    for c in cur:
        v = float(np.percentile(c, p, overwrite_input=True))  # c is ours (|I| of _slice_currents)
        if v <= 0:
            v = float(c.max()) if c.max() > 0 else cfg.mapping.g_max_S * cfg.dac.v_read_V
        out.append(v)
    return tuple(out)


def derived_name(name: str) -> str:
    """The name of a config calibrated from one called ``name``: ``"<name>+cal"`` (once)."""
    return name if name.endswith("+cal") else f"{name}+cal"


def _calibrated(cfg: CrossbarConfig, x_max: float | None, range_A: tuple[float, ...] | None) -> CrossbarConfig:
    """``cfg`` with the ranges given (None: that converter keeps its range), those added to its field
    ``calibrated``, named as derived."""
    done = set(cfg.calibrated)
    fields = {"name": derived_name(cfg.name)}
    if x_max is not None:
        fields.update({"dac.range_mode": "fixed", "dac.x_max": float(x_max), "dac.x_max_cap": None})
        done.add("dac")
    if range_A is not None:
        fields.update({"adc.range_mode": "fixed", "adc.range_A": tuple(float(r) for r in range_A)})
        done.add("adc")
    return cfg.replace(**fields, calibrated=tuple(done))


def _check_ranges(ranges) -> tuple[str, ...]:
    r = tuple(ranges) if isinstance(ranges, (tuple, list)) else None
    if not r or any(x not in RANGES for x in r) or len(set(r)) != len(r):
        raise ValueError(f"ranges: received {ranges!r}; expected a non-empty tuple of {RANGES}")
    return r


def _mse(pairs, cfg: CrossbarConfig, rngs) -> float:
    err, n = 0.0, 0
    for (w, x), rng in zip(pairs, rngs):
        with warnings.catch_warnings():  # candidate ranges of a search may well be dead: no warning
            warnings.simplefilter("ignore", DeadCrossbarWarning)
            y = Crossbar(w, cfg, rng=rng()).matvec(x)
        err += float(np.sum((y - x @ w) ** 2))
        n += y.size
    return err / n


def _search(pairs, cfg, rngs, scales, ranges) -> tuple[float | None, tuple[float, ...] | None]:
    """Grid search of (C3): DAC scale first (ideal ADC), then one ADC scale for all slices."""
    x_max = None
    if "dac" in ranges:
        x_top = profile_input_range([x for _, x in pairs], 100.0)
        ideal_adc = _ideal_adc(cfg)
        best = min(scales, key=lambda s: _mse(pairs, _probe_config(ideal_adc, s * x_top), rngs))
        x_max = best * x_top
    if "adc" not in ranges:
        return x_max, None
    if x_max is None:
        x_max = cfg.dac.x_max if cfg.dac.range_mode == "fixed" else profile_input_range([x for _, x in pairs], 100.0)
    i_top = profile_adc_ranges(pairs, cfg, x_max, 100.0, rngs)
    s_adc = min(scales, key=lambda s: _mse(pairs, _calibrated(cfg, x_max, tuple(s * i for i in i_top)), rngs))
    return x_max, tuple(s_adc * i for i in i_top)


def calibrate_crossbar(W, x, config: CrossbarConfig, *, method: str = "percentile", percentile: float = 99.9,
                       seed: int = 0, scales: tuple[float, ...] = DEFAULT_SCALES, rngs=None,
                       ranges: tuple[str, ...] = RANGES, measure: bool = True) -> CalibrationResult:
    """Calibrate the DAC and ADC ranges of ``config`` for ``W`` on calibration inputs ``x``.

    Parameters
    ----------
    W : (n_in, n_out) weights, or a list of ``(W, x)`` pairs sharing one config (conv groups).
    x : (..., n_in) calibration inputs (ignored when ``W`` is a list of pairs).
    config : the config to calibrate; every other field is kept.
    method : ``"percentile"`` (C1, C2) or ``"search"`` (C3 over ``scales``).
    percentile : p of (C1, C2), in (0, 100].
    seed : the crossbars are built with ``rng=np.random.default_rng(seed)`` (same programming
        for every candidate); ``rngs`` (a list of zero-argument callables returning a
        Generator, one per pair) overrides it.
    ranges : what to calibrate, a subset of ``("dac", "adc")``; the other converter keeps its range
        (an ADC calibrated alone is profiled with the DAC's own fixed range, or the P_100 of |x|).
    measure : compute the MSEs (C3) of the result (two more multiplies); False gives NaN.

    Returns a :class:`CalibrationResult`; its ``config`` has fixed ranges, ``ranges`` added to its
    ``calibrated`` field and the name ``"<name>+cal"``; ``x_max`` / ``range_A`` are NaN / () for a range not calibrated.
    """
    if not isinstance(config, CrossbarConfig):
        raise TypeError(f"config: received {type(config).__name__}; expected a refsim.CrossbarConfig")
    if method not in ("percentile", "search"):
        raise ValueError(f"method: received {method!r}; expected 'percentile' or 'search'")
    ranges = _check_ranges(ranges)
    pairs = _pairs(W, x)
    if rngs is None:
        rngs = [lambda: np.random.default_rng(seed)] * len(pairs)
    if method == "percentile":
        x_max = profile_input_range([xi for _, xi in pairs], percentile) if "dac" in ranges else None
        range_a = None
        if "adc" in ranges:
            x_dac = x_max
            if x_dac is None:
                x_dac = (config.dac.x_max if config.dac.range_mode == "fixed"
                         else profile_input_range([xi for _, xi in pairs], 100.0))
            range_a = profile_adc_ranges(pairs, config, x_dac, percentile, rngs)
    else:
        x_max, range_a = _search(pairs, config, rngs, tuple(scales), ranges)
    cal = _calibrated(config, x_max, range_a)
    nan = float("nan")
    return CalibrationResult(cal, nan if x_max is None else x_max, () if range_a is None else range_a,
                             _mse(pairs, cal, rngs) if measure else nan,
                             _mse(pairs, config, rngs) if measure else nan)
