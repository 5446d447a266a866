"""A torchvision-layout ResNet in PyTorch (torchvision is not a dependency), for the CPU timing only.

Same structure and parameter names as ``torchvision.models.resnet{18,34,50,...}`` (v1.5: stride
in the 3x3 of a Bottleneck), so ``load_state_dict`` takes the benchmark's state dict as is.
Only :mod:`bench` imports torch; ``refsim`` never does.
"""
from __future__ import annotations

import torch
from torch import nn

from refsim.nn.resnet import RESNET_LAYOUTS, infer_resnet_depth

__all__ = ["torch_resnet"]


class _Block(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int, bottleneck: bool):
        super().__init__()
        exp = 4 if bottleneck else 1
        if bottleneck:
            specs = [(inplanes, planes, 1, 1, 0), (planes, planes, 3, stride, 1), (planes, planes * 4, 1, 1, 0)]
        else:
            specs = [(inplanes, planes, 3, stride, 1), (planes, planes, 3, 1, 1)]
        for i, (ci, co, k, s, p) in enumerate(specs, start=1):
            setattr(self, f"conv{i}", nn.Conv2d(ci, co, k, s, p, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(co))
        self.n = len(specs)
        self.downsample = None
        if stride != 1 or inplanes != planes * exp:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * exp, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * exp))

    def forward(self, x):
        out = x
        for i in range(1, self.n + 1):
            out = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(out))
            if i < self.n:
                out = torch.relu(out)
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int):
        super().__init__()
        kind, counts = RESNET_LAYOUTS[depth]
        bottleneck = kind == "bottleneck"
        exp = 4 if bottleneck else 1
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, n in enumerate(counts):
            planes, blocks = 64 * 2**i, []
            for j in range(n):
                blocks.append(_Block(inplanes, planes, 2 if (i > 0 and j == 0) else 1, bottleneck))
                inplanes = planes * exp
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(512 * exp, num_classes)

    def forward(self, x):
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def torch_resnet(sd: dict, dtype) -> TorchResNet:
    """The PyTorch model of state dict ``sd`` (NumPy arrays), in ``dtype``, in eval mode."""
    depth = infer_resnet_depth(sd)
    model = TorchResNet(depth, int(sd["fc.weight"].shape[0]))
    state = {k: torch.as_tensor(v) for k, v in sd.items()}
    state.update({k.replace("running_mean", "num_batches_tracked"): torch.tensor(0)
                  for k in sd if k.endswith("running_mean")})
    model.load_state_dict(state, strict=True)
    return model.to(dtype).eval()
