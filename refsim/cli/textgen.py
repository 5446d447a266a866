"""``refsim eval --model textgenrnn --data TEXT``: bits per character of textgenrnn's LSTM, analog and digital.

Reached from :func:`refsim.cli.infer.cmd_eval` (the ``eval`` sub-command); the work is done by
:mod:`refsim.tools.textgenrnn`. ``--weights``/``--vocab`` default to the files of the installed
``textgenrnn`` package. The JSON schema is in docs/inference.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from refsim.tools.textgenrnn import bits_per_char, load_textgenrnn

__all__ = ["TEXT_MODELS", "eval_text_result", "cmd_eval_text"]

#: ``--model`` values that are language models (scored in bits per character).
TEXT_MODELS = ("textgenrnn",)
_ERRORS = (ValueError, TypeError, OSError, NotImplementedError, ImportError)


def eval_text_result(args, progress=None) -> dict:
    """Everything ``refsim eval --model textgenrnn`` prints, as one JSON-ready dict."""
    from refsim.cli.common import resolve_config
    from refsim.cli.infer import _layer_rows

    cfg = resolve_config(args.preset)
    if not os.path.isfile(args.data):
        raise FileNotFoundError(f"--data: no text file at {args.data!r}")
    with open(args.data, encoding="utf8") as fh:
        text = fh.read()
    model = load_textgenrnn(args.weights, args.vocab, cfg, seed=args.seed)
    kw = dict(limit=args.limit, stride=args.stride, batch_size=args.batch_size)
    analog = bits_per_char(model, text, report=args.report, progress=progress, **kw)
    ideal = bits_per_char(model, text, digital=True, **kw)
    notes = [f"{analog['n_skipped_oov']} target characters outside the vocabulary were not scored"] \
        if analog["n_skipped_oov"] else []
    return {
        "command": "eval", "model": "textgenrnn", "weights": model.weights, "vocab": model.vocab_path,
        "lstm_layout": model.lstm_layout, "preset": cfg.name, "seed": args.seed, "data": args.data,
        "data_kind": "text", "maxlen": model.maxlen, "limit": args.limit, "stride": args.stride,
        "batch_size": args.batch_size, "n": analog["n"], "n_chars": analog["n_chars"],
        "n_skipped_oov": analog["n_skipped_oov"], "n_arrays": int(model.net.n_arrays),
        "bits_per_char": float(analog["bits_per_char"]), "top1_accuracy": analog["top1_accuracy"],
        "digital_bits_per_char": float(ideal["bits_per_char"]), "digital_top1_accuracy": ideal["top1_accuracy"],
        "seconds": analog["seconds"], "digital_seconds": ideal["seconds"], "build_seconds": model.build_s,
        "layers": _layer_rows(analog["layers"]) if args.report else None, "notes": notes,
    }


def cmd_eval_text(args: argparse.Namespace) -> int:
    """Bits per character of a text file, analog (``--preset``) and digital (same weights, exact)."""
    from refsim.cli.infer import _bar

    try:
        with _bar(args, "eval (text)", None, "char") as bar:
            res = eval_text_result(args, progress=bar.update)
    except _ERRORS as exc:
        print(f"refsim eval: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res))
        return 0
    for note in res["notes"]:
        print(f"NOTE: {note}")
    print(f"model textgenrnn ({res['weights']}, {res['lstm_layout']} weights), preset {res['preset']}, "
          f"seed {res['seed']}, {res['n_arrays']} arrays")
    print(f"data {res['data']}: {res['n']} positions scored (stride {res['stride']}) of {res['n_chars']} "
          f"characters, context {res['maxlen']}")
    print(f"analog  ({res['preset']}): {res['bits_per_char']:.4f} bits/char, next-char top-1 "
          f"{100 * res['top1_accuracy']:.2f} % in {res['seconds']:.1f} s")
    print(f"digital (float64):    {res['digital_bits_per_char']:.4f} bits/char, next-char top-1 "
          f"{100 * res['digital_top1_accuracy']:.2f} % in {res['digital_seconds']:.1f} s")
    if res["layers"] is not None:
        print("\nper-layer report (first batch): analog output vs the same layer computed digitally from "
              "the same input")
        for r in res["layers"]:
            clip = "-" if r["adc_clip_fraction"] is None else f"{100 * r['adc_clip_fraction']:.3f}"
            err = "-" if r["rel_error"] is None else f"{r['rel_error']:.3e}"
            snr = "-" if r["snr_db"] is None else f"{r['snr_db']:.1f}"
            print(f"{r['name']:<8} {r['kind']:<7} arrays {r['n_arrays']:>3}  ADC clip % {clip:>7}  "
                  f"rel. error {err:>9}  SNR {snr:>6} dB")
    return 0
