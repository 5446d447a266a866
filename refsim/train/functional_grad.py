r"""Backward passes of the digital operations between the weight layers.

Every operation is a pair of pure functions::

    y, cache = op_forward(x, ...)      # the forward, with what the backward needs
    dx = op_backward(dy, cache)        # dL/dx from dL/dy (same shapes as x and y)

where ``dy = dL/dy`` is the gradient of a scalar loss L with respect to the output.
Where refsim already has the forward (:mod:`refsim.nn.functional`), ``op_forward`` calls it
and ``op_backward`` re-derives what it needs (the argmax of a window, the normalized input)
from the cached input: one forward implementation for inference and training.

Operations: ReLU, max / average / adaptive average pooling, the global average pool,
BatchNorm in training mode (batch statistics and the running-statistics update), the
residual addition, the CIFAR option-A shortcut and softmax cross-entropy. The equations
are collected in docs/training.md. Layout: images NCHW, float64.
"""
from __future__ import annotations

import numpy as np

from refsim.nn import functional as F
from refsim.nn.functional import as_float64, col2im, im2col, pair

__all__ = [
    "relu_forward", "relu_backward",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",
    "global_avg_pool_forward", "global_avg_pool_backward",
    "batch_norm_forward", "batch_norm_backward", "update_running_stats",
    "add_backward",
    "option_a_shortcut_forward", "option_a_shortcut_backward",
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
]


# -- ReLU ----------------------------------------------------------------------------------
def relu_forward(x):
    r""":math:`y = \max(x, 0)` (:func:`refsim.nn.functional.relu`); the cache is ``x``."""
    return F.relu(x), x


def relu_backward(dy, cache):
    r""":math:`\partial L/\partial x = \partial L/\partial y \cdot [x > 0]` (0 at the kink x = 0,
    as PyTorch). Shapes: dy and x alike."""
    return dy * (cache > 0)


# -- pooling -------------------------------------------------------------------------------
def max_pool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1):
    r"""Max pooling (:func:`refsim.nn.functional.max_pool2d`); the cache is the input and geometry."""
    y = F.max_pool2d(x, kernel_size, stride, padding, dilation)
    return y, (np.asarray(x, dtype=np.float64), kernel_size, stride, padding, dilation)


def max_pool2d_backward(dy, cache):
    r"""Route each output's gradient to the input it took its maximum from.

    .. math:: \frac{\partial L}{\partial x[n, c, h, w]} = \sum_{(o_h, o_w):\
              (h, w) = \arg\max \text{ of window } (o_h, o_w)} \frac{\partial L}{\partial y[n, c, o_h, o_w]}

    Ties go to the first maximum in window order (row-major), as PyTorch's CPU kernel does.
    Shapes: dy (N, C, OH, OW) -> dx (N, C, H, W).
    """
    x, kernel_size, stride, padding, dilation = cache
    k = pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else pair(stride, "stride", 1)
    p, d = pair(padding, "padding", 0), pair(dilation, "dilation", 1)
    n, c, h, w = x.shape
    pads = (p[0], p[0], p[1], p[1])
    cols, _, _ = im2col(x.reshape(n * c, 1, h, w), k, s, pads, d, pad_value=-np.inf)  # (N*C*OH*OW, kh*kw)
    dcols = np.zeros_like(cols)
    dcols[np.arange(cols.shape[0]), cols.argmax(axis=1)] = np.ravel(dy)
    return col2im(dcols, (n * c, 1, h, w), k, s, pads, d).reshape(n, c, h, w)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    r"""Average pooling (:func:`refsim.nn.functional.avg_pool2d`, zero padding counted)."""
    y = F.avg_pool2d(x, kernel_size, stride, padding)
    return y, (np.shape(x), kernel_size, stride, padding)


def avg_pool2d_backward(dy, cache):
    r"""Spread each output's gradient evenly over its window.

    .. math:: \frac{\partial L}{\partial x[n, c, h, w]} = \frac{1}{k_h k_w}
              \sum_{(o_h, o_w) \ni (h, w)} \frac{\partial L}{\partial y[n, c, o_h, o_w]}

    Shapes: dy (N, C, OH, OW) -> dx (N, C, H, W).
    """
    (n, c, h, w), kernel_size, stride, padding = cache
    k = pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else pair(stride, "stride", 1)
    p = pair(padding, "padding", 0)
    dcols = np.repeat(np.reshape(dy, (-1, 1)) / (k[0] * k[1]), k[0] * k[1], axis=1)  # (N*C*OH*OW, kh*kw)
    return col2im(dcols, (n * c, 1, h, w), k, s, (p[0], p[0], p[1], p[1])).reshape(n, c, h, w)


def adaptive_avg_pool2d_forward(x, output_size):
    r"""Adaptive average pooling (:func:`refsim.nn.functional.adaptive_avg_pool2d`)."""
    return F.adaptive_avg_pool2d(x, output_size), (np.shape(x), output_size)


def adaptive_avg_pool2d_backward(dy, cache):
    r"""Each output bin ``[r_0, r_1) x [c_0, c_1)`` (PyTorch's bin edges) spreads its gradient
    evenly over its inputs; overlapping bins add.

    .. math:: \frac{\partial L}{\partial x[n, c, h, w]} = \sum_{(i, j) \ni (h, w)}
              \frac{1}{|R_i| |C_j|} \frac{\partial L}{\partial y[n, c, i, j]}

    Shapes: dy (N, C, OH, OW) -> dx (N, C, H, W).
    """
    (n, c, h, w), output_size = cache
    oh, ow = pair(output_size, "output_size", 1)
    dx = np.zeros((n, c, h, w))
    for i in range(oh):
        r0, r1 = i * h // oh, -(-(i + 1) * h // oh)
        for j in range(ow):
            c0, c1 = j * w // ow, -(-(j + 1) * w // ow)
            dx[:, :, r0:r1, c0:c1] += dy[:, :, i : i + 1, j : j + 1] / ((r1 - r0) * (c1 - c0))
    return dx


def global_avg_pool_forward(x):
    r"""Global average pool :math:`y[n, c] = \frac{1}{HW} \sum_{h, w} x[n, c, h, w]` (the ResNets'
    ``x.mean(axis=(2, 3))``). Shapes: (N, C, H, W) -> (N, C)."""
    return x.mean(axis=(2, 3)), np.shape(x)


def global_avg_pool_backward(dy, cache):
    r""":math:`\partial L/\partial x[n, c, h, w] = \frac{1}{HW} \partial L/\partial y[n, c]`.
    Shapes: dy (N, C) -> dx (N, C, H, W)."""
    n, c, h, w = cache
    return np.broadcast_to(dy[:, :, None, None] / (h * w), (n, c, h, w)).copy()


# -- BatchNorm (training mode) --------------------------------------------------------------
def batch_norm_forward(x, gamma, beta, eps: float = 1e-5):
    r"""BatchNorm in training mode: normalize with the statistics of this batch, per channel.

    Over the ``m = N * H * W`` values of channel c (axes 0, 2, 3; or axis 0 for (N, C) input):

    .. math:: \mu_c = \frac{1}{m} \sum x, \qquad \sigma^2_c = \frac{1}{m} \sum (x - \mu_c)^2
              \ \text{(biased)}, \qquad y = \gamma_c \hat x + \beta_c,\quad
              \hat x = \frac{x - \mu_c}{\sqrt{\sigma^2_c + \epsilon}}

    The normalization itself is :func:`refsim.nn.functional.batch_norm_eval` given the batch
    statistics. Shapes: x (N, C, ...), gamma and beta (C,) -> y like x. The cache holds x,
    gamma, mu, sigma^2, eps and m (for :func:`update_running_stats` and the backward).
    """
    x = as_float64(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x: received shape {x.shape}; expected (N, C, ...)")
    axes = (0,) + tuple(range(2, x.ndim))
    m = x.size // x.shape[1]
    if m < 2:
        raise ValueError(f"x: received shape {x.shape}; expected more than one value per channel in training mode")
    mu = x.mean(axis=axes)
    var = ((x - mu.reshape((1, -1) + (1,) * (x.ndim - 2))) ** 2).mean(axis=axes)
    y = F.batch_norm_eval(x, mu, var, gamma, beta, eps)
    return y, dict(x=x, gamma=np.asarray(gamma, dtype=np.float64), mu=mu, var=var, eps=eps, m=m)


def update_running_stats(running_mean, running_var, cache, momentum: float = 0.1):
    r"""PyTorch's running-statistics update after a training-mode forward (momentum form):

    .. math:: \hat\mu \leftarrow (1 - \rho)\,\hat\mu + \rho\,\mu_c, \qquad
              \hat\sigma^2 \leftarrow (1 - \rho)\,\hat\sigma^2 + \rho\,\frac{m}{m - 1}\sigma^2_c

    with the *unbiased* batch variance. Returns the new ``(running_mean, running_var)`` (C,);
    the inputs are not modified. (PyTorch's ``momentum=None`` cumulative average is not offered.)
    """
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum: received {momentum!r}; expected a float in [0, 1]")
    m = cache["m"]
    new_mean = (1.0 - momentum) * np.asarray(running_mean) + momentum * cache["mu"]
    new_var = (1.0 - momentum) * np.asarray(running_var) + momentum * cache["var"] * (m / (m - 1))
    return new_mean, new_var


def batch_norm_backward(dy, cache):
    r"""Backward of :func:`batch_norm_forward` (through the batch statistics).

    .. math:: \frac{\partial L}{\partial \beta_c} = \sum \frac{\partial L}{\partial y}, \qquad
              \frac{\partial L}{\partial \gamma_c} = \sum \frac{\partial L}{\partial y}\hat x

    .. math:: \frac{\partial L}{\partial x} = \frac{\gamma_c}{\sqrt{\sigma^2_c + \epsilon}}
              \left(\frac{\partial L}{\partial y} - \frac{1}{m}\sum \frac{\partial L}{\partial y}
              - \hat x \,\frac{1}{m}\sum \frac{\partial L}{\partial y}\hat x\right)

    (sums over the m values of channel c). The last two terms are the paths through
    :math:`\mu_c` and :math:`\sigma^2_c`. Returns ``(dx, dgamma, dbeta)``.
    """
    x, gamma, mu, var, eps, m = (cache[k] for k in ("x", "gamma", "mu", "var", "eps", "m"))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    axes = (0,) + tuple(range(2, x.ndim))
    inv_std = 1.0 / np.sqrt(var + eps)  # (C,)
    xhat = (x - mu.reshape(shape)) * inv_std.reshape(shape)
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    dx = (gamma * inv_std).reshape(shape) * (dy - (dbeta / m).reshape(shape) - xhat * (dgamma / m).reshape(shape))
    return dx, dgamma, dbeta


# -- residual addition and the option-A shortcut ---------------------------------------------
def add_backward(dy):
    r"""Residual addition :math:`y = a + b`: :math:`\partial L/\partial a = \partial L/\partial b
    = \partial L/\partial y`. Returns ``(da, db)`` (the same array twice; do not modify in place)."""
    return dy, dy


def option_a_shortcut_forward(x, planes: int):
    r"""He et al.'s option-A shortcut (as :func:`refsim.nn.blocks.option_a_shortcut`):
    :math:`s(x) = \mathrm{pad}_C(x[:, :, ::2, ::2], \lfloor planes/4 \rfloor)`.
    Shapes: (N, C, H, W) -> (N, C + 2 pad, ceil(H/2), ceil(W/2))."""
    pad = planes // 4
    return np.pad(x[:, :, ::2, ::2], ((0, 0), (pad, pad), (0, 0), (0, 0))), (np.shape(x), pad)


def option_a_shortcut_backward(dy, cache):
    r"""The adjoint of subsample-and-pad: the padded channels receive nothing, and each
    subsampled pixel gets its output's gradient; the skipped pixels get 0.

    .. math:: \frac{\partial L}{\partial x[n, c, 2i, 2j]} = \frac{\partial L}{\partial s[n, c + p, i, j]}
    """
    shape, pad = cache
    dx = np.zeros(shape)
    dx[:, :, ::2, ::2] = dy[:, pad : pad + shape[1]]
    return dx


# -- softmax cross-entropy -----------------------------------------------------------------
def softmax_cross_entropy_forward(logits, labels):
    r"""Mean softmax cross-entropy with integer labels (PyTorch ``cross_entropy``, mean reduction).

    .. math:: L = \frac{1}{N} \sum_n \Big(\log \sum_k e^{z_{nk}} - z_{n, y_n}\Big), \qquad
              \log \sum_k e^{z_k} = M + \log \sum_k e^{z_k - M},\ M = \max_k z_k

    (the log-sum-exp shifted by the row maximum never overflows). Shapes: logits (N, K),
    labels (N,) ints in [0, K) -> a float; the cache holds the softmax and the labels.
    """
    z = as_float64(logits, "logits", ndim=2)
    y = np.asarray(labels)
    if y.dtype.kind not in "iu" or y.shape != (z.shape[0],):
        raise ValueError(f"labels: received {y.dtype} array of shape {y.shape}; expected ints of shape ({z.shape[0]},)")
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ValueError(f"labels: received values in [{y.min()}, {y.max()}]; expected classes in [0, {z.shape[1] - 1}]")
    zmax = z.max(axis=1, keepdims=True)
    lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))  # (N,)
    loss = float(np.mean(lse - z[np.arange(z.shape[0]), y]))
    return loss, (np.exp(z - lse[:, None]), y)


def softmax_cross_entropy_backward(dloss, cache):
    r""":math:`\partial L/\partial z_{nk} = \frac{\partial L}{\partial \ell}\cdot
    \frac{1}{N}\big(\mathrm{softmax}(z_n)_k - [k = y_n]\big)`. ``dloss`` is usually 1.
    Shapes: -> (N, K)."""
    p, y = cache
    dz = p.copy()
    dz[np.arange(len(y)), y] -= 1.0
    return dz * (dloss / len(y))
