"""Calibration of fixed DAC and ADC ranges from a calibration set (docs/MODEL.md steps 7 and 11).

A calibrated crossbar has ``dac.range_mode="fixed"`` with ``dac.x_max`` and
``adc.range_mode="fixed"`` with one ``adc.range_A`` per weight slice. The ranges are
profiled once, on calibration inputs, and are constants of the returned config: at
inference nothing is taken from the data being evaluated.

Two methods:

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
``("adc",)``. A calibrated config is named as derived: ``"<name>+cal"``.

For a network, :func:`calibrate_network` profiles every crossbar layer on its own
inputs (from ``net.forward(x, records=records)``) and returns ``{layer_name: config}``; it
profiles only what the ranges need (one multiply per layer with an ideal ADC that keeps only its
ADC input currents, :meth:`refsim.Crossbar.adc_input_currents`, no trace; none
for a DAC-only calibration, and no error measurements), so it costs about one evaluation of
the calibration images. :func:`calibrate_model` does it for a model of
:mod:`refsim.tools.inference` with the ranges its preset declares
(:func:`refsim.presets.needs_calibration`);
:func:`save_layer_configs` / :func:`load_layer_configs` write and read them as JSON and
give back the ``callable(layer_name) -> config`` that :mod:`refsim.nn` accepts.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refsim.config import CrossbarConfig
from refsim.crossbar import Crossbar
from refsim.health import DeadCrossbarWarning

__all__ = ["MAX_PROFILE_VECTORS", "CalibrationResult", "profile_input_range", "profile_adc_ranges", "calibrate_crossbar",
           "calibrate_network", "calibrate_model", "calibration_ranges", "save_layer_configs", "load_layer_configs",
           "LayerConfigs", "DEFAULT_SCALES", "RANGES"]

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
    """``cfg`` with the ranges given (None: that converter keeps its range), named as derived."""
    fields = {"name": derived_name(cfg.name)}
    if x_max is not None:
        fields.update({"dac.range_mode": "fixed", "dac.x_max": float(x_max), "dac.x_max_cap": None})
    if range_A is not None:
        fields.update({"adc.range_mode": "fixed", "adc.range_A": tuple(float(r) for r in range_A)})
    return cfg.replace(**fields)


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

    Returns a :class:`CalibrationResult`; its ``config`` has fixed ranges and the name
    ``"<name>+cal"``; ``x_max`` / ``range_A`` are NaN / () for a range not calibrated.
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


#: calibrate_network's ADC profile (C2) multiplies at most this many input vectors per crossbar.
MAX_PROFILE_VECTORS = 4096


def _profile_subset(layer, x_in: np.ndarray, max_vectors: int | None) -> np.ndarray:
    """The part of a layer's input whose crossbar inputs the ADC profile multiplies: for a convolution
    the first images (evenly strided) whose patches number at most ``max_vectors`` (one image at
    least), for a linear layer evenly strided rows; all of it with ``max_vectors=None``."""
    if max_vectors is None:
        return x_in
    from refsim.nn import Conv2d

    if isinstance(layer, Conv2d):
        n = x_in.shape[0]
        from refsim.nn.functional import im2col

        _, oh, ow = im2col(x_in[:1], layer.kernel_size, layer.stride, layer.padding, layer.dilation)
        per_image = oh * ow  # patches (crossbar input vectors) per image
        k = max(1, min(n, max_vectors // max(per_image, 1)))
        return x_in[np.linspace(0, n - 1, k).round().astype(int)] if k < n else x_in
    rows = x_in.reshape(-1, x_in.shape[-1])
    if rows.shape[0] <= max_vectors:
        return x_in
    return rows[np.linspace(0, rows.shape[0] - 1, max_vectors).round().astype(int)]


def calibrate_network(net, x, *, method: str = "percentile", percentile: float = 99.9,
                      analog_inputs: bool = False, ranges: tuple[str, ...] = RANGES,
                      max_vectors: int | None = MAX_PROFILE_VECTORS) -> dict[str, CrossbarConfig]:
    """Calibrate every crossbar layer of a :mod:`refsim.nn` network on calibration inputs ``x``.

    Layer inputs come from ``net.forward(x, digital=not analog_inputs, records=records)``: by
    default the exact (digital) activations. Each Linear/Conv2d layer with a config is
    calibrated with the crossbars programmed from the layer's own stream
    (``crossbar_rng(net seed, name, group)``). Other layer kinds raise
    ``NotImplementedError``. ``ranges``: what to calibrate (:func:`calibrate_crossbar`); no error
    is measured. Returns ``{layer_name: calibrated config}``.

    ``method="percentile"`` profiles only what it needs: (C1) over the layer's input
    activations, each element once (a convolution's im2col patches repeat them; none are
    built for the DAC), and (C2) by one multiply of the crossbars with an ideal ADC that keeps
    only the ADC input currents (no trace), on the crossbar inputs of at most ``max_vectors``
    input vectors per crossbar (whole images for a convolution, evenly strided; ``None``: all). ``method="search"`` runs
    :func:`calibrate_crossbar` on every crossbar input (im2col patches, all groups together).
    """
    from refsim.golden.export import _layer_inputs
    from refsim.nn import Conv2d
    from refsim.nn.engine import crossbar_rng

    ranges = _check_ranges(ranges)
    layers = net.layers()

    def profile(name: str, x_in: np.ndarray) -> CrossbarConfig:
        layer = layers[name]
        ws = layer.Ws if isinstance(layer, Conv2d) else [layer.W]
        rngs = [(lambda g=g, name=name, layer=layer: crossbar_rng(layer.seed, name, g)) for g in range(len(ws))]
        x_in = np.asarray(x_in, dtype=np.float64)
        if method != "percentile":
            xs, _ = _layer_inputs(layer, x_in)
            return calibrate_crossbar(list(zip(ws, xs)), None, layer.config, method=method, percentile=percentile,
                                      rngs=rngs, ranges=ranges, measure=False).config
        cfg = layer.config
        x_max = profile_input_range([x_in], percentile) if "dac" in ranges else None
        range_a = None
        if "adc" in ranges:
            x_dac = x_max if x_max is not None else (
                cfg.dac.x_max if cfg.dac.range_mode == "fixed" else profile_input_range([x_in], 100.0))
            xs, _ = _layer_inputs(layer, _profile_subset(layer, x_in, max_vectors))
            range_a = profile_adc_ranges(list(zip(ws, xs)), cfg, x_dac, percentile, rngs)
        return _calibrated(cfg, x_max, range_a)

    records = _ProfiledRecords(lambda name, rec: profile(name, rec.input)
                               if name in layers and layers[name].config is not None else None)
    net.forward(x, digital=not analog_inputs, records=records)
    out = {}
    for name, layer in layers.items():
        if layer.config is None:
            continue
        if name not in records:
            raise ValueError(f"layer {name!r} was not recorded by net.forward; cannot profile its inputs")
        out[name] = records[name]
    return out


class _ProfiledRecords(dict):
    """The ``records`` dict of :func:`calibrate_network`'s forward: each layer's record is profiled as it
    arrives and only the result is kept, so the forward never holds every layer's input at once (a
    layer recorded twice is profiled again on its last input, as a plain dict would keep it)."""

    def __init__(self, fn):
        super().__init__()
        self._fn = fn

    def __setitem__(self, name, record) -> None:
        super().__setitem__(name, self._fn(name, record))


def calibration_ranges(config: CrossbarConfig) -> tuple[str, ...]:
    """The ranges a config's preset calibrates (:func:`refsim.presets.needs_calibration`, looked
    up by :func:`refsim.presets.base_name` of ``config.name``); ``("dac", "adc")`` for a config of
    no preset or of a preset that declares nothing."""
    from refsim import presets

    name = presets.base_name(config.name)
    what = presets.needs_calibration(name) if name is not None else None
    if what is None:
        return RANGES
    head = what.split(":", 1)[0]
    return tuple(r for r in RANGES if r in head)


def calibrate_model(model, images, *, ranges: tuple[str, ...] | None = None, method: str = "percentile",
                    percentile: float = 99.9) -> "LayerConfigs":
    """Calibrate the crossbar layers of ``model`` (:func:`refsim.tools.inference.build_model`) on
    ``images`` and return the per-layer configs to build it again with (same seed: same programming).

    Parameters
    ----------
    model : a Model whose network was built with one CrossbarConfig for every layer.
    images : (N, 3, H, W) preprocessed calibration images (never the evaluated ones), or a
        Dataset / sequence of raw images (preprocessed here).
    ranges : what to calibrate; None takes what the config's preset declares (:func:`calibration_ranges`).

    Returns a :class:`LayerConfigs` (``default=None``: layers not calibrated stay digital) whose
    configs are named ``"<name>+cal"``; :func:`save_layer_configs` writes it for reuse.

    Example::

        model = build_model("cifar-resnet20", "resnet20.th", presets.get("rasch2023_standard"))
        cal = calibrate_model(model, load_dataset("cifar10_train_subset.npz", limit=32, model=model))
        model = build_model("cifar-resnet20", "resnet20.th", cal)   # evaluate this one
    """
    from refsim.tools.inference import preprocess_image
    from refsim.tools.preprocess import load_image

    x = images
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        kind = getattr(images, "kind", None)
        items = getattr(images, "images", images)
        x = np.stack([preprocess_image(load_image(i) if kind == "folder" else i, model) for i in items])
    if x.shape[0] == 0:
        raise ValueError("images: received no calibration image; expected at least one")
    configs = {name: layer.config for name, layer in model.net.layers().items() if layer.config is not None}
    if not configs:
        return LayerConfigs({}, default=None)
    if ranges is None:
        ranges = calibration_ranges(next(iter(configs.values())))
    out = calibrate_network(model.net, x, method=method, percentile=percentile, ranges=ranges)
    return LayerConfigs(out, default=None)


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
