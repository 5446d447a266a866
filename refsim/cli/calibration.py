"""Calibration for ``refsim infer`` and ``refsim eval``: a preset whose source calibrates ranges on
data (:func:`refsim.presets.needs_calibration`) is calibrated before it is evaluated, on images
disjoint from the evaluated ones, and the run says so.

Options (:func:`add_calibration_options`):

* ``--calibrate-on PATH``: the calibration images, a CIFAR-layout ``.npz`` or an image folder.
  Default: ``<data>/cifar10/cifar10_train_subset.npz`` for a CIFAR model and
  ``<data>/imagenet-samples`` for an ImageNet model, with ``<data>`` = ``$REFSIM_DATA`` or
  ``../shared/data``. When PATH is the evaluated data set (``eval --data``), the calibration takes
  the first N images after the evaluated ones; ``infer`` never calibrates on its own image.
* ``--calibrate-n N``: how many calibration images (default 32).
* ``--calibration FILE``: reuse the per-layer configs saved in FILE; when FILE does not exist,
  calibrate and save them there.
* ``--no-calibrate``: evaluate the preset as it is (uncalibrated), with a note.

Passing ``--calibrate-on`` or ``--calibration`` calibrates any preset (both converters' ranges
for a preset that declares nothing).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from refsim.cli.common import int_arg

__all__ = ["add_calibration_options", "calibrate_if_needed", "default_calibration_data", "DEFAULT_N"]

#: Calibration images by default.
DEFAULT_N = 32


def add_calibration_options(p: argparse.ArgumentParser) -> None:
    """Add ``--calibrate-on``, ``--calibrate-n``, ``--calibration`` and ``--no-calibrate`` to ``p``."""
    p.add_argument("--calibrate-on", default=None, metavar="PATH",
                   help="calibration images (CIFAR .npz or image folder) for a preset that needs calibration "
                   "(default: <data>/cifar10/cifar10_train_subset.npz for CIFAR models, <data>/imagenet-samples "
                   "otherwise; <data> = $REFSIM_DATA or ../shared/data); never the evaluated images")
    p.add_argument("--calibrate-n", type=int_arg(1), default=DEFAULT_N, metavar="N",
                   help=f"number of calibration images (default: {DEFAULT_N})")
    p.add_argument("--calibration", default=None, metavar="FILE",
                   help="per-layer calibrated configs: reused if FILE exists, else calibrated and saved there "
                   "(default: calibrate, do not save)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="run a preset that needs calibration uncalibrated (its source's ranges are not set)")


def default_calibration_data(model) -> Path:
    """The default calibration images of ``model`` (see the module docstring)."""
    root = Path(os.environ.get("REFSIM_DATA") or Path("..") / "shared" / "data")
    return root / "cifar10" / "cifar10_train_subset.npz" if model.preprocess == "cifar10" else root / "imagenet-samples"


def _same(a, b) -> bool:
    try:
        return a is not None and b is not None and os.path.samefile(a, b)
    except OSError:
        return False


def _images(args, model, path, *, eval_data, n_eval: int, exclude_image) -> tuple[np.ndarray, str]:
    """(N, 3, H, W) preprocessed calibration images and a description of which they are."""
    from refsim.tools.inference import load_dataset, preprocess_image
    from refsim.tools.preprocess import load_image

    n = args.calibrate_n
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"--calibrate-n: received {n!r}; expected a positive number of images")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"--calibrate-on: the preset needs calibration images and there is no .npz file or folder at "
            f"{os.fspath(path)!r}; pass --calibrate-on PATH, --calibration FILE, or --no-calibrate")
    same = _same(path, eval_data)
    # an .npz: only the images used are read (a folder keeps all: the inferred image is excluded below)
    ds = load_dataset(path, model=model, limit=(n_eval if same else 0) + n if os.path.isfile(path) else None)
    idx = list(range(len(ds)))
    which = f"the first {n} images of {os.fspath(path)}"
    if same:  # the evaluated set: the images after the evaluated ones
        idx = idx[n_eval:]
        which = f"images {n_eval}..{n_eval + n - 1} of {os.fspath(path)} (after the {n_eval} evaluated)"
    if ds.kind == "folder" and exclude_image is not None:
        idx = [i for i in idx if not _same(ds.images[i], exclude_image)]
        which += ", not the inferred image"
    if len(idx) < n:
        raise ValueError(f"--calibrate-n: received {n}; expected at most {len(idx)}, the images of "
                         f"{os.fspath(path)} that are not evaluated")
    idx = idx[:n]
    x = np.stack([preprocess_image(load_image(ds.images[i]) if ds.kind == "folder" else ds.images[i], model)
                  for i in idx])
    return x, which


def _set_changes(args) -> dict:
    """The ``--set FIELD=VALUE`` changes of ``args`` (none when the command has no ``--set``)."""
    from refsim.tools.sweep import parse_value

    changes = {}
    for item in getattr(args, "set", None) or []:
        field, eq, value = item.partition("=")
        if eq and field.strip():
            changes[field.strip()] = parse_value(value.strip())
    return changes


def calibrate_if_needed(args, model, cfg, rebuild, *, eval_data=None, n_eval: int = 0, exclude_image=None):
    """Calibrate ``model`` (built with ``cfg``) when its preset needs it or calibration was asked for.

    ``rebuild(layer_configs)`` builds the model again with per-layer configs (same seed: same
    programming). Returns ``(model, info, notes)``: ``info`` is None when nothing was calibrated,
    else ``{"data", "images", "ranges", "file", "loaded", "seconds"}``.
    """
    from refsim import presets
    from refsim.tools.calibrate import calibrate_model, calibration_ranges, load_layer_configs, save_layer_configs

    base = presets.base_name(cfg.name)
    need = presets.needs_calibration(base) if presets.missing_calibration(cfg) else None
    asked = args.calibrate_on is not None or args.calibration is not None
    if args.no_calibrate or not (need or asked):
        notes = []
        if need:
            notes.append(f"preset {cfg.name} needs calibration ({need}); it runs uncalibrated (--no-calibrate), "
                         "so its accuracy is not the source's")
        return model, None, notes
    t0 = time.perf_counter()
    ranges = calibration_ranges(cfg)
    if args.calibration is not None and os.path.exists(args.calibration) and args.calibrate_on is None:
        try:
            layer_cfgs = load_layer_configs(args.calibration, default=None)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"--calibration: {exc}") from None
        missing = sorted(set(model.net.layers()) - set(layer_cfgs.configs))
        if missing:
            raise ValueError(f"--calibration: {args.calibration!r} has no config for layer(s) {missing[:3]}; "
                             f"expected a calibration of this model (delete the file to calibrate again)")
        info = {"data": None, "images": None, "ranges": list(ranges), "file": os.fspath(args.calibration),
                "loaded": True}
        note = f"calibration: the per-layer configs of {args.calibration} (saved earlier)"
        extra = sorted(set(layer_cfgs.configs) - set(model.net.layers()))
        if extra:  # every layer of the model is there, and more: most likely another (deeper) model's file
            note += (f"; it also has configs for {len(extra)} layer(s) this model lacks (e.g. {extra[:2]}): "
                     "a calibration of another model?")
        changes = _set_changes(args)
        if changes:  # --set applies to the loaded configs too (e.g. the evaluation time of refsim train's)
            layer_cfgs = type(layer_cfgs)({k: c.replace(**changes) for k, c in layer_cfgs.configs.items()},
                                          layer_cfgs.default)
            note += "; with " + ", ".join(f"{k}={v}" for k, v in changes.items())
    else:
        if args.calibration is not None and not os.path.isdir(os.path.dirname(os.path.abspath(args.calibration))):
            raise ValueError(f"--calibration: received {os.fspath(args.calibration)!r}; expected a path in an existing "
                             "folder (the calibration is saved there; checked before calibrating)")
        path = args.calibrate_on if args.calibrate_on is not None else default_calibration_data(model)
        x, which = _images(args, model, path, eval_data=eval_data, n_eval=n_eval, exclude_image=exclude_image)
        if not getattr(args, "quiet", False):
            print(f"refsim: calibrating the {' and '.join(ranges)} ranges of {cfg.name} on {which} ...",
                  file=sys.stderr)
        layer_cfgs = calibrate_model(model, x, ranges=ranges)
        if args.calibration is not None:
            save_layer_configs(args.calibration, layer_cfgs.configs)
        info = {"data": os.fspath(path), "images": which, "ranges": list(ranges),
                "file": None if args.calibration is None else os.fspath(args.calibration), "loaded": False}
        note = (f"calibration: {' and '.join(ranges)} ranges of every layer profiled on {which}, disjoint from "
                f"the evaluated images" + (f"; saved to {args.calibration}" if args.calibration else
                                           "; --calibration FILE saves it for reuse"))
    model = rebuild(layer_cfgs)
    info["seconds"] = time.perf_counter() - t0
    return model, info, [note]
