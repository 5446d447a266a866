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
    code, out, err = run("infer", "--model", "cifar-resnet20", "--report", "--json", "--topk", "3", "--quiet")
    assert code == 0 and err == ""  # --quiet: nothing on stderr
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
    _, out1, _ = run("infer", img, "--weights", ckpt, "--preset", "aihwkit_noise_managed", "--json", "--seed", "1")
    _, out2, _ = run("infer", img, "--weights", ckpt, "--preset", "aihwkit_noise_managed", "--json", "--seed", "1")
    _, out3, _ = run("infer", img, "--weights", ckpt, "--preset", "aihwkit_noise_managed", "--json", "--seed", "2")
    r1, r2, r3 = json.loads(out1), json.loads(out2), json.loads(out3)
    assert r1["topk"] == r2["topk"] and r1["logit_rel_error"] == r2["logit_rel_error"] > 0
    assert r1["logit_rel_error"] != r3["logit_rel_error"]


def test_report_flags_dead_layers(run, ckpt):
    """The int8 preset's "max" ADC range leaves the deep layers of a ResNet-20 with all-zero ADC
    codes: the report flags them dead, with no SNR (not inf, not -0.0 dB), and carries the ADC
    code usage, DAC/ADC clipping and array shapes per layer, in JSON and in the table."""
    import warnings

    from refsim.health import DeadCrossbarWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadCrossbarWarning)
        code, out, _ = run("infer", "--weights", ckpt, "--preset", "int8", "--report", "--json")
        assert code == 0
        rows = json.loads(out)["layers"]
        code, text, _ = run("infer", "--weights", ckpt, "--preset", "int8", "--report", "--no-progress")
    keys = {"matrix_shape", "array_shape", "n_tiles", "dac_clip_fraction", "adc_clip_fraction", "adc_zero_fraction",
            "adc_levels_used", "adc_levels_available", "adc_effective_bits", "dead", "exact", "snr_db"}
    assert all(keys <= set(r) for r in rows)
    dead = [r for r in rows if r["dead"]]
    assert dead and len(dead) < len(rows)
    for r in dead:
        assert r["snr_db"] is None and not r["exact"]
        assert r["adc_zero_fraction"] >= 0.95 or r["adc_levels_used"] < 4
    for r in rows:
        assert r["adc_levels_available"] == 255 and 1 <= r["adc_levels_used"] <= 255
        assert r["adc_effective_bits"] == pytest.approx(np.log2(r["adc_levels_used"]))
        rows_in, cols = r["matrix_shape"]  # int8: 512 x 512 arrays, even split
        n_tiles = -(-rows_in // 512) * -(-cols // 512)
        assert r["n_tiles"] == n_tiles and r["n_arrays"] == 2 * n_tiles
        assert r["array_shape"] == [-(-rows_in // -(-rows_in // 512)), cols]
        assert 0 <= r["dac_clip_fraction"] <= 1
        if r["snr_db"] is not None:
            assert r["snr_db"] == pytest.approx(-20 * np.log10(r["rel_error"]))
    assert code == 0 and "DEAD" in text and "dead layer(s)" in text and "adc.range_A" in text
    table = text[text.index("per-layer report"):]
    assert " inf" not in table and "-0.0" not in table
    for r in dead:
        line = next(ln for ln in table.splitlines() if ln.startswith(r["name"] + " "))
        assert "DEAD" in line


@pytest.mark.parametrize("argv, message", [
    (["infer", "/no/such/image.png"], "no image file"),
    (["infer", "--model", "resnet99"], "unknown model 'resnet99'"),
    (["infer", "--weights", "/no/such/ckpt.th"], "no checkpoint file"),
    (["infer", "--preset", "nonsense"], "neither a preset"),
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


def test_infer_notes_an_input_far_from_the_training_images(run, ckpt, tmp_path):
    big = tmp_path / "photo.png"
    Image.fromarray(np.zeros((375, 500, 3), np.uint8)).save(big)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((2, 3), np.uint8)).save(tiny)  # 3 x 2 grayscale
    ok = tmp_path / "ok.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(ok)
    notes = {}
    for name, path in (("big", big), ("tiny", tiny), ("ok", ok)):
        code, out, _ = run("infer", path, "--weights", ckpt, "--json", "--quiet")
        assert code == 0
        notes[name] = [n for n in json.loads(out)["notes"] if n.startswith("input:")]
    assert len(notes["big"]) == 1 and "500 x 375 pixels" in notes["big"][0] and "32 x 32" in notes["big"][0]
    assert len(notes["tiny"]) == 2 and "3 x 2 pixels" in notes["tiny"][0] and "mode L" in notes["tiny"][1]
    assert notes["ok"] == []
    code, out, _ = run("infer", tiny, "--weights", "random", "--model", "resnet18", "--json", "--quiet")
    assert code == 0 and any("224 x 224" in n for n in json.loads(out)["notes"])
