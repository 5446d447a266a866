"""``refsim eval --model minilm``: STS-B Spearman correlation of a sentence-embedding model on crossbars.

::

    refsim eval --model minilm --data ../shared/data/sts-b/dev.tsv --preset int8_bounded [--json]

Builds all-MiniLM-L6-v2 with ``--preset`` on every weight matrix (and, with
``--runtime-attention``, on run-time-programmed ``QK^T`` / ``AV`` arrays),
embeds both sentences of every pair, and prints Spearman's correlation of the
cosine similarities with the gold scores; unless ``--no-digital``, also that of
the same weights with exact float64 matmuls (the ``digital`` reference). The
JSON keys are listed in docs/inference.md. The work is done by :mod:`refsim.tools.sts`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from refsim.cli.infer import _ERRORS, _bar, _layer_rows, print_layer_table
from refsim.nn import layer_report
from refsim.tools.sts import evaluate_sts, load_sentence_model, load_sts

__all__ = ["cmd_eval_sts", "sts_result"]

#: Sentences of the per-layer report (``--report``): the first ones of the data.
REPORT_SENTENCES = 16


def sts_result(args: argparse.Namespace) -> dict:
    """Everything ``refsim eval --model minilm`` prints, as one JSON-ready dict."""
    from refsim.cli.common import resolve_config

    cfg = resolve_config(args.preset)
    if args.labels is not None:
        raise ValueError(f"--labels: not used by --model {args.model} (STS-B has scores, not classes).")
    data = load_sts(args.data, limit=args.limit)  # fail early, before programming
    with _bar(args, "programming", None, "layer") as bar:
        model = load_sentence_model(args.model, args.weights, cfg, seed=args.seed,
                                    runtime_config=cfg if args.runtime_attention else None,
                                    on_layer=lambda name: bar.update(1))
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
        "build_seconds": model.build_s, "layers": None if rows is None else _layer_rows(rows), "notes": [],
    }
    if digital is not None:
        d, a = digital["cosine"], analog["cosine"]
        out["cosine_max_abs_diff"] = float(abs(a - d).max()) if len(d) else None
    if args.report:
        out["notes"].append(f"per-layer report on the first {min(REPORT_SENTENCES, 2 * len(data))} sentences "
                            "(sentence1 of the first pairs, then sentence2), padded to one batch")
    return out


def cmd_eval_sts(args: argparse.Namespace) -> int:
    """Spearman (and Pearson) correlation of cosine similarity with the STS-B gold scores."""
    try:
        res = sts_result(args)
    except _ERRORS as exc:
        print(f"refsim eval: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res))
        return 0
    for note in res["notes"]:
        print(f"NOTE: {note}")
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
    return 0


