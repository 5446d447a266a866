r"""A whole CIFAR ResNet (He et al. 2016, :class:`refsim.nn.CifarResNet`) in training mode:
forward with caches, backward to every parameter, keyed by the PyTorch state-dict names.

The network, read top to bottom (BatchNorm with batch statistics, as ``model.train()``):

.. math::
    a_0 = \mathrm{relu}(\mathrm{bn}(\mathrm{conv}(x))), \qquad
    a_{b+1} = \mathrm{relu}\big(\mathrm{bn_2 conv_2}(\mathrm{relu}(\mathrm{bn_1 conv_1}(a_b))) + s(a_b)\big)

    \mathrm{logits} = \mathrm{gap}(a_B)\, W^\top + b, \qquad
    L = \mathrm{CE}(\mathrm{logits}, \mathrm{labels})

with ``s`` the identity or the option-A shortcut where the shape changes. The backward runs
the same list of operations in reverse, each through its ``*_backward``
(:mod:`refsim.train.functional_grad`, :mod:`refsim.train.layers_grad`); the residual addition
sends the same gradient to both branches, which are summed at the block input.
"""
from __future__ import annotations

from refsim.nn.blocks import as_rgb_batch
from refsim.nn.cifar_resnet import cifar_resnet_check_params
from refsim.train.functional_grad import (
    add_backward, batch_norm_backward, batch_norm_forward, global_avg_pool_backward, global_avg_pool_forward,
    option_a_shortcut_backward, option_a_shortcut_forward, relu_backward, relu_forward,
    softmax_cross_entropy_backward, softmax_cross_entropy_forward, update_running_stats,
)
from refsim.train.layers_grad import conv2d_backward, conv2d_forward, linear_backward, linear_forward

__all__ = ["cifar_resnet_forward", "cifar_resnet_backward", "cifar_resnet_running_stats",
           "cifar_resnet_loss_and_grads"]

_WIDTHS = (16, 32, 64)


def _conv_bn_forward(params, x, conv, bn, stride, eps, xbar):
    """``bn(conv3x3(x))``, padding 1, no conv bias; BatchNorm with batch statistics."""
    y, c_conv = conv2d_forward(x, params[f"{conv}.weight"], stride=stride, padding=1, xbar=xbar.get(conv))
    y, c_bn = batch_norm_forward(y, params[f"{bn}.weight"], params[f"{bn}.bias"], eps)
    return y, (conv, bn, c_conv, c_bn)


def _conv_bn_backward(dy, cache, grads):
    """Backward of :func:`_conv_bn_forward`; writes the conv's and the BatchNorm's gradients into ``grads``."""
    conv, bn, c_conv, c_bn = cache
    dy, grads[f"{bn}.weight"], grads[f"{bn}.bias"] = batch_norm_backward(dy, c_bn)
    dx, g = conv2d_backward(dy, c_conv)
    grads[f"{conv}.weight"] = g["weight"]
    return dx


def cifar_resnet_forward(state_dict: dict, x, *, bn_eps: float = 1e-5, xbar: dict | None = None):
    r"""Training-mode forward of the CIFAR ResNet whose parameters are ``state_dict``.

    Parameters
    ----------
    state_dict : the PyTorch state dict (``pytorch_resnet_cifar10`` names; ``module.`` stripped;
        depth inferred), as :func:`refsim.nn.cifar_resnet_from_state_dict` reads it.
    x : (N, 3, H, W) images
    bn_eps : BatchNorm epsilon
    xbar : optional dict ``layer name -> crossbar callables`` (a list of one per group for a
        conv, one callable for ``linear``) run in the forward instead of the exact matmul; the
        backward stays exact (straight-through, :mod:`refsim.train.layers_grad`).

    Returns ``logits (N, num_classes)`` and the cache (every operation's cache, in order).
    """
    params, depth = cifar_resnet_check_params(state_dict)
    xbar = xbar or {}
    x = as_rgb_batch(x)
    a, stem = _conv_bn_forward(params, x, "conv1", "bn1", 1, bn_eps, xbar)
    a, stem_relu = relu_forward(a)
    blocks, inplanes = [], 16
    for i, planes in enumerate(_WIDTHS):
        for j in range((depth - 2) // 6):
            p, stride = f"layer{i + 1}.{j}", (2 if (i > 0 and j == 0) else 1)
            out, cb1 = _conv_bn_forward(params, a, f"{p}.conv1", f"{p}.bn1", stride, bn_eps, xbar)
            out, r1 = relu_forward(out)
            out, cb2 = _conv_bn_forward(params, out, f"{p}.conv2", f"{p}.bn2", 1, bn_eps, xbar)
            if stride != 1 or inplanes != planes:
                sc, c_sc = option_a_shortcut_forward(a, planes)
            else:
                sc, c_sc = a, None
            a, r2 = relu_forward(out + sc)
            blocks.append((cb1, r1, cb2, c_sc, r2))
            inplanes = planes
    pooled, c_gap = global_avg_pool_forward(a)  # (N, 64)
    logits, c_lin = linear_forward(pooled, params["linear.weight"], params["linear.bias"], xbar=xbar.get("linear"))
    return logits, dict(stem=stem, stem_relu=stem_relu, blocks=blocks, gap=c_gap, linear=c_lin, params=params)


def cifar_resnet_backward(dlogits, cache) -> tuple:
    r"""Backward of :func:`cifar_resnet_forward`: gradients of every parameter.

    Block by block, last first: ``relu`` of the sum, then the main branch (bn2, conv2, relu,
    bn1, conv1) and the shortcut (identity, or the adjoint of subsample-and-pad), whose input
    gradients add:

    .. math:: \frac{\partial L}{\partial a_b} = \frac{\partial L}{\partial a_b}\Big|_{\text{main}}
              + \frac{\partial L}{\partial a_b}\Big|_{\text{shortcut}}

    Returns ``(dx, grads)``: dx (N, 3, H, W) and grads keyed by the state-dict names of every
    weight and bias (BatchNorm ``weight``/``bias`` included; running statistics are buffers,
    updated by :func:`cifar_resnet_running_stats`, not differentiated).
    """
    grads = {}
    dpooled, g = linear_backward(dlogits, cache["linear"])
    grads["linear.weight"], grads["linear.bias"] = g["weight"], g["bias"]
    da = global_avg_pool_backward(dpooled, cache["gap"])
    for cb1, r1, cb2, c_sc, r2 in reversed(cache["blocks"]):
        d_main, d_sc = add_backward(relu_backward(da, r2))
        d_main = _conv_bn_backward(d_main, cb2, grads)
        d_main = _conv_bn_backward(relu_backward(d_main, r1), cb1, grads)
        da = d_main + (d_sc if c_sc is None else option_a_shortcut_backward(d_sc, c_sc))
    dx = _conv_bn_backward(relu_backward(da, cache["stem_relu"]), cache["stem"], grads)
    return dx, grads


def cifar_resnet_running_stats(cache, momentum: float = 0.1) -> dict:
    r"""The new ``running_mean`` / ``running_var`` of every BatchNorm after the forward that made
    ``cache`` (:func:`refsim.train.functional_grad.update_running_stats`, PyTorch's update)."""
    params = cache["params"]
    caches = [cache["stem"]] + [cb for blk in cache["blocks"] for cb in (blk[0], blk[2])]
    out = {}
    for _, bn, _, c_bn in caches:
        out[f"{bn}.running_mean"], out[f"{bn}.running_var"] = update_running_stats(
            params[f"{bn}.running_mean"], params[f"{bn}.running_var"], c_bn, momentum)
    return out


def cifar_resnet_loss_and_grads(state_dict: dict, x, labels, *, bn_eps: float = 1e-5, momentum: float = 0.1,
                                xbar: dict | None = None):
    r"""One training-mode forward and backward: the mean softmax cross-entropy ``L``, its
    gradient for every parameter (state-dict names), and the updated running statistics.

    Returns ``(loss, grads, running_stats)``.
    """
    logits, cache = cifar_resnet_forward(state_dict, x, bn_eps=bn_eps, xbar=xbar)
    loss, c_ce = softmax_cross_entropy_forward(logits, labels)
    _, grads = cifar_resnet_backward(softmax_cross_entropy_backward(1.0, c_ce), cache)
    return loss, grads, cifar_resnet_running_stats(cache, momentum)
