r"""LSTM forward with a cache, and its backward through time (PyTorch ``nn.LSTM`` semantics).

The forward is the recurrence of :class:`refsim.nn.LSTM` (gate order i, f, g, o; multi-layer;
bidirectional), for each layer and direction, steps t in order (reversed for the reverse
direction):

.. math::
    z_t = x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}, \qquad
    i, f, o = \sigma(z^{(i)}), \sigma(z^{(f)}), \sigma(z^{(o)}), \quad g = \tanh(z^{(g)})

    c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t)

The backward walks the steps in the opposite order, carrying :math:`\partial L/\partial h` and
:math:`\partial L/\partial c` from step to step (backpropagation through time); see
:func:`lstm_backward`. The weight matmuls follow the straight-through convention of
:mod:`refsim.train.layers_grad`: an optional ``xbar`` dict may replace ``x W^T`` in the
forward, the backward always uses the weights.
"""
from __future__ import annotations

import numpy as np

from refsim.nn.functional import as_float64, sigmoid
from refsim.nn.lstm import LSTM

__all__ = ["lstm_forward", "lstm_backward"]


def lstm_forward(params: dict, x, hx=None, *, batch_first: bool = False, xbar: dict | None = None):
    r"""Run the LSTM and keep what the backward needs.

    Parameters
    ----------
    params : PyTorch ``nn.LSTM`` state dict (``weight_ih_l{k}``, ``weight_hh_l{k}``, optional
        biases, ``_reverse`` variants), checked as :class:`refsim.nn.LSTM` checks it.
    x : (L, N, H_in), or (N, L, H_in) with ``batch_first``
    hx : (h0, c0), each (D * num_layers, N, H), or None (zeros)
    xbar : optional dict ``weight key -> callable`` computing ``v @ W.T`` in the forward.

    Returns
    -------
    output : (L, N, D*H) (or (N, L, D*H)); (h_n, c_n) : each (D * num_layers, N, H); cache
    """
    spec = LSTM(params, batch_first=batch_first)  # validates keys and shapes; spec.params: float64 copies
    xs, h0, c0, unbatched = spec._prepare(x, hx)
    if unbatched:
        raise ValueError(f"x: received shape {np.shape(x)}; expected a batch (L, N, H_in) or (N, L, H_in)")
    p, H, D = spec.params, spec.hidden_size, spec.num_directions
    seq_len, n_batch, _ = xs.shape
    h_n, c_n = np.empty_like(h0), np.empty_like(c0)
    layer_in, steps = xs, []
    for k in range(spec.num_layers):
        out = np.empty((seq_len, n_batch, D * H))
        for d in range(D):
            sfx, idx = f"_l{k}" + ("_reverse" if d else ""), k * D + d
            w_ih, w_hh = p["weight_ih" + sfx], p["weight_hh" + sfx]
            bias = (p["bias_ih" + sfx] + p["bias_hh" + sfx]) if spec.has_bias else 0.0
            mm = xbar or {}
            gx = mm["weight_ih" + sfx](layer_in) if "weight_ih" + sfx in mm else layer_in @ w_ih.T  # (L, N, 4H)
            h, c = h0[idx], c0[idx]
            gates = [None] * seq_len
            for t in (range(seq_len - 1, -1, -1) if d else range(seq_len)):
                gh = mm["weight_hh" + sfx](h) if "weight_hh" + sfx in mm else h @ w_hh.T
                z = gx[t] + gh + bias  # (N, 4H)
                i, f, o = sigmoid(z[:, :H]), sigmoid(z[:, H : 2 * H]), sigmoid(z[:, 3 * H :])
                g = np.tanh(z[:, 2 * H : 3 * H])
                c_prev, h_prev = c, h
                c = f * c + i * g
                tc = np.tanh(c)
                h = o * tc
                gates[t] = (i, f, g, o, tc, c_prev, h_prev)
                out[t, :, d * H : (d + 1) * H] = h
            h_n[idx], c_n[idx] = h, c
            steps.append((k, d, sfx, layer_in, gates))
        layer_in = out
    output = layer_in.transpose(1, 0, 2) if batch_first else layer_in
    cache = dict(spec=spec, steps=steps, batch_first=batch_first)
    return output, (h_n, c_n), cache


def lstm_backward(doutput, cache, dh_n=None, dc_n=None):
    r"""Backpropagation through time for :func:`lstm_forward`.

    Per layer (last first) and direction, steps in the reverse of their forward order, with
    :math:`\delta h` = the output's gradient at t plus the gradient carried from the next step:

    .. math::
        \delta c = \delta c_{next} + \delta h \odot o \odot (1 - \tanh^2 c_t), \qquad
        \delta o = \delta h \odot \tanh c_t

        \delta i = \delta c \odot g, \quad \delta g = \delta c \odot i, \quad
        \delta f = \delta c \odot c_{t-1}, \quad \delta c_{next} \leftarrow \delta c \odot f

        \delta z = [\delta i\, i(1-i),\ \delta f\, f(1-f),\ \delta g\,(1-g^2),\ \delta o\, o(1-o)]

        \delta h_{next} \leftarrow \delta z\, W_{hh}, \qquad
        \frac{\partial L}{\partial W_{hh}} \mathrel{+}= \delta z^\top h_{t-1}

    and, over all steps at once, :math:`\partial L/\partial W_{ih} = \sum_t \delta z_t^\top x_t`,
    :math:`\partial L/\partial b_{ih} = \partial L/\partial b_{hh} = \sum_t \delta z_t`,
    :math:`\partial L/\partial x_t = \delta z_t W_{ih}` (the layer below gets this as the
    gradient of its output).

    Parameters
    ----------
    doutput : gradient of the output, shaped like it
    dh_n, dc_n : gradients of the final states (D * num_layers, N, H), or None (zero)

    Returns
    -------
    dx (shaped like x), (dh0, dc0), grads keyed by the PyTorch parameter names
    """
    spec, steps = cache["spec"], cache["steps"]
    p, H, D = spec.params, spec.hidden_size, spec.num_directions
    dout = np.asarray(doutput, dtype=np.float64)
    dout = dout.transpose(1, 0, 2) if cache["batch_first"] else dout  # (L, N, D*H)
    seq_len, n_batch = dout.shape[:2]
    zeros = np.zeros((D * spec.num_layers, n_batch, H))
    dh_n = zeros if dh_n is None else as_float64(dh_n, "dh_n")
    dc_n = zeros if dc_n is None else as_float64(dc_n, "dc_n")
    dh0, dc0, grads = np.empty_like(zeros), np.empty_like(zeros), {}
    for k in range(spec.num_layers - 1, -1, -1):
        dlayer_in = None
        for kk, d, sfx, layer_in, gates in (s for s in steps if s[0] == k):
            idx = k * D + d
            w_ih, w_hh = p["weight_ih" + sfx], p["weight_hh" + sfx]
            dh_next, dc_next = dh_n[idx], dc_n[idx]
            dz_all = np.empty((seq_len, n_batch, 4 * H))
            dw_hh = np.zeros_like(w_hh)
            for t in (range(seq_len) if d else range(seq_len - 1, -1, -1)):
                i, f, g, o, tc, c_prev, h_prev = gates[t]
                dh = dout[t, :, d * H : (d + 1) * H] + dh_next
                dc = dc_next + dh * o * (1.0 - tc**2)
                do = dh * tc
                di, dg, df = dc * g, dc * i, dc * c_prev
                dc_next = dc * f
                dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)
                dz_all[t] = dz
                dw_hh += dz.T @ h_prev
                dh_next = dz @ w_hh
            dh0[idx], dc0[idx] = dh_next, dc_next
            grads["weight_ih" + sfx] = dz_all.reshape(-1, 4 * H).T @ layer_in.reshape(-1, layer_in.shape[-1])
            grads["weight_hh" + sfx] = dw_hh
            if spec.has_bias:
                grads["bias_ih" + sfx] = dz_all.sum(axis=(0, 1))
                grads["bias_hh" + sfx] = grads["bias_ih" + sfx].copy()
            dx_d = dz_all @ w_ih  # (L, N, n_in)
            dlayer_in = dx_d if dlayer_in is None else dlayer_in + dx_d
        dout = dlayer_in
    dx = dout.transpose(1, 0, 2) if cache["batch_first"] else dout
    return dx, (dh0, dc0), {key: grads[key] for key in p}
