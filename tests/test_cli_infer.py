"""``refsim infer`` / ``refsim eval`` in-process: output, JSON content, exit codes.

Every run uses a CIFAR ResNet-20 (random weights or a checkpoint written to
tmp_path), so the file needs no shared data and runs in seconds.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from refsim.tools import inference as inf
from refsim.io import write_npz
from tests.tolerances import RTOL_EXACT


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "r20.npz"
    write_npz(path, {"module." + k: v for k, v in inf.random_state_dict("cifar-resnet20", 5).items()})
    return path


def test_infer_json_ideal_report(run):
    code, out, err = run("infer", "--model", "cifar-resnet20", "--report", "--json", "--topk", "3")
    assert code == 0 and err == ""  # --json: no progress bar
    res = json.loads(out)
    assert res["image"] == "builtin:demo" and res["model"] == "cifar-resnet20" and res["preset"] == "ideal"
    assert res["input_shape"] == [1, 3, 32, 32] and res["preprocess"] == "cifar10"
    assert [t["rank"] for t in res["topk"]] == [1, 2, 3]
    assert [t["index"] for t in res["topk"]] == [t["index"] for t in res["ideal_topk"]]
    assert res["topk"][0]["label"] in inf.CIFAR10_CLASSES
    assert any("meaningless" in n for n in res["notes"])
    assert res["logit_rel_error"] < RTOL_EXACT
    assert len(res["layers"]) == res["n_layers"] == 20
    for row in res["layers"]:
        assert row["analog"] and row["rel_error"] < RTOL_EXACT and row["snr_db"] > 240
        assert row["snr_db"] == pytest.approx(-20 * np.log10(row["rel_error"]))
        assert row["adc_clip_fraction"] == 0.0 and row["n_arrays"] == 2


def test_infer_text_noisy_preset_and_labels(run, ckpt, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"thing{k}" for k in range(10)) + "\n")
    img = tmp_path / "img.png"
    Image.fromarray(inf.demo_image(40)).save(img)
    code, out, _ = run("infer", img, "--weights", ckpt, "--preset", "int8", "--report", "--labels", labels,
                       "--no-progress")
    assert code == 0
    assert "preset int8" in out and "ideal: digital float64" in out and "thing" in out
    assert "meaningless" not in out and "SNR (dB)" in out and "layer3.2.conv2" in out
    _, out1, _ = run("infer", img, "--weights", ckpt, "--preset", "rasch2023_standard", "--json", "--seed", "1")
    _, out2, _ = run("infer", img, "--weights", ckpt, "--preset", "rasch2023_standard", "--json", "--seed", "1")
    _, out3, _ = run("infer", img, "--weights", ckpt, "--preset", "rasch2023_standard", "--json", "--seed", "2")
    r1, r2, r3 = json.loads(out1), json.loads(out2), json.loads(out3)
    assert r1["topk"] == r2["topk"] and r1["logit_rel_error"] == r2["logit_rel_error"] > 0
    assert r1["logit_rel_error"] != r3["logit_rel_error"]


@pytest.mark.parametrize("argv, message", [
    (["infer", "/no/such/image.png"], "no image file"),
    (["infer", "--model", "resnet99"], "unknown model 'resnet99'"),
    (["infer", "--weights", "/no/such/ckpt.th"], "no checkpoint file"),
    (["infer", "--preset", "nonsense"], "--preset: received 'nonsense'; expected a preset"),
    (["infer", "--topk", "0"], "--topk"),
    (["eval", "--weights", "random", "--data", "/no/such/data.npz"], "--data"),
])
def test_bad_input_exit_2(run, argv, message):
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    assert message in err and err.startswith("refsim ")


def test_unreadable_image_and_wrong_checkpoint(run, ckpt, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg at all")
    code, _, err = run("infer", bad)
    assert code == 2 and "cannot read" in err
    code, _, err = run("infer", "--weights", ckpt, "--model", "resnet18")
    assert code == 2 and "fit cifar-resnet20, not --model resnet18" in err
    code, _, err = run("infer", "--weights", bad)
    assert code == 2 and "as a checkpoint" in err


def test_eval_npz_and_folder(run, ckpt, tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    net = inf.build_model("auto", str(ckpt)).net
    labels = np.argmax(net(inf.cifar_preprocess(images), digital=True), axis=1)
    labels[:3] = (labels[:3] + 1) % 10  # exactly 3 wrong of 12
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    code, out, _ = run("eval", "--weights", ckpt, "--data", tmp_path / "d.npz", "--batch-size", "5", "--json")
    res = json.loads(out)
    assert code == 0 and (res["correct"], res["n"], res["accuracy"]) == (9, 12, 0.75)
    assert res["preset"] == "ideal" and res["model"] == "cifar-resnet20" and res["seconds"] > 0
    code, out, _ = run("eval", "--weights", ckpt, "--data", tmp_path / "d.npz", "--limit", "2", "--no-progress")
    assert code == 0 and "accuracy 0.00 % (0 / 2)" in out
    root = tmp_path / "folder"
    for k in range(4):  # PNG round trip is lossless: same predictions as the npz
        d = root / inf.CIFAR10_CLASSES[labels[k]]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[k]).save(d / f"{k}.png")
    code, out, _ = run("eval", "--weights", ckpt, "--data", root, "--json")
    res = json.loads(out)
    assert code == 0 and res["data_kind"] == "folder" and (res["correct"], res["n"]) == (1, 4)
