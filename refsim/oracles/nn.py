"""Deliberately naive float64 oracles for the layers of :mod:`refsim.nn`.

Written with explicit Python loops and scalar arithmetic straight from the
defining equations, sharing no code with the fast implementations, so that
tests can check im2col, batching and vectorized gates against them. Slow:
use small shapes.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["conv2d_naive", "linear_naive", "lstm_naive", "attention_naive"]


def linear_naive(x, weight, bias=None):
    r""":math:`y[n, o] = b_o + \sum_i x[n, i]\, w[o, i]`; x (N, in), weight (out, in)."""
    n_batch, n_in = x.shape
    n_out = weight.shape[0]
    y = np.zeros((n_batch, n_out))
    for n in range(n_batch):
        for o in range(n_out):
            acc = 0.0 if bias is None else float(bias[o])
            for i in range(n_in):
                acc += float(x[n, i]) * float(weight[o, i])
            y[n, o] = acc
    return y


def conv2d_naive(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    r"""Direct-loop 2-D convolution (PyTorch cross-correlation semantics).

    .. math:: y[n, o, p, q] = b_o + \sum_{c < C_{in}/G} \sum_{i, j}
              w[o, c, i, j]\; x[n,\ g(o) C_{in}/G + c,\ s_h p + d_h i - p_h,\ s_w q + d_w j - p_w]

    where out-of-range input positions count as zero and ``g(o) = o // (C_out/G)``.
    x (N, C_in, H, W), weight (C_out, C_in/G, kh, kw) -> (N, C_out, OH, OW).
    ``padding`` is symmetric ``(ph, pw)``.
    """
    n_batch, c_in, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out_per_group = c_out // groups
    y = np.zeros((n_batch, c_out, oh, ow))
    for n in range(n_batch):
        for o in range(c_out):
            g = o // out_per_group
            for p in range(oh):
                for q in range(ow):
                    acc = 0.0 if bias is None else float(bias[o])
                    for c in range(c_per_group):
                        for i in range(kh):
                            for j in range(kw):
                                r = sh * p + dh * i - ph
                                s = sw * q + dw * j - pw
                                if 0 <= r < h and 0 <= s < w:
                                    acc += float(weight[o, c, i, j]) * float(x[n, g * c_per_group + c, r, s])
                    y[n, o, p, q] = acc
    return y


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def lstm_naive(x, params: dict, num_layers: int, hidden_size: int, bidirectional=False, h0=None, c0=None):
    r"""Naive LSTM (PyTorch semantics, sequence-first), scalar loops per gate unit.

    For each layer k, direction d, batch element n and step t (reversed for
    d = 1):

    .. math::
        z_u = b^{ih}_u + b^{hh}_u + \sum_i W^{ih}_{u,i} x_{t,i} + \sum_j W^{hh}_{u,j} h_j

        i = \sigma(z_{0:H}),\ f = \sigma(z_{H:2H}),\ g = \tanh(z_{2H:3H}),\ o = \sigma(z_{3H:4H})

        c \leftarrow f c + i g, \qquad h \leftarrow o \tanh(c)

    Parameters
    ----------
    x : ndarray (L, N, H_in)
    params : dict with PyTorch keys ``weight_ih_l{k}[_reverse]`` etc.
    h0, c0 : ndarray (D*num_layers, N, H) or None (zeros)

    Returns
    -------
    output (L, N, D*H), h_n (D*num_layers, N, H), c_n (D*num_layers, N, H)
    """
    n_dir = 2 if bidirectional else 1
    seq_len, n_batch, _ = x.shape
    H = hidden_size
    h_n = np.zeros((n_dir * num_layers, n_batch, H))
    c_n = np.zeros((n_dir * num_layers, n_batch, H))
    layer_in = x
    for k in range(num_layers):
        layer_out = np.zeros((seq_len, n_batch, n_dir * H))
        for d in range(n_dir):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            w_ih, w_hh = params["weight_ih" + sfx], params["weight_hh" + sfx]
            b_ih = params.get("bias_ih" + sfx, np.zeros(4 * H))
            b_hh = params.get("bias_hh" + sfx, np.zeros(4 * H))
            idx = k * n_dir + d
            for n in range(n_batch):
                h = [0.0] * H if h0 is None else [float(v) for v in h0[idx, n]]
                c = [0.0] * H if c0 is None else [float(v) for v in c0[idx, n]]
                steps = range(seq_len - 1, -1, -1) if d else range(seq_len)
                for t in steps:
                    z = []
                    for u in range(4 * H):
                        acc = float(b_ih[u]) + float(b_hh[u])
                        for i in range(layer_in.shape[2]):
                            acc += float(w_ih[u, i]) * float(layer_in[t, n, i])
                        for j in range(H):
                            acc += float(w_hh[u, j]) * h[j]
                        z.append(acc)
                    o_g = [0.0] * H
                    for u in range(H):
                        i_g = _sigmoid(z[u])
                        f_g = _sigmoid(z[H + u])
                        g_g = math.tanh(z[2 * H + u])
                        o_g[u] = _sigmoid(z[3 * H + u])
                        c[u] = f_g * c[u] + i_g * g_g
                    h = [o_g[u] * math.tanh(c[u]) for u in range(H)]
                    layer_out[t, n, d * H : (d + 1) * H] = h
                h_n[idx, n] = h
                c_n[idx, n] = c
        layer_in = layer_out
    return layer_in, h_n, c_n


def attention_naive(q, k, v, mask=None):
    r"""Naive scaled dot-product attention for one head, scalar loops.

    .. math:: s_{ts} = \frac{1}{\sqrt{d}} \sum_e q_{te} k_{se} + m_{ts}, \quad
              a_{ts} = \frac{e^{s_{ts}}}{\sum_{s'} e^{s_{ts'}}}, \quad
              o_{te} = \sum_s a_{ts} v_{se}

    q (L, d), k (S, d), v (S, d_v), mask (L, S) additive float (``-inf`` to
    forbid) or None. A row with every entry ``-inf`` gives NaN (as PyTorch).
    Returns (o (L, d_v), a (L, S)).
    """
    L, d = q.shape
    S = k.shape[0]
    a = np.zeros((L, S))
    o = np.zeros((L, v.shape[1]))
    for t in range(L):
        scores = []
        for s in range(S):
            acc = sum(float(q[t, e]) * float(k[s, e]) for e in range(d)) / math.sqrt(d)
            if mask is not None:
                acc += float(mask[t, s])
            scores.append(acc)
        m = max(scores)
        if m == -math.inf:
            a[t, :] = math.nan
            o[t, :] = math.nan
            continue
        ex = [math.exp(sc - m) for sc in scores]
        tot = sum(ex)
        for s in range(S):
            a[t, s] = ex[s] / tot
        for e in range(v.shape[1]):
            o[t, e] = sum(a[t, s] * float(v[s, e]) for s in range(S))
    return o, a
