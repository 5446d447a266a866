"""Image classification with ResNets on crossbars: build, classify, evaluate.

The Python side of ``refsim infer`` and ``refsim eval`` (:mod:`refsim.cli.infer`)::

    model = build_model("auto", "weights/resnet20-12fca82f.th", presets.get("int8"), seed=0)
    x = preprocess_image(load_image("cat.png"), model)          # (3, 32, 32)
    logits = model.net(x[None])                                 # (1, 10), analog
    ideal = model.net(x[None], digital=True)                    # same weights, exact float64
    topk(softmax(logits)[0], 5, model.class_names)

* **Architecture** from the state-dict keys (:func:`detect_model`): ``linear.*``
  -> CIFAR ResNet (depth ``6 n + 2`` from the blocks in ``layer1``), ``fc.*`` ->
  torchvision ResNet (depth from block type and blocks per stage).
* **Preprocessing** from the architecture: ImageNet (resize the shorter side to
  256, or 232 for a registry V2 checkpoint, centre crop 224) or CIFAR-10 (32x32);
  both ``/255`` then normalize with the ImageNet mean/std (:mod:`refsim.tools.preprocess`).
* **The ideal reference** is the same network run with ``digital=True``: exact
  float64 matmuls on the same weights, i.e. the ``config=None`` network.
* **Random weights** (``weights="random"``): torchvision's initialization with a
  fixed seed (:func:`random_state_dict`), so a default run needs no file.
* **Demo image** (:func:`demo_image`): drawn procedurally, no file.

Datasets and class-name files (:func:`load_dataset`, :func:`load_labels`) are read by
:mod:`refsim.tools.datasets` (re-exported here).
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from refsim.nn.cifar_resnet import cifar_resnet_from_state_dict, cifar_resnet_param_shapes
from refsim.nn.engine import announcing
from refsim.nn.resnet import RESNET_LAYOUTS, infer_resnet_depth, resnet_from_state_dict, resnet_param_shapes
from refsim.nn.statedict import strip_prefix
# datasets and class-name files (re-exported here: refsim.tools.inference.load_dataset keeps working)
from refsim.tools.datasets import IMAGE_SUFFIXES, Dataset, load_dataset, load_labels
from refsim.tools.preprocess import cifar_preprocess, imagenet_preprocess, load_image, tflite_preprocess

__all__ = [
    "MODEL_NAMES", "TFLITE_MODELS", "CIFAR10_CLASSES", "IMAGE_SUFFIXES", "Model", "Dataset",
    "detect_model", "random_state_dict", "build_model", "demo_image", "preprocess_image",
    "load_labels", "softmax", "topk", "load_dataset", "evaluate",
]

#: Accepted ``--model`` values.
MODEL_NAMES = ("auto",) + tuple(f"resnet{d}" for d in RESNET_LAYOUTS) + tuple(
    f"cifar-resnet{d}" for d in (20, 32, 44, 56, 110))
#: Models read from a quantized TFLite file (``--weights model.tflite``), not from a state dict.
TFLITE_MODELS = ("mobilenet_v2",)
#: CIFAR-10 class names in the dataset's index order (batches.meta).
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass
class Model:
    """A built network and what is needed to feed it and name its outputs.

    Attributes
    ----------
    net : refsim.nn.ResNet, refsim.nn.CifarResNet or refsim.nn.tflite_net.QuantizedNet
    name : str, e.g. ``"resnet50"``, ``"cifar-resnet20"`` or ``"mobilenet_v2"``.
    preprocess : str, ``"imagenet"``, ``"cifar10"`` or ``"tflite"`` (uint8 NHWC input).
    resize_size, crop_size : int, preprocessing geometry (pixels).
    class_names : list[str] or None, one name per output (None: print indices).
    random_weights : bool, True for ``weights="random"`` (classes are meaningless).
    build_s : float, wall time to build (program) the network, s.
    """

    net: Any
    name: str
    preprocess: str
    resize_size: int
    crop_size: int
    class_names: list | None
    random_weights: bool
    build_s: float

    @property
    def num_classes(self) -> int:
        if hasattr(self.net, "num_classes"):  # QuantizedNet
            return int(self.net.num_classes)
        return int(self.net.layers()["linear" if self.preprocess == "cifar10" else "fc"].weight.shape[0])


def detect_model(state_dict: dict) -> str:
    """The architecture name of a state dict, from its keys (``module.`` prefix ignored).

    Raises ``ValueError`` when the keys fit no supported ResNet.
    """
    sd = strip_prefix(state_dict)
    if "linear.weight" in sd:
        n = 1 + max((int(m.group(1)) for k in sd if (m := re.match(r"^layer1\.(\d+)\.", k))), default=-1)
        if n < 1:
            raise ValueError("state dict has 'linear.weight' but no 'layer1.{j}.*' keys; not a CIFAR ResNet.")
        return f"cifar-resnet{6 * n + 2}"
    if "fc.weight" in sd:
        return f"resnet{infer_resnet_depth(sd)}"
    some = ", ".join(list(sd)[:5])
    raise ValueError(f"state dict keys ({some}, ...) fit no supported model: expected 'fc.weight' "
                     "(torchvision ResNet) or 'linear.weight' (CIFAR ResNet).")


def _param_shapes(model: str) -> dict:
    depth = int(model.rsplit("resnet", 1)[1])
    return cifar_resnet_param_shapes(depth) if model.startswith("cifar-") else resnet_param_shapes(depth)


def random_state_dict(model: str, seed: int = 0) -> dict:
    r"""Random weights of ``model`` with PyTorch's keys and shapes, initialized as torchvision does.

    Convolutions: He-normal, fan-out mode, :math:`w \sim \mathcal N(0,\ 2/(c_{out} k_h k_w))`;
    BatchNorm: :math:`\gamma = 1, \beta = 0, \mu = 0, \sigma^2 = 1`; the classifier:
    :math:`\mathcal U(-1/\sqrt{n_{in}},\ 1/\sqrt{n_{in}})` for weight and bias. One
    ``numpy.random.default_rng(seed)`` draws the tensors in key order.
    """
    if model not in MODEL_NAMES[1:]:
        raise ValueError(f"model: unknown name {model!r}; expected one of {MODEL_NAMES[1:]}.")
    rng = np.random.default_rng(seed)
    sd = {}
    for key, shape in _param_shapes(model).items():
        if len(shape) == 4:
            sd[key] = rng.normal(0.0, np.sqrt(2.0 / (shape[0] * shape[2] * shape[3])), shape)
        elif key.startswith(("fc.", "linear.")):
            bound = 1.0 / np.sqrt(_param_shapes(model)[key.split(".")[0] + ".weight"][1])
            sd[key] = rng.uniform(-bound, bound, shape)
        elif key.endswith((".weight", ".running_var")):
            sd[key] = np.ones(shape)
        else:  # BatchNorm bias and running_mean
            sd[key] = np.zeros(shape)
    return sd


def _registry_resize(weights) -> int:
    """Resize size of a registry ImageNet checkpoint with this file name (256 if unknown)."""
    from refsim.io import list_checkpoints

    name = Path(os.fspath(weights)).name
    return next((i.resize_size for i in list_checkpoints() if i.filename == name and i.preprocess == "imagenet"),
                256)


def build_model(model: str, weights, config=None, *, seed: int = 0, labels=None, fold_bn: bool = False,
                on_layer: Callable[[str], None] | None = None) -> Model:
    """Build a ResNet from a model name and weights, programmed with ``config``.

    Parameters
    ----------
    model : str, one of :data:`MODEL_NAMES`; ``"auto"`` detects it from the keys.
    weights : path to a checkpoint (any format of :func:`refsim.io.load_state_dict`),
        ``"random"`` (:func:`random_state_dict`, seed 0; needs an explicit model,
        ``"auto"`` meaning ``resnet18``), or a state dict.
    config : CrossbarConfig, None (exact digital) or callable ``name -> config`` (refsim.nn).
    seed : int, programming and read-noise seed of every crossbar (refsim.nn.crossbar_rng).
    labels : path of a class-list file (:func:`load_labels`) or None.
    fold_bn : fold BatchNorm into the convolutions (docs/layers.md).
    on_layer : called with each layer's name just before it is programmed (progress).

    Raises
    ------
    ValueError
        Unknown model name; keys that do not fit the model (the message names both).
    """
    if model == "textgenrnn":
        raise ValueError("--model textgenrnn is a character language model, not an image classifier: "
                         "use refsim eval --model textgenrnn --data TEXT (refsim.tools.textgenrnn)")
    if model not in MODEL_NAMES + TFLITE_MODELS:
        raise ValueError(f"--model: unknown model {model!r}; expected one of "
                         f"{', '.join(MODEL_NAMES + TFLITE_MODELS)}.")
    if model in TFLITE_MODELS or (model == "auto" and _is_tflite_file(weights)):
        return _build_tflite_model(weights, config, seed=seed, labels=labels, on_layer=on_layer)
    random_weights = isinstance(weights, str) and weights == "random"
    if random_weights:
        model = "resnet18" if model == "auto" else model
        sd = random_state_dict(model, 0)
    elif isinstance(weights, dict):
        sd = weights
    else:
        from refsim.io import CheckpointError, load_state_dict

        if not os.path.isfile(weights):
            raise FileNotFoundError(f"--weights: no checkpoint file at {os.fspath(weights)!r}")
        try:
            sd = load_state_dict(weights)
        except CheckpointError as exc:
            raise ValueError(f"--weights: cannot read {os.fspath(weights)!r} as a checkpoint: {exc}") from None
    try:
        found = detect_model(sd)
    except ValueError as exc:
        raise ValueError(f"--weights: checkpoint does not fit --model {model}: {exc}") from None
    if model not in ("auto", found):
        raise ValueError(f"--weights: the checkpoint's keys fit {found}, not --model {model}; "
                         f"pass --model {found} or --model auto.")
    cfg = announcing(config, on_layer)
    t0 = time.perf_counter()
    if found.startswith("cifar-"):
        net = cifar_resnet_from_state_dict(sd, config=cfg, seed=seed, fold_bn=fold_bn)
        prep, resize, crop, names = "cifar10", 32, 32, list(CIFAR10_CLASSES)
    else:
        net = resnet_from_state_dict(sd, config=cfg, seed=seed, fold_bn=fold_bn)
        prep, crop, names = "imagenet", 224, None
        resize = 256 if random_weights or isinstance(weights, dict) else _registry_resize(weights)
    build_s = time.perf_counter() - t0
    out = Model(net, found, prep, resize, crop, names, random_weights, build_s)
    if labels is not None:
        out.class_names = load_labels(labels, out.num_classes)
    elif names is not None and out.num_classes != len(names):
        out.class_names = None
    return out


def _is_tflite_file(weights) -> bool:
    """True if ``weights`` names a file whose bytes 4..8 are the TFLite identifier ``TFL3``."""
    if not isinstance(weights, (str, os.PathLike)) or not os.path.isfile(weights):
        return False
    with open(weights, "rb") as fh:
        return fh.read(8)[4:8] == b"TFL3"


def _build_tflite_model(weights, config, *, seed: int, labels, on_layer) -> Model:
    """MobileNetV2 (or any graph :mod:`refsim.nn.tflite_net` supports) from a quantized ``.tflite`` file.

    Class names: ``labels``, else ``imagenet_labels.txt`` next to the file when it has one
    line per output (the shared data layout), else indices.
    """
    from refsim.io import CheckpointError
    from refsim.nn.tflite_net import tflite_net

    if isinstance(weights, str) and weights == "random":
        raise ValueError("--weights: mobilenet_v2 has no random initialization; pass the quantized TFLite file "
                         "(e.g. ../shared/data/mobilenet/mobilenet_v2_1.0_224_quant.tflite).")
    if not isinstance(weights, (str, os.PathLike)) or not os.path.isfile(weights):
        raise FileNotFoundError(f"--weights: no .tflite file at {weights!r}")
    if not _is_tflite_file(weights):
        raise ValueError(f"--weights: {os.fspath(weights)!r} is not a TFLite flatbuffer (no 'TFL3' identifier); "
                         "--model mobilenet_v2 reads a quantized .tflite file.")
    cfg = announcing(config, on_layer)
    t0 = time.perf_counter()
    try:
        net = tflite_net(weights, config=cfg, seed=seed)
    except CheckpointError as exc:
        raise ValueError(f"--weights: cannot read {os.fspath(weights)!r}: {exc}") from None
    build_s = time.perf_counter() - t0
    size = int(net.input_tensor.shape[1])
    out = Model(net, "mobilenet_v2", "tflite", size, size, None, False, build_s)
    sibling = Path(os.fspath(weights)).with_name("imagenet_labels.txt")
    if labels is not None:
        out.class_names = load_labels(labels, out.num_classes)
    elif sibling.is_file():
        try:
            out.class_names = load_labels(sibling, out.num_classes)
        except ValueError:
            out.class_names = None
    return out


def demo_image(size: int = 224) -> np.ndarray:
    r"""A procedural RGB test image, uint8 ``(size, size, 3)``: no file, no randomness.

    A sky-to-ground gradient, a sun (disc) and a hill (sinusoid), drawn from
    coordinates :math:`u, v \in [0, 1]`; it resembles no particular class.
    """
    v, u = np.mgrid[0:size, 0:size] / max(size - 1, 1)  # (size, size) each
    img = np.stack([0.35 + 0.4 * v, 0.55 + 0.25 * v, 0.95 - 0.5 * v], axis=-1)  # sky, (size, size, 3)
    sun = (u - 0.72) ** 2 + (v - 0.28) ** 2 < 0.12**2
    img[sun] = (1.0, 0.85, 0.2)
    hill = v > 0.68 + 0.08 * np.sin(2 * np.pi * 1.5 * u)
    img[hill] = np.stack([0.2 + 0.1 * u, 0.55 - 0.2 * v, 0.15 + 0 * u], axis=-1)[hill]
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def preprocess_image(img, model: Model) -> np.ndarray:
    """PIL image or uint8 HWC array -> float64 ``(3, crop, crop)`` for ``model``'s architecture
    (uint8 ``(crop, crop, 3)`` for a TFLite model: :func:`refsim.tools.preprocess.tflite_preprocess`)."""
    if model.preprocess == "tflite":
        return tflite_preprocess(img, model.crop_size)
    if model.preprocess == "cifar10":
        return cifar_preprocess(img)
    return imagenet_preprocess(img, resize_size=model.resize_size, crop_size=model.crop_size)


def input_mismatch_notes(path, model: Model) -> list:
    """Notes when an image file is far from what ``model`` was trained on: a CIFAR model on an
    image whose sides are not within 16..128 pixels (it was trained on 32 x 32), an ImageNet model
    on one whose shorter side is below 64 pixels (trained on 224 x 224 crops), or an image that is
    not 3-channel RGB (grayscale, palette, alpha, CMYK: converted to RGB)."""
    from PIL import Image

    with Image.open(path) as img:  # reads the header only
        (w, h), mode = img.size, img.mode
    notes = []
    if model.preprocess == "cifar10" and not (16 <= min(w, h) and max(w, h) <= 128):
        notes.append(f"input: the image is {w} x {h} pixels and {model.name} was trained on 32 x 32 CIFAR-10 "
                     "images; it is resized to 32 x 32, so the prediction may mean little")
    elif model.preprocess == "imagenet" and min(w, h) < 64:
        notes.append(f"input: the image is {w} x {h} pixels and {model.name} was trained on {model.crop_size} x "
                     f"{model.crop_size} crops of larger photos; it is upscaled, so the prediction may mean little")
    if mode != "RGB":
        notes.append(f"input: the image has mode {mode} (not 3-channel RGB) and is converted to RGB "
                     "(grayscale replicated, alpha dropped, palette expanded)")
    return notes


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax (docs/MODEL.md L6) over the last axis: logits (..., C) -> probabilities (..., C)."""
    z = logits - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def topk(probs: np.ndarray, k: int, class_names=None) -> list:
    """The ``k`` largest of ``probs (C,)`` as ``[{"rank", "index", "label", "prob"}]`` (ties: lower index)."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [{"rank": r + 1, "index": int(i), "label": class_names[i] if class_names else str(int(i)),
             "prob": float(probs[i])} for r, i in enumerate(order)]


def _batch_input(ds: Dataset, sl: slice, model: Model) -> np.ndarray:
    """Preprocessed float64 batch ``(B, 3, crop, crop)`` of ``ds[sl]``."""
    if ds.kind == "npz" and model.preprocess == "cifar10" and ds.images.shape[1:] == (32, 32, 3):
        return cifar_preprocess(ds.images[sl])
    items = ds.images[sl]
    return np.stack([preprocess_image(load_image(i) if ds.kind == "folder" else i, model) for i in items])


def evaluate(model: Model, ds: Dataset, *, batch_size: int = 64, digital: bool = False,
             progress: Callable[[int], None] | None = None) -> dict:
    """Top-1 accuracy of ``model`` on ``ds``, in batches.

    Returns ``{"correct", "n", "accuracy", "seconds"}``; ``progress(b)`` is
    called after each batch of ``b`` images.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"--batch-size: expected a positive int; received {batch_size!r}.")
    if len(ds) and int(ds.labels.max()) >= model.num_classes:
        raise ValueError(f"--data: label {int(ds.labels.max())} out of range for {model.num_classes} classes.")
    t0, correct = time.perf_counter(), 0
    for start in range(0, len(ds), batch_size):
        sl = slice(start, start + batch_size)
        logits = model.net(_batch_input(ds, sl, model), digital=digital)  # (B, classes)
        correct += int(np.sum(np.argmax(logits, axis=1) == ds.labels[sl]))
        if progress is not None:
            progress(len(ds.labels[sl]))
    n = len(ds)
    return {"correct": correct, "n": n, "accuracy": correct / n if n else float("nan"),
            "seconds": time.perf_counter() - t0}
