r"""Multi-head attention forward with a cache, and its backward (PyTorch ``nn.MultiheadAttention``).

The forward is that of :class:`refsim.nn.MultiheadAttention` (``kdim = vdim = embed_dim``,
no dropout), per head h with :math:`d = E / H`:

.. math::
    Q = q_{in} W_q^\top + b_q, \quad K = k_{in} W_k^\top + b_k, \quad V = v_{in} W_v^\top + b_v

    S = \frac{Q}{\sqrt d} K^\top + M, \qquad A = \mathrm{softmax}(S), \qquad O = A V

    y = \mathrm{concat}_h(O)\, W_o^\top + b_o

with ``(W_q; W_k; W_v) = in_proj_weight`` and the additive mask M of
:func:`refsim.nn.attention.merge_masks`. The four projections are
:func:`refsim.train.layers_grad.linear_forward` (each may run on a crossbar through ``xbar``,
with the straight-through backward); the two activation products are exact.
"""
from __future__ import annotations

import math

import numpy as np

from refsim.nn.attention import merge_masks
from refsim.nn.functional import as_float64, softmax
from refsim.train.layers_grad import linear_backward, linear_forward

__all__ = ["mha_forward", "mha_backward"]

_PROJ = ("q_proj", "k_proj", "v_proj")


def mha_forward(params: dict, query, key, value, num_heads: int, *, key_padding_mask=None, attn_mask=None,
                batch_first: bool = False, xbar: dict | None = None):
    r"""Multi-head attention; returns ``(y, cache)``.

    Parameters
    ----------
    params : ``in_proj_weight`` (3E, E), optional ``in_proj_bias`` (3E,), ``out_proj.weight``
        (E, E), optional ``out_proj.bias`` (E,) (PyTorch names).
    query : (L, N, E); key, value : (S, N, E) ((N, L, E), (N, S, E) with ``batch_first``)
    num_heads : int dividing E
    key_padding_mask, attn_mask : as :meth:`refsim.nn.MultiheadAttention.forward` (bool True =
        may not attend, or float added to the scores)
    xbar : optional dict ``"q_proj" | "k_proj" | "v_proj" | "out_proj" -> callable``.

    Returns ``y`` shaped like ``query``. Self-attention (query, key, value the same array)
    gets the sum of the three input gradients from :func:`mha_backward`.
    """
    w_in = as_float64(params["in_proj_weight"], "in_proj_weight", ndim=2)
    E = w_in.shape[1]
    if isinstance(num_heads, bool) or not isinstance(num_heads, (int, np.integer)) or num_heads < 1 or E % num_heads:
        raise ValueError(f"num_heads: received {num_heads!r}; expected a positive int dividing embed_dim={E}")
    b_in = params.get("in_proj_bias")
    xbar = xbar or {}
    to_nte = (lambda t: t) if batch_first else (lambda t: np.swapaxes(t, 0, 1))
    ins = [to_nte(as_float64(t, lab, ndim=3)) for t, lab in ((query, "query"), (key, "key"), (value, "value"))]
    n_b, L, _ = ins[0].shape
    S, H, dh = ins[1].shape[1], int(num_heads), E // int(num_heads)
    mask = merge_masks(attn_mask, key_padding_mask, n_b, H, L, S)
    heads, proj_caches = [], []
    for j, (name, t) in enumerate(zip(_PROJ, ins)):
        bias = None if b_in is None else b_in[j * E : (j + 1) * E]
        out, c = linear_forward(t, w_in[j * E : (j + 1) * E], bias, xbar=xbar.get(name))
        heads.append(out.reshape(n_b, -1, H, dh).transpose(0, 2, 1, 3))  # (N, H, T, d)
        proj_caches.append(c)
    q, k, v = heads
    qs = q * (1.0 / math.sqrt(dh))
    scores = qs @ np.swapaxes(k, -1, -2)  # (N, H, L, S)
    if mask is not None:
        scores = scores + mask
    attn = softmax(scores, axis=-1)  # (N, H, L, S)
    o = (attn @ v).transpose(0, 2, 1, 3).reshape(n_b, L, E)  # (N, L, E)
    y, out_cache = linear_forward(o, params["out_proj.weight"], params.get("out_proj.bias"), xbar=xbar.get("out_proj"))
    cache = dict(qs=qs, k=k, v=v, attn=attn, proj=proj_caches, out=out_cache, E=E, H=H,
                 batch_first=batch_first, has_in_bias=b_in is not None)
    return to_nte(y), cache


def mha_backward(dy, cache):
    r"""Backward of :func:`mha_forward`. With :math:`\delta O` the output gradient split by head:

    .. math::
        \delta A = \delta O\, V^\top, \qquad \delta V = A^\top \delta O, \qquad
        \delta S = A \odot \Big(\delta A - \sum_s \delta A \odot A\Big) \ \text{(softmax, per row)}

        \delta K = \delta S^\top \frac{Q}{\sqrt d}, \qquad \delta Q = \frac{1}{\sqrt d}\,\delta S\, K

    then each projection's :func:`~refsim.train.layers_grad.linear_backward`. Masked entries
    (A = 0) pass no gradient. Returns ``((dquery, dkey, dvalue), grads)`` with grads keyed by
    the PyTorch names (``in_proj_weight`` stacks the three projections' gradients).
    """
    E, H, bf = cache["E"], cache["H"], cache["batch_first"]
    to_nte = (lambda t: t) if bf else (lambda t: np.swapaxes(t, 0, 1))
    qs, k, v, attn = cache["qs"], cache["k"], cache["v"], cache["attn"]
    n_b, _, L, dh = qs.shape
    do, g_out = linear_backward(to_nte(np.asarray(dy, dtype=np.float64)), cache["out"])  # (N, L, E)
    do = do.reshape(n_b, L, H, dh).transpose(0, 2, 1, 3)  # (N, H, L, d)
    dattn = do @ np.swapaxes(v, -1, -2)  # (N, H, L, S)
    dv = np.swapaxes(attn, -1, -2) @ do  # (N, H, S, d)
    dscores = attn * (dattn - (dattn * attn).sum(axis=-1, keepdims=True))
    dscores = np.nan_to_num(dscores)  # fully masked rows (NaN in PyTorch too) contribute nothing
    dk = np.swapaxes(dscores, -1, -2) @ qs  # (N, H, S, d)
    dq = (dscores @ k) * (1.0 / math.sqrt(dh))  # (N, H, L, d)
    dins, w_parts, b_parts = [], [], []
    for dt, c in zip((dq, dk, dv), cache["proj"]):
        dt = dt.transpose(0, 2, 1, 3).reshape(n_b, -1, E)  # (N, T, E)
        dx, g = linear_backward(dt, c)
        dins.append(to_nte(dx))
        w_parts.append(g["weight"])
        b_parts.append(g.get("bias"))
    grads = {"in_proj_weight": np.concatenate(w_parts, axis=0)}
    if cache["has_in_bias"]:
        grads["in_proj_bias"] = np.concatenate(b_parts)
    grads["out_proj.weight"] = g_out["weight"]
    if "bias" in g_out:
        grads["out_proj.bias"] = g_out["bias"]
    return tuple(dins), grads
