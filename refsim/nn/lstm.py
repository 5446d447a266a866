"""LSTM on crossbars, with PyTorch ``nn.LSTM`` semantics and parameter names.

Design choice (documented in docs/layers.md): the input weights and the
hidden (recurrent) weights are on **two separate crossbars** per layer and
direction, ``W_ih^T`` (n_in, 4H) and ``W_hh^T`` (H, 4H), as in aihwkit's
analog LSTM cell. This keeps PyTorch's parameter split, lets the input
projection of all time steps run as one batched multiply, and gives each
matrix its own input/output scaling. Both biases are added digitally.
"""
from __future__ import annotations

import re

import numpy as np

from refsim.nn.engine import WeightLayer, check_forward_args, run_matmuls
from refsim.nn.functional import as_float64
from refsim.nn.functional import sigmoid as _sigmoid

__all__ = ["LSTM"]

_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")


class LSTM(WeightLayer):
    """Multi-layer, optionally bidirectional LSTM (PyTorch ``nn.LSTM``, eval): the cell of
    docs/MODEL.md (L12) for each layer and direction, gate order i, f, g, o.

    The reverse direction runs t = L-1 ... 0; layer k > 0 takes the
    concatenated (forward, reverse) outputs of layer k-1.

    Parameters
    ----------
    params : dict
        PyTorch keys ``weight_ih_l{k}`` (4H, in_k), ``weight_hh_l{k}`` (4H, H),
        optional ``bias_ih_l{k}``, ``bias_hh_l{k}`` (4H,), and the same with a
        ``_reverse`` suffix when bidirectional. Sizes, number of layers,
        direction and bias are inferred from the keys.
    batch_first : bool
        Input/output as (N, L, ·) instead of (L, N, ·).
    name, config, seed
        As for :class:`refsim.nn.Linear`; matrix ``weight_ih_l0`` uses
        ``crossbar_rng(seed, name + ".weight_ih_l0")``, and so on.
    """

    kind = "lstm"

    def __init__(self, params: dict, *, batch_first: bool = False, name: str = "lstm", config=None, seed: int = 0):
        if not isinstance(params, dict):
            raise TypeError(f"params: received {type(params).__name__}; expected a dict of PyTorch LSTM parameters")
        bad = sorted(k for k in params if not _KEY.match(k))
        if bad:
            if any(k.startswith("weight_hr") for k in bad):
                raise NotImplementedError("LSTM with proj_size > 0 (weight_hr_l*) is not supported.")
            raise ValueError(f"params: received unexpected keys {bad}; expected weight_ih_l{{k}}, weight_hh_l{{k}}, ...")
        if "weight_ih_l0" not in params or "weight_hh_l0" not in params:
            raise ValueError("params must contain 'weight_ih_l0' and 'weight_hh_l0'.")
        super().__init__(name, config, seed)
        self.batch_first = bool(batch_first)
        self.hidden_size = int(np.shape(params["weight_hh_l0"])[1])
        self.input_size = int(np.shape(params["weight_ih_l0"])[1])
        self.num_layers = 1 + max(int(_KEY.match(k).group(2)) for k in params)
        self.bidirectional = any(k.endswith("_reverse") for k in params)
        self.has_bias = "bias_ih_l0" in params
        self.params = self._check_params(params)
        # Crossbars: W_ih^T (n_in, 4H) and W_hh^T (H, 4H) per layer and direction
        self.Ws, self.matmuls = {}, {}
        for key, w in self.params.items():
            if key.startswith("weight"):
                self.matmuls[key] = self.program(w.T, f"{name}.{key}")
                self.Ws[key] = self.matmuls[key].weights  # (n_in, 4H), read-only

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _check_params(self, params: dict) -> dict:
        """Check every expected key is present with its PyTorch shape."""
        H, D = self.hidden_size, self.num_directions
        expected = {}
        for k in range(self.num_layers):
            n_in = self.input_size if k == 0 else D * H
            for sfx in [""] + (["_reverse"] if self.bidirectional else []):
                expected[f"weight_ih_l{k}{sfx}"] = (4 * H, n_in)
                expected[f"weight_hh_l{k}{sfx}"] = (4 * H, H)
                if self.has_bias:
                    expected[f"bias_ih_l{k}{sfx}"] = (4 * H,)
                    expected[f"bias_hh_l{k}{sfx}"] = (4 * H,)
        missing = sorted(set(expected) - set(params))
        extra = sorted(set(params) - set(expected))
        if missing or extra:
            raise ValueError(f"{self.name} params: received missing keys {missing}, unexpected keys {extra}; expected "
                                 f"{sorted(expected)}")
        out = {}
        for key, shape in expected.items():
            arr = as_float64(params[key], f"{self.name}.{key}", finite=True)
            if arr.shape != shape:
                raise ValueError(f"{self.name}.{key}: received shape {arr.shape}; expected shape {shape}")
            out[key] = arr.copy()
        return out

    def forward(self, x, hx=None, *, digital: bool = False, records: dict | None = None):
        """Run the LSTM.

        Parameters
        ----------
        x : ndarray, (L, N, H_in), (N, L, H_in) if batch_first, or unbatched (L, H_in)
        hx : (h0, c0) or None; each (D*num_layers, N, H) ((D*num_layers, H) unbatched)

        Returns
        -------
        output : (L, N, D*H) (or (N, L, D*H), or (L, D*H) unbatched)
        (h_n, c_n) : each (D*num_layers, N, H) (or (D*num_layers, H))

        ``records``: a dict that receives this layer's :class:`LayerRecord`.
        """
        check_forward_args(digital, records)
        xs, h0, c0, unbatched = self._prepare(x, hx)
        seq_len, n_batch, _ = xs.shape
        H, D = self.hidden_size, self.num_directions
        stats = [] if records is not None else None
        h_n, c_n = np.empty_like(h0), np.empty_like(c0)
        layer_in = xs
        for k in range(self.num_layers):
            out = np.empty((seq_len, n_batch, D * H))
            for d in range(D):
                sfx, idx = f"_l{k}" + ("_reverse" if d else ""), k * D + d
                bias = (self.params["bias_ih" + sfx] + self.params["bias_hh" + sfx]) if self.has_bias else 0.0
                w_ih = self.backend(self.matmuls["weight_ih" + sfx], digital)
                w_hh = self.backend(self.matmuls["weight_hh" + sfx], digital)
                # input projection of all steps at once: (L, N, 4H)
                (gx,) = run_matmuls([w_ih], [layer_in], stats)
                h, c = h0[idx], c0[idx]  # (N, H)
                for t in (range(seq_len - 1, -1, -1) if d else range(seq_len)):
                    (gh,) = run_matmuls([w_hh], [h], stats)
                    z = gx[t] + gh + bias  # (N, 4H), gate order i, f, g, o
                    i, f, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H : 2 * H]), _sigmoid(z[:, 3 * H :])
                    g = np.tanh(z[:, 2 * H : 3 * H])
                    c = f * c + i * g
                    h = o * np.tanh(c)
                    out[t, :, d * H : (d + 1) * H] = h
                h_n[idx], c_n[idx] = h, c
            layer_in = out
        if unbatched:
            output, h_n, c_n = layer_in[:, 0], h_n[:, 0], c_n[:, 0]
        else:
            output = layer_in.transpose(1, 0, 2) if self.batch_first else layer_in
        self.add_record(records, np.asarray(x, dtype=np.float64), output, digital, stats, extra={"hx": hx})
        return output, (h_n, c_n)

    __call__ = forward

    def _prepare(self, x, hx):
        x = as_float64(x, f"{self.name} input", ndim=(2, 3))
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{self.name} input: received shape {x.shape}; expected a last axis of {self.input_size} features")
        unbatched = x.ndim == 2
        xs = x[:, None] if unbatched else (x.transpose(1, 0, 2) if self.batch_first else x)  # (L, N, H_in)
        shape = (self.num_directions * self.num_layers, xs.shape[1], self.hidden_size)
        if hx is None:
            return xs, np.zeros(shape), np.zeros(shape), unbatched
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"hx: received {type(hx).__name__}; expected a pair (h0, c0) or None")
        states = []
        for label, s in zip(("h0", "c0"), hx):
            s = as_float64(s, label)
            s = s[:, None] if unbatched else s
            if s.shape != shape:
                raise ValueError(f"{label}: received {np.shape(hx[0 if label == 'h0' else 1])}; expected shape {shape if not unbatched else (shape[0], shape[2])}")
            states.append(s)
        return xs, states[0], states[1], unbatched

    def digital_replay(self, rec):
        """Output of this layer recomputed with exact matmuls from a record's input and state."""
        return self.forward(rec.input, rec.extra["hx"], digital=True)[0]
