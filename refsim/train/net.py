r"""A CIFAR ResNet (He et al. 2016, option-A shortcuts) for training: channels-last (NHWC), float32,
every conv and the linear layer an :class:`refsim.train.hwa.AnalogLayer` (HWA, or FP with
``hwa=None``), BatchNorm digital with batch statistics. The operations and their backward are
those of docs/training.md (the float64 reference is :mod:`refsim.train.resnet_grad`; the tests
compare the two), laid out for speed: a 3x3 conv is one im2col (columns ordered ``(i, j, c)``: contiguous
copies; the layer maps them to its crossbar rows ``(c, i, j)``, PyTorch's weight order, for the tiles and
the IR drop) and one matmul whose output is already NHWC.

.. math::
    a_0 = \mathrm{relu}(\mathrm{bn}(\mathrm{conv}(x))), \quad
    a_{b+1} = \mathrm{relu}(\mathrm{bn_2 conv_2 relu(bn_1 conv_1}(a_b)) + s(a_b)), \quad
    \mathrm{logits} = \mathrm{gap}(a_B) W^\top + b
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from refsim.nn.cifar_resnet import cifar_resnet_check_params
from refsim.train.hwa import AnalogLayer, HWAConfig

__all__ = ["TrainNet", "im2col3", "col2im3", "row_order3"]

_WIDTHS = (16, 32, 64)


def _buffer(bufs: dict | None, key, shape, dtype, zero: bool = False) -> np.ndarray:
    """A reusable array (same key and shape: the same memory, no fresh pages every step); ``zero``: the
    border of a new one must be 0 (it stays 0: only the interior is written)."""
    if bufs is None:
        return (np.zeros if zero else np.empty)(shape, dtype=dtype)
    b = bufs.get(key)
    if b is None or b.shape != tuple(shape) or b.dtype != dtype:
        b = bufs[key] = (np.zeros if zero else np.empty)(shape, dtype=dtype)
    return b


def im2col3(x: np.ndarray, stride: int, bufs: dict | None = None, key=None) -> tuple[np.ndarray, int, int]:
    """3x3 patches of ``x (N, H, W, C)`` with zero padding 1: ``cols (N OH OW, 9 C)``, columns ``(i, j, c)``
    (contiguous copies; :func:`row_order3` maps them to the crossbar's rows ``(c, i, j)``)."""
    n, h, w, c = x.shape
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    xp = _buffer(bufs, ("pad", x.shape), (n, h + 2, w + 2, c), x.dtype, zero=True)
    xp[:, 1:-1, 1:-1] = x
    cols = _buffer(bufs, ("cols", key), (n, oh, ow, 3, 3, c), x.dtype)
    # cols[n, p, q, i, j, c] = xp[n, s p + i, s q + j, c]: one strided view of xp, copied once
    s_n, s_h, s_w, s_c = xp.strides
    np.copyto(cols, as_strided(xp, (n, oh, ow, 3, 3, c), (s_n, stride * s_h, stride * s_w, s_h, s_w, s_c),
                               writeable=False))
    return cols.reshape(n * oh * ow, 9 * c), oh, ow


def row_order3(c: int) -> np.ndarray:
    """Crossbar row ``c 9 + 3 i + j`` (PyTorch's weight order) of im2col column ``(3 i + j) C + c``."""
    q = np.arange(9 * c)
    return (q % c) * 9 + q // c


def col2im3(dcols: np.ndarray, x_shape: tuple, stride: int, bufs: dict | None = None) -> np.ndarray:
    """Adjoint of :func:`im2col3`: each pixel collects the gradients of the patches that read it."""
    n, h, w, c = x_shape
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    d6 = dcols.reshape(n, oh, ow, 3, 3, c)
    dxp = _buffer(bufs, ("dpad", x_shape), (n, h + 2, w + 2, c), dcols.dtype)
    dxp.fill(0)
    for i in range(3):
        for j in range(3):
            dxp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride] += d6[:, :, :, i, j]
    return dxp[:, 1:-1, 1:-1].copy() if bufs is not None else dxp[:, 1:-1, 1:-1]


def _bn_forward(x2, p, eps, train):
    """BatchNorm over the rows of ``x2 (M, C)``: batch statistics (train) or running ones."""
    dt = x2.dtype
    if train:
        mu = x2.mean(axis=0, dtype=np.float64)
        xc = x2 - mu.astype(dt)
        var = np.mean(np.square(xc), axis=0, dtype=np.float64)
    else:
        mu, var = p["running_mean"], p["running_var"]
        xc = x2 - mu.astype(dt)
    inv = (1.0 / np.sqrt(var + eps)).astype(dt)
    xhat = xc
    xhat *= inv
    y = xhat * p["weight"]
    y += p["bias"]
    return y, (xhat, inv, mu, var)


def _bn_backward(dy, cache, gamma):
    r"""``dbeta = sum dy``, ``dgamma = sum dy xhat``, ``dx = gamma / sigma (dy - dbeta/m - xhat dgamma/m)``."""
    xhat, inv, _, _ = cache
    m = dy.shape[0]
    dbeta = dy.sum(axis=0, dtype=np.float64)
    dgamma = np.einsum("ij,ij->j", dy, xhat, dtype=np.float64)
    t = xhat * (dgamma / m).astype(dy.dtype)
    t += (dbeta / m).astype(dy.dtype)
    dx = np.subtract(dy, t, out=t)
    dx *= gamma * inv
    return dx, dgamma, dbeta


class TrainNet:
    """A CIFAR ResNet from its PyTorch state dict, for training (FP with ``hwa=None``, else HWA).

    ``layers``: name -> AnalogLayer (``conv1``, ``layer1.0.conv1``, ..., ``linear``);
    ``bn``: name -> dict of ``weight``, ``bias``, ``running_mean``, ``running_var`` (float64 stats).
    """

    def __init__(self, state_dict: dict, hwa: HWAConfig | None = None, *, dtype=np.float32, bn_eps: float = 1e-5,
                 bn_momentum: float = 0.1):
        params, depth = cifar_resnet_check_params(state_dict)
        self.depth, self.hwa, self.dtype, self.eps, self.momentum = depth, hwa, np.dtype(dtype), bn_eps, bn_momentum
        self.layers: dict[str, AnalogLayer] = {}
        self.bn: dict[str, dict] = {}
        self.blocks = []
        self.num_classes = int(np.shape(params["linear.weight"])[0])
        self.buffers: dict = {}  # im2col and col2im arrays reused from step to step (no fresh pages)

        def conv(name):
            w = np.asarray(params[f"{name}.weight"], dtype=np.float64)
            self.layers[name] = AnalogLayer(w.reshape(w.shape[0], -1), None, hwa, name, dtype)
            self.layers[name].set_row_order(row_order3(w.shape[1]))

        def bn(name):
            self.bn[name] = {"weight": np.asarray(params[f"{name}.weight"], dtype=dtype).copy(),
                             "bias": np.asarray(params[f"{name}.bias"], dtype=dtype).copy(),
                             "running_mean": np.asarray(params[f"{name}.running_mean"], dtype=np.float64).copy(),
                             "running_var": np.asarray(params[f"{name}.running_var"], dtype=np.float64).copy()}

        conv("conv1")
        bn("bn1")
        inplanes = 16
        for i, planes in enumerate(_WIDTHS):
            for j in range((depth - 2) // 6):
                p = f"layer{i + 1}.{j}"
                conv(f"{p}.conv1"), bn(f"{p}.bn1"), conv(f"{p}.conv2"), bn(f"{p}.bn2")
                self.blocks.append((p, 2 if (i > 0 and j == 0) else 1, inplanes, planes))
                inplanes = planes
        self.layers["linear"] = AnalogLayer(params["linear.weight"], params["linear.bias"], hwa, "linear", dtype)

    # -- one analog layer ------------------------------------------------------------------------
    def _layer_fwd(self, name, x, ctx, stride=None):
        """Conv (``stride`` given; x NHWC) or linear (x (N, n_in)) through its AnalogLayer."""
        layer = self.layers[name]
        if ctx["train"] and self.hwa is not None and ctx["alpha_init"]:
            layer.observe_alpha(x, self.hwa.alpha_init_batches)
        xn, icache = layer.input_forward(x)
        if stride is None:
            cols, shape = xn, None
        else:
            cols, oh, ow = im2col3(xn, stride, self.buffers, name)
            shape = (x.shape[0], oh, ow)
        rng = ctx["rng"](name) if ctx["rng"] is not None else None
        w_used = layer.w if self.hwa is None else layer.noisy_weights(ctx["eta"], rng)
        z = layer.mvm_forward(cols, w_used, rng, scratch=self.buffers)
        y = layer.output_forward(z)
        if shape is not None:
            y = y.reshape(shape + (y.shape[1],))
        return y, (name, icache, cols, z, w_used, x.shape, stride)

    def _layer_bwd(self, dy, cache, grads):
        name, icache, cols, z, w_used, x_shape, stride = cache
        layer = self.layers[name]
        out = None if stride != 2 else _buffer(self.buffers, ("dcols", cols.shape), cols.shape, cols.dtype)
        dcols, dw, ds, db = layer.mvm_backward(dy.reshape(-1, dy.shape[-1]), z, cols, w_used, out=out,
                                               want_dcols=stride != 1)
        grads[(name, "w")], grads[(name, "s")] = dw, ds
        if db is not None:
            grads[(name, "b")] = db
        if stride is None:
            dxn = dcols
        elif stride == 1:  # dx_n = col2im(dZ w~^T), formed as the convolution of dZ with the flipped kernel
            n_out, c_in = w_used.shape[1], w_used.shape[0] // 9
            w4 = w_used.reshape(c_in, 3, 3, n_out)[:, ::-1, ::-1, :]  # [c, 2 - i, 2 - j, o]
            w_flip = np.ascontiguousarray(w4.transpose(1, 2, 3, 0)).reshape(9 * n_out, c_in)
            dcols_z, _, _ = im2col3(dcols.reshape(x_shape[:3] + (n_out,)), 1, self.buffers, "dz")
            dxn = (dcols_z @ w_flip).reshape(x_shape[:3] + (c_in,))
        else:
            dxn = col2im3(dcols, x_shape[:3] + (layer.w.shape[0] // 9,), stride, self.buffers)
        dx, da = layer.input_backward(dxn, icache)
        grads[(name, "alpha")] = da
        return dx

    def _conv_bn(self, x, conv, bn, stride, ctx, relu):
        y, c1 = self._layer_fwd(conv, x, ctx, stride)
        shape = y.shape
        y2, c2 = _bn_forward(y.reshape(-1, shape[-1]), self.bn[bn], self.eps, ctx["train"])
        if relu:
            np.maximum(y2, 0, out=y2)
        return y2.reshape(shape), (c1, bn, c2, y2 if relu else None)

    def _conv_bn_bwd(self, dy, cache, grads):
        c1, bn, c2, relu_out = cache
        d2 = dy.reshape(-1, dy.shape[-1])
        if relu_out is not None:
            d2 = np.where(relu_out > 0, d2, d2.dtype.type(0))
        d2, grads[(bn, "weight")], grads[(bn, "bias")] = _bn_backward(d2, c2, self.bn[bn]["weight"])
        return self._layer_bwd(d2.reshape(dy.shape), c1, grads)

    # -- the network -----------------------------------------------------------------------------
    def forward(self, x: np.ndarray, *, train: bool = True, eta: float = 0.0, rng=None, alpha_init: bool = False):
        """``x (N, 32, 32, 3)`` normalized images (NHWC) -> ``logits (N, classes)`` float64 and the cache.

        ``rng``: callable ``layer name -> numpy Generator`` (the HWA noise of this batch; None: no noise);
        ``eta``: the injected-noise scale (N3); ``alpha_init``: this batch initialises alpha (N7)."""
        ctx = {"train": train, "eta": eta, "rng": rng, "alpha_init": alpha_init}
        x = np.ascontiguousarray(x, dtype=self.dtype)
        a, stem = self._conv_bn(x, "conv1", "bn1", 1, ctx, relu=True)
        blocks = []
        for p, stride, inplanes, planes in self.blocks:
            out, cb1 = self._conv_bn(a, f"{p}.conv1", f"{p}.bn1", stride, ctx, relu=True)
            out, cb2 = self._conv_bn(out, f"{p}.conv2", f"{p}.bn2", 1, ctx, relu=False)
            if stride != 1 or inplanes != planes:
                pad = planes // 4
                sc = np.pad(a[:, ::2, ::2, :], ((0, 0), (0, 0), (0, 0), (pad, pad)))
            else:
                sc = a
            out += sc
            np.maximum(out, 0, out=out)
            blocks.append((cb1, cb2, out, (stride != 1 or inplanes != planes, planes // 4, a.shape)))
            a = out
        pooled = a.mean(axis=(1, 2))  # (N, 64)
        logits, c_lin = self._layer_fwd("linear", pooled, ctx)
        return logits.astype(np.float64), dict(stem=stem, blocks=blocks, hw=a.shape, lin=c_lin)

    def backward(self, dlogits: np.ndarray, cache) -> dict:
        """Gradients keyed ``(layer, "w" | "s" | "b" | "alpha")`` and ``(bn, "weight" | "bias")``."""
        grads = {}
        dpool = self._layer_bwd(dlogits.astype(self.dtype), cache["lin"], grads)
        n, h, w, c = cache["hw"]
        da = np.broadcast_to((dpool / (h * w))[:, None, None, :], (n, h, w, c))
        for cb1, cb2, out, (option_a, pad, a_shape) in reversed(cache["blocks"]):
            d = np.where(out > 0, da, da.dtype.type(0))
            dmain = self._conv_bn_bwd(d, cb2, grads)
            dmain = self._conv_bn_bwd(dmain, cb1, grads)
            if option_a:
                dsc = np.zeros(a_shape, dtype=self.dtype)
                dsc[:, ::2, ::2, :] = d[..., pad:d.shape[-1] - pad]
                da = dmain + dsc
            else:
                da = dmain + d
        self._conv_bn_bwd(da, cache["stem"], grads)
        return grads

    def update_running_stats(self, cache) -> None:
        """PyTorch's running statistics after a training forward (unbiased variance)."""
        caches = [cache["stem"]] + [cb for blk in cache["blocks"] for cb in blk[:2]]
        for c1, bn, c2, _ in caches:
            _, _, mu, var = c2
            m = c2[0].shape[0]
            p, r = self.bn[bn], self.momentum
            p["running_mean"] = (1 - r) * p["running_mean"] + r * mu
            p["running_var"] = (1 - r) * p["running_var"] + r * var * m / (m - 1)

    # -- parameters --------------------------------------------------------------------------------
    def params(self) -> dict:
        """Trainable arrays by key ``(name, field)`` (views: updated in place)."""
        out = {}
        for name, layer in self.layers.items():
            out[(name, "w")] = layer.w
            if self.hwa is not None and self.hwa.learn_out_scales:
                out[(name, "s")] = layer.s
            if layer.b is not None:
                out[(name, "b")] = layer.b
        for name, p in self.bn.items():
            out[(name, "weight")], out[(name, "bias")] = p["weight"], p["bias"]
        return out

    def state_dict(self) -> dict:
        """The PyTorch-layout state dict of the effective weights ``W = (w s)^T`` (N6), float32."""
        sd = {}
        for name, layer in self.layers.items():
            w = layer.effective_weight()
            if name != "linear":
                w = w.reshape(w.shape[0], -1, 3, 3)
            sd[f"{name}.weight"] = w.astype(np.float32)
            if layer.b is not None:
                sd[f"{name}.bias"] = layer.b.astype(np.float32)
        for name, p in self.bn.items():
            for k, v in p.items():
                sd[f"{name}.{k}"] = np.asarray(v, dtype=np.float32)
        return sd
