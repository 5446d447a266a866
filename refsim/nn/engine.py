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
from typing import Callable, Union

import numpy as np

from refsim.config import CrossbarConfig
from refsim.crossbar import Crossbar

from refsim.streams import keyed_rng

__all__ = [
    "LayerConfig",
    "LayerRecord",
    "DigitalMatmul",
    "resolve_config",
    "check_seed",
    "crossbar_rng",
    "program_matmul",
    "run_matmuls",
    "combine_clip_fractions",
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
        """``x (..., n_in) -> x @ W (..., n_out)``."""
        return x @ self._W


def program_matmul(W: np.ndarray, config, rng: np.random.Generator):
    """Program ``W`` (n_in, n_out) onto a crossbar, or keep it digital if ``config`` is None.

    Either way the returned object owns a private read-only copy of ``W``
    (``.weights``), which layers use for their exact digital path.
    """
    if config is None:
        return DigitalMatmul(W)
    return Crossbar(W, config, rng=rng)


def run_matmuls(matmuls, xs, stats: list | None = None) -> list[np.ndarray]:
    """Run ``matmuls[k].matvec(xs[k])`` for every k.

    When ``stats`` is a list, analog multiplies are run through
    ``Crossbar.trace`` (same result as ``matvec``) and one
    ``(clip_fraction, n_outputs)`` pair per analog multiply is appended to it.
    """
    ys = []
    for mm, x in zip(matmuls, xs):
        if stats is None or isinstance(mm, DigitalMatmul):
            ys.append(mm.matvec(x))
        else:
            tr = mm.trace(x)
            ys.append(tr.y)
            stats.append((float(tr.clip_fraction), int(np.size(tr.y))))
    return ys


def combine_clip_fractions(stats: list) -> float:
    """Output-weighted mean ADC clip fraction of several multiplies (NaN if none)."""
    total = sum(n for _, n in stats)
    if total == 0:
        return float("nan")
    return float(sum(f * n for f, n in stats) / total)


@dataclass(frozen=True)
class LayerRecord:
    """What one layer saw and produced during ``forward(x, record=True)``.

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

    def program(self, W: np.ndarray, stream: str, index: int = 0):
        """``W (n_in, n_out)`` on a crossbar programmed from stream ``crossbar_rng(seed, stream, index)``
        (or kept digital when the config is None)."""
        return program_matmul(W, self.config, crossbar_rng(self.seed, stream, index))

    @property
    def n_arrays(self) -> int:
        """Physical arrays holding this layer's weights (0 if digital)."""
        mms = self.matmuls.values() if isinstance(self.matmuls, dict) else self.matmuls
        return int(sum(mm.n_arrays for mm in mms))

    @staticmethod
    def backend(mm, digital: bool):
        """The back end a multiply uses: ``mm`` itself, or exact ``x @ W`` with its weights."""
        return DigitalMatmul(mm.weights, copy=False) if digital else mm

    def add_record(self, records, x, y, digital: bool, stats, **fields) -> None:
        """Put this layer's :class:`LayerRecord` into ``records`` (if recording)."""
        if records is not None:
            records[self.name] = make_record(self, x, y, digital, stats, **fields)
