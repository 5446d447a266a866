"""Presets that need calibration: what they declare, how ``refsim infer``/``eval`` calibrate them
(on images disjoint from the evaluated ones, saved and reused), and what calibration profiles."""
from __future__ import annotations

import json

import numpy as np
import pytest

import refsim
from refsim import presets
from refsim.tools import calibrate as cal
from refsim.tools import calibrate_ranges
from refsim.tools import inference as inf
from refsim.io import write_npz


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "r20.npz"
    write_npz(path, {"module." + k: v for k, v in inf.random_state_dict("cifar-resnet20", 5).items()})
    return path


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, images=rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8), labels=rng.integers(0, 10, 10))
    return path


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_states_source_differences_and_arrays(name):
    text = presets.describe(name)
    assert "Source:" in text and "Arrays:" in text and ("Differs" in text or "differs" in text.lower())
    assert "``" not in text and ":func:" not in text  # plain text
    assert presets.summary(name).endswith(".") and len(presets.summary(name)) > 20
    cfg = presets.get(name)
    if name != "ideal":  # ideal is untiled on purpose (exact: tiling changes nothing)
        assert cfg.array.rows_max is not None  # a chip's array size: at most 1024 rows, or the paper's
        assert cfg.array.rows_max <= 1024 or f"Arrays: {cfg.array.rows_max} x {cfg.array.cols_max}" in text and \
            "as the paper's" in text


def test_calibration_declarations():
    assert presets.needs_calibration("xiao2022_resnet50").startswith("dac and adc")
    assert presets.needs_calibration("rasch2023_standard").startswith("dac")
    assert presets.needs_calibration("int8") is None
    assert cal.calibration_ranges(presets.get("xiao2022_resnet50")) == ("dac", "adc")
    assert cal.calibration_ranges(presets.get("rasch2023_standard")) == ("dac",)
    r = presets.get("rasch2023_standard")
    assert (r.device.t_inference_s, r.device.ir_drop_scale, r.device.drift_compensation) == (3600.0, 1.0, True)
    assert r.dac.range_mode == "fixed" and r.dac.bound_management == "none"
    assert presets.get("aihwkit_noise_managed").dac.range_mode == "abs_max"


def test_calibrate_network_profiles_only_what_it_needs(monkeypatch):
    """An ADC calibration multiplies each crossbar once (ideal ADC), keeping only the ADC input
    currents (no trace), and measures no error; a DAC-only one multiplies nothing. The calibrated
    configs are named as derived."""
    calls = {"trace": 0, "currents": 0}
    orig_trace, orig_currents = refsim.Crossbar.trace, refsim.Crossbar.adc_input_currents

    def trace(self, *a, **k):
        calls["trace"] += 1
        return orig_trace(self, *a, **k)

    def currents(self, *a, **k):
        calls["currents"] += 1
        return orig_currents(self, *a, **k)

    monkeypatch.setattr(refsim.Crossbar, "trace", trace)
    monkeypatch.setattr(refsim.Crossbar, "adc_input_currents", currents)
    model = inf.build_model("cifar-resnet20", "random", presets.get("xiao2022_resnet50"))
    x = inf.cifar_preprocess(np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8))
    n_xbars = sum(len(getattr(layer, "matmuls", [None])) for layer in model.net.layers().values())
    monkeypatch.setattr(calibrate_ranges, "_mse", lambda *a, **k: pytest.fail("calibrate_network measured an error"))
    layer_cfgs = cal.calibrate_model(model, x)
    assert calls["currents"] == n_xbars == 20 and calls["trace"] == 0
    # (C2) on 2 images of 32 x 32 (2048 vectors < MAX_PROFILE_VECTORS): every current of every read
    probe = presets.get("xiao2022_resnet50").replace(**{"dac.range_mode": "fixed", "adc.bits": None,
                                                       "dac.x_max": layer_cfgs("layer1.0.conv1").dac.x_max})
    recs = {}
    model.net.forward(x, digital=True, records=recs)
    from refsim.nn.functional import im2col
    from refsim.nn.engine import crossbar_rng
    layer = model.net.layers()["layer1.0.conv1"]
    cols = im2col(recs["layer1.0.conv1"].input, layer.kernel_size, layer.stride, layer.padding, layer.dilation)[0]
    tr = orig_trace(refsim.Crossbar(layer.Ws[0], probe, rng=crossbar_rng(layer.seed, "layer1.0.conv1", 0)), cols)
    cur = np.abs(np.concatenate([r.current_A.ravel() for t in tr.tiles for r in t.reads]))
    assert layer_cfgs("layer1.0.conv1").adc.range_A[0] == pytest.approx(np.percentile(cur, 99.9), rel=1e-12)
    c = layer_cfgs("layer1.0.conv1")
    assert c.name == "xiao2022_resnet50+cal" and c.dac.range_mode == "fixed" and c.adc.range_mode == "fixed"
    calls.update(trace=0, currents=0)
    r_model = inf.build_model("cifar-resnet20", "random", presets.get("rasch2023_standard"))
    r_cfgs = cal.calibrate_model(r_model, x)
    assert calls == {"trace": 0, "currents": 0}
    rc = r_cfgs("layer2.0.conv1")
    assert rc.adc == presets.get("rasch2023_standard").adc  # the ADC keeps its fixed bound
    # alpha = P_99.9 of |x| over the layer's input activations (C1), from an independent forward
    recs = {}
    r_model.net.forward(x, digital=True, records=recs)
    for name in ("layer2.0.conv1", "linear"):
        assert r_cfgs(name).dac.x_max == pytest.approx(np.percentile(np.abs(recs[name].input), 99.9), rel=1e-12)


def test_eval_calibrates_on_images_after_the_evaluated_ones_and_reuses_the_file(run, ckpt, data, tmp_path):
    saved = tmp_path / "cal.json"
    code, out, err = run("eval", "--weights", ckpt, "--data", data, "--limit", "4", "--preset", "xiao2022_resnet50",
                         "--calibrate-on", data, "--calibrate-n", "6", "--calibration", saved, "--json")
    assert code == 0, err
    res = json.loads(out)
    info = res["calibration"]
    assert info["ranges"] == ["dac", "adc"] and not info["loaded"] and "images 4..9" in info["images"]
    assert any("disjoint" in n for n in res["notes"]) and "calibrating" in err
    stored = json.loads(saved.read_text())
    assert len(stored) == 20 and all(v["name"] == "xiao2022_resnet50+cal" for v in stored.values())
    # the same calibration, by hand: layer inputs of images 4..9 only
    model = inf.build_model("auto", str(ckpt), presets.get("xiao2022_resnet50"))
    images = np.load(data)["images"]
    by_hand = cal.calibrate_model(model, inf.cifar_preprocess(images[4:10]))
    assert by_hand.configs == {k: refsim.CrossbarConfig.from_dict(v) for k, v in stored.items()}
    code, out2, err2 = run("eval", "--weights", ckpt, "--data", data, "--limit", "4", "--preset", "xiao2022_resnet50",
                           "--calibration", saved, "--json", "--quiet")
    res2 = json.loads(out2)
    assert code == 0 and err2 == "" and res2["calibration"]["loaded"] and res2["correct"] == res["correct"]
    code, _, err = run("eval", "--weights", ckpt, "--data", data, "--limit", "8", "--preset", "xiao2022_resnet50",
                       "--calibrate-on", data, "--calibrate-n", "6")
    assert code == 2 and "--calibrate-n" in err  # only 2 images are not evaluated


def test_infer_needs_calibration_data_or_says_it_runs_uncalibrated(run, ckpt, data, tmp_path, monkeypatch):
    monkeypatch.setenv("REFSIM_DATA", str(tmp_path / "nowhere"))
    code, _, err = run("infer", "--weights", ckpt, "--preset", "rasch2023_standard")
    assert code == 2 and "--calibrate-on" in err and "--no-calibrate" in err
    code, out, _ = run("infer", "--weights", ckpt, "--preset", "rasch2023_standard", "--no-calibrate", "--json")
    res = json.loads(out)
    assert code == 0 and res["calibration"] is None and any("uncalibrated" in n for n in res["notes"])
    code, out, _ = run("infer", "--weights", ckpt, "--preset", "rasch2023_standard", "--calibrate-on", data,
                       "--calibrate-n", "3", "--json", "--quiet")
    res = json.loads(out)
    assert code == 0 and res["calibration"]["ranges"] == ["dac"] and "first 3 images" in res["calibration"]["images"]


def test_presets_listing_and_description(run):
    code, out, _ = run("presets")
    assert code == 0
    for name in presets.names():
        assert any(line.startswith(name + " ") for line in out.splitlines())
    assert "``" not in out and ":func:" not in out and "needs calibration" in out
    code, out, _ = run("presets", "rasch2023_standard")
    assert code == 0 and "Source:" in out and "Differs" in out and "Arrays: 512 x 512" in out
    assert "Needs calibration" in out and '"name": "rasch2023_standard"' in out
    code, out, _ = run("presets", "int8", "--json")
    assert code == 0 and refsim.CrossbarConfig.from_dict(json.loads(out)) == presets.get("int8")


def test_config_file_missing_section_is_completed_with_a_note_and_renamed(run, tmp_path):
    d = presets.get("int8").to_dict()
    del d["adc"]
    path = tmp_path / "noadc.json"
    path.write_text(json.dumps(d))
    code, out, err = run("matvec", "--preset", path, "--json")
    res = json.loads(out)
    assert code == 0 and res["preset"] == "int8+modified" and res["adc_levels_used"] is None
    assert "no 'adc' section" in err and "adc.bits" in err
    path.write_text(presets.get("int8").to_json())
    code, out, err = run("matvec", "--preset", path, "--json")
    assert code == 0 and json.loads(out)["preset"] == "int8" and err == ""


def test_set_names_a_derived_config_that_is_still_calibrated(run, ckpt, data):
    code, out, err = run("infer", "--weights", ckpt, "--preset", "rasch2023_standard", "--set",
                         "device.t_inference_s=86400", "--calibrate-on", data, "--calibrate-n", "2", "--json", "--quiet")
    res = json.loads(out)
    assert code == 0, err
    assert res["preset"] == "rasch2023_standard+device.t_inference_s=86400"
    assert res["calibration"]["ranges"] == ["dac"]
    assert presets.base_name(res["preset"]) == "rasch2023_standard" and presets.base_name("nope+x") is None
    code, _, err = run("infer", "--weights", ckpt, "--set", "adc.bits")
    assert code == 2 and "--set" in err


_LAYER_FILES = {
    "not_json": (b"{not json", "text that is not valid JSON"),
    "not_utf8": (b"\xff\xfe", "bytes that are not UTF-8"),
    "list": (b"[1, 2]", "JSON of type list"),
    "too_deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "one_config": (json.dumps(presets.get("rasch2023_standard").to_dict()).encode(), "a single crossbar config"),
    "bad_field": (json.dumps({"conv1": {"weight": {"bits": "x"}}}).encode(), "layer 'conv1': weight.bits: received"),
    "layer_list": (json.dumps({"conv1": [1]}).encode(), "layer 'conv1': config: received list"),
    "huge_int": (b'{"conv1": {"adc": {"bits": ' + b"9" * 5000 + b"}}}", "an integer of 5000 digits"),
}


@pytest.mark.parametrize("kind", sorted(_LAYER_FILES))
def test_corrupt_layer_config_files_are_named(tmp_path, kind):
    """load_layer_configs: every defect names the file and what it held (JSONDecodeError,
    UnicodeDecodeError and RecursionError used to escape without the file's name)."""
    content, message = _LAYER_FILES[kind]
    path = tmp_path / "cal.json"
    path.write_bytes(content)
    with pytest.raises((ValueError, TypeError), match="layer configs .*cal.json") as info:
        cal.load_layer_configs(path)
    assert message in str(info.value)
    with pytest.raises(ValueError, match="received a directory"):
        cal.load_layer_configs(tmp_path)
    with pytest.raises(ValueError, match="received a path that does not exist"):
        cal.load_layer_configs(tmp_path / "none.json")


def test_eval_with_a_corrupt_or_foreign_calibration_file(run, ckpt, data, tmp_path):
    """refsim eval --calibration FILE: a corrupt file or another model's is one line naming
    --calibration, and the file is left as it was; a save path in a missing folder is refused
    before calibrating."""
    bad = tmp_path / "cal.json"
    bad.write_bytes(b"{not json")
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"fc": presets.get("rasch2023_standard").to_dict()}))
    for path, message in ((bad, "not valid JSON"), (foreign, "has no config for layer(s)")):
        before = path.read_bytes()
        code, _, err = run("eval", "--weights", ckpt, "--data", data, "--limit", "2", "--preset",
                           "rasch2023_standard", "--calibration", path, "--quiet")
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("refsim eval: error: --calibration:")
        assert message in lines[0] and path.read_bytes() == before
    code, _, err = run("eval", "--weights", ckpt, "--data", data, "--limit", "2", "--preset", "rasch2023_standard",
                       "--calibrate-on", data, "--calibration", tmp_path / "missing" / "c.json", "--quiet")
    assert code == 2 and "--calibration: received" in err and "before calibrating" in err


def test_eval_notes_a_calibration_file_with_layers_the_model_lacks(run, ckpt, data, tmp_path):
    """A deeper model's file covers every layer of this one: loaded, with a note naming the extra layers."""
    import refsim.tools.inference as infm
    model = infm.build_model("auto", str(ckpt), presets.get("rasch2023_standard"))
    cfg = presets.get("rasch2023_standard").replace(name="rasch2023_standard+cal", calibrated=("dac",)).to_dict()
    path = tmp_path / "deeper.json"
    path.write_text(json.dumps({**{name: cfg for name in model.net.layers()}, "layer4.0.conv1": cfg}))
    code, out, err = run("eval", "--weights", ckpt, "--data", data, "--limit", "2", "--preset", "rasch2023_standard",
                         "--calibration", path, "--json", "--quiet")
    assert code == 0, err
    assert any("1 layer(s) this model lacks" in n and "layer4.0.conv1" in n for n in json.loads(out)["notes"])
