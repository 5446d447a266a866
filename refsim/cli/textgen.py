"""``refsim eval --model textgenrnn --data TEXT``: bits per character of textgenrnn's LSTM, analog and digital.

Reached from :func:`refsim.cli.infer.cmd_eval` (the ``eval`` sub-command); the work is done by
:mod:`refsim.tools.textgenrnn`. ``--weights``/``--vocab`` default to the files of the installed
``textgenrnn`` package. The JSON schema is in docs/inference.md.
"""
from __future__ import annotations

import argparse
import os
import sys

from refsim.cli.common import emit_result
from refsim.cli.infer import _bar, _layer_rows, print_layer_table
from refsim.tools.textgenrnn import bits_per_char, load_textgenrnn

__all__ = ["eval_text_result", "cmd_eval_text"]


def eval_text_result(args) -> dict:
    """Everything ``refsim eval --model textgenrnn`` prints, as one JSON-ready dict."""
    from refsim.cli.common import resolve_config

    from refsim import presets

    cfg = presets.uncalibrated_if_asked(resolve_config(args.preset), args.no_calibrate)
    try:
        presets.check_calibrated(cfg, "--preset")
    except presets.CalibrationRequiredError:
        raise ValueError(f"--preset: {cfg.name} needs calibration "
                         f"({presets.needs_calibration(presets.base_name(cfg.name))}), which eval --model textgenrnn "
                         "does not do; pass --no-calibrate to run it uncalibrated, or a calibrated config "
                         "(.json)") from None
    for flag, on in (("--labels", args.labels is not None), ("--runtime-attention", args.runtime_attention)):
        if on:
            raise ValueError(f"{flag}: not used by --model textgenrnn (a character language model).")
    if not os.path.isfile(args.data):
        raise FileNotFoundError(f"--data: no text file at {args.data!r}")
    with open(args.data, encoding="utf8") as fh:
        text = fh.read()
    model = load_textgenrnn(args.weights, args.vocab, cfg, seed=args.seed)
    kw = dict(limit=args.limit, stride=args.stride, batch_size=args.batch_size)
    with _bar(args, f"bits/char ({cfg.name})", None, "char") as bar:
        analog = bits_per_char(model, text, report=args.report, progress=bar.update, **kw)
    ideal = None
    if not args.no_digital:
        with _bar(args, "bits/char (digital)", analog["n"], "char") as bar:
            ideal = bits_per_char(model, text, digital=True, progress=bar.update, **kw)
    notes = [f"{analog['n_skipped_oov']} target characters outside the vocabulary were not scored"] \
        if analog["n_skipped_oov"] else []
    if args.report:
        notes.append(f"per-layer report on the first batch ({min(args.batch_size, analog['n'])} contexts)")
    return {
        "command": "eval", "model": "textgenrnn", "weights": model.weights, "vocab": model.vocab_path,
        "lstm_layout": model.lstm_layout, "preset": cfg.name, "seed": args.seed, "data": args.data,
        "data_kind": "text", "maxlen": model.maxlen, "limit": args.limit, "stride": args.stride,
        "batch_size": args.batch_size, "n": analog["n"], "n_chars": analog["n_chars"],
        "n_skipped_oov": analog["n_skipped_oov"], "n_layers": len(model.net.layers()),
        "n_arrays": int(model.net.n_arrays),
        "bits_per_char": float(analog["bits_per_char"]), "top1_accuracy": analog["top1_accuracy"],
        "digital_bits_per_char": None if ideal is None else float(ideal["bits_per_char"]),
        "digital_top1_accuracy": None if ideal is None else ideal["top1_accuracy"],
        "seconds": analog["seconds"], "digital_seconds": None if ideal is None else ideal["seconds"],
        "build_seconds": model.build_s, "layers": _layer_rows(analog["layers"]) if args.report else None,
        "notes": notes,
    }


def cmd_eval_text(args: argparse.Namespace) -> int:
    """Bits per character of a text file, analog (``--preset``) and digital (same weights, exact)."""
    try:  # other bad input: one line and exit 2 (refsim.cli.common.run_command)
        res = eval_text_result(args)
    except ImportError as exc:  # h5py (the 'models' extra) missing
        print(f"refsim eval: error: {exc}", file=sys.stderr)
        return 2
    return emit_result(res, args.json, _print_text)


def _print_text(res: dict) -> None:
    print(f"model textgenrnn ({res['weights']}, {res['lstm_layout']} weights), preset {res['preset']}, "
          f"seed {res['seed']}, {res['n_arrays']} arrays")
    print(f"data {res['data']}: {res['n']} positions scored (stride {res['stride']}) of {res['n_chars']} "
          f"characters, context {res['maxlen']}")
    print(f"analog  ({res['preset']}): {res['bits_per_char']:.4f} bits/char, next-char top-1 "
          f"{100 * res['top1_accuracy']:.2f} % in {res['seconds']:.1f} s")
    if res["digital_bits_per_char"] is not None:
        print(f"digital (float64):    {res['digital_bits_per_char']:.4f} bits/char, next-char top-1 "
              f"{100 * res['digital_top1_accuracy']:.2f} % in {res['digital_seconds']:.1f} s")
    if res["layers"] is not None:
        print_layer_table(res["layers"])
