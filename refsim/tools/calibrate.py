"""Calibration of networks and models: fixed DAC and ADC ranges per layer, and the files that keep them.

The ranges of one crossbar (docs/MODEL.md section 7: the percentile profiles C1, C2 and the
search C3) are computed by :mod:`refsim.tools.calibrate_ranges`, whose names are re-exported
here (``from refsim.tools.calibrate import calibrate_crossbar`` works).

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
from pathlib import Path

import numpy as np

from refsim.config import CrossbarConfig
# one crossbar's ranges (C1-C3), re-exported: the public names of refsim.tools.calibrate stay
from refsim.tools.calibrate_ranges import (DEFAULT_SCALES, RANGES, CalibrationResult, _calibrated, _check_ranges,
                                           calibrate_crossbar, derived_name, profile_adc_ranges,
                                           profile_input_range)

__all__ = ["MAX_PROFILE_VECTORS", "CalibrationResult", "profile_input_range", "profile_adc_ranges", "calibrate_crossbar",
           "calibrate_network", "calibrate_model", "calibration_ranges", "save_layer_configs", "load_layer_configs",
           "LayerConfigs", "DEFAULT_SCALES", "RANGES", "derived_name"]


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
    need = presets.required_calibration(name) if name is not None else ()
    return tuple(r for r in RANGES if r in need) if need else RANGES


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
    configs have ``ranges`` in their field ``calibrated`` and are named ``"<name>+cal"``; :func:`save_layer_configs` writes it for reuse.

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
    """Read a file of :func:`save_layer_configs`; returns the per-layer callable.

    Every defect is a ``ValueError`` (``TypeError`` for an entry of the wrong kind) naming the file:
    a missing file or a directory, bytes that are not UTF-8, text that is not JSON or nests too
    deeply, JSON that is not an object ``{layer_name: config}`` (a single config, a list), and any
    layer whose config is invalid (named).
    """
    from refsim._validate import read_json_file, received

    p = Path(path)
    where = f"layer configs {str(p)!r}"
    expected = "a JSON object {layer_name: config} written by refsim (calibration or refsim train)"
    data = read_json_file(p, where, file_expected=expected, json_expected=expected, utf8_expected=expected)
    if not isinstance(data, dict):
        raise ValueError(received(where, f"JSON of type {type(data).__name__}", expected))
    if "mapping" in data and isinstance(data.get("mapping"), dict) and "g_max_S" in data["mapping"]:
        raise ValueError(received(where, "a single crossbar config (sections weight, mapping, ...)", expected))
    configs = {}
    for name, cfg in data.items():
        try:
            configs[name] = CrossbarConfig.from_dict(cfg)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{where}: layer {name!r}: {exc}") from None
    return LayerConfigs(configs, default)
