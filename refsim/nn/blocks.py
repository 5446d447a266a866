"""Building blocks shared by the ResNets: Conv+BatchNorm units, residual blocks, and the
skeleton of a residual network (:class:`ResidualNetwork`).

A :class:`ConvBN` is a :class:`refsim.nn.Conv2d` followed by an inference
BatchNorm, either kept digital or folded into the convolution
(``fold_bn=True``, :func:`refsim.nn.functional.fold_batch_norm`, docs/MODEL.md L9).
The blocks and the skeleton are the equations of (L15).
"""
from __future__ import annotations

import numpy as np

from refsim._validate import received
from refsim.nn.conv import Conv2d
from refsim.nn.engine import check_forward_args
from refsim.nn.functional import as_float64, batch_norm_eval, fold_batch_norm, relu

__all__ = ["ConvBN", "BasicBlock", "Bottleneck", "ResidualNetwork"]


class ConvBN:
    """``bn(conv(x))`` with PyTorch names ``{conv_name}.weight`` and ``{bn_name}.*``.

    Parameters
    ----------
    params : dict holding ``{conv_name}.weight`` and the four ``{bn_name}`` entries.
    conv_name, bn_name : str
    stride, padding : conv geometry.
    fold_bn : bool
        True: the conv's crossbar holds the folded weights and a bias; no BN at run time.
        False: the conv holds the raw weights; BN runs digitally after it.
    bn_eps : float
    config, seed : as for :class:`refsim.nn.Conv2d`.
    """

    def __init__(self, params, conv_name, bn_name, *, stride=1, padding=0, fold_bn=False, bn_eps=1e-5,
                 config=None, seed=0):
        w = params[f"{conv_name}.weight"]
        bn = tuple(as_float64(params[f"{bn_name}.{k}"], f"{bn_name}.{k}", ndim=1, finite=True)
                   for k in ("weight", "bias", "running_mean", "running_var"))
        if bn[3].size and float(np.min(bn[3])) + bn_eps <= 0:
            raise ValueError(received(f"{bn_name}.running_var", f"minimum {float(np.min(bn[3]))!r}",
                                      f"values > -eps = {-bn_eps!r} (the BatchNorm scale is 1 / sqrt(var + eps))"))
        self.fold_bn, self.bn_eps = fold_bn, bn_eps
        if fold_bn:
            w, b = fold_batch_norm(w, None, *bn, eps=bn_eps)
            self.bn = None
        else:
            b, self.bn = None, bn
        self.conv = Conv2d(w, b, stride=stride, padding=padding, name=conv_name, config=config, seed=seed)

    def forward(self, x, *, digital: bool = False, records: dict | None = None):
        """``bn(conv(x))``; ``records`` receives the conv's record."""
        y = self.conv.forward(x, digital=digital, records=records)
        if self.bn is not None:
            gamma, beta, mean, var = self.bn
            y = batch_norm_eval(y, mean, var, gamma, beta, self.bn_eps)
        return y


class BasicBlock:
    """Two 3x3 ConvBN with a residual (L15): (N, C_in, H, W) -> (N, planes, OH, OW), OH and OW of (L1).

    ``shortcut`` is a callable ``(x, digital, records) -> s(x)``; ``extra_units`` the ConvBN
    units it runs (a projection shortcut), listed by :meth:`units`.
    """

    expansion = 1

    def __init__(self, params, prefix, *, stride, shortcut, extra_units=(), **kw):
        self.conv1 = ConvBN(params, f"{prefix}.conv1", f"{prefix}.bn1", stride=stride, padding=1, **kw)
        self.conv2 = ConvBN(params, f"{prefix}.conv2", f"{prefix}.bn2", stride=1, padding=1, **kw)
        self.shortcut, self.extra_units = shortcut, list(extra_units)

    def units(self):
        """The block's ConvBN units, its shortcut's last."""
        return [self.conv1, self.conv2, *self.extra_units]

    def forward(self, x, *, digital: bool = False, records: dict | None = None):
        kw = dict(digital=digital, records=records)
        out = relu(self.conv1.forward(x, **kw))
        out = self.conv2.forward(out, **kw)
        return relu(out + self.shortcut(x, digital, records))


class Bottleneck:
    r"""1x1 -> 3x3 (stride here, torchvision v1.5) -> 1x1 ConvBN with a residual, expansion 4."""

    expansion = 4

    def __init__(self, params, prefix, *, stride, shortcut, extra_units=(), **kw):
        self.conv1 = ConvBN(params, f"{prefix}.conv1", f"{prefix}.bn1", **kw)
        self.conv2 = ConvBN(params, f"{prefix}.conv2", f"{prefix}.bn2", stride=stride, padding=1, **kw)
        self.conv3 = ConvBN(params, f"{prefix}.conv3", f"{prefix}.bn3", **kw)
        self.shortcut, self.extra_units = shortcut, list(extra_units)

    def units(self):
        """The block's ConvBN units, its shortcut's last."""
        return [self.conv1, self.conv2, self.conv3, *self.extra_units]

    def forward(self, x, *, digital: bool = False, records: dict | None = None):
        kw = dict(digital=digital, records=records)
        out = relu(self.conv1.forward(x, **kw))
        out = relu(self.conv2.forward(out, **kw))
        out = self.conv3.forward(out, **kw)
        return relu(out + self.shortcut(x, digital, records))


def identity_shortcut(x, digital, records):
    """The identity shortcut ``s(x) = x``."""
    return x


def option_a_shortcut(planes: int):
    """He et al. 2016 CIFAR option A (L15): subsample by 2 and zero-pad ``planes // 4`` channels
    each side, (N, C, H, W) -> (N, C + 2 (planes // 4), ceil(H/2), ceil(W/2))."""
    pad = planes // 4

    def shortcut(x, digital, records):
        return np.pad(x[:, :, ::2, ::2], ((0, 0), (pad, pad), (0, 0), (0, 0)))  # (N, C + 2 pad, H/2, W/2)

    return shortcut


def conv_shortcut(unit: ConvBN):
    """Projection shortcut ``s(x) = bn(conv1x1(x))`` (torchvision ``downsample.0/.1``)."""

    def shortcut(x, digital, records):
        return unit.forward(x, digital=digital, records=records)

    return shortcut


def as_rgb_batch(x) -> np.ndarray:
    """``x`` as float64 ``(N, 3, H, W)``, the input of every ResNet; ValueError naming the shape otherwise."""
    x = as_float64(x, "x", ndim=4)
    if x.shape[1] != 3:
        raise ValueError(f"x: received shape {x.shape}; expected shape (N, 3, H, W)")
    return x


class ResidualNetwork:
    """The skeleton every ResNet here shares (torchvision's and He et al.'s CIFAR ResNets), (L15):
    stem conv, BatchNorm, relu, optional pool, the stages, the global average pool and the head.
    Subclasses build ``self.stem`` (a
    :class:`ConvBN`), ``self.stages`` (a list of lists of blocks, ``layer1`` first) and
    ``self.head`` (a :class:`refsim.nn.Linear`), and may set ``stem_pool`` (a function of x).

    Shapes: x (N, 3, H, W) float64 -> logits (N, num_classes).
    """

    stem_pool = None

    def layers(self) -> dict:
        """Every crossbar-backed layer, by PyTorch name (``conv1``, ``layer1.0.conv1``, ..., the head)."""
        out = {self.stem.conv.name: self.stem.conv}
        for blocks in self.stages:
            for blk in blocks:
                for u in blk.units():
                    out[u.conv.name] = u.conv
        out[self.head.name] = self.head
        return out

    @property
    def n_arrays(self) -> int:
        return sum(layer.n_arrays for layer in self.layers().values())

    def forward(self, x, *, digital: bool = False, records: dict | None = None):
        """Logits ``(N, num_classes)``. ``digital=True``: exact matmuls with the same weights;
        ``records``: a dict that receives every layer's :class:`~refsim.nn.LayerRecord`."""
        check_forward_args(digital, records)
        kw = dict(digital=digital, records=records)
        x = as_rgb_batch(x)  # (N, 3, H, W)
        x = relu(self.stem.forward(x, **kw))
        if self.stem_pool is not None:
            x = self.stem_pool(x)
        for blocks in self.stages:
            for blk in blocks:
                x = blk.forward(x, **kw)
        x = x.mean(axis=(2, 3))  # (N, C): global average pool
        return self.head.forward(x, **kw)  # (N, num_classes)

    __call__ = forward
