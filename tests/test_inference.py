"""refsim.tools.inference: model detection, random weights, labels, top-k, datasets, evaluation.

Oracles: the architecture tables of refsim.nn (keys and shapes), exact
float64 math (softmax, ideal preset == digital replay to round-off), and
hand-built datasets whose labels are known.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import refsim
from refsim.tools import inference as inf
from refsim.nn.cifar_resnet import cifar_resnet_param_shapes
from refsim.nn.resnet import resnet_param_shapes
from tests.tolerances import RTOL_EXACT


@pytest.mark.parametrize("name", inf.MODEL_NAMES[1:])
def test_detect_model_from_keys(name):
    depth = int(name.rsplit("resnet", 1)[1])
    shapes = cifar_resnet_param_shapes(depth) if name.startswith("cifar-") else resnet_param_shapes(depth)
    assert inf.detect_model(dict.fromkeys(shapes)) == name
    assert inf.detect_model({"module." + k: v for k, v in dict.fromkeys(shapes).items()}) == name


def test_detect_model_rejects_foreign_keys():
    with pytest.raises(ValueError, match="fit no supported model"):
        inf.detect_model({"encoder.weight": np.zeros(3)})


def test_random_state_dict_is_torchvision_init_and_reproducible():
    a, b = inf.random_state_dict("resnet18", 0), inf.random_state_dict("resnet18", 0)
    assert a.keys() == resnet_param_shapes(18).keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    w = a["layer4.0.conv2.weight"]  # (512, 512, 3, 3): fan-out std sqrt(2 / (512 * 9))
    assert abs(w.std() / np.sqrt(2 / (512 * 9)) - 1) < 0.01  # 2.4M samples: ~0.05 % sampling error
    assert np.all(a["bn1.weight"] == 1) and np.all(a["bn1.running_mean"] == 0)
    assert np.abs(a["fc.weight"]).max() <= 1 / np.sqrt(512)
    assert not np.array_equal(inf.random_state_dict("resnet18", 1)["conv1.weight"], a["conv1.weight"])


def test_build_model_errors():
    with pytest.raises(ValueError, match="unknown model 'resnet99'"):
        inf.build_model("resnet99", "random")
    sd = inf.random_state_dict("cifar-resnet20")
    with pytest.raises(ValueError, match="fit cifar-resnet20, not --model cifar-resnet56"):
        inf.build_model("cifar-resnet56", sd)
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        inf.build_model("auto", "/no/such/file.th")
    del sd["layer2.0.bn1.running_var"]
    with pytest.raises(ValueError, match="layer2.0.bn1.running_var"):
        inf.build_model("auto", sd)


def test_random_auto_is_resnet18_and_names():
    m = inf.build_model("auto", "random")
    assert (m.name, m.preprocess, m.num_classes, m.class_names, m.random_weights) == (
        "resnet18", "imagenet", 1000, None, True)
    c = inf.build_model("cifar-resnet20", "random")
    assert c.class_names == list(inf.CIFAR10_CLASSES) and c.crop_size == 32


def test_ideal_preset_equals_digital_network():
    sd = inf.random_state_dict("cifar-resnet20", 3)
    analog = inf.build_model("auto", sd, refsim.presets.get("ideal"))
    digital = inf.build_model("auto", sd, None)
    x = inf.preprocess_image(inf.demo_image(32), analog)[None]  # (1, 3, 32, 32)
    y_a, y_d = analog.net(x), digital.net(x)
    np.testing.assert_allclose(y_a, y_d, rtol=0, atol=RTOL_EXACT * np.abs(y_d).max())
    np.testing.assert_array_equal(analog.net(x, digital=True), y_d)


def test_demo_image_is_deterministic_rgb():
    img = inf.demo_image(224)
    assert img.dtype == np.uint8 and img.shape == (224, 224, 3)
    assert np.array_equal(img, inf.demo_image(224))
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50  # a picture, not a flat colour


def test_load_labels_formats(tmp_path):
    (tmp_path / "wnid.txt").write_text("n01440764 tench, Tinca tinca\nn01443537 goldfish\n")
    (tmp_path / "plain.txt").write_text("cat\nhot dog\n\n")
    assert inf.load_labels(tmp_path / "wnid.txt") == ["tench, Tinca tinca", "goldfish"]
    assert inf.load_labels(tmp_path / "plain.txt", 2) == ["cat", "hot dog"]
    with pytest.raises(ValueError, match="has 2 lines; the model has 10 classes"):
        inf.load_labels(tmp_path / "plain.txt", 10)


def test_softmax_and_topk():
    z = np.array([[1.0, 3.0, 2.0, 3.0]])
    p = inf.softmax(z)[0]
    np.testing.assert_allclose(p, np.exp(z[0]) / np.exp(z[0]).sum(), rtol=RTOL_EXACT)
    assert np.isfinite(inf.softmax(np.array([1e4, 0.0]))).all()
    top = inf.topk(p, 3, ["a", "b", "c", "d"])
    assert [t["index"] for t in top] == [1, 3, 2]  # tie broken by the lower index
    assert top[0]["label"] == "b" and top[0]["rank"] == 1
    assert inf.topk(p, 1)[0]["label"] == "1"


def _npz(tmp_path, n=10, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    path = tmp_path / "d.npz"
    np.savez(path, images=images, labels=labels)
    return path, images, labels


def test_load_dataset_npz_and_limit(tmp_path):
    path, images, labels = _npz(tmp_path)
    ds = inf.load_dataset(path, limit=4)
    assert ds.kind == "npz" and len(ds) == 4 and np.array_equal(ds.images, images[:4])
    np.save(tmp_path / "bad.npy", images)
    np.savez(tmp_path / "bad.npz", x=images)
    with pytest.raises(ValueError, match="expected 'images' and 'labels'"):
        inf.load_dataset(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError):
        inf.load_dataset(tmp_path / "missing")


def test_load_dataset_limit_reads_only_the_first_images(tmp_path):
    """With ``limit``, an npz's images are inflated only as far as needed: the same arrays as
    NumPy's ``np.load(...)["images"][:limit]`` (oracle), compressed or not, past the end, and for a
    Fortran-order member (read whole by NumPy)."""
    images = np.random.default_rng(2).integers(0, 256, (9, 4, 5, 3), dtype=np.uint8)
    labels = np.arange(9)
    for name, save, imgs in (("plain", np.savez, images), ("zipped", np.savez_compressed, images),
                             ("fortran", np.savez, np.asfortranarray(images))):
        path = tmp_path / f"{name}.npz"
        save(path, images=imgs, labels=labels)
        for limit in (1, 4, 9, 20, None):
            ds = inf.load_dataset(path, limit=limit)
            want = np.load(path)["images"][:limit]
            assert ds.images.dtype == want.dtype and ds.images.shape == want.shape, (name, limit)
            assert np.array_equal(ds.images, want) and np.array_equal(ds.labels, labels[:limit]), (name, limit)
            assert ds.images.flags.writeable


def test_load_dataset_folder_maps_class_names(tmp_path):
    model = inf.build_model("cifar-resnet20", "random")
    for name in ("truck", "cat"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (32, 32), (10, 20, 30)).save(tmp_path / name / "a.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = inf.load_dataset(tmp_path, model=model)
    assert ds.kind == "folder" and list(ds.labels) == [3, 9]  # CIFAR indices of cat, truck
    plain = inf.load_dataset(tmp_path)  # no model: ImageFolder order
    assert list(plain.labels) == [0, 1] and plain.class_names == ["cat", "truck"]


def test_evaluate_counts_and_batch_independence(tmp_path):
    path, images, labels = _npz(tmp_path, n=7)
    model = inf.build_model("cifar-resnet20", inf.random_state_dict("cifar-resnet20", 1))
    pred = np.argmax(model.net(inf.cifar_preprocess(images)), axis=1)
    expected = int(np.sum(pred == labels))
    ds = inf.load_dataset(path)
    seen = []
    for bs in (1, 3, 7):
        res = inf.evaluate(model, ds, batch_size=bs, progress=seen.append)
        assert (res["correct"], res["n"]) == (expected, 7)
        assert res["accuracy"] == expected / 7
    assert sum(seen) == 3 * 7
    with pytest.raises(ValueError, match="--batch-size"):
        inf.evaluate(model, ds, batch_size=0)
