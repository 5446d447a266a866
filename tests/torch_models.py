"""PyTorch twins of refsim's networks, the oracles of the torch cross-check tests.

Import only from tests that already did ``pytest.importorskip("torch")``. torchvision is not a
dependency, so the reference models are rebuilt here from ``torch.nn`` modules with
pytorch_resnet_cifar10's structure and parameter names, so that one state dict loads into both.
"""
import torch

nn = torch.nn


class TorchCifarBlock(nn.Module):
    """pytorch_resnet_cifar10's BasicBlock with the option-A shortcut (subsample, zero-pad channels)."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes // 4 if (stride != 1 or inplanes != planes) else None

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        sc = x if self.pad is None else nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return torch.relu(out + sc)


class TorchCifarResNet(nn.Module):
    """pytorch_resnet_cifar10's resnet{depth} (depth = 6n + 2, option A), same parameter names."""

    def __init__(self, depth, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        inplanes = 16
        for i, planes in enumerate((16, 32, 64)):
            blocks = []
            for j in range((depth - 2) // 6):
                blocks.append(TorchCifarBlock(inplanes, planes, 2 if (i > 0 and j == 0) else 1))
                inplanes = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(x.mean(dim=(2, 3)))
