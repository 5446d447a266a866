"""Registry consistency: hashes vs file names, the local CIFAR files, fields."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from refsim.io import CHECKPOINTS, get_checkpoint, list_checkpoints, sha256_file

DATA = Path(os.environ.get("REFSIM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def test_expected_entries_present():
    archs = {info.arch for info in list_checkpoints()}
    assert archs == {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "cifar-resnet20",
                     "cifar-resnet32", "cifar-resnet44", "cifar-resnet56", "cifar-resnet110"}
    for arch in ("resnet50", "resnet101", "resnet152"):
        assert get_checkpoint(f"{arch}-imagenet1k-v2").resize_size == 232
    assert get_checkpoint("resnet18-imagenet1k-v1").resize_size == 256


@pytest.mark.parametrize("info", list_checkpoints(), ids=lambda i: i.name)
def test_hash_starts_with_file_name_prefix(info):
    assert info.sha256.startswith(info.file_hash_prefix)
    assert info.filename.endswith(".pth" if info.preprocess == "imagenet" else ".th")
    assert info.preprocess == ("imagenet" if info.num_classes == 1000 else "cifar10")


@pytest.mark.parametrize("name", ["cifar-resnet20", "cifar-resnet56"])
def test_full_hash_matches_local_file(name):
    info = get_checkpoint(name)
    path = DATA / "weights" / info.filename
    if not path.is_file():
        pytest.skip(f"{path} not found (set REFSIM_DATA to the shared data folder)")
    assert info.sha256_is_full
    assert sha256_file(path) == info.sha256


def test_validation_errors():
    base = get_checkpoint("cifar-resnet20")
    with pytest.raises(ValueError, match="preprocess"):
        replace(base, preprocess="coco")
    with pytest.raises(ValueError, match="does not start with"):
        replace(base, sha256="deadbeef")
    with pytest.raises(ValueError, match="sha256"):
        replace(base, sha256="XYZ")
    with pytest.raises(ValueError, match="unknown checkpoint"):
        get_checkpoint("resnet19")
    with pytest.raises(TypeError, match="name"):
        get_checkpoint(20)
