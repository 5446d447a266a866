r"""Four network families on crossbars, each at its own task, as one normalized accuracy A*.

The evaluation behind the cross-family study (docs/results/families/README.md)::

    res = evaluate_family("minilm", presets.get("rasch2023_standard"), seed=1, size=250)
    res["value"], res["digital_value"], res["a_star"]        # Spearman analog, digital, A*

======================  =====================================  ================  ============================
family                   task and metric                        chance level      data (evaluated / calibrated)
======================  =====================================  ================  ============================
``cifar_resnet20``      CIFAR-10 top-1                          0.1 (10 classes)  test subset, first N / the
                                                                                  first n_cal *training* images
``mobilenet_v2``        ImageNet top-1 (uint8 TFLite network)   0.001             the first N of the 24 samples in
                                                                                  two halves, each calibrated on
                                                                                  the other
``textgenrnn``          next-character bits per character       log2(464)         Alice from chapter I, N scored
                         (lower is better)                       (uniform)         positions / contexts from the
                                                                                  second half of the book
``minilm``              STS-B dev Spearman (cosine vs gold)     0                 first N pairs / the first n_cal
                                                                                  sentences of Alice
======================  =====================================  ================  ============================

**Normalized accuracy** (Rasch et al. 2023): with ``e`` the error measure (1 - top-1, bits per
character, 1 - Spearman), ``e_FP`` that of the same network digital (exact float64 matmuls; for
MobileNetV2 the exact integer TFLite network) on the same data, and ``e_chance`` that of chance,

.. math:: A^* = 1 - \frac{e - e_{FP}}{e_{chance} - e_{FP}}

so A* = 1 is the digital network and A* = 0 chance (below 0: worse than chance).

**Calibration** (:func:`dac_ranges`): every crossbar layer gets a static input range, (C1) the
99.9th percentile of |x| of its inputs in a digital forward pass over calibration data disjoint
from the evaluated data (an LSTM layer: over its inputs and its hidden states, the inputs of
``W_hh``). The ranges do not depend on the config, so they are computed once per family and
data split (cached in the process) and set on every config evaluated.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["FAMILIES", "DEFAULT_SIZES", "DEFAULT_CAL", "METRICS", "PROBE_SIZES", "normalized_accuracy", "dac_ranges",
           "with_ranges", "evaluate_family", "layer_errors", "data_root"]

FAMILIES = ("cifar_resnet20", "mobilenet_v2", "textgenrnn", "minilm")
#: Evaluated items per family by default (images, images, scored characters, sentence pairs).
DEFAULT_SIZES = {"cifar_resnet20": 200, "mobilenet_v2": 24, "textgenrnn": 2000, "minilm": 250}
#: Calibration items by default (images, images of the other half, 40-character contexts, sentences).
DEFAULT_CAL = {"cifar_resnet20": 32, "mobilenet_v2": 12, "textgenrnn": 256, "minilm": 64}
#: family -> (metric name, higher is better)
METRICS = {"cifar_resnet20": ("top1", True), "mobilenet_v2": ("top1", True),
           "textgenrnn": ("bits_per_char", False), "minilm": ("spearman", True)}
#: Inputs of the per-layer error probe (:func:`layer_errors`): images, images, contexts, sentences.
PROBE_SIZES = {"cifar_resnet20": 16, "mobilenet_v2": 2, "textgenrnn": 64, "minilm": 32}
_CALIBRATED_KINDS = ("linear", "conv2d", "lstm")
_CACHE: dict = {}


def data_root(root=None) -> Path:
    """``root``, else ``$REFSIM_DATA``, else ``../shared/data``."""
    return Path(os.fspath(root) if root is not None else os.environ.get("REFSIM_DATA") or "../shared/data")


def normalized_accuracy(e: float, e_fp: float, e_chance: float) -> float:
    r""":math:`A^* = 1 - (e - e_{FP}) / (e_{chance} - e_{FP})` (module docstring); errors of any scale."""
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (e, e_fp, e_chance)):
        raise ValueError(f"normalized_accuracy: received e={e!r}, e_fp={e_fp!r}, e_chance={e_chance!r}; "
                         "expected finite numbers")
    if e_chance == e_fp:
        raise ValueError(f"normalized_accuracy: e_chance = e_fp = {e_fp!r}; the digital network is at chance")
    return 1.0 - (e - e_fp) / (e_chance - e_fp)


def _error(family: str, value: float) -> float:
    """The error measure of a metric value: 1 - value for top-1 and Spearman, the value for bits/char."""
    return value if not METRICS[family][1] else 1.0 - value


def dac_ranges(net, x, *, percentile: float = 99.9) -> dict:
    """(C1) static input range ``{layer name: x_max}`` of every linear, convolution and LSTM layer of
    ``net`` from a digital forward pass ``net.forward(x, digital=True, records=...)`` (module docstring)."""
    from refsim.tools.calibrate import profile_input_range

    rec: dict = {}
    net.forward(x, digital=True, records=rec)
    out = {}
    for name, layer in net.layers().items():
        if layer.kind not in _CALIBRATED_KINDS:
            continue
        if name not in rec:
            raise ValueError(f"layer {name!r} was not recorded by net.forward; cannot profile its inputs")
        xs = [np.asarray(rec[name].input, dtype=np.float64)]
        if layer.kind == "lstm":  # W_hh reads the hidden states: the layer's outputs
            xs.append(np.asarray(rec[name].output, dtype=np.float64))
        out[name] = profile_input_range(xs, percentile)
    return out


def with_ranges(config, ranges: dict, digital_layers: tuple = ()):
    """``callable(layer) -> config`` with the static input range of :func:`dac_ranges` set on ``config``
    (``dac.range_mode="fixed"``, ``"dac"`` added to the field ``calibrated``); a layer without a
    range, or whose name contains one of the strings ``digital_layers``, stays digital."""
    from refsim.tools.calibrate import LayerConfigs, derived_name

    done = tuple(sorted({*config.calibrated, "dac"}))
    return LayerConfigs({n: config.replace(**{"dac.range_mode": "fixed", "dac.x_max": float(v),
                                              "name": derived_name(config.name), "calibrated": done})
                         for n, v in ranges.items() if not any(d in n for d in digital_layers)}, default=None)


# --------------------------------------------------------------------------- the families
def _cifar(config, seed, size, n_cal, root, digital, keep=()):
    from refsim.tools.inference import build_model, evaluate, load_dataset, preprocess_image

    w = root / "weights" / "resnet20-12fca82f.th"
    key = ("cifar", n_cal, str(root))
    if key not in _CACHE:
        m0 = build_model("cifar-resnet20", os.fspath(w), None)
        cal = load_dataset(root / "cifar10" / "cifar10_train_subset.npz", limit=n_cal, model=m0)
        _CACHE[key] = dac_ranges(m0.net, np.stack([preprocess_image(i, m0) for i in cal.images]))
    cfg = None if digital is True else with_ranges(config, _CACHE[key], keep)
    model = build_model("cifar-resnet20", os.fspath(w), cfg, seed=seed)
    if digital == "probe":
        ds = load_dataset(root / "cifar10" / "cifar10_test_subset.npz", limit=size, model=model)
        return model.net, np.stack([preprocess_image(i, model) for i in ds.images])
    ds = load_dataset(root / "cifar10" / "cifar10_test_subset.npz", limit=size, model=model)
    r = evaluate(model, ds, digital=True if digital is True else False)
    return r["accuracy"], r["correct"], r["n"]


def _imagenet_samples(root: Path, size: int):
    """The first ``size`` of the 24 shared samples (sorted) and their TFLite labels (class index + 1)."""
    folder = root / "imagenet-samples"
    wnids = [line.split(" ", 1)[0] for line in (folder / "classes.txt").read_text().splitlines() if line.strip()]
    files = sorted(folder.glob("*.JPEG"))[:size]
    if len(files) < 2:
        raise ValueError(f"--size mobilenet_v2: received {size}; expected at least 2 of the samples in {folder}")
    return files, np.array([wnids.index(f.name.split("_", 1)[0]) + 1 for f in files])


def _mobilenet(config, seed, size, n_cal, root, digital, keep=()):
    from refsim.tools.inference import build_model, preprocess_image
    from refsim.tools.preprocess import load_image

    w = os.fspath(root / "mobilenet" / "mobilenet_v2_1.0_224_quant.tflite")
    files, labels = _imagenet_samples(root, size if digital != "probe" else DEFAULT_SIZES["mobilenet_v2"])
    key = ("mobilenet_x", size, str(root))
    if key not in _CACHE:
        m0 = build_model("mobilenet_v2", w, None)
        _CACHE[key] = np.stack([preprocess_image(load_image(f), m0) for f in files])  # (N, 224, 224, 3) uint8
    x = _CACHE[key]
    half = len(files) // 2
    folds = [(np.arange(half), np.arange(half, len(files))), (np.arange(half, len(files)), np.arange(half))]
    correct = 0
    for k, (ev, cal) in enumerate(folds):  # each half evaluated with ranges calibrated on the other half
        rkey = ("mobilenet", size, n_cal, k, str(root))
        if rkey not in _CACHE and digital is not True:
            _CACHE[rkey] = dac_ranges(build_model("mobilenet_v2", w, None).net, x[cal[:n_cal]])
        model = build_model("mobilenet_v2", w, None if digital is True else with_ranges(config, _CACHE[rkey], keep),
                            seed=seed)
        if digital == "probe":
            return model.net, x[ev[:size]]
        correct += int(np.sum(np.argmax(model.net(x[ev], digital=digital), axis=1) == labels[ev]))
        if digital is True:  # one build serves both halves
            correct += int(np.sum(np.argmax(model.net(x[cal], digital=True), axis=1) == labels[cal]))
            break
    return correct / len(files), correct, len(files)


def _alice(root: Path, vocab: dict) -> tuple[str, str]:
    """Alice, normalized: from the start of chapter I (the body), and its second half (calibration)."""
    from refsim.tools.textgenrnn import normalize_text

    text = normalize_text((root / "text" / "alice_in_wonderland.txt").read_text(encoding="utf8"), vocab)
    body = text.find("CHAPTER I.", text.find("CHAPTER I.") + 1)  # the second one: after the contents
    return text[max(body, 0):], text[len(text) // 2:]


def _textgen(config, seed, size, n_cal, root, digital, keep=()):
    from refsim.tools.textgenrnn import MAXLEN, bits_per_char, encode, load_textgenrnn

    key = ("textgen", n_cal, str(root))
    if key not in _CACHE:
        m0 = load_textgenrnn(None, None, None)
        body, second = _alice(root, m0.vocab)
        if len(second) < n_cal * MAXLEN or len(body) - len(second) < size + MAXLEN:
            raise ValueError(f"--size/--cal textgenrnn: received {size}/{n_cal}; the evaluated part and the "
                             "calibration half of the text would overlap")
        ids = encode(second, m0.vocab)[: n_cal * MAXLEN].reshape(n_cal, MAXLEN)
        _CACHE[key] = (body, dac_ranges(m0.net, ids))
    body, ranges = _CACHE[key]
    model = load_textgenrnn(None, None, None if digital is True else with_ranges(config, ranges, keep), seed=seed)
    if digital == "probe":  # the first contexts of the evaluated text, 40 characters apart
        ids = encode(body, model.vocab)[: size * MAXLEN].reshape(-1, MAXLEN)
        return model.net, ids
    r = bits_per_char(model, body, limit=size, digital=digital)
    return r["bits_per_char"], None, r["n"]


def _minilm(config, seed, size, n_cal, root, digital, keep=()):
    from refsim.tools.sts import calibration_sentences, evaluate_sts, load_sentence_model, load_sts

    key = ("minilm", n_cal, str(root))
    if key not in _CACHE:
        m0 = load_sentence_model("minilm")
        sents = calibration_sentences(root / "text" / "alice_in_wonderland.txt", n_cal)
        _CACHE[key] = dac_ranges(m0.encoder, m0.tokenizer(sents))
    model = load_sentence_model("minilm", None, None if digital is True else with_ranges(config, _CACHE[key], keep),
                                seed=seed)
    if digital == "probe":  # the first sentences of the evaluated pairs, padded to one batch
        return model.encoder, model.tokenizer(load_sts(root / "sts-b" / "dev.tsv", limit=size).sentence1)
    r = evaluate_sts(model, load_sts(root / "sts-b" / "dev.tsv", limit=size), digital=digital)
    return r["spearman"], None, r["n"]


#: family -> runner ``(config, seed, size, n_cal, root, digital, keep=()) -> (value, correct, n)``; with
#: ``digital="probe"`` it returns ``(net, inputs)`` of the first ``size`` evaluated items (for layer_errors).
_RUNNERS = {"cifar_resnet20": _cifar, "mobilenet_v2": _mobilenet, "textgenrnn": _textgen, "minilm": _minilm}


def chance_error(family: str) -> float:
    """``e_chance`` of the family (module docstring)."""
    if family == "textgenrnn":
        from refsim.tools.textgenrnn import find_textgenrnn_files, load_vocab

        return math.log2(len(load_vocab(find_textgenrnn_files()[1])))
    return {"cifar_resnet20": 0.9, "mobilenet_v2": 0.999, "minilm": 1.0}[family]


def evaluate_family(family: str, config, *, seed: int = 0, size: int | None = None, n_cal: int | None = None,
                    root=None, digital_layers: tuple = ()) -> dict:
    """``family`` with ``config`` on every crossbar layer (static input ranges calibrated, module docstring);
    layers whose names contain one of ``digital_layers`` stay digital (e.g. ``("depthwise",)``).

    Returns ``{"family", "metric", "value", "digital_value", "e", "e_fp", "e_chance", "a_star", "correct",
    "n", "seconds"}``; the digital value is computed once per family and data in the process.
    """
    if family not in _RUNNERS:
        raise ValueError(f"family: received {family!r}; expected one of {FAMILIES}")
    size = DEFAULT_SIZES[family] if size is None else size
    n_cal = DEFAULT_CAL[family] if n_cal is None else n_cal
    for label, v in (("size", size), ("n_cal", n_cal)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{label} ({family}): received {v!r}; expected a positive int")
    root = data_root(root)
    t0 = time.perf_counter()
    dkey = ("digital", family, size, str(root))
    if dkey not in _CACHE:
        _CACHE[dkey] = _RUNNERS[family](None, 0, size, n_cal, root, True)[0]
    value, correct, n = _RUNNERS[family](config, seed, size, n_cal, root, False, tuple(digital_layers))
    e, e_fp, e_ch = float(_error(family, value)), float(_error(family, _CACHE[dkey])), float(chance_error(family))
    return {"family": family, "metric": METRICS[family][0], "value": float(value), "digital_value": float(_CACHE[dkey]),
            "e": e, "e_fp": e_fp, "e_chance": e_ch, "a_star": normalized_accuracy(e, e_fp, e_ch),
            "correct": correct, "n": n, "seconds": time.perf_counter() - t0}


def layer_errors(family: str, config, *, seed: int = 0, n_probe: int | None = None, n_cal: int | None = None,
                 root=None) -> dict:
    r"""Per-layer relative errors (X6 on each layer's recorded input, :func:`refsim.nn.layer_report`) of
    ``family`` with ``config`` (ranges calibrated as in :func:`evaluate_family`) on a few evaluated inputs.

    Returns ``{"median", "mean", "pooled", "max", "n_layers", "layers": {name: error}}``; ``pooled`` is
    :math:`\sqrt{\sum_\ell \epsilon_\ell^2 \lVert y_\ell \rVert^2 / \sum_\ell \lVert y_\ell \rVert^2}`.
    """
    from refsim.nn import layer_report

    if family not in _RUNNERS:
        raise ValueError(f"family: received {family!r}; expected one of {FAMILIES}")
    n_probe = PROBE_SIZES[family] if n_probe is None else n_probe
    n_cal = DEFAULT_CAL[family] if n_cal is None else n_cal
    net, x = _RUNNERS[family](config, seed, n_probe, n_cal, data_root(root), "probe")
    _, rows = layer_report(net, x)
    rows = [r for r in rows if r.analog and math.isfinite(r.rel_error)]
    e = np.array([r.rel_error for r in rows])
    w = np.array([r.digital_norm for r in rows]) ** 2
    return {"median": float(np.median(e)), "mean": float(e.mean()), "max": float(e.max()),
            "pooled": float(np.sqrt(np.sum(e**2 * w) / np.sum(w))), "n_layers": len(rows),
            "layers": {r.name: float(r.rel_error) for r in rows}}
