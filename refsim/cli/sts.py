"""``refsim eval --model minilm``: STS-B Spearman correlation of a sentence-embedding model on crossbars.

::

    refsim eval --model minilm --data ../shared/data/sts-b/dev.tsv --preset int8_bounded [--json]
                [--calibrate-on TEXT --calibrate-n N --calibration FILE]

Builds all-MiniLM-L6-v2 with ``--preset`` on every weight matrix (and, with
``--runtime-attention``, on run-time-programmed ``QK^T`` / ``AV`` arrays),
embeds both sentences of every pair, and prints Spearman's correlation of the
cosine similarities with the gold scores; unless ``--no-digital``, also that of
the same weights with exact float64 matmuls (the ``digital`` reference). The
JSON keys are listed in docs/inference.md. The work is done by :mod:`refsim.tools.sts`.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from refsim.cli.common import emit_result
from refsim.cli.infer import _bar, _layer_rows, print_layer_table
from refsim.nn import layer_report
from refsim.tools.sts import (
    calibrate_sentence_model, calibration_sentences, evaluate_sts, load_sentence_model, load_sts,
)

__all__ = ["cmd_eval_sts", "sts_result", "default_calibration_text"]

#: Sentences of the per-layer report (``--report``): the first ones of the data.
REPORT_SENTENCES = 16


def sts_result(args: argparse.Namespace) -> dict:
    """Everything ``refsim eval --model minilm`` prints, as one JSON-ready dict."""
    from refsim.cli.common import resolve_config

    from refsim.presets import uncalibrated_if_asked

    cfg = uncalibrated_if_asked(resolve_config(args.preset), args.no_calibrate)
    for flag, on in (("--labels", args.labels is not None), ("--vocab", args.vocab is not None),
                     ("--stride", args.stride != 1)):
        if on:
            raise ValueError(f"{flag}: not used by --model {args.model} (STS-B sentence pairs: the "
                             "vocabulary is the model's own, every pair is scored; use --limit for fewer).")
    data = load_sts(args.data, limit=args.limit)  # fail early, before programming
    with _bar(args, "programming", None, "layer") as bar:
        model = load_sentence_model(args.model, args.weights, cfg, seed=args.seed,
                                    runtime_config=cfg if args.runtime_attention else None,
                                    on_layer=lambda name: bar.update(1))
    model, cal_info, cal_notes = _calibrate(args, model, cfg)
    with _bar(args, f"STS-B ({cfg.name})", 2 * len(data), "sentence") as bar:
        analog = evaluate_sts(model, data, batch_size=args.batch_size, progress=bar.update)
    digital = None
    if not args.no_digital:
        with _bar(args, "STS-B (digital)", 2 * len(data), "sentence") as bar:
            digital = evaluate_sts(model, data, batch_size=args.batch_size, digital=True, progress=bar.update)
    rows = None
    if args.report:
        sents = (data.sentence1 + data.sentence2)[:REPORT_SENTENCES]
        _, rows = layer_report(model.encoder, model.tokenizer(sents))
    out = {
        "command": "eval", "model": model.name, "weights": os.fspath(model.weights), "preset": cfg.name,
        "seed": args.seed, "data": args.data, "data_kind": "sts", "n": analog["n"], "batch_size": args.batch_size,
        "runtime_attention": bool(args.runtime_attention), "n_layers": len(model.encoder.layers()),
        "n_arrays": int(model.encoder.n_arrays),
        "spearman": analog["spearman"], "pearson": analog["pearson"],
        "spearman_digital": None if digital is None else digital["spearman"],
        "pearson_digital": None if digital is None else digital["pearson"],
        "seconds": analog["seconds"], "digital_seconds": None if digital is None else digital["seconds"],
        "build_seconds": model.build_s, "calibration": cal_info,
        "layers": None if rows is None else _layer_rows(rows), "notes": cal_notes,
    }
    if digital is not None:
        d, a = digital["cosine"], analog["cosine"]
        out["cosine_max_abs_diff"] = float(abs(a - d).max()) if len(d) else None
    if args.report:
        out["notes"].append(f"per-layer report on the first {min(REPORT_SENTENCES, 2 * len(data))} sentences "
                            "(sentence1 of the first pairs, then sentence2), padded to one batch")
    return out


def default_calibration_text() -> Path:
    """``<data>/text/alice_in_wonderland.txt``, ``<data>`` = ``$REFSIM_DATA`` or ``../shared/data``."""
    return Path(os.environ.get("REFSIM_DATA") or Path("..") / "shared" / "data") / "text" / "alice_in_wonderland.txt"


def _calibrate(args, model, cfg):
    """Calibrate ``model`` on text when ``cfg``'s preset needs it or it was asked for (as
    :func:`refsim.cli.calibration.calibrate_if_needed` does on images). Returns ``(model, info, notes)``."""
    from refsim import presets
    from refsim.tools.calibrate import calibration_ranges, load_layer_configs, save_layer_configs

    base = presets.base_name(cfg.name)
    need = presets.needs_calibration(base) if presets.missing_calibration(cfg) else None
    asked = args.calibrate_on is not None or args.calibration is not None
    if args.no_calibrate or not (need or asked):
        return model, None, ([f"preset {cfg.name} needs calibration ({need}); it runs uncalibrated "
                              "(--no-calibrate), so its result is not the source's"] if need else [])
    if args.runtime_attention:
        raise NotImplementedError("--runtime-attention: the run-time QK^T / AV arrays cannot be calibrated; "
                                  f"pass --no-calibrate or drop --runtime-attention (preset {cfg.name}).")
    t0 = time.perf_counter()
    ranges = calibration_ranges(cfg)
    if args.calibration is not None and os.path.exists(args.calibration) and args.calibrate_on is None:
        layer_cfgs = load_layer_configs(args.calibration, default=None)
        missing = sorted(set(model.encoder.layers()) - set(layer_cfgs.configs) - {
            n for n, m in model.encoder.layers().items() if m.config is None})
        if missing:
            raise ValueError(f"--calibration: {args.calibration!r} has no config for layer(s) {missing[:3]}; "
                             "expected a calibration of this model (delete the file to calibrate again)")
        info = {"data": None, "sentences": None, "file": os.fspath(args.calibration), "loaded": True}
        note = f"calibration: the per-layer configs of {args.calibration} (saved earlier)"
    else:
        path = Path(args.calibrate_on) if args.calibrate_on is not None else default_calibration_text()
        if os.path.exists(path) and os.path.samefile(path, args.data):
            raise ValueError(f"--calibrate-on: {str(path)!r} is the evaluated data set; expected other text.")
        sentences = calibration_sentences(path, args.calibrate_n)
        if not args.quiet:
            print(f"refsim: calibrating the {' and '.join(ranges)} ranges of {cfg.name} on {len(sentences)} "
                  f"sentences of {path} ...", file=sys.stderr)
        layer_cfgs = calibrate_sentence_model(model, sentences, ranges=ranges)
        if args.calibration is not None:
            save_layer_configs(args.calibration, layer_cfgs.configs)
        info = {"data": str(path), "sentences": len(sentences), "file": args.calibration, "loaded": False}
        note = (f"calibration: {' and '.join(ranges)} ranges of every layer profiled on the first {len(sentences)} "
                f"sentences of {path}, not the evaluated ones")
    info["ranges"] = list(ranges)
    model = load_sentence_model(args.model, args.weights, layer_cfgs, seed=args.seed)
    info["seconds"] = time.perf_counter() - t0
    return model, info, [note]


def cmd_eval_sts(args: argparse.Namespace) -> int:
    """Spearman (and Pearson) correlation of cosine similarity with the STS-B gold scores."""
    # bad input: one line and exit 2 (refsim.cli.common.run_command)
    return emit_result(sts_result(args), args.json, _print_sts)


def _print_sts(res: dict) -> None:
    att = ", QK^T/AV on run-time arrays" if res["runtime_attention"] else ""
    print(f"model {res['model']} ({res['weights']}), preset {res['preset']}{att}, seed {res['seed']}")
    print(f"data {res['data']} ({res['n']} sentence pairs, batch {res['batch_size']}); {res['n_layers']} crossbar "
          f"layers, {res['n_arrays']} arrays, build {res['build_seconds']:.1f} s")
    print(f"Spearman {res['spearman']:.4f} (Pearson {res['pearson']:.4f}) with {res['preset']} "
          f"in {res['seconds']:.1f} s")
    if res["spearman_digital"] is not None:
        print(f"Spearman {res['spearman_digital']:.4f} (Pearson {res['pearson_digital']:.4f}) digital float64, "
              f"same weights, in {res['digital_seconds']:.1f} s; cosine similarities differ by at most "
              f"{res['cosine_max_abs_diff']:.3e}")
    if res["layers"] is not None:
        print_layer_table(res["layers"])
