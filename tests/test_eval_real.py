"""Acceptance on the shared real data: CIFAR-10 accuracy of the pretrained ResNets, ImageNet JPEG inference.

Known results (shared/data/README.md, PyTorch fp32 on the 932-image subset):
ResNet-20 854/932, ResNet-56 863/932. refsim's ideal preset (float64) must
reproduce both counts exactly. Skipped when the shared data folder is absent.
"""
from __future__ import annotations

import json

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("ckpt, model, correct", [
    ("resnet20-12fca82f.th", "cifar-resnet20", 854),
    ("resnet56-4bfd9763.th", "cifar-resnet56", 863),
])
def test_cifar_eval_ideal_matches_pytorch(run, shared_data, ckpt, model, correct):
    code, out, _ = run("eval", "--model", "auto", "--weights", shared_data / "weights" / ckpt,
                       "--data", shared_data / "cifar10" / "cifar10_test_subset.npz", "--batch-size", "128",
                       "--json")
    res = json.loads(out)
    assert code == 0
    assert (res["model"], res["preset"], res["n"], res["correct"]) == (model, "ideal", 932, correct)
    assert res["accuracy"] == correct / 932


def test_imagenet_jpeg_random_resnet18_with_labels(run, shared_data):
    samples = shared_data / "imagenet-samples"
    code, out, _ = run("infer", samples / "n07583066_guacamole.JPEG", "--model", "resnet18", "--weights", "random",
                       "--labels", samples / "classes.txt", "--topk", "3", "--no-progress")
    assert code == 0
    assert "meaningless" in out and "input (1, 3, 224, 224)" in out and "top-1 agrees with ideal: yes" in out
    names = [line.split(" ", 1)[1] for line in (samples / "classes.txt").read_text().splitlines()]
    assert sum(name in out for name in names) >= 3  # the top-3 rows are named from classes.txt


def test_real_checkpoint_on_wrong_model_exit_2(run, shared_data):
    code, out, err = run("infer", "--model", "resnet50", "--weights", shared_data / "weights" / "resnet20-12fca82f.th")
    assert code == 2 and out == "" and "fit cifar-resnet20, not --model resnet50" in err


def test_pretrained_resnet20_int8_report(run, shared_data):
    code, out, _ = run("infer", "--weights", shared_data / "weights" / "resnet20-12fca82f.th", "--preset", "int8",
                       "--report", "--json")
    res = json.loads(out)
    assert code == 0 and res["notes"] == ["input: the built-in synthetic demo image (procedural, no file; "
                                          "it shows no class)"]
    assert all(0 < row["rel_error"] < 1.5 for row in res["layers"])
