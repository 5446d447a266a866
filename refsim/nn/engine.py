"""Per-layer configuration, per-layer random streams and matmul back ends.

Every layer of :mod:`refsim.nn` owns one or more weight matrices, each
programmed onto its own :class:`refsim.Crossbar` (or, with ``config=None``,
kept as an exact float64 matrix). This module decides, for a layer named
``name``:

* which :class:`refsim.CrossbarConfig` it uses (:func:`resolve_config`):
  a network takes one config for every layer, ``None`` (exact digital), or a
  callable ``name -> CrossbarConfig | None``;
* which random stream programs and reads its arrays (:func:`crossbar_rng`):
  derived from one integer seed and the layer *name*, so the result does not
  depend on the order in which layers are built or evaluated;
* how a multiply is run and, when asked, recorded (:func:`run_matmuls`).

Records are plain data (:class:`LayerRecord`): ``forward(x, records=d)`` fills the dict
``d`` with one record per layer and returns what ``forward(x)`` returns; nothing is stored on
the layers. :class:`WeightLayer` is what the weight layers (Linear, Conv2d, LSTM) share.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Union

import numpy as np

from refsim.config import CrossbarConfig
from refsim.crossbar import Crossbar
from refsim.presets import CalibrationRequiredError, calibration_problem

from refsim.streams import keyed_rng

__all__ = [
    "LayerConfig",
    "LayerRecord",
    "DigitalMatmul",
    "resolve_config",
    "announcing",
    "check_seed",
    "crossbar_rng",
    "program_matmul",
    "run_matmuls",
    "combine_clip_fractions",
    "MultiplyStats",
    "combine_stats",
    "make_record",
    "check_forward_args",
    "WeightLayer",
]

#: What a network or layer accepts as ``config``: one config for every layer, None (exact
#: digital), or a callable ``layer name -> CrossbarConfig | None``.
LayerConfig = Union[CrossbarConfig, None, Callable[[str], Union[CrossbarConfig, None]]]


def resolve_config(config: LayerConfig, name: str):
    """Resolve the crossbar configuration of the layer called ``name``.

    Parameters
    ----------
    config : CrossbarConfig, None, or callable
        One config for every layer; ``None`` for exact digital matmuls
        (plain NumPy, the comparison baseline); or a callable
        ``layer_name -> CrossbarConfig | None`` for per-layer choices.
    name : str
        Dotted layer name, e.g. ``"layer1.0.conv1"`` (PyTorch naming).

    Returns
    -------
    CrossbarConfig or None
    """
    if config is None or isinstance(config, CrossbarConfig):
        return config
    if callable(config):
        out = config(name)
        if out is None or isinstance(out, CrossbarConfig):
            return out
        raise TypeError(
            f"config({name!r}): received {type(out).__name__} from the config callable; "
            "expected a refsim.CrossbarConfig or None"
        )
    raise TypeError(
        f"config: received {type(config).__name__}; expected a refsim.CrossbarConfig, None, or a callable "
        "layer_name -> CrossbarConfig | None"
    )


def announcing(config: LayerConfig, on_layer) -> LayerConfig:
    """``config`` (as :func:`resolve_config` takes it), calling ``on_layer(name)`` as each layer
    resolves its config: a progress hook for building a network. ``on_layer=None`` returns
    ``config`` itself."""
    if on_layer is None:
        return config

    def announced(name: str):
        on_layer(name)
        return resolve_config(config, name)

    return announced


def check_seed(seed) -> int:
    """Validate a layer/network seed (a non-negative Python or NumPy int)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: received {seed!r}; expected a non-negative int")
    if seed < 0:
        raise ValueError(f"seed: received {seed}; expected a non-negative int")
    return int(seed)


def crossbar_rng(seed: int, name: str, index: int = 0) -> np.random.Generator:
    r"""Random stream of the ``index``-th crossbar of layer ``name``.

    It is :func:`refsim.streams.keyed_rng` ``(seed, ("layer", name, index))``, the one
    derivation of every stream of refsim.

    The stream depends only on ``(seed, name, index)``: building or running
    layers in another order gives bit-identical results, and distinct names
    give independent streams.
    """
    return keyed_rng(check_seed(seed), ("layer", str(name), int(index)))


class DigitalMatmul:
    """Exact float64 ``y = x @ W``: the ``config=None`` back end (no physics).

    Same interface as :class:`refsim.Crossbar` for what layers use
    (``matvec``, ``weights``, ``n_arrays``); it uses no physical arrays.
    ``copy=False`` wraps ``W`` without copying (for a layer's own weights).
    """

    n_arrays = 0

    def __init__(self, W: np.ndarray, copy: bool = True):
        W = np.array(W, dtype=np.float64, order="C", copy=True) if copy else W
        if copy:
            W.setflags(write=False)
        self._W = W

    @property
    def weights(self) -> np.ndarray:
        """The matrix ``W (n_in, n_out)``."""
        return self._W

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """``x (..., n_in) -> x @ W (..., n_out)``, as one 2-D product over the flattened rows.

        (NumPy's stacked ``(N, L, n_in) @ (n_in, n_out)`` runs one small product
        per leading index and is many times slower; :class:`refsim.Crossbar`
        flattens the same way.)
        """
        x = np.asarray(x)
        return (x.reshape(-1, x.shape[-1]) @ self._W).reshape(*x.shape[:-1], self._W.shape[1])


def program_matmul(W: np.ndarray, config, rng: np.random.Generator, name: str | None = None):
    """Program ``W`` (n_in, n_out) onto a crossbar, or keep it digital if ``config`` is None.

    Either way the returned object owns a private read-only copy of ``W``
    (``.weights``), which layers use for their exact digital path. ``name`` (the layer's)
    is what the crossbar's warnings call it.
    """
    if config is None:
        return DigitalMatmul(W)
    return Crossbar(W, config, rng=rng, name=name)


class MultiplyStats(NamedTuple):
    """What one recorded analog multiply reports to its layer (from its :class:`refsim.Trace`)."""

    clip_fraction: float  # ADC conversions clipped
    n_outputs: int  # size of y (the weight of this multiply in the layer's means)
    dac_clip_fraction: float  # inputs clipped by the DAC
    codes: Any  # refsim.health.CodeTally of the ADC codes (H1); None for an ideal ADC
    matrix_shape: tuple  # (n_in, n_out) of the crossbar
    array_shape: tuple  # (rows, cols) of its largest tile
    n_tiles: int


def run_matmuls(matmuls, xs, stats: list | None = None) -> list[np.ndarray]:
    """Run ``matmuls[k].matvec(xs[k])`` for every k.

    When ``stats`` is a list, analog multiplies are run through
    ``Crossbar.trace`` (same result as ``matvec``) and one :class:`MultiplyStats`
    per analog multiply is appended to it.
    """
    ys = []
    for mm, x in zip(matmuls, xs):
        if stats is None or isinstance(mm, DigitalMatmul):
            ys.append(mm.matvec(x))
        else:
            tr = mm.trace(x)
            ys.append(tr.y)
            tiles = mm.tiles
            stats.append(MultiplyStats(
                float(tr.clip_fraction), int(np.size(tr.y)), float(tr.dac_clip_fraction), tr.adc_codes_tally,
                tuple(mm.shape), max(((t.r1 - t.r0, t.c1 - t.c0) for t in tiles), key=lambda s: s[0] * s[1]),
                len(tiles)))
    return ys


def combine_clip_fractions(stats: list) -> float:
    """Output-weighted mean ADC clip fraction of several multiplies (NaN if none)."""
    total = sum(s[1] for s in stats)
    if total == 0:
        return float("nan")
    return float(sum(s[0] * s[1] for s in stats) / total)


def combine_stats(stats: list) -> dict:
    """The layer-level statistics of several recorded multiplies (:class:`MultiplyStats`): the
    output-weighted mean DAC clip fraction, the ADC codes' zero fraction and levels used over all
    of them (H1, NaN / None for an ideal ADC), the crossbars' matrix and largest array shapes and
    their tile count (of the first multiply: a layer's multiplies share them but for groups)."""
    stats = [s for s in stats if isinstance(s, MultiplyStats)]
    out = {"dac_clip_fraction": float("nan"), "adc_zero_fraction": float("nan"), "adc_levels_used": None,
           "adc_levels_available": None, "matrix_shape": None, "array_shape": None, "n_tiles": 0}
    total = sum(s.n_outputs for s in stats)
    if not stats or total == 0:
        return out
    out["dac_clip_fraction"] = float(sum(s.dac_clip_fraction * s.n_outputs for s in stats) / total)
    tallies = [s.codes for s in stats if s.codes is not None]
    if tallies:
        from refsim.health import CodeTally

        merged = CodeTally((tallies[0].k_lo, tallies[0].k_hi))
        for t in tallies:
            merged.merge(t)
        out.update(adc_zero_fraction=merged.zero_fraction, adc_levels_used=merged.levels_used,
                   adc_levels_available=merged.levels_available)
    out.update(matrix_shape=stats[0].matrix_shape, array_shape=stats[0].array_shape, n_tiles=stats[0].n_tiles)
    return out


@dataclass(frozen=True)
class LayerRecord:
    """What one layer saw and produced during ``forward(x, records=records)``.

    Attributes
    ----------
    name : str
        Dotted layer name (PyTorch naming).
    kind : str
        ``"linear"``, ``"conv2d"``, ``"lstm"`` or ``"attention"``.
    input, output : ndarray
        The layer's input and output in this forward pass. For a layer
        ``layer = net.layers()[name]``, ``layer.forward(input, digital=True)``
        recomputes the output with exact float64 matmuls (same weights).
    analog : bool
        True if at least one weight matrix ran on crossbars.
    n_arrays : int
        Physical arrays used by the layer's weights (0 when digital).
    clip_fraction : float
        Fraction of ADC outputs clipped, weighted by outputs over the layer's
        multiplies (NaN when the layer is digital).
    runtime_arrays : bool
        True if activation-by-activation products ran on arrays programmed at
        run time (attention with ``runtime_config``).
    extra : dict
        Layer-specific data (e.g. the LSTM's initial state, attention weights).
    """

    name: str
    kind: str
    input: np.ndarray
    output: np.ndarray
    analog: bool
    n_arrays: int
    clip_fraction: float
    runtime_arrays: bool = False
    extra: dict = field(default_factory=dict)
    #: :func:`combine_stats` of the layer's multiplies: DAC clipping, ADC codes' zero fraction and
    #: levels used (H1), matrix and array shapes, tiles (empty for a digital layer)
    stats: dict = field(default_factory=dict)


def make_record(layer, x, y, digital: bool, stats: list | None, **fields) -> LayerRecord:
    """Build the :class:`LayerRecord` of ``layer`` for input ``x`` and output ``y``."""
    analog = (not digital) and layer.config is not None
    return LayerRecord(
        name=layer.name,
        kind=layer.kind,
        input=x,
        output=y,
        analog=analog,
        n_arrays=int(layer.n_arrays) if analog else 0,
        clip_fraction=combine_clip_fractions(stats or []) if analog else float("nan"),
        stats=combine_stats(stats or []) if analog else {},
        **fields,
    )


def check_forward_args(digital, records) -> None:
    """Validate the keyword arguments every ``forward`` takes: ``digital`` a bool, ``records``
    None or a dict (which the forward pass fills with one :class:`LayerRecord` per layer)."""
    if not isinstance(digital, bool):
        raise TypeError(f"digital: received {digital!r}; expected a bool")
    if records is not None and not isinstance(records, dict):
        raise TypeError(f"records: received {type(records).__name__}; expected None or a dict to fill")


class WeightLayer:
    """What the weight layers (:class:`~refsim.nn.Linear`, :class:`~refsim.nn.Conv2d`,
    :class:`~refsim.nn.LSTM`) share: a name, a seed, a resolved config, matrices programmed on
    crossbars (or kept digital), and the record of a forward pass.

    Subclasses set ``kind`` and ``self.matmuls`` (a list or dict of back ends) and implement
    ``forward(..., digital=False, records=None)``.
    """

    kind = "layer"

    def __init__(self, name: str, config, seed: int):
        self.name = name
        self.seed = check_seed(seed)
        self.config = resolve_config(config, name)
        #: why this layer may not run analog (an uncalibrated preset that needs calibration), or None
        self.calibration_problem = calibration_problem(self.config, f"layer {name!r}")

    def program(self, W: np.ndarray, stream: str, index: int = 0, label: str | None = None):
        """``W (n_in, n_out)`` on a crossbar programmed from stream ``crossbar_rng(seed, stream, index)``
        (or kept digital when the config is None); ``label`` names the crossbar in warnings
        (default: the stream name)."""
        return program_matmul(W, self.config, crossbar_rng(self.seed, stream, index), label or stream)

    @property
    def n_arrays(self) -> int:
        """Physical arrays holding this layer's weights (0 if digital)."""
        mms = self.matmuls.values() if isinstance(self.matmuls, dict) else self.matmuls
        return int(sum(mm.n_arrays for mm in mms))

    def backend(self, mm, digital: bool):
        """The back end a multiply uses: ``mm`` itself, or exact ``x @ W`` with its weights. An analog
        multiply with a preset that needs calibration, uncalibrated, raises
        :class:`refsim.presets.CalibrationRequiredError` (:func:`refsim.presets.check_calibrated`)."""
        if digital:
            return DigitalMatmul(mm.weights, copy=False)
        if self.calibration_problem is not None:
            raise CalibrationRequiredError(self.calibration_problem)
        return mm

    def add_record(self, records, x, y, digital: bool, stats, **fields) -> None:
        """Put this layer's :class:`LayerRecord` into ``records`` (if recording)."""
        if records is not None:
            records[self.name] = make_record(self, x, y, digital, stats, **fields)
