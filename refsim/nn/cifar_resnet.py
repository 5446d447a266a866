"""CIFAR ResNets of He et al. 2016 (ResNet-20/32/44/56/110, option-A shortcuts).

Layout and names of the public ``pytorch_resnet_cifar10`` models: conv1 3x3
(16) -> bn1 -> relu -> layer1 (16) -> layer2 (32, /2) -> layer3 (64, /2) ->
global average pool -> ``linear``; ``n`` BasicBlocks per stage, depth
``6 n + 2``. Option-A shortcut where the shape changes: ``x[:, :, ::2, ::2]``
with ``planes // 4`` zero channels on each side. Checkpoints saved from
DataParallel carry a ``module.`` prefix, which is stripped.
"""
from __future__ import annotations

import re

import numpy as np

from refsim.nn.blocks import BasicBlock, ConvBN, ResidualNetwork, identity_shortcut, option_a_shortcut
from refsim.nn.engine import check_seed
from refsim.nn.linear import Linear
from refsim.nn.statedict import bn_shapes, check_state_dict, strip_prefix

__all__ = ["CifarResNet", "cifar_resnet_check_params", "cifar_resnet_from_state_dict", "cifar_resnet_param_shapes"]

_WIDTHS = (16, 32, 64)


def cifar_resnet_param_shapes(depth: int, num_classes: int = 10) -> dict:
    """Every state-dict key (without ``module.``) of a CIFAR ResNet of ``depth`` and its shape."""
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth: received {depth!r}; expected 6 n + 2 (20, 32, 44, 56, 110, ...)")
    n = (depth - 2) // 6
    shapes = {"conv1.weight": (16, 3, 3, 3), **bn_shapes("bn1", 16)}
    inplanes = 16
    for i, planes in enumerate(_WIDTHS):
        for j in range(n):
            p = f"layer{i + 1}.{j}"
            shapes[f"{p}.conv1.weight"] = (planes, inplanes, 3, 3)
            shapes.update(bn_shapes(f"{p}.bn1", planes))
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            shapes.update(bn_shapes(f"{p}.bn2", planes))
            inplanes = planes
    shapes["linear.weight"] = (num_classes, 64)
    shapes["linear.bias"] = (num_classes,)
    return shapes


class CifarResNet(ResidualNetwork):
    """A CIFAR ResNet (He et al. 2016) whose convolutions and ``linear`` run on crossbars.

    Parameters: as :class:`refsim.nn.ResNet`. Shapes: x (N, 3, 32, 32) -> (N, num_classes).
    """

    def __init__(self, params: dict, depth: int, *, fold_bn: bool = False, bn_eps: float = 1e-5,
                 config=None, seed: int = 0):
        self.depth, self.fold_bn = depth, bool(fold_bn)
        kw = dict(fold_bn=self.fold_bn, bn_eps=bn_eps, config=config, seed=check_seed(seed))
        self.stem = ConvBN(params, "conv1", "bn1", stride=1, padding=1, **kw)
        self.stages, inplanes = [], 16
        for i, planes in enumerate(_WIDTHS):
            blocks = []
            for j in range((depth - 2) // 6):
                stride = 2 if (i > 0 and j == 0) else 1
                change = stride != 1 or inplanes != planes
                shortcut = option_a_shortcut(planes) if change else identity_shortcut
                blocks.append(BasicBlock(params, f"layer{i + 1}.{j}", stride=stride, shortcut=shortcut, **kw))
                inplanes = planes
            self.stages.append(blocks)
        self.linear = self.head = Linear(params["linear.weight"], params["linear.bias"], name="linear",
                                         config=config, seed=seed)


def cifar_resnet_check_params(state_dict: dict) -> tuple[dict, int]:
    """Check a CIFAR ResNet state dict (``module.`` prefix stripped; depth from the number of
    blocks in ``layer1``); return its parameters as float64 arrays and the depth."""
    sd = strip_prefix(state_dict)
    n = 1 + max((int(m.group(1)) for k in sd if (m := re.match(r"^layer1\.(\d+)\.", k))), default=-1)
    if n < 1:
        raise ValueError("state_dict has no 'layer1.{j}.*' keys; not a CIFAR ResNet.")
    if "linear.weight" not in sd:
        raise ValueError("state_dict has no 'linear.weight'; cannot infer num_classes.")
    depth = 6 * n + 2
    num_classes = int(np.shape(sd["linear.weight"])[0])
    return check_state_dict(sd, cifar_resnet_param_shapes(depth, num_classes), f"CIFAR ResNet-{depth}"), depth


def cifar_resnet_from_state_dict(state_dict: dict, *, config=None, seed: int = 0, fold_bn: bool = False,
                                 bn_eps: float = 1e-5) -> CifarResNet:
    """Build a CIFAR ResNet from its state dict; depth from the number of blocks in ``layer1``."""
    params, depth = cifar_resnet_check_params(state_dict)
    return CifarResNet(params, depth, fold_bn=fold_bn, bn_eps=bn_eps, config=config, seed=seed)
