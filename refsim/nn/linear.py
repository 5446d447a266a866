"""Linear (fully connected) layer on crossbars.

PyTorch layout and names: ``weight`` (out_features, in_features), ``bias``
(out_features,). The crossbar holds ``W = weight.T`` (n_in, n_out) so that
``y = x @ W`` (docs/MODEL.md section 0); the bias is added digitally after the
multiply.
"""
from __future__ import annotations

import numpy as np

from refsim.nn.engine import WeightLayer, check_forward_args, run_matmuls
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

class Linear(WeightLayer):
    """Fully connected layer: every weight multiply on a crossbar (L10): (..., in) -> (..., out).

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
        super().__init__(name, config, seed)
        # the crossbar (or digital back end) holds the private copy W = weight.T (in, out)
        self.matmul = self.program(w.T, name)
        self.matmuls = [self.matmul]
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

    def forward(self, x, *, digital: bool = False, records: dict | None = None):
        """Apply the layer: ``y (..., out_features)``. ``digital=True``: exact ``x @ W`` with the
        same weights. ``records``: a dict that receives this layer's :class:`LayerRecord`."""
        check_forward_args(digital, records)
        x = as_float64(x, f"{self.name} input")
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self.name} input: received shape {x.shape}; expected shape (..., {self.in_features})"
            )
        stats = [] if records is not None else None
        (y,) = run_matmuls([self.backend(self.matmul, digital)], [x], stats)  # (..., out)
        if self.bias is not None:
            y = y + self.bias
        self.add_record(records, x, y, digital, stats)
        return y

    __call__ = forward

    def digital_replay(self, rec):
        """Output of this layer recomputed with exact matmuls from a record's input."""
        return self.forward(rec.input, digital=True)
