"""ResNet-18/34/50/101/152 in torchvision layout (parameter names = state-dict keys).

``resnet_from_state_dict(sd)`` infers the depth from the keys (BasicBlock if no
``conv3``; blocks per stage from ``layer{i}.{j}.``), checks every key and
shape, and builds the network; importing a torchvision checkpoint is the
identity. Architecture (torchvision ``resnet.py``, v1.5: stride in the 3x3
of a Bottleneck): conv1 7x7/2 -> bn1 -> relu -> maxpool 3x3/2 -> layer1..4 ->
global average pool -> fc.
"""
from __future__ import annotations

import re

import numpy as np

from refsim.nn.blocks import BasicBlock, Bottleneck, ConvBN, ResidualNetwork, conv_shortcut, identity_shortcut
from refsim.nn.engine import check_seed
from refsim.nn.functional import max_pool2d
from refsim.nn.linear import Linear
from refsim.nn.statedict import bn_shapes, check_state_dict, strip_prefix

__all__ = ["ResNet", "resnet_from_state_dict", "resnet_param_shapes", "RESNET_LAYOUTS"]

#: depth -> (block type, blocks per stage), as torchvision.
RESNET_LAYOUTS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def resnet_param_shapes(depth: int, num_classes: int = 1000) -> dict:
    """Every state-dict key of torchvision's ``resnet{depth}`` and its shape."""
    if depth not in RESNET_LAYOUTS:
        raise ValueError(f"depth: received {depth!r}; expected one of {sorted(RESNET_LAYOUTS)}")
    block, counts = RESNET_LAYOUTS[depth]
    exp = 4 if block == "bottleneck" else 1
    shapes = {"conv1.weight": (64, 3, 7, 7), **bn_shapes("bn1", 64)}
    inplanes = 64
    for i, n in enumerate(counts):
        planes = 64 * 2**i
        for j in range(n):
            p = f"layer{i + 1}.{j}"
            stride = 2 if (i > 0 and j == 0) else 1
            if block == "basic":
                convs = [(planes, inplanes, 3), (planes, planes, 3)]
            else:
                convs = [(planes, inplanes, 1), (planes, planes, 3), (planes * 4, planes, 1)]
            for c, (o, ci, k) in enumerate(convs, start=1):
                shapes[f"{p}.conv{c}.weight"] = (o, ci, k, k)
                shapes.update(bn_shapes(f"{p}.bn{c}", o))
            if stride != 1 or inplanes != planes * exp:
                shapes[f"{p}.downsample.0.weight"] = (planes * exp, inplanes, 1, 1)
                shapes.update(bn_shapes(f"{p}.downsample.1", planes * exp))
            inplanes = planes * exp
    shapes["fc.weight"] = (num_classes, 512 * exp)
    shapes["fc.bias"] = (num_classes,)
    return shapes


def infer_resnet_depth(keys) -> int:
    """Depth of a torchvision ResNet from its state-dict keys."""
    counts = [0, 0, 0, 0]
    bottleneck = False
    for k in keys:
        m = re.match(r"^layer([1-4])\.(\d+)\.(conv\d)\.weight$", k)
        if m:
            i, j = int(m.group(1)) - 1, int(m.group(2))
            counts[i] = max(counts[i], j + 1)
            bottleneck |= m.group(3) == "conv3"
    layout = ("bottleneck" if bottleneck else "basic", tuple(counts))
    for depth, lay in RESNET_LAYOUTS.items():
        if lay == layout:
            return depth
    raise ValueError(
        f"state_dict layout {layout} (block type, blocks per stage) matches no torchvision ResNet; "
        f"known: { {d: l for d, l in RESNET_LAYOUTS.items()} }."
    )


class ResNet(ResidualNetwork):
    """A torchvision ResNet whose convolutions and fc run on crossbars.

    Parameters
    ----------
    params : dict
        Checked float64 parameters (see :func:`resnet_from_state_dict`).
    depth : int
    fold_bn : bool
        Fold each BatchNorm into its preceding conv (documented in docs/layers.md);
        False keeps BatchNorm digital.
    bn_eps : float
    config, seed : per-layer crossbar configs and seeds (:mod:`refsim.nn.engine`).

    Shapes: x (N, 3, H, W) float64 -> logits (N, num_classes).
    """

    def __init__(self, params: dict, depth: int, *, fold_bn: bool = False, bn_eps: float = 1e-5,
                 config=None, seed: int = 0):
        self.depth, self.fold_bn = depth, bool(fold_bn)
        kw = dict(fold_bn=self.fold_bn, bn_eps=bn_eps, config=config, seed=check_seed(seed))
        block_cls = Bottleneck if RESNET_LAYOUTS[depth][0] == "bottleneck" else BasicBlock
        self.stem = ConvBN(params, "conv1", "bn1", stride=2, padding=3, **kw)
        self.stages = []
        for i, n in enumerate(RESNET_LAYOUTS[depth][1]):
            blocks = []
            for j in range(n):
                p = f"layer{i + 1}.{j}"
                stride = 2 if (i > 0 and j == 0) else 1
                if f"{p}.downsample.0.weight" in params:
                    down = ConvBN(params, f"{p}.downsample.0", f"{p}.downsample.1", stride=stride, **kw)
                    shortcut, extra = conv_shortcut(down), [down]
                else:
                    shortcut, extra = identity_shortcut, []
                blocks.append(block_cls(params, p, stride=stride, shortcut=shortcut, extra_units=extra, **kw))
            self.stages.append(blocks)
        self.fc = self.head = Linear(params["fc.weight"], params["fc.bias"], name="fc", config=config, seed=seed)

    @staticmethod
    def stem_pool(x):
        """torchvision's 3x3/2 max pool after the stem: (N, 64, H/2, W/2) -> (N, 64, H/4, W/4)."""
        return max_pool2d(x, 3, 2, 1)


def resnet_from_state_dict(state_dict: dict, *, config=None, seed: int = 0, fold_bn: bool = False,
                           bn_eps: float = 1e-5) -> ResNet:
    """Build a torchvision-layout ResNet from its state dict (depth inferred from the keys).

    A ``module.`` prefix on every key is stripped. ``num_classes`` comes from
    ``fc.weight``. Missing/unexpected keys and shape mismatches raise
    ``ValueError`` naming the keys (and both shapes).
    """
    sd = strip_prefix(state_dict)
    depth = infer_resnet_depth(sd)
    if "fc.weight" not in sd:
        raise ValueError("state_dict has no 'fc.weight'; cannot infer num_classes.")
    num_classes = int(np.shape(sd["fc.weight"])[0])
    params = check_state_dict(sd, resnet_param_shapes(depth, num_classes), f"ResNet-{depth}")
    return ResNet(params, depth, fold_bn=fold_bn, bn_eps=bn_eps, config=config, seed=seed)
