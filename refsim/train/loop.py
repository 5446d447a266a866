r"""The training loop of ``refsim train``: data, augmentation, SGD with momentum, schedules, the
noise ramp, validation, atomic per-epoch checkpoints and bit-exact resumption.

Every random number comes from a keyed stream of the seed (:func:`refsim.streams.keyed_rng`):
the train/validation split ``("split",)``, the order ``("order", e)`` and the augmentation
``("augment", e)`` of epoch ``e``, the HWA noise ``("noise", e, b, layer)`` of batch ``b``. A run
resumed from the checkpoint of epoch ``e`` therefore draws what the uninterrupted run drew: the
same bits.

SGD (PyTorch's form), per parameter ``p`` with gradient ``g``, momentum ``mu``, weight decay
``lambda`` (on the conv and linear weights only) and learning rate ``lr_e``:

.. math:: v \leftarrow \mu v + g + \lambda p, \qquad p \leftarrow p - \mathrm{lr}_e\, v

with ``lr_e`` constant, cosine ``lr (1 + cos(pi e / E)) / 2`` or step (x0.1 at 50 % and 75 % of the
epochs). After every update the HWA weights are clipped (N8) and alpha kept positive.
"""
from __future__ import annotations

import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from refsim._validate import received
from refsim.config import CrossbarConfig
from refsim.io._zip import open_zip
from refsim.io.npz import check_npz_sizes
from refsim.streams import keyed_rng
from refsim.train.functional_grad import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from refsim.train.hwa import HWAConfig, noise_scale_at
from refsim.train.hwa_config import SWITCHES
from refsim.train.net import TrainNet

__all__ = ["TrainOptions", "load_images", "augment", "preprocess", "learning_rate", "train", "checkpoint_paths",
           "SCHEDULES"]

SCHEDULES = ("constant", "cosine", "step")
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # refsim.tools.preprocess.CIFAR10_MEAN
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
#: Smallest alpha kept after an update (input units).
ALPHA_FLOOR = 1e-6


@dataclass
class TrainOptions:
    """Everything that determines a run (saved in the checkpoint; a resume must match it)."""

    epochs: int = 1
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    seed: int = 0
    limit: int | None = None
    val_split: float = 0.0
    crop_pad: int = 4          # random crop with this zero padding; 0: off
    flip: bool = True          # random horizontal flip
    hwa: bool = True           # False: FP fine-tuning (the control)
    noise_scale: float = 1.0   # N3 eta_max
    ramp_epochs: int = 1       # N3
    remap: bool = False        # N8 once per epoch
    train_without: str = ""    # HWAConfig switches off in training, comma-separated (N2-N5; evaluation keeps them)


def checkpoint_paths(out: str) -> dict:
    """``out`` (the state dict, .npz), ``state`` (the resumable training state) and ``layers`` (the
    per-layer inference configs with the learned alpha, HWA only)."""
    stem = out[:-4] if out.endswith(".npz") else out
    return {"out": out, "state": stem + ".state.npz", "layers": stem + ".layers.json"}


def load_images(path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``(N, 32, 32, 3)`` images and int64 labels from a CIFAR-layout .npz or an image folder
    ``<class>/<image>`` (resized to 32 x 32, bilinear)."""
    from refsim.tools.inference import load_dataset
    from refsim.tools.preprocess import load_image

    ds = load_dataset(path, limit=limit)
    if ds.kind == "npz":
        if ds.images.shape[1:] != (32, 32, 3):
            raise ValueError(received("--data", f"images of shape {ds.images.shape[1:]}", "(32, 32, 3) CIFAR images"))
        return np.ascontiguousarray(ds.images), ds.labels
    from PIL import Image
    imgs = []
    for p in ds.images:
        try:
            imgs.append(np.asarray(load_image(p).convert("RGB").resize((32, 32), Image.BILINEAR), dtype=np.uint8))
        except (OSError, ValueError) as exc:
            raise ValueError(received("--data", f"an image folder with an unreadable image {str(p)!r} ({exc})",
                                      "image files (.png, .jpg, ...) in <class>/ folders")) from None
    return np.stack(imgs), ds.labels


def augment(images: np.ndarray, rng: np.random.Generator, crop_pad: int, flip: bool) -> np.ndarray:
    """Random crop of the image padded with ``crop_pad`` zero pixels, then a horizontal flip with
    probability 1/2 (torchvision's RandomCrop(32, padding) and RandomHorizontalFlip), uint8 NHWC."""
    n, h, w, _ = images.shape
    dy, dx = rng.integers(0, 2 * crop_pad + 1, size=(2, n)) if crop_pad else (np.zeros(n, int),) * 2
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
    if crop_pad:
        padded = np.pad(images, ((0, 0), (crop_pad, crop_pad), (crop_pad, crop_pad), (0, 0)))
        out = np.empty_like(images)
        for k in range(n):
            out[k] = padded[k, dy[k]:dy[k] + h, dx[k]:dx[k] + w]
    else:
        out = images.copy()
    out[flips] = out[flips, :, ::-1]
    return out


def preprocess(images: np.ndarray) -> np.ndarray:
    """uint8 NHWC -> float32 NHWC ``(x / 255 - mean) / std`` (the CIFAR checkpoints' transform)."""
    return (images.astype(np.float32) / np.float32(255.0) - _MEAN) / _STD


def learning_rate(opts: TrainOptions, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based) under ``opts.schedule``."""
    if opts.schedule == "constant":
        return opts.lr
    if opts.schedule == "cosine":
        return opts.lr * 0.5 * (1 + math.cos(math.pi * epoch / opts.epochs))
    return opts.lr * (0.1 ** (int(epoch >= 0.5 * opts.epochs) + int(epoch >= 0.75 * opts.epochs)))


def _save_state(path: str, net: TrainNet, mom: dict, meta: dict) -> None:
    """Write the training state to ``path`` atomically (a temporary file, then ``os.replace``)."""
    arrays = {"meta": np.array(json.dumps(meta))}
    for name, layer in net.layers.items():
        for k, v in layer.state().items():
            arrays[f"layer/{name}/{k}"] = np.asarray(v)
    for name, p in net.bn.items():
        for k, v in p.items():
            arrays[f"bn/{name}/{k}"] = v
    for (name, k), v in mom.items():
        arrays[f"mom/{name}/{k}"] = np.asarray(v)
    tmp = path + ".tmp.npz"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load_state(path: str, net: TrainNet) -> tuple[dict, dict]:
    """Read the training state of ``path`` into ``net``; every defect (not an .npz, no or bad ``meta``,
    arrays of another model, shapes or names that differ, NaN or inf) is a ValueError naming
    ``--resume``, raised before ``net`` is touched."""
    expected_file = "the OUT.state.npz that refsim train wrote for this --out"

    def bad(what: str) -> ValueError:
        return ValueError(received("--resume", f"a checkpoint {path!r} with {what}", expected_file))

    try:
        with open(path, "rb") as fh:
            data = fh.read()
        with open_zip(data) as archive:  # a damaged directory (zipfile then skips members) or a zip bomb
            check_npz_sizes(archive, len(data))
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:  # noqa: BLE001 - not a zip, truncated, pickled, bad headers: all "not this file"
        raise ValueError(received("--resume", f"a file {path!r} that is not a readable .npz "
                                  f"({type(exc).__name__}: {str(exc)[:120]})", expected_file)) from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (KeyError, ValueError, RecursionError):
        raise bad("no readable 'meta' entry") from None
    ok = (isinstance(meta, dict) and isinstance(meta.get("run"), dict) and isinstance(meta["run"].get("options"), dict)
          and type(meta.get("epoch")) is int and meta["epoch"] >= 0 and isinstance(meta.get("history"), list)
          and all(isinstance(h, dict) and type(h.get("steps")) is int for h in meta["history"]))
    if not ok:
        raise bad("a 'meta' entry that lacks the run, epoch or history")
    want = {f"layer/{n}/{k}": np.shape(v) for n, layer in net.layers.items() for k, v in layer.state().items()}
    want.update({f"bn/{n}/{k}": np.shape(v) for n, p in net.bn.items() for k, v in p.items()})
    params = {k: np.shape(v) for k, v in net.params().items()}
    params.update({(n, "alpha"): () for n in net.layers})
    have = {k: v for k, v in arrays.items() if not k.startswith("mom/")}
    if set(have) != set(want):
        diff = sorted(set(have) ^ set(want))
        raise bad(f"the arrays of another model or mode ({len(diff)} differ, e.g. {diff[:3]})")
    for key, arr in arrays.items():
        if key.startswith("mom/"):
            name, _, field = key[4:].rpartition("/")
            if (name, field) not in params:
                raise bad(f"a momentum entry {key!r} for no parameter of this model")
            shape = params[(name, field)]
        else:
            shape = want[key]
        if arr.shape != shape or arr.dtype.kind not in "biuf":
            raise bad(f"{key!r} of dtype {arr.dtype}, shape {arr.shape} (this model's is {shape})")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise bad(f"non-finite values (NaN or inf) in {key!r}")
    layers, mom = {}, {}
    for key, arr in arrays.items():
        kind, _, rest = key.partition("/")
        name, _, field = rest.rpartition("/")
        if kind == "layer":
            layers.setdefault(name, {})[field] = arr
        elif kind == "bn":
            net.bn[name][field] = arr.copy()
        else:
            mom[(name, field)] = arr.copy()
    for name, st in layers.items():
        net.layers[name].load_state(st)
    return meta, mom


def _evaluate(net: TrainNet, images, labels, opts: TrainOptions, eta: float, epoch: int) -> dict:
    """Loss and accuracy in eval mode (running statistics; the HWA forward with its noise, keyed by
    ``("val", epoch, batch, layer)``)."""
    loss, correct = 0.0, 0
    for b, start in enumerate(range(0, len(images), opts.batch_size)):
        x = preprocess(images[start:start + opts.batch_size])
        rng = None if net.hwa is None else (lambda name, b=b: keyed_rng(opts.seed, ("val", epoch, b, name)))
        logits, _ = net.forward(x, train=False, eta=eta, rng=rng)
        y = labels[start:start + opts.batch_size]
        loss += softmax_cross_entropy_forward(logits, y)[0] * len(y)
        correct += int(np.sum(np.argmax(logits, axis=1) == y))
    return {"val_loss": loss / max(len(images), 1), "val_accuracy": correct / max(len(images), 1)}


def train(state_dict: dict, images: np.ndarray, labels: np.ndarray, opts: TrainOptions, *, hwa: HWAConfig | None,
          out: str, resume: bool = False, bar=None, log=None) -> dict:
    """Train ``state_dict`` (a CIFAR ResNet) on ``images`` (uint8 NHWC) and write the checkpoints of
    :func:`checkpoint_paths`. ``bar(total)`` returns a tqdm-like progress bar (or None);
    ``log(text)`` prints notes. Returns ``{"history", "paths", "seconds", "resumed_from"}``."""
    paths = checkpoint_paths(out)
    net = TrainNet(state_dict, hwa if opts.hwa else None)
    _check_train_without(net.hwa, opts.train_without)
    _check_noise_ramp(net.hwa, opts)
    meta_run = {"options": asdict(opts), "hwa": None if net.hwa is None else net.hwa.xbar.to_dict(),
                "n_images": int(len(images))}
    n_val = int(round(opts.val_split * len(images)))
    perm = keyed_rng(opts.seed, ("split",)).permutation(len(images))
    val_idx, train_idx = np.sort(perm[:n_val]), perm[n_val:]
    if len(train_idx) < 2:
        raise ValueError(received("--data", f"{len(train_idx)} training image(s) after the validation split",
                                  "at least 2"))
    mom, history, start = {}, [], 0
    resumed_from = None
    if resume and os.path.exists(paths["state"]):
        meta, mom = _load_state(paths["state"], net)
        same = {"train_without": "", **{k: v for k, v in meta["run"]["options"].items() if k != "epochs"}}
        mine = {k: v for k, v in meta_run["options"].items() if k != "epochs"}
        if (same != mine or _normal_config(meta["run"].get("hwa")) != meta_run["hwa"]
                or meta["run"].get("n_images") != meta_run["n_images"]):
            diff = sorted(k for k in set(same) | set(mine) if same.get(k) != mine.get(k)) or ["preset or data"]
            raise ValueError(received("--resume", f"a checkpoint {paths['state']!r} of a different run (differs in "
                                      f"{', '.join(diff)})", "the options of the run that wrote it"))
        history, start = meta["history"], meta["epoch"] + 1
        resumed_from = meta["epoch"]
        if log:
            log(f"resuming after epoch {start} of {opts.epochs} from {paths['state']}")
    elif resume and log:
        log(f"note: --resume: no training state at {paths['state']}; starting from the first epoch")
    t_start = time.perf_counter()
    params = net.params()
    step = sum(h["steps"] for h in history)
    for epoch in range(start, opts.epochs):
        lr, eta = learning_rate(opts, epoch), (0.0 if net.hwa is None else noise_scale_at(net.hwa, epoch))
        order = keyed_rng(opts.seed, ("order", epoch)).permutation(train_idx)
        aug_rng = keyed_rng(opts.seed, ("augment", epoch))
        imgs = augment(images[order], aug_rng, opts.crop_pad, opts.flip)
        ys = labels[order]
        starts = [s for s in range(0, len(order), opts.batch_size) if min(opts.batch_size, len(order) - s) >= 2]
        pb = bar(sum(min(opts.batch_size, len(order) - s) for s in starts), epoch) if bar else None
        t0, seen, loss_sum, n_steps = time.perf_counter(), 0, 0.0, 0
        for b, s in enumerate(starts):
            x, y = preprocess(imgs[s:s + opts.batch_size]), ys[s:s + opts.batch_size]
            rng = None if net.hwa is None else (lambda name, b=b: keyed_rng(opts.seed, ("noise", epoch, b, name)))
            init = net.hwa is not None and step < net.hwa.alpha_init_batches
            logits, cache = net.forward(x, train=True, eta=eta, rng=rng, alpha_init=init)
            loss, c_ce = softmax_cross_entropy_forward(logits, y)
            grads = net.backward(softmax_cross_entropy_backward(1.0, c_ce), cache)
            net.update_running_stats(cache)
            del cache
            _sgd(net, params, grads, mom, lr, opts)
            step += 1
            n_steps += 1
            seen += len(y)
            loss_sum += loss * len(y)
            if pb is not None:
                pb.update(len(y))
                pb.set_postfix(loss=f"{loss:.4f}", img_s=f"{seen / (time.perf_counter() - t0):.1f}")
        if pb is not None:
            pb.close()
        if net.hwa is not None and opts.remap:
            for layer in net.layers.values():
                layer.clip_and_remap(True)
        rec = {"epoch": epoch, "lr": lr, "eta": eta, "steps": n_steps, "train_loss": loss_sum / max(seen, 1),
               "seconds": time.perf_counter() - t0}
        if n_val:
            rec.update(_evaluate(net, images[val_idx], labels[val_idx], opts, eta, epoch))
        history.append(rec)
        if log:
            log(json.dumps(rec))
        _save_state(paths["state"], net, mom, {"run": meta_run, "epoch": epoch, "history": history})
    _export(net, paths, hwa if opts.hwa else None)
    return {"history": history, "paths": paths, "seconds": time.perf_counter() - t_start, "resumed_from": resumed_from}


def _check_train_without(hwa: HWAConfig | None, recorded: str) -> None:
    """``opts.train_without`` is what the run records (and a resume compares); it must name exactly the
    switches of ``hwa`` that are off, else the record and the resume check would not describe the forward."""
    off = "" if hwa is None else ",".join(sorted(s for s in SWITCHES if not getattr(hwa, s)))
    if recorded != off:
        raise ValueError(received("TrainOptions.train_without", repr(recorded),
                                  f"{off!r}, the HWAConfig switches that are off (sorted, comma-separated)"))


def _check_noise_ramp(hwa: HWAConfig | None, opts: "TrainOptions") -> None:
    """``opts.noise_scale`` and ``opts.ramp_epochs`` are recorded (and compared on a resume); the ramp that
    runs is ``hwa``'s (N3): they must agree."""
    if hwa is None:
        return
    for name in ("noise_scale", "ramp_epochs"):
        if getattr(opts, name) != getattr(hwa, name):
            raise ValueError(received(f"TrainOptions.{name}", repr(getattr(opts, name)),
                                      f"{getattr(hwa, name)!r}, the HWAConfig's {name} (the run's record must "
                                      "describe its noise ramp)"))


def _normal_config(d):
    """A config dict of a training state as this refsim writes it (a state written before the fields
    ``calibrated`` / ``calibration_waived`` existed lacks them); anything unreadable as it is."""
    if not isinstance(d, dict):
        return d
    try:
        return CrossbarConfig.from_dict(d).to_dict()
    except (ValueError, TypeError):
        return d


def _sgd(net: TrainNet, params: dict, grads: dict, mom: dict, lr: float, opts: TrainOptions) -> None:
    """One SGD-with-momentum step on every parameter; alpha (HWA, ``learn_alpha``) likewise, without
    weight decay, floored at ALPHA_FLOOR; then the weight clip (N8)."""
    for key, p in params.items():
        g = grads[key]
        if key[1] == "w" and opts.weight_decay:
            g = g + opts.weight_decay * p
        v = mom.get(key)
        v = g.astype(p.dtype, copy=True) if v is None else np.add(opts.momentum * v, g, dtype=p.dtype)
        mom[key] = v
        p -= p.dtype.type(lr) * v
    if net.hwa is not None and net.hwa.learn_alpha:
        for name, layer in net.layers.items():
            key = (name, "alpha")
            v = opts.momentum * float(mom.get(key, 0.0)) + grads[key]
            mom[key] = np.asarray(v)
            layer.alpha = np.asarray(max(float(layer.alpha) - lr * v, ALPHA_FLOOR))
    for layer in net.layers.values():
        layer.clip_and_remap(False)


def _export(net: TrainNet, paths: dict, hwa: HWAConfig | None) -> None:
    """The state dict of the effective weights (``out``, .npz; read by refsim eval / infer) and, for
    HWA, the per-layer inference configs with the learned alpha (``dac.x_max``; ``layers``), whose
    field ``calibrated`` has ``"dac"``: alpha is set from the training data (initialised from its
    inputs, N7, and learned), all that rasch2023_standard calibrates (refsim.presets.check_calibrated)."""
    tmp = paths["out"] + ".tmp.npz"
    with open(tmp, "wb") as f:
        np.savez(f, **net.state_dict())
    os.replace(tmp, paths["out"])
    if hwa is not None:
        from refsim.tools.calibrate import save_layer_configs

        base = hwa.xbar
        done = tuple(sorted({*base.calibrated, "dac"}))
        cfgs = {name: base.replace(**{"dac.x_max": float(layer.alpha)}, name=f"{base.name}+hwa", calibrated=done)
                for name, layer in net.layers.items()}
        save_layer_configs(paths["layers"] + ".tmp", cfgs)
        os.replace(paths["layers"] + ".tmp", paths["layers"])
