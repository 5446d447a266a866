"""Registry of known public pretrained checkpoints (ResNets on ImageNet and CIFAR-10).

Every entry names its URL, its SHA-256, the preprocessing its training used and
its licence. The hex group at the end of each file name (``resnet50-0676ba61``)
is, by the convention of both publishers, the start of the file's SHA-256;
``torch.hub`` checks only that prefix. Where refsim has computed the full
hash from the actual file, :attr:`CheckpointInfo.sha256` holds all 64 hex
digits; elsewhere it holds the published prefix only, and :func:`fetch
<refsim.io.download.fetch>` verifies that prefix (documented per entry by
:attr:`CheckpointInfo.sha256_is_full`). No hash here was guessed.

Sources: torchvision ``torchvision/models/resnet.py`` (``ResNet*_Weights``)
and the README of https://github.com/akamaster/pytorch_resnet_cifar10.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CheckpointInfo", "CHECKPOINTS", "get_checkpoint", "list_checkpoints"]

_HEX = re.compile(r"^[0-9a-f]+$")
_PREPROCESS = ("imagenet", "cifar10")
_ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
          "cifar-resnet20", "cifar-resnet32", "cifar-resnet44", "cifar-resnet56", "cifar-resnet110")

_TORCHVISION_LICENCE = (
    "BSD-3-Clause (torchvision); trained on ImageNet-1k, whose terms of access restrict use to "
    "non-commercial research and education"
)
_AKAMASTER_LICENCE = "BSD-2-Clause, Copyright (c) 2018 Yerlan Idelbayev (pytorch_resnet_cifar10)"
_IMAGENET_CLASSES = (
    "ImageNet-1k, 1000 classes in torchvision order (torchvision.models._meta._IMAGENET_CATEGORIES; "
    "the shared data's imagenet-samples/classes.txt lists them as '<wnid> <label>')"
)
_CIFAR_CLASSES = (
    "CIFAR-10: airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck "
    "(the dataset's batches.meta order)"
)


@dataclass(frozen=True)
class CheckpointInfo:
    """One downloadable checkpoint.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"resnet50-imagenet1k-v2"``.
    arch : str
        Architecture: ``resnet18`` .. ``resnet152`` or ``cifar-resnet20`` .. ``cifar-resnet110``.
    url : str
        Download URL.
    sha256 : str
        Lower-case hex: the full 64-digit SHA-256, or the published prefix.
    preprocess : str
        ``"imagenet"`` or ``"cifar10"`` (see :mod:`refsim.tools.preprocess`).
    resize_size : int
        Shorter side after resizing (ImageNet: 256 for V1, 232 for V2; CIFAR: 32).
    crop_size : int
        Side of the centre crop (224 or 32).
    num_classes : int
    classes : str
        Where the class list (index order) comes from.
    top1_percent : float
        Published top-1 accuracy on the full validation/test set, in percent.
    licence : str
    """

    name: str
    arch: str
    url: str
    sha256: str
    preprocess: str
    resize_size: int
    crop_size: int
    num_classes: int
    classes: str
    top1_percent: float
    licence: str

    def __post_init__(self) -> None:
        if self.arch not in _ARCHS:
            raise ValueError(f"arch: received {self.arch!r}; expected one of {_ARCHS}")
        if self.preprocess not in _PREPROCESS:
            raise ValueError(f"preprocess: received {self.preprocess!r}; expected one of {_PREPROCESS}")
        if not (_HEX.match(self.sha256) and (len(self.sha256) == 64 or 8 <= len(self.sha256) < 64)):
            raise ValueError(f"sha256: received {self.sha256!r}; expected 8..64 lower-case hex digits")
        if not self.url.startswith("https://"):
            raise ValueError(f"url: received {self.url!r}; expected an https:// URL")
        if not self.sha256.startswith(self.file_hash_prefix):
            raise ValueError(
                f"sha256 {self.sha256!r} does not start with the hex prefix {self.file_hash_prefix!r} "
                f"of the file name {self.filename!r}"
            )
        for field in ("resize_size", "crop_size", "num_classes"):
            if not isinstance(getattr(self, field), int) or getattr(self, field) <= 0:
                raise ValueError(f"{field}: received {getattr(self, field)!r}; expected a positive int")

    @property
    def filename(self) -> str:
        """Last component of the URL, e.g. ``resnet50-0676ba61.pth``."""
        return self.url.rsplit("/", 1)[-1]

    @property
    def file_hash_prefix(self) -> str:
        """The hex group after the last ``-`` of the file name (start of its SHA-256)."""
        match = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z]+$", self.filename)
        if match is None:
            raise ValueError(f"url: file name {self.filename!r} has no '-<hex>.<ext>' hash suffix")
        return match.group(1)

    @property
    def sha256_is_full(self) -> bool:
        """True when :attr:`sha256` is the complete hash, False for a prefix only."""
        return len(self.sha256) == 64


def _tv(arch: str, version: int, suffix: str, top1: float) -> CheckpointInfo:
    return CheckpointInfo(
        name=f"{arch}-imagenet1k-v{version}", arch=arch,
        url=f"https://download.pytorch.org/models/{arch}-{suffix}.pth", sha256=suffix,
        preprocess="imagenet", resize_size=256 if version == 1 else 232, crop_size=224,
        num_classes=1000, classes=_IMAGENET_CLASSES, top1_percent=top1, licence=_TORCHVISION_LICENCE,
    )


def _cifar(depth: int, sha256: str, top1: float) -> CheckpointInfo:
    return CheckpointInfo(
        name=f"cifar-resnet{depth}", arch=f"cifar-resnet{depth}",
        url=("https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
             f"resnet{depth}-{sha256[:8]}.th"),
        sha256=sha256, preprocess="cifar10", resize_size=32, crop_size=32, num_classes=10,
        classes=_CIFAR_CLASSES, top1_percent=top1, licence=_AKAMASTER_LICENCE,
    )


_ENTRIES = (
    # torchvision ResNet*_Weights; top-1 from their metadata (acc@1).
    _tv("resnet18", 1, "f37072fd", 69.758),
    _tv("resnet34", 1, "b627a593", 73.314),
    _tv("resnet50", 1, "0676ba61", 76.130),
    _tv("resnet50", 2, "11ad3fa6", 80.858),
    _tv("resnet101", 1, "63fe2227", 77.374),
    _tv("resnet101", 2, "cd907fc2", 81.886),
    _tv("resnet152", 1, "394f9c45", 78.312),
    _tv("resnet152", 2, "f82ba261", 82.284),
    # akamaster/pytorch_resnet_cifar10; top-1 = 100 - published test error. Full hashes
    # for resnet20/56 computed here from the files in the shared data folder.
    _cifar(20, "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8", 91.73),
    _cifar(32, "d509ac18", 92.63),
    _cifar(44, "014dd654", 93.10),
    _cifar(56, "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367", 93.39),
    _cifar(110, "1d1ed7c2", 93.68),
)

#: name -> CheckpointInfo, in a fixed order.
CHECKPOINTS: dict[str, CheckpointInfo] = {entry.name: entry for entry in _ENTRIES}


def get_checkpoint(name: str) -> CheckpointInfo:
    """Look up a registry entry by name.

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones).
    """
    if not isinstance(name, str):
        raise TypeError(f"name: received {type(name).__name__}; expected a str")
    try:
        return CHECKPOINTS[name]
    except KeyError:
        raise ValueError(f"name: unknown checkpoint {name!r}; known: {', '.join(CHECKPOINTS)}") from None


def list_checkpoints() -> list[CheckpointInfo]:
    """All registry entries, in registry order."""
    return list(CHECKPOINTS.values())
