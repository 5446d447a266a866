"""Calibration of fixed DAC and ADC ranges from a calibration set (docs/MODEL.md steps 7 and 11).

A calibrated crossbar has ``dac.range_mode="fixed"`` with ``dac.x_max`` and
``adc.range_mode="fixed"`` with one ``adc.range_A`` per weight slice. The ranges are
profiled once, on calibration inputs, and are constants of the returned config: at
inference nothing is taken from the data being evaluated.

Two methods:

* ``"percentile"`` (profiling, as CrossSim's calibrated ranges):

  .. math:: x_{max} = P_p(|x|)  \\qquad (\\text{over every element of every calibration input})   \\tag{C1}

  .. math:: I_{fs,k} = P_p(|I_{k}|)  \\qquad (\\text{over every column current of every read of slice } k)  \\tag{C2}

  The currents of (C2) are traced with the DAC already at its calibrated range and an
  ideal ADC (``adc.bits=None``), so they are the currents the ADC will see.
* ``"search"``: a grid over candidate ranges, ``x_max = s max|x|`` then (with that DAC)
  ``I_fs,k = s' max|I_k|``, each chosen to minimize the output mean squared error against
  the exact product on the calibration set:

  .. math:: \\mathrm{MSE} = \\mathrm{mean}_{b,j} (y_{bj} - (x W)_{bj})^2           \\tag{C3}

For a network, :func:`calibrate_network` profiles every crossbar layer on its own
inputs (from ``net.forward(x, records=records)``) and returns ``{layer_name: config}``;
:func:`save_layer_configs` / :func:`load_layer_configs` write and read them as JSON and
give back the ``callable(layer_name) -> config`` that :mod:`refsim.nn` accepts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refsim.config import CrossbarConfig
from refsim.crossbar import Crossbar

__all__ = ["CalibrationResult", "profile_input_range", "profile_adc_ranges", "calibrate_crossbar",
           "calibrate_network", "save_layer_configs", "load_layer_configs", "LayerConfigs", "DEFAULT_SCALES"]

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
        raise ValueError(f"percentile: expected a number in (0, 100], received {p!r}")
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
    a = np.abs(np.concatenate([x.ravel() for x in xs]))
    v = float(np.percentile(a, _check_percentile(percentile)))
    if v <= 0:
        v = float(a.max()) if a.max() > 0 else 1.0
    return v


def _slice_currents(trs, n_slices: int) -> list[np.ndarray]:
    """|I| of every column current of every read, grouped by weight slice."""
    out: list[list[np.ndarray]] = [[] for _ in range(n_slices)]
    for tr in trs:
        for t in tr.tiles:
            for r in t.reads:
                out[r.k].append(np.abs(r.current_A).ravel())
    return [np.concatenate(c) if c else np.zeros(1) for c in out]


def _probe_config(cfg: CrossbarConfig, x_max: float) -> CrossbarConfig:
    """The config with the DAC at ``x_max`` (fixed) and an ideal ADC: for profiling currents."""
    return cfg.replace(**{"dac.range_mode": "fixed", "dac.x_max": float(x_max), "adc.bits": None})


def _traces(pairs, cfg: CrossbarConfig, rngs) -> list:
    return [Crossbar(w, cfg, rng=rng()).trace(x) for (w, x), rng in zip(pairs, rngs)]


def profile_adc_ranges(pairs, cfg: CrossbarConfig, x_max: float, percentile: float, rngs) -> tuple[float, ...]:
    """(C2): ``I_fs,k = P_p(|I_k|)`` per weight slice, traced with the DAC fixed at ``x_max``.

    A slice whose currents are all 0 gets the current of one full-scale cell,
    ``g_max_S v_read_V``.
    """
    p = _check_percentile(percentile)
    cur = _slice_currents(_traces(pairs, _probe_config(cfg, x_max), rngs), cfg.weight.n_slices)
    out = []
    for c in cur:
        v = float(np.percentile(c, p))
        if v <= 0:
            v = float(c.max()) if c.max() > 0 else cfg.mapping.g_max_S * cfg.dac.v_read_V
        out.append(v)
    return tuple(out)


def _calibrated(cfg: CrossbarConfig, x_max: float, range_A: tuple[float, ...]) -> CrossbarConfig:
    return cfg.replace(**{"dac.range_mode": "fixed", "dac.x_max": float(x_max), "adc.range_mode": "fixed",
                          "adc.range_A": tuple(float(r) for r in range_A)})


def _mse(pairs, cfg: CrossbarConfig, rngs) -> float:
    err, n = 0.0, 0
    for (w, x), rng in zip(pairs, rngs):
        y = Crossbar(w, cfg, rng=rng()).matvec(x)
        err += float(np.sum((y - x @ w) ** 2))
        n += y.size
    return err / n


def _search(pairs, cfg, rngs, scales) -> tuple[float, tuple[float, ...]]:
    """Grid search of (C3): DAC scale first (ideal ADC), then one ADC scale for all slices."""
    x_top = profile_input_range([x for _, x in pairs], 100.0)
    ideal_adc = cfg.replace(**{"adc.bits": None})
    best = min(scales, key=lambda s: _mse(pairs, _probe_config(ideal_adc, s * x_top), rngs))
    x_max = best * x_top
    i_top = profile_adc_ranges(pairs, cfg, x_max, 100.0, rngs)
    s_adc = min(scales, key=lambda s: _mse(pairs, _calibrated(cfg, x_max, tuple(s * i for i in i_top)), rngs))
    return x_max, tuple(s_adc * i for i in i_top)


def calibrate_crossbar(W, x, config: CrossbarConfig, *, method: str = "percentile", percentile: float = 99.9,
                       seed: int = 0, scales: tuple[float, ...] = DEFAULT_SCALES, rngs=None) -> CalibrationResult:
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

    Returns a :class:`CalibrationResult`; its ``config`` has fixed ranges.
    """
    if not isinstance(config, CrossbarConfig):
        raise TypeError(f"config: expected a refsim.CrossbarConfig, received {type(config).__name__}")
    if method not in ("percentile", "search"):
        raise ValueError(f"method: expected 'percentile' or 'search', received {method!r}")
    pairs = _pairs(W, x)
    if rngs is None:
        rngs = [lambda: np.random.default_rng(seed)] * len(pairs)
    if method == "percentile":
        x_max = profile_input_range([xi for _, xi in pairs], percentile)
        range_a = profile_adc_ranges(pairs, config, x_max, percentile, rngs)
    else:
        x_max, range_a = _search(pairs, config, rngs, tuple(scales))
    cal = _calibrated(config, x_max, range_a)
    return CalibrationResult(cal, x_max, range_a, _mse(pairs, cal, rngs), _mse(pairs, config, rngs))


def calibrate_network(net, x, *, method: str = "percentile", percentile: float = 99.9,
                      analog_inputs: bool = False) -> dict[str, CrossbarConfig]:
    """Calibrate every crossbar layer of a :mod:`refsim.nn` network on calibration inputs ``x``.

    Layer inputs come from ``net.forward(x, digital=not analog_inputs, records=records)``: by
    default the exact (digital) activations. Each Linear/Conv2d layer with a config is
    calibrated on its crossbar inputs (im2col patches for a convolution, all groups
    together) with the crossbars programmed from the layer's own stream
    (``crossbar_rng(net seed, name, group)``). Other layer kinds raise
    ``NotImplementedError``. Returns ``{layer_name: calibrated config}``.
    """
    from refsim.golden.export import _layer_inputs
    from refsim.nn import Conv2d
    from refsim.nn.engine import crossbar_rng

    records: dict = {}
    net.forward(x, digital=not analog_inputs, records=records)
    out = {}
    for name, layer in net.layers().items():
        if layer.config is None:
            continue
        if name not in records:
            raise ValueError(f"layer {name!r} was not recorded by net.forward; cannot profile its inputs")
        xs, _ = _layer_inputs(layer, records[name].input)
        ws = layer.Ws if isinstance(layer, Conv2d) else [layer.W]
        rngs = [(lambda g=g: crossbar_rng(layer.seed, name, g)) for g in range(len(ws))]
        res = calibrate_crossbar(list(zip(ws, xs)), None, layer.config, method=method, percentile=percentile,
                                 rngs=rngs)
        out[name] = res.config
    return out


def save_layer_configs(path: str | Path, configs: dict[str, CrossbarConfig]) -> Path:
    """Write ``{layer_name: config.to_dict()}`` as JSON."""
    p = Path(path)
    p.write_text(json.dumps({k: c.to_dict() for k, c in configs.items()}, indent=1, sort_keys=True) + "\n")
    return p


class LayerConfigs:
    """``callable(layer_name) -> CrossbarConfig | None`` over a dict of per-layer configs.

    A name missing from the dict gets ``default`` when one was given (``None`` keeps that
    layer digital), else raises ``ValueError`` naming the layer.
    """

    _MISSING = object()

    def __init__(self, configs: dict[str, CrossbarConfig], default=_MISSING):
        self.configs = dict(configs)
        self.default = default

    def __call__(self, name: str):
        if name in self.configs:
            return self.configs[name]
        if self.default is LayerConfigs._MISSING:
            raise ValueError(f"layer {name!r}: no calibrated config (known: {sorted(self.configs)}); "
                             f"pass default= to load_layer_configs")
        return self.default

    def __repr__(self) -> str:
        return f"LayerConfigs({len(self.configs)} layers)"


def load_layer_configs(path: str | Path, default=LayerConfigs._MISSING) -> LayerConfigs:
    """Read a file of :func:`save_layer_configs`; returns the per-layer callable."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise ValueError(f"layer configs {str(p)!r} do not exist") from None
    if not isinstance(data, dict):
        raise ValueError(f"{str(p)!r}: expected a JSON object {{layer_name: config}}")
    return LayerConfigs({k: CrossbarConfig.from_dict(v) for k, v in data.items()}, default)
