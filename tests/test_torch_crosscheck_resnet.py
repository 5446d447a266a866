"""CIFAR ResNet-20 and a full ResNet-50 (torchvision layout) against PyTorch float64.

torchvision is not a dependency, so the reference models are rebuilt here from
torch.nn modules with torchvision's / pytorch_resnet_cifar10's structure and
parameter names; identical state dicts are loaded into both.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch (optional, pip install torch==2.13.0) is the cross-check oracle")
nn = torch.nn

from refsim.nn import cifar_resnet_from_state_dict, resnet_from_state_dict  # noqa: E402
from refsim.nn.cifar_resnet import cifar_resnet_param_shapes  # noqa: E402
from refsim.nn.resnet import resnet_param_shapes  # noqa: E402
from refsim.nn.statedict import random_params
from checks import ideal, rel_err  # noqa: E402
from tolerances import TOL_TORCH  # noqa: E402
from checks import cifar_images, load_checkpoint  # noqa: E402
from torch_models import TorchCifarResNet  # noqa: E402


class TorchBottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchResNet50(nn.Module):
    """torchvision.models.resnet50's structure and parameter names."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, n in enumerate((3, 4, 6, 3)):
            planes, blocks = 64 * 2**i, []
            for j in range(n):
                blocks.append(TorchBottleneck(inplanes, planes, 2 if (i > 0 and j == 0) else 1))
                inplanes = planes * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def load_into(model, sd):
    model = model.double()  # first: loading float64 values into float32 parameters would round them
    res = model.load_state_dict({k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in sd.items()},
                                strict=False)
    assert not res.unexpected_keys and all("num_batches_tracked" in k for k in res.missing_keys), res
    return model.eval()


def test_cifar_resnet20_matches_torch():
    sd = random_params(cifar_resnet_param_shapes(20), np.random.default_rng(10))
    ref_model = load_into(TorchCifarResNet(20), sd)
    x = np.random.default_rng(11).normal(size=(4, 3, 32, 32))
    with torch.no_grad():
        ref = ref_model(torch.tensor(x)).numpy()
    assert rel_err(cifar_resnet_from_state_dict(sd, config=ideal())(x), ref) < TOL_TORCH


@pytest.mark.slow
def test_resnet50_torchvision_layout_matches_torch():
    """One ResNet-50 forward, ideal preset, random weights, 224x224: logits ~1e-10, same top-5."""
    sd = random_params(resnet_param_shapes(50), np.random.default_rng(12))
    ref_model = load_into(TorchResNet50(), sd)
    x = np.random.default_rng(13).normal(size=(1, 3, 224, 224))
    with torch.no_grad():
        ref = ref_model(torch.tensor(x)).numpy()
    y = resnet_from_state_dict(sd, config=ideal())(x)
    assert rel_err(y, ref) < TOL_TORCH
    assert np.array_equal(np.argsort(-y[0])[:5], np.argsort(-ref[0])[:5])


@pytest.mark.slow
def test_pretrained_resnet20_predictions_match_torch():
    sd = load_checkpoint("resnet20-12fca82f.th")
    x, _ = cifar_images(64)
    ref_model = load_into(TorchCifarResNet(20), sd)
    with torch.no_grad():
        ref = ref_model(torch.tensor(x)).numpy()
    y = cifar_resnet_from_state_dict(sd, config=ideal())(x)
    assert rel_err(y, ref) < TOL_TORCH
    assert np.array_equal(y.argmax(axis=1), ref.argmax(axis=1))
