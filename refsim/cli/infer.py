"""``refsim infer`` and ``refsim eval``: classify one image, or measure accuracy on a dataset.

:func:`add_infer_subcommands` registers both on an ``argparse`` subparsers object::

    refsim infer [IMAGE] [--model auto] [--weights random] [--preset ideal] [--seed 0]
                 [--topk 5] [--labels FILE] [--report] [--json] [--quiet] [calibration options]
    refsim eval --weights PATH --data PATH [--model auto] [--limit N] [--batch-size 64]
                [--preset ideal] [--seed 0] [--labels FILE] [--json] [--quiet] [calibration options]
    refsim eval --model minilm --data STS.tsv [--weights FILE] [--runtime-attention] [--no-digital]
                [--report] [--limit N] [--batch-size 64] [--preset ideal] [--seed 0] [--json]
    refsim eval --model textgenrnn --data TEXT [--weights FILE.hdf5] [--vocab JSON] [--limit N] [--stride S]
                [--report] [--no-digital] ...   (bits per character; refsim.cli.textgen)

Calibration options (:mod:`refsim.cli.calibration`): a preset that needs calibration is
calibrated on images disjoint from the evaluated ones before it runs.

Handlers return exit codes: 0 success, 2 bad input (missing or unreadable file,
unknown model, checkpoint that does not fit the model...), with one line on
stderr and no traceback. The work is done by :mod:`refsim.tools.inference` (for
``--model minilm``: :mod:`refsim.cli.sts`, :mod:`refsim.tools.sts`); the JSON
schema is in docs/inference.md.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from refsim.cli.common import emit_result, int_arg
from refsim.tools.inference import (
    MODEL_NAMES, TFLITE_MODELS, build_model, demo_image, evaluate, input_mismatch_notes, load_dataset,
    preprocess_image, softmax, topk,
)
from refsim.cli.calibration import add_calibration_options, calibrate_if_needed
from refsim.nn import layer_report
from refsim.tools.preprocess import load_image

__all__ = ["add_infer_subcommands", "cmd_infer", "cmd_eval", "infer_result"]

DEMO_IMAGE = "builtin:demo"
IDEAL_FLOAT = "digital float64"
IDEAL_TFLITE = "digital integer (TFLite reference kernels)"
RANDOM_NOTE = "random weights (torchvision He-init, seed 0): the predicted classes are meaningless"


def _bar(args, desc: str, total: int, unit: str) -> tqdm:
    """A progress bar on stderr that appears only after 0.5 s (fast runs stay quiet); also with
    ``--json`` (stdout stays one JSON object); ``--quiet`` turns it off."""
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, delay=0.5, leave=False,
                disable=args.quiet)


@contextlib.contextmanager
def _count_analog_layers(net, tick):
    """Call ``tick()`` after every analog layer run of ``net`` (wraps each layer's ``forward``, which the
    networks call by attribute; restored on exit)."""
    layers = list(net.layers().values())
    for layer in layers:
        def forward(x, *args, digital=False, _orig=layer.forward, **kwargs):
            y = _orig(x, *args, digital=digital, **kwargs)
            if not digital:
                tick()
            return y
        layer.forward = forward
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


def _nan_to_none(v: float):
    return None if v is None or not math.isfinite(v) else v


def _snr_db(r) -> float | None:
    """The SNR of docs/MODEL.md (L18) in dB; None where it says nothing: digital
    layers, a dead layer, a layer whose digital output is zero, an exact layer (infinite SNR)."""
    if not r.analog or r.dead or not r.rel_error > 0 or not r.digital_norm > 0:
        return None
    return 0.0 + -20 * math.log10(r.rel_error)  # 0.0 + : never -0.0


def _layer_rows(rows) -> list:
    """LayerReport rows -> JSON-ready dicts (docs/inference.md)."""
    out = []
    for r in rows:
        exact = r.analog and not r.dead and r.rel_error == 0
        out.append({"name": r.name, "kind": r.kind, "analog": r.analog, "n_arrays": r.n_arrays,
                    "matrix_shape": None if r.matrix_shape is None else list(r.matrix_shape),
                    "array_shape": None if r.array_shape is None else list(r.array_shape), "n_tiles": r.n_tiles,
                    "dac_clip_fraction": _nan_to_none(r.dac_clip_fraction),
                    "adc_clip_fraction": _nan_to_none(r.clip_fraction),
                    "adc_zero_fraction": _nan_to_none(r.adc_zero_fraction),
                    "adc_levels_used": r.adc_levels_used, "adc_levels_available": r.adc_levels_available,
                    "adc_effective_bits": _nan_to_none(r.adc_effective_bits),
                    "rel_error": _nan_to_none(r.rel_error), "snr_db": _snr_db(r), "exact": exact,
                    "dead": r.dead, "max_abs_error": _nan_to_none(r.max_abs_error)})
    return out


def _config(args):
    """``--preset`` with the ``--set FIELD=VALUE`` changes; a changed config is named
    ``"<preset>+FIELD=VALUE,..."`` (derived, never the preset's own name)."""
    from refsim.cli.common import resolve_config
    from refsim.tools.sweep import parse_value

    from refsim.presets import uncalibrated_if_asked

    cfg = uncalibrated_if_asked(resolve_config(args.preset), getattr(args, "no_calibrate", False))
    changes = {}
    for item in args.set:
        field, eq, value = item.partition("=")
        if not eq or not field.strip():
            raise ValueError(f"--set: received {item!r}; expected FIELD=VALUE, e.g. device.t_inference_s=86400")
        changes[field.strip()] = parse_value(value.strip())
    if not changes:
        return cfg
    name = cfg.name + "+" + ",".join(f"{k}={v}" for k, v in changes.items())
    return cfg.replace(**changes, name=name)


def infer_result(args) -> dict:
    """Everything ``refsim infer`` prints, as one JSON-ready dict (see docs/inference.md)."""
    from refsim.cli.common import resolve_config

    cfg = _config(args)
    if args.topk < 1:
        raise ValueError(f"--topk: expected a positive int; received {args.topk}.")
    if args.image is not None and not os.path.isfile(args.image):
        raise FileNotFoundError(f"IMAGE: no image file at {args.image!r}")
    try:
        img = None if args.image is None else load_image(args.image)  # fail early, before programming
    except ValueError as exc:  # "path: cannot read ...": name the argument the user gave
        raise ValueError("IMAGE: " + str(exc).removeprefix("path: ")) from exc
    n_layers = None
    with _bar(args, "programming", None, "layer") as bar:
        model = build_model(args.model, args.weights, cfg, seed=args.seed, labels=args.labels,
                            on_layer=lambda name: bar.update(1))
        n_layers = len(model.net.layers())
    model, cal_info, cal_notes = calibrate_if_needed(
        args, model, cfg, lambda lc: build_model(args.model, args.weights, lc, seed=args.seed, labels=args.labels),
        exclude_image=args.image)
    img = demo_image(model.crop_size) if img is None else img
    x = preprocess_image(img, model)[None]  # (1, 3, crop, crop); uint8 (1, crop, crop, 3) for TFLite
    t0 = time.perf_counter()
    with _bar(args, f"analog forward ({cfg.name})", n_layers, "layer") as bar, \
            _count_analog_layers(model.net, lambda: bar.update(1)):
        if args.report:
            logits, rows = layer_report(model.net, x)
        else:
            logits, rows = model.net(x), None
    t_analog = time.perf_counter() - t0
    t0 = time.perf_counter()
    ideal = model.net(x, digital=True)  # same weights, exact float64 (the config=None network)
    t_ideal = time.perf_counter() - t0
    k = min(args.topk, model.num_classes)
    analog_top, ideal_top = topk(softmax(logits)[0], k, model.class_names), topk(softmax(ideal)[0], k,
                                                                                   model.class_names)
    notes = list(cal_notes)
    if model.random_weights:
        notes.append(RANDOM_NOTE)
    if args.image is None:
        notes.append("input: the built-in synthetic demo image (procedural, no file; it shows no class)")
    else:
        notes.extend(input_mismatch_notes(args.image, model))
    if model.class_names is None:
        notes.append("no class names for this model: pass --labels FILE; indices shown")
    return {
        "command": "infer", "image": args.image or DEMO_IMAGE, "model": model.name,
        "weights": "random" if model.random_weights else os.fspath(args.weights),
        "preset": cfg.name, "seed": args.seed, "preprocess": model.preprocess, "input_shape": list(x.shape),
        "num_classes": model.num_classes, "n_layers": n_layers, "n_arrays": int(model.net.n_arrays),
        "ideal": IDEAL_TFLITE if model.preprocess == "tflite" else IDEAL_FLOAT,
        "topk": analog_top, "ideal_topk": ideal_top, "top1_agrees": analog_top[0]["index"] == ideal_top[0]["index"],
        "logit_rel_error": float(np.linalg.norm(logits - ideal) / max(np.linalg.norm(ideal), 1e-300)),
        "seconds": {"build": model.build_s, "analog_forward": t_analog, "ideal_forward": t_ideal},
        "layers": _layer_rows(rows) if rows is not None else None, "calibration": cal_info, "notes": notes,
    }


def _print_infer(res: dict) -> None:
    print(f"model {res['model']} ({res['weights']}), preset {res['preset']}, seed {res['seed']}")
    print(f"image {res['image']} -> {res['preprocess']} preprocessing, input {tuple(res['input_shape'])}")
    s = res["seconds"]
    print(f"{res['n_layers']} crossbar layers, {res['n_arrays']} arrays; build {s['build']:.2f} s, "
          f"analog forward {s['analog_forward']:.2f} s, ideal forward {s['ideal_forward']:.2f} s")
    print(f"logits: relative error vs ideal {res['logit_rel_error']:.3e}")
    name = lambda t: t["label"] if t["label"] == str(t["index"]) else f"{t['label']} ({t['index']})"  # noqa: E731
    w = max(12, *(len(name(t)) for t in res["topk"] + res["ideal_topk"]))
    w = max(w, len(res["ideal"]) + 7)
    print(f"\nrank  {'analog: ' + res['preset']:<{w}}   prob  | {'ideal: ' + res['ideal']:<{w}}   prob")
    for a, i in zip(res["topk"], res["ideal_topk"]):
        print(f"{a['rank']:>4}  {name(a):<{w}} {a['prob']:6.4f}  | {name(i):<{w}} {i['prob']:6.4f}")
    print(f"top-1 agrees with ideal: {'yes' if res['top1_agrees'] else 'NO'}")
    if res["layers"] is not None:
        print_layer_table(res["layers"])


def print_layer_table(layers: list) -> None:
    """The per-layer report table of :func:`_layer_rows` dicts (``infer --report``, ``eval --report``)."""
    fmt = lambda v, f, scale=1: "-" if v is None else format(scale * v, f)  # noqa: E731
    print("\nper-layer report: each layer's analog output vs the same layer computed digitally from the "
          "same input\nrel. error = ||analog - digital|| / ||digital||, SNR = 20 log10(||digital|| / "
          "||analog - digital||) in dB;\nADC levels: distinct ADC codes used / available (log2 of it: "
          "effective bits); ADC 0 %: codes equal to 0;\narrays: tiles of the layer's matrix (rows x cols "
          "of the largest), times weight slices and devices")
    w = max(5, *(len(r["name"]) for r in layers))
    print(f"{'layer':<{w}}  {'matrix':>11}  {'arrays (tile)':>18}  DAC clip %  ADC clip %  ADC 0 %  "
          f"{'ADC levels':>15}  rel. error  SNR (dB)")
    dead = []
    for r in layers:
        matrix = "-" if r["matrix_shape"] is None else "x".join(map(str, r["matrix_shape"]))
        arrays = f"{r['n_arrays']}" + ("" if r["array_shape"] is None else
                                       f" ({'x'.join(map(str, r['array_shape']))})")
        lv = "-" if r["adc_levels_used"] is None else (f"{r['adc_levels_used']}/{r['adc_levels_available']} "
                                                      f"({r['adc_effective_bits']:.1f} b)")
        snr = "exact" if r["exact"] else fmt(r["snr_db"], "8.1f")
        err = fmt(r["rel_error"], "10.3e")
        flag = ""
        if r["dead"]:
            flag, snr = "  DEAD: the ADC computes (almost) nothing", "-"
            dead.append(r["name"])
        print(f"{r['name']:<{w}}  {matrix:>11}  {arrays:>18}  {fmt(r['dac_clip_fraction'], '10.3f', 100):>10}"
              f"  {fmt(r['adc_clip_fraction'], '10.3f', 100):>10}  {fmt(r['adc_zero_fraction'], '7.1f', 100):>7}"
              f"  {lv:>15}  {err:>10}  {snr:>8}{flag}")
    if dead:
        print(f"\n{len(dead)} dead layer(s) ({', '.join(dead[:4])}{', ...' if len(dead) > 4 else ''}): their "
              "ADC codes are (nearly) all zero or take fewer than 4 levels, so their output is (nearly) "
              "zero, not exact. Narrow the ADC range (adc.range_mode='fixed' with a smaller adc.range_A, "
              "a calibrated config: refsim calibrate), raise adc.bits or lower array.rows_max.")



def cmd_infer(args: argparse.Namespace) -> int:
    """Classify one image (or the built-in demo image) with the analog and the ideal network."""
    # bad input: one line and exit 2 (refsim.cli.common.run_command)
    return emit_result(infer_result(args), args.json, _print_infer)


def cmd_eval(args: argparse.Namespace) -> int:
    """Top-1 accuracy on a CIFAR-layout .npz or an image folder (STS-B Spearman for --model minilm,
    bits per character for --model textgenrnn)."""
    from refsim.cli.common import resolve_config
    from refsim.tools.sts import SENTENCE_MODELS

    if args.model == "textgenrnn":
        from refsim.cli.textgen import cmd_eval_text

        return cmd_eval_text(args)
    if args.model in SENTENCE_MODELS:
        from refsim.cli.sts import cmd_eval_sts

        return cmd_eval_sts(args)
    # bad input: one line and exit 2 (refsim.cli.common.run_command)
    if args.weights is None:
        raise ValueError(f"--weights: required for --model {args.model}; pass a checkpoint file or 'random'.")
    for flag, on in (("--report", args.report), ("--runtime-attention", args.runtime_attention),
                     ("--no-digital", args.no_digital), ("--vocab", args.vocab is not None),
                     ("--stride", args.stride != 1)):
        if on:
            raise ValueError(f"{flag}: only for --model minilm or textgenrnn; received --model {args.model} "
                             "(for a ResNet's per-layer report use refsim infer --report).")
    cfg = _config(args)
    if not os.path.exists(args.data):
        raise FileNotFoundError(f"--data: no .npz file or folder at {args.data!r}")
    model = build_model(args.model, args.weights, cfg, seed=args.seed, labels=args.labels)
    ds = load_dataset(args.data, limit=args.limit, model=model, labels=args.labels)
    model, cal_info, cal_notes = calibrate_if_needed(
        args, model, cfg, lambda lc: build_model(args.model, args.weights, lc, seed=args.seed, labels=args.labels),
        eval_data=args.data, n_eval=len(ds))
    with _bar(args, f"eval ({cfg.name})", len(ds), "img") as bar:
        res = evaluate(model, ds, batch_size=args.batch_size, progress=bar.update)
    out = {"command": "eval", "model": model.name, "weights": "random" if model.random_weights else args.weights,
           "preset": cfg.name, "seed": args.seed, "data": args.data, "data_kind": ds.kind,
           "batch_size": args.batch_size, **res, "build_seconds": model.build_s, "calibration": cal_info,
           "notes": cal_notes + ([RANDOM_NOTE] if model.random_weights else [])}
    return emit_result(out, args.json, _print_eval)


def _print_eval(out: dict) -> None:
    print(f"model {out['model']} ({out['weights']}), preset {out['preset']}, seed {out['seed']}")
    print(f"data {out['data']} ({out['data_kind']}, {out['n']} images, batch {out['batch_size']})")
    print(f"accuracy {100 * out['accuracy']:.2f} % ({out['correct']} / {out['n']}) in {out['seconds']:.1f} s "
          f"(build {out['build_seconds']:.1f} s)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="auto", metavar="MODEL",
                   help=f"architecture: {', '.join(MODEL_NAMES + TFLITE_MODELS)} (default: auto, from the "
                        "checkpoint's keys, or mobilenet_v2 for a .tflite file); eval also takes minilm "
                        "(all-MiniLM-L6-v2 on STS-B) and textgenrnn (character LSTM, bits per character)")
    p.add_argument("--preset", default="ideal", help="preset name or .json config (default: ideal)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="programming/read-noise seed (default: 0)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change one config field of the preset (dotted name, JSON scalar value), e.g. "
                   "device.t_inference_s=86400 (rasch2023_standard at 1 day; 1, 3600, 3.156e7 for 1 s, 1 h, "
                   "1 year); repeatable (default: none)")
    p.add_argument("--labels", default=None, help="class names: '<wnid> <label>' or one label per line")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout (progress and notes go to stderr)")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no progress bar or calibration message on stderr")
    add_calibration_options(p)


def add_infer_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``infer`` and ``eval`` on the main parser's ``subparsers``."""
    p = subparsers.add_parser("infer", help="classify one image with an analog ResNet, next to the ideal one")
    p.add_argument("image", nargs="?", default=None, help="image file (default: the built-in synthetic demo image)")
    p.add_argument("--weights", default="random", help="checkpoint file, or 'random' (default)")
    p.add_argument("--topk", type=int_arg(1), default=5, help="classes to show (default: 5)")
    p.add_argument("--report", action="store_true", help="per-layer error, SNR and ADC clipping table")
    _common(p)
    p.set_defaults(func=cmd_infer)
    p = subparsers.add_parser("eval", help="top-1 accuracy on a CIFAR .npz or an image folder <class>/<image>; "
                                           "STS-B Spearman correlation with --model minilm")
    p.add_argument("--weights", default=None, help="checkpoint file (or 'random'); for --model minilm or "
                   "textgenrnn optional (default: the installed package's model.safetensors / .hdf5)")
    p.add_argument("--data", required=True, help="CIFAR-layout .npz (images, labels) or folder <class>/<image>; "
                                                 "for --model minilm an STS-B .tsv, for textgenrnn a UTF-8 text")
    p.add_argument("--limit", type=int_arg(1), default=None, help="evaluate the first N images (sentence pairs) only")
    p.add_argument("--batch-size", type=int_arg(1), default=64, help="images (sentences) per forward (default: 64)")
    p.add_argument("--runtime-attention", action="store_true",
                   help="minilm: QK^T and AV also on arrays programmed at run time with --preset")
    p.add_argument("--no-digital", action="store_true",
                   help="minilm, textgenrnn: skip the digital (exact float64, same weights) reference run")
    p.add_argument("--report", action="store_true",
                   help="minilm: per-layer error, SNR and ADC clipping table on the first 16 sentences; "
                        "textgenrnn: the same on the first batch of contexts")
    p.add_argument("--vocab", default=None, help="textgenrnn: vocabulary JSON (default: the installed package's)")
    p.add_argument("--stride", type=int, default=1, help="textgenrnn: score every S-th character (default: 1)")
    _common(p)
    p.set_defaults(func=cmd_eval)
