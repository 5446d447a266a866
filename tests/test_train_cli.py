"""``refsim train`` on a tiny network (ResNet-8, a dozen random images, seconds): same seed same bits,
resume after a SIGKILL gives the bits of the uninterrupted run, the output checkpoint round-trips
into ``refsim eval`` with the learned input ranges, and bad input fails with one line."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from refsim.cli.app import main
from refsim.nn.cifar_resnet import cifar_resnet_param_shapes
from refsim.nn.statedict import random_params
from refsim.tools.calibrate import load_layer_configs
from refsim.train.loop import checkpoint_paths

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    sd = random_params(cifar_resnet_param_shapes(8), np.random.default_rng(0))
    np.savez(d / "net.npz", **{k: np.asarray(v, dtype=np.float32) for k, v in sd.items()})
    rng = np.random.default_rng(1)
    np.savez(d / "data.npz", images=rng.integers(0, 256, size=(14, 32, 32, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, size=14))
    return d


def _args(files, out, *extra):
    return ["train", "--weights", str(files / "net.npz"), "--data", str(files / "data.npz"), "--epochs", "3",
            "--batch-size", "4", "--lr", "0.05", "--out", str(out), "--val-split", "0.2", "--quiet", *extra]


def _arrays(path):
    with np.load(path) as f:
        return {k: f[k].copy() for k in f.files}


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference_run(files):
    out = files / "ref.npz"
    assert main(_args(files, out)) == 0
    return out


def test_same_seed_same_bits_other_seed_other_bits(files, reference_run):
    out = files / "again.npz"
    assert main(_args(files, out)) == 0
    assert _same(_arrays(out), _arrays(reference_run))
    assert Path(checkpoint_paths(str(out))["layers"]).read_text() == \
        Path(checkpoint_paths(str(reference_run))["layers"]).read_text()
    other = files / "other.npz"
    assert main(_args(files, other, "--seed", "1")) == 0
    assert not _same(_arrays(other), _arrays(reference_run))


def test_resume_after_kill_gives_the_same_bits(files, reference_run):
    out = files / "killed.npz"
    state = checkpoint_paths(str(out))["state"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "refsim.cli", *_args(files, out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while not os.path.exists(state) and proc.poll() is None and time.monotonic() - t0 < 120:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # mid-run: after the first epoch's checkpoint
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not out.exists()
    with np.load(state) as f:
        epoch = json.loads(str(f["meta"]))["epoch"]
    assert epoch < 2
    assert main(_args(files, out, "--resume")) == 0
    assert _same(_arrays(out), _arrays(reference_run))
    a, b = _arrays(state), _arrays(checkpoint_paths(str(reference_run))["state"])
    meta_a, meta_b = (json.loads(str(m.pop("meta"))) for m in (a, b))
    assert _same(a, b)  # every parameter, momentum buffer, running statistic and alpha
    for m in (meta_a, meta_b):
        for h in m["history"]:
            h.pop("seconds")
    assert meta_a == meta_b


def test_checkpoint_round_trip_into_eval(files, reference_run, capsys):
    paths = checkpoint_paths(str(reference_run))
    cfgs = load_layer_configs(paths["layers"])
    st = _arrays(paths["state"])
    sd = _arrays(paths["out"])
    assert set(cfgs.configs) == {k[len("layer/"):-len("/alpha")] for k in st if k.startswith("layer/") and k.endswith("/alpha")}
    for name, cfg in cfgs.configs.items():
        alpha = float(st[f"layer/{name}/alpha"])
        assert cfg.dac.x_max == alpha and alpha > 0 and cfg.dac.range_mode == "fixed"
        assert cfg.calibrated == ("dac",) and not cfg.calibration_waived  # what lets eval run it (not "+hwa")
        w = st[f"layer/{name}/w"].astype(np.float64) * st[f"layer/{name}/s"].astype(np.float64)
        assert np.max(np.abs(w)) > 0 and np.max(np.abs(st[f"layer/{name}/w"])) <= 1.0
        assert np.array_equal(sd[f"{name}.weight"].reshape(w.shape[1], -1), w.T.astype(np.float32))
    capsys.readouterr()
    assert main(["eval", "--weights", str(reference_run), "--data", str(files / "data.npz"), "--preset",
                 "rasch2023_standard", "--calibration", paths["layers"], "--json", "--quiet", "--limit", "6"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["calibration"]["loaded"] and res["n"] == 6
    assert main(["infer", "--weights", str(reference_run), "--quiet", "--json"]) == 0


def test_fp_control_writes_no_layer_configs(files):
    out = files / "fp.npz"
    assert main(_args(files, out, "--fp", "--epochs", "1")) == 0
    assert out.exists() and not os.path.exists(checkpoint_paths(str(out))["layers"])


@pytest.mark.parametrize("extra, message", [
    (["--val-split", "1.5"], "--val-split"),
    (["--preset", "int8"], "--preset"),
    (["--preset", "nonexistent"], "--preset"),
    (["--out", "/nonexistent_dir/x.npz"], "--out"),
    (["--data", "/nonexistent.npz"], "--data"),
    (["--noise-scale", "1e300"], "--noise-scale: received 1e+300; expected a value <= 1000"),
    (["--train-without", "ir_drop,drift"], "--train-without: received 'ir_drop,drift'; expected comma-separated"),
    (["--train-without", "ir_drop", "--fp"], "--train-without: received 'ir_drop'; expected no value with --fp"),
])
def test_bad_input_one_line_exit_2(files, capsys, extra, message):
    assert main(_args(files, files / "bad.npz", *extra)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("refsim train: error:")


def test_resume_of_another_run_is_refused(files, reference_run, capsys):
    out = files / "mismatch.npz"
    assert main(_args(files, out, "--epochs", "1")) == 0
    assert main(_args(files, out, "--lr", "0.1", "--resume")) == 2
    assert "--resume" in capsys.readouterr().err


def test_train_without_is_the_hwa_forward_without_those_switches(files, reference_run, capsys):
    """``--train-without ir_drop,short_term_noise`` trains with HWAConfig(ir_drop=False,
    short_term_noise=False): the bits of refsim.train.loop.train called with that config (the oracle), not
    those of the full forward; the option is part of the run (a resume without it is refused)."""
    from refsim import presets
    from refsim.train.hwa import HWAConfig
    from refsim.train.loop import TrainOptions, load_images, train

    out = files / "without.npz"
    capsys.readouterr()
    assert main(_args(files, out, "--train-without", "short_term_noise, ir_drop", "--json")) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["options"]["train_without"] == "ir_drop,short_term_noise"
    assert not _same(_arrays(out), _arrays(reference_run))
    images, labels = load_images(str(files / "data.npz"))
    opts = TrainOptions(epochs=3, batch_size=4, lr=0.05, val_split=0.2, train_without="ir_drop,short_term_noise")
    hwa = HWAConfig(presets.get("rasch2023_standard"), ir_drop=False, short_term_noise=False)
    api = files / "without_api.npz"
    train(_arrays(files / "net.npz"), images, labels, opts, hwa=hwa, out=str(api))
    assert _same(_arrays(api), _arrays(out))
    assert main(_args(files, out, "--epochs", "4", "--resume")) == 2
    assert "train_without" in capsys.readouterr().err


def test_train_without_must_name_the_switches_that_are_off(files):
    """The Python API: TrainOptions.train_without is the run's record (and what a resume compares), so
    an HWAConfig with other switches off is refused before training, not recorded as the full forward."""
    from refsim import presets
    from refsim.train.hwa import HWAConfig
    from refsim.train.loop import TrainOptions, load_images, train

    images, labels = load_images(str(files / "data.npz"))
    cfg = presets.get("rasch2023_standard")
    for hwa, recorded in ((HWAConfig(cfg, ir_drop=False), ""), (HWAConfig(cfg), "ir_drop"),
                          (HWAConfig(cfg, ir_drop=False, adc=False), "ir_drop")):
        with pytest.raises(ValueError, match=r"^TrainOptions\.train_without: received '.*'; expected '"):
            train(_arrays(files / "net.npz"), images, labels, TrainOptions(epochs=1, train_without=recorded), hwa=hwa,
                  out=str(files / "never.npz"))
    assert not (files / "never.npz").exists()


@pytest.mark.parametrize("field, hwa_opts", [("noise_scale", {"noise_scale": 0.5}), ("ramp_epochs", {"ramp_epochs": 3})])
def test_recorded_noise_ramp_must_be_the_hwa_configs(files, field, hwa_opts):
    """The Python API: TrainOptions.noise_scale / ramp_epochs are recorded (and compared on a resume), the
    ramp that runs is the HWAConfig's (N3); a disagreement is refused before training."""
    from refsim import presets
    from refsim.train.hwa import HWAConfig
    from refsim.train.loop import TrainOptions, load_images, train

    images, labels = load_images(str(files / "data.npz"))
    with pytest.raises(ValueError, match=rf"^TrainOptions\.{field}: received "):
        train(_arrays(files / "net.npz"), images, labels, TrainOptions(epochs=1),
              hwa=HWAConfig(presets.get("rasch2023_standard"), **hwa_opts), out=str(files / "never2.npz"))
    assert not (files / "never2.npz").exists()


def test_set_applies_to_the_loaded_layer_configs(files, reference_run):
    """refsim eval --calibration OUT.layers.json --set device.t_inference_s=86400: the learned alpha
    and the evaluation time both reach every layer."""
    import argparse
    from refsim import presets
    from refsim.cli.calibration import calibrate_if_needed
    from refsim.tools.inference import build_model

    paths = checkpoint_paths(str(reference_run))
    st = _arrays(paths["state"])
    cfg = presets.get("rasch2023_standard")
    args = argparse.Namespace(calibrate_on=None, calibration=paths["layers"], no_calibrate=False, calibrate_n=32,
                              quiet=True, set=["device.t_inference_s=86400"])
    model = build_model("auto", str(reference_run), cfg)
    model, info, notes = calibrate_if_needed(args, model, cfg, lambda lc: build_model("auto", str(reference_run), lc))
    assert info["loaded"] and "device.t_inference_s=86400" in notes[0]
    for name, layer in model.net.layers().items():
        assert layer.config.device.t_inference_s == 86400
        assert layer.config.dac.x_max == float(st[f"layer/{name}/alpha"])


def test_image_folder_data(files, tmp_path):
    """--data as a folder <class>/<image>: images resized to 32 x 32, classes numbered in sorted order."""
    from PIL import Image
    rng = np.random.default_rng(5)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for k in range(3):
            Image.fromarray(rng.integers(0, 256, size=(40, 36, 3), dtype=np.uint8)).save(tmp_path / cls / f"{k}.png")
    from refsim.train.loop import load_images
    images, labels = load_images(tmp_path)
    assert images.shape == (6, 32, 32, 3) and images.dtype == np.uint8 and list(labels) == [0, 0, 0, 1, 1, 1]
    out = tmp_path / "folder.npz"
    args = _args(files, out, "--epochs", "1")
    args[args.index("--data") + 1] = str(tmp_path)
    assert main(args) == 0 and out.exists()


def _data_file(path, **arrays):
    rng = np.random.default_rng(2)
    arrays.setdefault("images", rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8))
    arrays.setdefault("labels", np.arange(8) % 10)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("name, arrays, message", [
    ("float_labels", {"labels": np.arange(8) + 0.7}, "labels of dtype float64"),
    ("nan_labels", {"labels": np.full(8, np.nan)}, "labels of dtype float64"),
    ("str_labels", {"labels": np.array(["a"] * 8)}, "labels of dtype <U1"),
    ("scalar_labels", {"labels": np.array(3)}, "shape ()"),
    ("column_labels", {"labels": (np.arange(8) % 10)[:, None]}, "shape (8, 1)"),
    ("negative_labels", {"labels": -np.arange(8)}, "labels in [-7, 0]; expected class indices in [0, 9]"),
    ("large_labels", {"labels": np.arange(8) + 10}, "labels in [10, 17]; expected class indices in [0, 9]"),
    ("float_images", {"images": np.full((8, 32, 32, 3), np.nan, np.float32)}, "dtype float32"),
])
def test_bad_data_arrays_one_line_exit_2(files, tmp_path, capsys, name, arrays, message):
    """Labels that are not one integer class per image, or outside the model's classes: refused
    before training (float labels used to be truncated silently, NaN labels cast to garbage)."""
    data = _data_file(tmp_path / f"{name}.npz", **arrays)
    args = _args(files, tmp_path / "o.npz", "--fp", "--epochs", "1")
    args[args.index("--data") + 1] = str(data)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("refsim train: error: --data: received") and message in err[0]
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("content", [b"PK\x03\x04garbage" * 10, b"hello", b""])
def test_corrupt_data_file_one_line_exit_2(files, tmp_path, capsys, content):
    """A file that is not a zip (BadZipFile used to escape as a traceback), or text: one line naming --data."""
    data = tmp_path / "corrupt.npz"
    data.write_bytes(content)
    args = _args(files, tmp_path / "o.npz", "--fp", "--epochs", "1")
    args[args.index("--data") + 1] = str(data)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--data: received" in err[0] and "not a readable .npz" in err[0]


def test_out_that_would_overwrite_an_input_is_refused(files, tmp_path, capsys):
    """--out equal to --data (or --weights) used to overwrite the training set after the run."""
    data = _data_file(tmp_path / "d.npz")
    before = data.read_bytes()
    args = _args(files, data, "--fp", "--epochs", "1")
    args[args.index("--data") + 1] = str(data)
    assert main(args) == 2
    assert "--out" in capsys.readouterr().err and data.read_bytes() == before
    assert main(_args(files, files / "net.npz", "--fp", "--epochs", "1")) == 2
    assert "overwrite --weights" in capsys.readouterr().err
    from refsim import presets
    preset = tmp_path / "p.layers.json"
    presets.get("rasch2023_standard").to_json(preset)
    assert main(_args(files, tmp_path / "p.npz", "--preset", str(preset), "--epochs", "1")) == 2
    assert "overwrite --preset" in capsys.readouterr().err and preset.exists()


def test_unwritable_out_is_refused_before_training(files, capsys):
    """A folder where no file can be created (/proc): refused before the first epoch, naming --out."""
    if not os.path.isdir("/proc"):
        pytest.skip("no /proc on this system")
    assert main(_args(files, "/proc/refsim_x.npz", "--fp", "--epochs", "1")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out: received" in err[0]


def test_unreadable_image_in_folder_names_data(files, tmp_path, capsys):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.png").write_bytes(b"not a png")
    (tmp_path / "cat" / "b.png").write_bytes(b"not a png")
    args = _args(files, tmp_path / "o.npz", "--fp", "--epochs", "1")
    args[args.index("--data") + 1] = str(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--data: received an image folder with an unreadable image" in err[0]


@pytest.fixture(scope="module")
def fp_state(files):
    """The state file of a one-epoch FP run (the base of the corrupted checkpoints below)."""
    out = files / "fpstate.npz"
    assert main(_args(files, out, "--fp", "--epochs", "1")) == 0
    return _arrays(checkpoint_paths(str(out))["state"])


def _corrupt(arrays, how):
    a = dict(arrays)
    key = next(k for k in a if k.startswith("layer/") and k.endswith("/w"))
    meta = json.loads(str(a["meta"]))
    if how == "nan":
        a[key] = np.full_like(a[key], np.nan)
    elif how == "shape":
        a[key] = np.ones((2, 2), np.float32)
    elif how == "extra":
        a["bn/nonexistent/weight"] = np.ones(3, np.float32)
    elif how == "missing":
        del a[key]
    elif how == "no_meta":
        del a["meta"]
    elif how == "bad_meta":
        a["meta"] = np.array("{not json")
    elif how == "list_meta":
        a["meta"] = np.array("[1, 2]")
    elif how == "epoch_str":
        meta["epoch"] = "x"
        a["meta"] = np.array(json.dumps(meta))
    elif how == "momentum":
        a["mom/nonexistent/w"] = np.ones(3, np.float32)
    return a


@pytest.mark.parametrize("how, message", [
    ("nan", "non-finite values"), ("shape", "shape (2, 2)"), ("extra", "another model"), ("missing", "another model"),
    ("no_meta", "'meta'"), ("bad_meta", "'meta'"), ("list_meta", "'meta'"), ("epoch_str", "'meta'"),
    ("momentum", "momentum entry"), ("garbage", "not a readable .npz"),
])
def test_corrupt_resume_state_one_line_exit_2(files, fp_state, tmp_path, capsys, how, message):
    """A damaged OUT.state.npz: one line naming --resume (KeyError/IndexError tracebacks or a silent
    NaN run before), and the damaged file is left as it was."""
    out = tmp_path / "r.npz"
    state = Path(checkpoint_paths(str(out))["state"])
    if how == "garbage":
        state.write_bytes(b"garbage")
    else:
        np.savez(state, **_corrupt(fp_state, how))
    before = state.read_bytes()
    assert main(_args(files, out, "--fp", "--epochs", "2", "--resume")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("refsim train: error: --resume: received") and message in err[0]
    assert state.read_bytes() == before and not out.exists()


def test_resume_with_another_model_is_refused(files, fp_state, tmp_path, capsys):
    """The state of a ResNet-8 resumed with ResNet-14 weights and the same options used to load
    partially and train on silently."""
    sd = random_params(cifar_resnet_param_shapes(14), np.random.default_rng(0))
    np.savez(tmp_path / "net14.npz", **{k: np.asarray(v, dtype=np.float32) for k, v in sd.items()})
    out = tmp_path / "r.npz"
    np.savez(checkpoint_paths(str(out))["state"], **fp_state)
    args = _args(files, out, "--fp", "--epochs", "2", "--resume")
    args[args.index("--weights") + 1] = str(tmp_path / "net14.npz")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--resume: received" in err and "another model" in err


def test_random_weights_need_a_model(files, tmp_path, capsys):
    """--weights random with --model auto used to say 'the checkpoint is a resnet18'."""
    args = _args(files, tmp_path / "o.npz", "--fp", "--epochs", "1")
    args[args.index("--weights") + 1] = "random"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--model: received auto with --weights random" in err and "resnet18" not in err


def test_hwa_noise_scale_bound():
    """eta_max beyond MAX_NOISE_SCALE overflows the noisy conductances (g_S NaN deep in the forward)."""
    from refsim import presets
    from refsim.train.hwa import HWAConfig
    from refsim.train.hwa_config import MAX_NOISE_SCALE

    HWAConfig(presets.get("rasch2023_standard"), noise_scale=MAX_NOISE_SCALE)
    with pytest.raises(ValueError, match="noise_scale: received 1e\\+300; expected a value <= 1000"):
        HWAConfig(presets.get("rasch2023_standard"), noise_scale=1e300)


def test_resume_without_a_state_file_says_so(files, tmp_path, capsys):
    args = [a for a in _args(files, tmp_path / "fresh.npz", "--fp", "--epochs", "1", "--resume") if a != "--quiet"]
    assert main(args) == 0
    assert "--resume: no training state at" in capsys.readouterr().err
