r"""Backward passes of the weight layers with one matmul: Linear and Conv2d.

Same pattern as :mod:`refsim.train.functional_grad`: ``y, cache = *_forward(...)`` and
``grads = *_backward(dy, cache)``. Parameters use PyTorch's layout and names (``weight``,
``bias``).

**The matmul of the forward may be a crossbar; the backward is exact.** Each forward takes an
optional ``xbar``: a callable ``x (B, n_in) -> y (B, n_out)`` that replaces the exact
``x @ W^T`` (e.g. ``refsim.Crossbar(weight.T, config).matvec``, crossbar convention
``y = x @ W``). Whatever ``xbar`` does, the backward uses the straight-through estimator

.. math:: \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} W, \qquad
          \frac{\partial L}{\partial W} = \Big(\frac{\partial L}{\partial y}\Big)^{\!\top} x

i.e. it differentiates ``y = x W^T`` as if the crossbar were exact: the quantizers, clipping
and noise of ``xbar`` pass the gradient straight through (Rasch et al. 2023, Methods). With
``xbar=None`` the forward is the exact matmul and the backward is its true gradient.
"""
from __future__ import annotations

import numpy as np

from refsim.nn.functional import as_float64, col2im, im2col, pair, resolve_conv_padding

__all__ = ["linear_forward", "linear_backward", "conv2d_forward", "conv2d_backward"]


def linear_forward(x, weight, bias=None, *, xbar=None):
    r"""Fully connected layer, :math:`y = x W^\top + b` (``refsim.nn.Linear``, PyTorch ``nn.Linear``).

    Shapes: x (..., n_in), weight (n_out, n_in), bias (n_out,) or None -> y (..., n_out).
    ``xbar``: optional callable computing ``x @ weight.T`` in the forward (see the module
    docstring); the backward always uses ``weight``.
    """
    x = as_float64(x, "x")
    w = as_float64(weight, "weight", ndim=2)
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"x: received shape {x.shape}; expected (..., {w.shape[1]}) for weight {w.shape}")
    y = x @ w.T if xbar is None else xbar(x)
    if bias is not None:
        y = y + bias
    return y, (x, w, bias is not None)


def linear_backward(dy, cache):
    r"""Backward of :func:`linear_forward`, over all leading axes of x (rows r):

    .. math:: \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} W, \qquad
              \frac{\partial L}{\partial W} = \sum_r \Big(\frac{\partial L}{\partial y_r}\Big)^{\!\top} x_r,
              \qquad \frac{\partial L}{\partial b} = \sum_r \frac{\partial L}{\partial y_r}

    Returns ``(dx, {"weight": dW, "bias": db})`` (no ``"bias"`` without a bias).
    """
    x, w, has_bias = cache
    dy2 = dy.reshape(-1, w.shape[0])  # (B, n_out)
    grads = {"weight": dy2.T @ x.reshape(-1, w.shape[1])}  # (n_out, n_in)
    if has_bias:
        grads["bias"] = dy2.sum(axis=0)
    return dy @ w, grads


def conv2d_forward(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups: int = 1, xbar=None):
    r"""2-D convolution by im2col (``refsim.nn.Conv2d``, PyTorch ``conv2d``, zero padding).

    With the patch matrix ``X = im2col(x)`` (rows ``(n, p, q)``, columns ``(c, i, j)``) and
    group g's columns ``X_g`` and weight ``W_g = weight[g o_g:(g+1) o_g].reshape(o_g, -1)``:

    .. math:: Y_g = X_g W_g^\top, \qquad y[n, g o_g + o, p, q] = Y_g[(n, p, q), o] + b_{g o_g + o}

    Parameters
    ----------
    x : (N, C_in, H, W); weight : (C_out, C_in/groups, kh, kw); bias : (C_out,) or None
    stride, dilation : int or pair; padding : int, pair, "valid" or "same"; groups : int
    xbar : optional sequence of ``groups`` callables, ``xbar[g](X_g) ~ X_g @ W_g.T``
        (crossbars, see the module docstring); the backward always uses ``weight``.

    Returns ``y (N, C_out, OH, OW)`` and the cache (the patch matrix and the geometry).
    """
    x = as_float64(x, "x", ndim=4)
    w = as_float64(weight, "weight", ndim=4)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1 or w.shape[0] % groups:
        raise ValueError(f"groups: received {groups!r}; expected a positive int dividing C_out={w.shape[0]}")
    if x.shape[1] != groups * w.shape[1]:
        raise ValueError(f"x: received shape {x.shape}; expected {groups * w.shape[1]} channels for weight {w.shape}")
    s, d = pair(stride, "stride", 1), pair(dilation, "dilation", 1)
    pads = resolve_conv_padding(padding, w.shape[2:], d, s)
    cols, oh, ow = im2col(x, w.shape[2:], s, pads, d)  # (N*OH*OW, C_in*kh*kw)
    c_out, k = w.shape[0], w[0].size
    o_g = c_out // groups
    ys = []
    for g in range(groups):
        xg = cols[:, g * k : (g + 1) * k]  # (N*OH*OW, K)
        ys.append(xg @ w[g * o_g : (g + 1) * o_g].reshape(o_g, k).T if xbar is None else xbar[g](xg))
    y = ys[0] if groups == 1 else np.concatenate(ys, axis=1)  # (N*OH*OW, C_out)
    if bias is not None:
        y = y + bias
    y = y.reshape(x.shape[0], oh, ow, c_out).transpose(0, 3, 1, 2)  # (N, C_out, OH, OW)
    return y, dict(cols=cols, x_shape=x.shape, w=w, has_bias=bias is not None, stride=s, pads=pads,
                   dilation=d, groups=groups)


def conv2d_backward(dy, cache):
    r"""Backward of :func:`conv2d_forward`. With ``dY`` = dy as rows ``(n, p, q)`` x ``C_out``:

    .. math:: \frac{\partial L}{\partial W_g} = dY_g^\top X_g, \qquad
              \frac{\partial L}{\partial X_g} = dY_g W_g, \qquad
              \frac{\partial L}{\partial x} = \mathrm{col2im}\Big(\frac{\partial L}{\partial X}\Big),
              \qquad \frac{\partial L}{\partial b_o} = \sum_{n, p, q} dy[n, o, p, q]

    (``col2im``, :func:`refsim.nn.functional.col2im`, is the adjoint of im2col: a pixel read
    by several patches collects the sum of their gradients.) Returns
    ``(dx, {"weight": dW, "bias": db})``, dW shaped like ``weight``.
    """
    cols, w, groups = cache["cols"], cache["w"], cache["groups"]
    c_out, k = w.shape[0], w[0].size
    o_g = c_out // groups
    dY = dy.transpose(0, 2, 3, 1).reshape(-1, c_out)  # (N*OH*OW, C_out)
    dW = np.empty_like(w)
    dcols = np.empty_like(cols)
    for g in range(groups):
        dYg = dY[:, g * o_g : (g + 1) * o_g]  # (N*OH*OW, o_g)
        xg = cols[:, g * k : (g + 1) * k]
        dW[g * o_g : (g + 1) * o_g] = (dYg.T @ xg).reshape((o_g,) + w.shape[1:])
        dcols[:, g * k : (g + 1) * k] = dYg @ w[g * o_g : (g + 1) * o_g].reshape(o_g, k)
    dx = col2im(dcols, cache["x_shape"], w.shape[2:], cache["stride"], cache["pads"], cache["dilation"])
    grads = {"weight": dW}
    if cache["has_bias"]:
        grads["bias"] = dY.sum(axis=0)
    return dx, grads
