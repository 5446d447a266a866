"""``refsim infer --model mobilenet_v2``: the quantized TFLite MobileNetV2 from the command line.

Needs the shared data (skips without it). The ideal preset must reproduce the integer
reference exactly (the crossbar's ideal result, rounded, is the int32 accumulator).
"""
from __future__ import annotations

import json

import pytest

MODEL = ("mobilenet", "mobilenet_v2_1.0_224_quant.tflite")


def test_infer_mobilenet_json_report(run, shared_data):
    weights = shared_data.joinpath(*MODEL)
    image = shared_data / "imagenet-samples" / "n02132136_brown_bear.JPEG"
    code, out, err = run("infer", "--model", "mobilenet_v2", "--weights", weights, image, "--report", "--json")
    assert code == 0 and err == ""
    res = json.loads(out)
    assert res["model"] == "mobilenet_v2" and res["preprocess"] == "tflite" and res["input_shape"] == [1, 224, 224, 3]
    assert res["num_classes"] == 1001 and res["n_layers"] == 53 and res["n_layers"] == len(res["layers"])
    top = res["topk"][0]
    assert top["index"] == 295 and top["label"].startswith("brown bear")  # labels from imagenet_labels.txt
    assert res["top1_agrees"] and res["logit_rel_error"] == 0.0
    assert res["ideal"] == "digital integer (TFLite reference kernels)"
    # each layer's analog accumulator (before rounding to an integer) is exact to float64 round-off
    assert all(r["analog"] and r["rel_error"] < 1e-12 for r in res["layers"])
    dw = res["layers"][1]  # 32 channels, one crossbar each (groups = 32), two arrays per crossbar (ideal preset)
    assert dw["name"] == "MobilenetV2/expanded_conv/depthwise" and dw["n_arrays"] == 2 * 32


@pytest.mark.parametrize("argv, message", [
    (["--model", "mobilenet_v2"], "mobilenet_v2 has no random initialization"),
    (["--model", "mobilenet_v2", "--weights", "/nonexistent.tflite"], "no .tflite file at"),
])
def test_mobilenet_bad_weights_exit_2(run, argv, message):
    code, out, err = run("infer", *argv, "--json")
    assert code == 2 and out == "" and message in err


def test_mobilenet_weights_not_tflite(run, tmp_path):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"\x00" * 64)
    code, _, err = run("infer", "--model", "mobilenet_v2", "--weights", bogus)
    assert code == 2 and "is not a TFLite flatbuffer" in err
    bogus.write_bytes(b"\x08\x00\x00\x00TFL3" + b"\xff" * 16)  # identifier, then garbage
    code, _, err = run("infer", "--weights", bogus)  # --model auto sniffs the identifier
    assert code == 2 and "cannot read" in err and "TFLite file" in err
