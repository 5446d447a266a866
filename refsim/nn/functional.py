"""Digital (exact float64) operations used between the analog matmuls.

Nothing here models hardware: these are the operations an AIMC accelerator
performs in its digital periphery (pooling, activations, normalization,
residual adds), written once, exactly, with PyTorch's semantics.

Every function is pure, takes and returns float64 NumPy arrays, cites its
equation's label in docs/MODEL.md section 8.1 (L1-L9) and gives its shapes.
Layouts follow PyTorch: images are NCHW.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import erf

from refsim._validate import check_finite_array, received

__all__ = [
    "as_float64",
    "pair",
    "conv_output_size",
    "resolve_conv_padding",
    "im2col",
    "col2im",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "relu",
    "sigmoid",
    "gelu",
    "softmax",
    "layer_norm",
    "batch_norm_eval",
    "fold_batch_norm",
]


def as_float64(x, name: str, ndim: int | tuple[int, ...] | None = None, *, finite: bool = False) -> np.ndarray:
    """Return ``x`` as a float64 array, validating its kind and rank.

    ``finite=True`` (every layer parameter: weights, biases, normalization
    statistics) also refuses NaN and inf, with the same message whether the
    layer runs on crossbars or digitally.

    Raises
    ------
    TypeError
        If ``x`` is not real-valued numeric (complex, object, strings...).
    ValueError
        If ``x.ndim`` is not ``ndim`` (or one of ``ndim``), or ``finite`` and
        ``x`` holds NaN or inf.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(received(name, f"dtype {arr.dtype}", "a real numeric array (e.g. float64)"))
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(received(name, f"shape {arr.shape}", f"{' or '.join(map(str, allowed))} dimensions"))
    out = arr.astype(np.float64, copy=False)
    if finite:
        check_finite_array(name, out)
    return out


def pair(value, name: str, minimum: int = 0) -> tuple[int, int]:
    """Normalize an int or a 2-sequence of ints to ``(a, b)``, both >= ``minimum``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        out = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name}: received {value!r}; expected an int or a pair of ints")
    if min(out) < minimum:
        raise ValueError(f"{name}: received {value!r}; expected >= {minimum}")
    return out


def conv_output_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int) -> int:
    """Output length of a convolution or pooling window along one axis (L1), ``pad_total``
    the padding of both sides together; all arguments and the result are ints (elements)."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def resolve_conv_padding(padding, kernel_size, dilation, stride) -> tuple[int, int, int, int]:
    """Turn a Conv2d ``padding`` argument into ``(top, bottom, left, right)``.

    ``padding`` is an int, a pair ``(ph, pw)``, ``"valid"`` (no padding) or
    ``"same"`` (output size = input size; stride must be 1; an odd total
    padding puts the extra row/column at the bottom/right, as PyTorch does).
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding: received 'same' with stride={stride}; expected stride 1 for 'same'")
            pads = []
            for k, d in zip(kernel_size, dilation):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]
            return tuple(pads)  # type: ignore[return-value]
        raise ValueError(f"padding: received {padding!r}; expected an int, a pair, 'valid' or 'same'")
    ph, pw = pair(padding, "padding", minimum=0)
    return (ph, ph, pw, pw)


def im2col(
    x: np.ndarray,
    kernel_size: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    dilation: tuple[int, int] = (1, 1),
    pad_value: float = 0.0,
) -> tuple[np.ndarray, int, int]:
    """Unfold image patches into rows so that a convolution becomes one matmul (L2).

    Row ``(n, oh, ow)`` holds the patch of the padded input, columns ordered
    ``(c, i, j)`` exactly like PyTorch's weight ``(out, in, kh, kw).reshape(out, -1)``. Built from one
    strided view (``sliding_window_view``) and one reshape copy.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel_size : (kh, kw)
    stride : (sh, sw)
    padding : (top, bottom, left, right)
    dilation : (dh, dw)
    pad_value : value of the padded border (0 for convolution).

    Returns
    -------
    cols : ndarray, shape (N * OH * OW, C * kh * kw)
    OH, OW : int
    """
    n, c, h, w = x.shape
    kh, kw = kernel_size
    sh, sw = stride
    dh, dw = dilation
    top, bottom, left, right = padding
    if any(padding):
        xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=pad_value)
    else:
        xp = x
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # extent of a dilated kernel
    if xp.shape[2] < eh or xp.shape[3] < ew:
        raise ValueError(
            f"x of spatial size {(h, w)} (padded {xp.shape[2:]}) is smaller than the "
            f"dilated kernel extent {(eh, ew)}."
        )
    win = sliding_window_view(xp, (eh, ew), axis=(2, 3))  # (N, C, Hp-eh+1, Wp-ew+1, eh, ew)
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # (N, C, OH, OW, kh, kw)
    oh, ow = win.shape[2], win.shape[3]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)  # (N*OH*OW, C*kh*kw)
    return cols, oh, ow


def col2im(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """The adjoint of :func:`im2col` (L2): add every patch entry back onto the pixel it came from.

    Entries that came from the padded border are dropped. This is the backward of ``im2col``:
    if ``cols = im2col(x)`` then ``dx = col2im(dcols)`` (a pixel shared by overlapping
    patches collects the sum of their gradients). One strided slice-add per kernel offset
    ``(i, j)``; within one offset no pixel repeats, so ``+=`` is exact.

    Parameters
    ----------
    cols : ndarray, shape (N * OH * OW, C * kh * kw), columns ordered (c, i, j)
    x_shape : (N, C, H, W) of the unpadded image
    kernel_size, stride, padding (top, bottom, left, right), dilation : as for :func:`im2col`

    Returns
    -------
    x : ndarray, shape (N, C, H, W)
    """
    n, c, h, w = x_shape
    kh, kw = kernel_size
    sh, sw = stride
    dh, dw = dilation
    top, bottom, left, right = padding
    oh = conv_output_size(h, kh, sh, top + bottom, dh)
    ow = conv_output_size(w, kw, sw, left + right, dw)
    if cols.shape != (n * oh * ow, c * kh * kw):
        raise ValueError(
            f"cols: received shape {cols.shape}; expected {(n * oh * ow, c * kh * kw)} for x_shape "
            f"{tuple(x_shape)} and this geometry."
        )
    patches = cols.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 1, 2, 4, 5)  # (N, C, OH, OW, kh, kw)
    xp = np.zeros((n, c, h + top + bottom, w + left + right), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            xp[:, :, r0 : r0 + sh * (oh - 1) + 1 : sh, c0 : c0 + sw * (ow - 1) + 1 : sw] += patches[..., i, j]
    return xp[:, :, top : top + h, left : left + w]


def max_pool2d(x: np.ndarray, kernel_size, stride=None, padding=0, dilation=1) -> np.ndarray:
    """2-D max pooling (L3; PyTorch ``max_pool2d``, ``ceil_mode=False``).

    Padding is implicit ``-inf`` (never selected). Shapes: (N, C, H, W) ->
    (N, C, OH, OW).
    """
    x = as_float64(x, "x", ndim=4)
    k = pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else pair(stride, "stride", 1)
    p = pair(padding, "padding", 0)
    d = pair(dilation, "dilation", 1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"padding: received {p}; expected at most half the kernel size {k}")
    n, c, _, _ = x.shape
    cols, oh, ow = im2col(
        x.reshape(n * c, 1, *x.shape[2:]), k, s, (p[0], p[0], p[1], p[1]), d, pad_value=-np.inf
    )  # (N*C*OH*OW, kh*kw)
    return cols.max(axis=1).reshape(n, c, oh, ow)  # (N, C, OH, OW)


def avg_pool2d(x: np.ndarray, kernel_size, stride=None, padding=0) -> np.ndarray:
    """2-D average pooling (L4; PyTorch ``avg_pool2d`` defaults: zero padding counted).

    Shapes: (N, C, H, W) -> (N, C, OH, OW).
    """
    x = as_float64(x, "x", ndim=4)
    k = pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else pair(stride, "stride", 1)
    p = pair(padding, "padding", 0)
    n, c, _, _ = x.shape
    cols, oh, ow = im2col(x.reshape(n * c, 1, *x.shape[2:]), k, s, (p[0], p[0], p[1], p[1]))
    return cols.mean(axis=1).reshape(n, c, oh, ow)  # (N, C, OH, OW)


def adaptive_avg_pool2d(x: np.ndarray, output_size) -> np.ndarray:
    """Adaptive average pooling with PyTorch's bin edges (L4); with ``output_size=1``
    the global mean over H and W.
    Shapes: (N, C, H, W) -> (N, C, OH, OW).
    """
    x = as_float64(x, "x", ndim=4)
    oh, ow = pair(output_size, "output_size", 1)
    h, w = x.shape[2:]
    if (oh, ow) == (1, 1):
        return x.mean(axis=(2, 3), keepdims=True)
    rows = [(i * h // oh, -(-(i + 1) * h // oh)) for i in range(oh)]
    cols = [(j * w // ow, -(-(j + 1) * w // ow)) for j in range(ow)]
    out = np.empty(x.shape[:2] + (oh, ow))
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return out


def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit (L5), elementwise; any shape."""
    return np.maximum(x, 0.0)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic sigmoid (L5), elementwise; any shape."""
    return 1.0 / (1.0 + np.exp(-z))


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """Gaussian error linear unit, as PyTorch's ``gelu`` (L5): ``approximate="none"`` (exact,
    with erf) or ``"tanh"``; elementwise, any shape."""
    if approximate == "none":
        return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    raise ValueError(f"approximate: received {approximate!r}; expected 'none' or 'tanh'")


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis`` (L6); same shape as ``x``.

    A slice that is entirely ``-inf`` (fully masked) gives NaN, as in PyTorch.
    """
    m = np.max(x, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):
        e = np.exp(x - m)
        return e / np.sum(e, axis=axis, keepdims=True)


def layer_norm(x: np.ndarray, weight=None, bias=None, eps: float = 1e-5, n_dims: int = 1) -> np.ndarray:
    """Layer normalization over the last ``n_dims`` axes (L7, biased variance); same shape as ``x``.

    ``weight`` (gamma) and ``bias`` (beta) have shape ``x.shape[-n_dims:]``.
    """
    axes = tuple(range(-n_dims, 0))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def batch_norm_eval(x, running_mean, running_var, weight=None, bias=None, eps: float = 1e-5) -> np.ndarray:
    """Batch normalization in inference mode, per channel (axis 1) (L8).

    Shapes: x (N, C, ...); running_mean, running_var, weight, bias (C,).
    """
    shape = (1, -1) + (1,) * (x.ndim - 2)
    scale = 1.0 / np.sqrt(np.asarray(running_var) + eps)
    if weight is not None:
        scale = scale * weight
    shift = -np.asarray(running_mean) * scale
    if bias is not None:
        shift = shift + bias
    return x * scale.reshape(shape) + shift.reshape(shape)


def fold_batch_norm(weight, bias, bn_weight, bn_bias, running_mean, running_var, eps: float = 1e-5):
    """Fold an inference-mode BatchNorm into the preceding convolution/linear (L9),
    so that ``bn(conv(x; W, b)) == conv(x; W', b')`` exactly in real numbers.

    Parameters
    ----------
    weight : ndarray, shape (C_out, ...)    PyTorch layout, output channel first.
    bias : ndarray of shape (C_out,) or None (treated as 0).
    bn_weight, bn_bias, running_mean, running_var : ndarray, shape (C_out,)

    Returns
    -------
    (W', b') with shapes (C_out, ...) and (C_out,).
    """
    a = np.asarray(bn_weight, dtype=np.float64) / np.sqrt(np.asarray(running_var, dtype=np.float64) + eps)
    w = np.asarray(weight, dtype=np.float64)
    b = np.zeros(w.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
    w_folded = w * a.reshape((-1,) + (1,) * (w.ndim - 1))
    b_folded = np.asarray(bn_bias, dtype=np.float64) + (b - running_mean) * a
    return w_folded, b_folded
