"""``refsim golden export|suite|compare|replay`` and ``refsim calibrate``.

Registered by :func:`add_golden_subcommands` (see ``refsim.cli._EXTENSIONS``)::

    refsim golden export --preset NAME_OR_JSON --shape N_IN N_OUT [--batch B] [--seed S] --out DIR
    refsim golden suite --out DIR [--seed S]
    refsim golden compare REFERENCE_DIR CANDIDATE_DIR [--rtol R] [--atol A] [--no-draws]
    refsim golden replay DIR
    refsim calibrate --preset NAME_OR_JSON --shape N_IN N_OUT [--batch B] [--seed S]
                     [--method percentile|search] [--percentile P] --out CONFIG.json

Exit codes: 0 success (compare: every compared stage agrees), 1 mismatch, 2 error.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from refsim.cli.common import float_arg, int_arg

__all__ = ["add_golden_subcommands"]


def _cmd_export(args: argparse.Namespace) -> int:
    from refsim.cli.common import resolve_config
    from refsim.golden import export_crossbar, load_golden, random_case

    cfg = resolve_config(args.preset)
    w, x = random_case(args.shape[0], args.shape[1], args.batch, args.seed)
    out = export_crossbar(args.out, w, x, cfg, args.seed)
    g = load_golden(out)
    print(f"wrote {len(g.stages)} stages and {len(g.draws)} draws to {out}")
    return 0


def _cmd_suite(args: argparse.Namespace) -> int:
    from refsim.golden import write_suite

    dirs = write_suite(args.out, seed=args.seed)
    for d in dirs:
        print(d)
    print(f"wrote {len(dirs)} cases and index.json to {args.out}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from refsim.golden import compare_dirs

    rep = compare_dirs(args.reference, args.candidate, rtol=args.rtol, atol=args.atol, draws=not args.no_draws)
    print(rep.format(show_absent=args.show_absent))
    if not rep.compared:
        return 2
    return 0 if rep.ok else 1


def _cmd_replay(args: argparse.Namespace) -> int:
    from refsim.golden import replay

    res = replay(args.dir)
    for p, y in res.y.items():
        d = float(np.max(np.abs(y - res.y_golden[p]))) if y.size else 0.0
        print(f"crossbar {p or '(single)'}: max |y_replay - y_golden| = {d:.3e}")
    print("RESULT: bit exact" if res.bit_exact else "RESULT: replay differs")
    return 0 if res.bit_exact else 1


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from refsim.tools.calibrate import calibrate_crossbar
    from refsim.cli.common import resolve_config
    from refsim.golden import random_case

    cfg = resolve_config(args.preset)
    w, x = random_case(args.shape[0], args.shape[1], args.batch, args.seed)
    res = calibrate_crossbar(w, x, cfg, method=args.method, percentile=args.percentile, seed=args.seed)
    res.config.to_json(args.out)
    print(json.dumps({"x_max": res.config.dac.x_max, "range_A": res.config.adc.range_A, "method": args.method,
                      "mse_calibrated": res.mse, "out": args.out}))
    return 0


def _shape(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", required=True, help="preset name or .json config (required)")
    p.add_argument("--shape", nargs=2, type=int_arg(1, 1 << 20), required=True, metavar=("N_IN", "N_OUT"),
                   help="shape of the random weight matrix W (required)")
    p.add_argument("--batch", type=int_arg(1, 1 << 20), default=4, help="random input vectors (default: 4)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="seed of the random W and x and of the crossbar (default: 0)")


def add_golden_subcommands(subparsers) -> None:
    """Register ``golden`` (export, suite, compare, replay) and ``calibrate``."""
    g = subparsers.add_parser("golden", help="golden test vectors: export, suite, compare, replay")
    gs = g.add_subparsers(dest="golden_command", metavar="GOLDEN_COMMAND")
    g.set_defaults(func=lambda a: (g.print_help(), 2)[1])

    p = gs.add_parser("export", help="export every stage of one crossbar multiply of a random W and x")
    _shape(p)
    p.add_argument("--out", required=True, help="new directory to write the case to (required)")
    p.set_defaults(func=_cmd_export)

    p = gs.add_parser("suite", help="export ready cases for every preset")
    p.add_argument("--out", required=True, help="new directory, one sub-folder per case (required)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="seed of every case's W, x and crossbar (default: 0)")
    p.set_defaults(func=_cmd_suite)

    p = gs.add_parser("compare", help="compare a candidate's arrays with a golden reference, stage by stage")
    p.add_argument("reference", help="golden case directory (refsim golden export/suite)")
    p.add_argument("candidate", help="directory of the candidate's arrays, named as the reference's")
    p.add_argument("--rtol", type=float_arg(0.0), default=0.0, help="relative tolerance of real stages (default 0: exact)")
    p.add_argument("--atol", type=float_arg(0.0), default=0.0, help="absolute tolerance of real stages (default 0: exact)")
    p.add_argument("--no-draws", action="store_true", help="compare stages only, not random draws")
    p.add_argument("--show-absent", action="store_true", help="list the stages the candidate lacks")
    p.set_defaults(func=_cmd_compare)

    p = gs.add_parser("replay", help="re-run a golden case from its recorded draws; exit 0 if bit exact")
    p.add_argument("dir", help="golden case directory (refsim golden export/suite)")
    p.set_defaults(func=_cmd_replay)

    p = subparsers.add_parser("calibrate", help="calibrate fixed DAC and ADC ranges on random data")
    _shape(p)
    p.add_argument("--method", choices=("percentile", "search"), default="percentile",
                   help="percentile: P_p of |x| and of the column currents (C1, C2); search: the grid scale of "
                   "the largest value with the least output MSE (C3) (default: percentile)")
    p.add_argument("--percentile", type=float_arg(0.0, low_open=True), default=99.9, help="p of the percentile method, in (0, 100] "
                   "(default: 99.9)")
    p.add_argument("--out", required=True, help="config .json to write (its name: '<preset>+cal') (required)")
    p.set_defaults(func=_cmd_calibrate)
