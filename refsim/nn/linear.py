"""Linear (fully connected) layer on crossbars.

PyTorch layout and names: ``weight`` (out_features, in_features), ``bias``
(out_features,). The crossbar holds ``W = weight.T`` (n_in, n_out) so that
``y = x @ W`` (MODEL_SPEC section 0); the bias is added digitally after the
multiply.
"""
from __future__ import annotations

import numpy as np

from refsim.nn.engine import (
    DigitalMatmul,
    check_seed,
    crossbar_rng,
    forward_with_record,
    make_record,
    program_matmul,
    resolve_config,
    run_matmuls,
)
from refsim.nn.functional import as_float64

__all__ = ["Linear", "check_bias"]

def check_bias(bias, n_out: int, name: str):
    """Validate an optional bias vector of length ``n_out`` (float64 or None)."""
    if bias is None:
        return None
    b = as_float64(bias, name, ndim=1, finite=True)
    if b.shape != (n_out,):
        raise ValueError(f"{name}: received shape {b.shape}; expected shape ({n_out},)")
    return b

class Linear:
    r"""Fully connected layer: every weight multiply on a crossbar.

    .. math:: y = \mathrm{xbar}(x;\ W^\top) + b \approx x W^\top + b

    Parameters
    ----------
    weight : ndarray, shape (out_features, in_features)
    bias : ndarray, shape (out_features,), or None
    name : str
        Layer name, used for the per-layer config and random stream.
    config : CrossbarConfig, None or callable
        See :func:`refsim.nn.engine.resolve_config`; None = exact digital.
    seed : int
        Network seed; this layer's stream is ``crossbar_rng(seed, name)``.

    Shapes: x (..., in_features) -> y (..., out_features).
    """

    kind = "linear"

    def __init__(self, weight, bias=None, *, name: str = "linear", config=None, seed: int = 0):
        w = as_float64(weight, f"{name}.weight", ndim=2, finite=True)  # (out, in)
        self.bias = check_bias(bias, w.shape[0], f"{name}.bias")
        self.name = name
        self.seed = check_seed(seed)
        self.config = resolve_config(config, name)
        # the crossbar (or digital back end) holds the private copy W = weight.T (in, out)
        self.matmul = program_matmul(w.T, self.config, crossbar_rng(self.seed, name))
        self.W = self.matmul.weights  # (in, out), read-only

    @property
    def weight(self) -> np.ndarray:
        """PyTorch-layout weight (out_features, in_features), a read-only view."""
        return self.W.T

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    @property
    def n_arrays(self) -> int:
        """Physical arrays holding this layer's weights (0 if digital)."""
        return int(self.matmul.n_arrays)

    def forward(self, x, *, digital: bool = False, record: bool = False):
        """Apply the layer. ``digital=True``: exact ``x @ W`` with the same weights.

        Returns ``y`` or, with ``record=True``, ``(y, {name: LayerRecord})``.
        """
        return forward_with_record(self._run, x, digital, record)

    __call__ = forward

    def _run(self, x, digital, records):
        x = as_float64(x, f"{self.name} input")
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self.name} input: received shape {x.shape}; expected shape (..., {self.in_features})"
            )
        stats = [] if records is not None else None
        mm = DigitalMatmul(self.W, copy=False) if digital else self.matmul
        (y,) = run_matmuls([mm], [x], stats)  # (..., out)
        if self.bias is not None:
            y = y + self.bias
        if records is not None:
            records[self.name] = make_record(self, x, y, digital, stats)
        return y

    def digital_replay(self, rec):
        """Output of this layer recomputed with exact matmuls from a record's input."""
        return self.forward(rec.input, digital=True)
