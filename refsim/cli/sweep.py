"""``refsim sweep`` and ``refsim plot``: accuracy over a grid of config fields (docs/sweep.md).

::

    refsim sweep --model auto --weights resnet20.th --data cifar10.npz --preset xiao2022_resnet50 \\
        --vary device.prog_model=independent --vary device.prog_sigma_rel=0.02,0.05,0.1 \\
        --vary mapping.scheme=differential_one_sided,offset --repeats 3 --limit 500 --jobs 2 \\
        --out results.jsonl
    refsim plot results.jsonl --x device.prog_sigma_rel --hue mapping.scheme --out fig.png

The machinery is :mod:`refsim.tools.sweep`; registered in :mod:`refsim.cli` by
:func:`add_sweep_subcommands`.
"""
from __future__ import annotations

import argparse
import os
import json
import sys

from refsim.cli.common import int_arg
from refsim.tools import sweep

__all__ = ["add_sweep_subcommands", "markdown_table"]


def _cmd_sweep(args: argparse.Namespace) -> int:
    from refsim.cli.common import resolve_config

    from refsim import presets
    from refsim.cli.calibration import DEFAULT_N

    base = presets.uncalibrated_if_asked(resolve_config(args.preset), args.no_calibrate)
    name = presets.base_name(base.name)
    need = presets.needs_calibration(name) if presets.missing_calibration(base) else None
    if need and args.calibrate is None and not args.no_calibrate:
        args.calibrate = DEFAULT_N
        if not args.quiet:
            print(f"refsim sweep: preset {base.name} needs calibration ({need}): every point calibrates on the "
                  f"last {DEFAULT_N} images of --data, never evaluated (--calibrate N to choose, --no-calibrate "
                  "to run it uncalibrated)", file=sys.stderr)
    vary = [sweep.parse_vary(v) for v in args.vary]
    tasks = sweep.make_tasks(base, vary, model=args.model, weights=args.weights, data=args.data,
                             preset=args.preset, repeats=args.repeats, seed=args.seed, limit=args.limit,
                             calibrate=args.calibrate)
    stats = sweep.run_sweep(tasks, args.out, jobs=args.jobs, dask=args.dask, progress=not args.quiet)
    print(json.dumps({"out": args.out, **stats}))
    return 0


def _where(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--where {item!r}: expected FIELD=VALUE")
        k, _, v = item.partition("=")
        out[k.strip()] = sweep.parse_value(v.strip())
    return out


def _label(name: str | None, value) -> str:
    return "" if name is None else f"{name}={json.dumps(value) if not isinstance(value, str) else value}"


def markdown_table(groups: dict, *, x: str, hue: str | None, y: str) -> str:
    """Mean +- std (count) of ``y`` per (hue, x) as a Markdown table (one row per series and x)."""
    lines = [f"| {hue or 'series'} | {x} | {y} mean | std | repeats |", "|---|---|---|---|---|"]
    for (x_name, hv), rows in groups.items():
        series = _label(hue, hv) if hue else x_name
        if hue and "|" in x:
            series = f"{x_name}, {series}"
        for xv, mean, std, n in rows:
            lines.append(f"| {series} | {json.dumps(xv)} | {mean:.4f} | {std:.4f} | {n} |")
    return "\n".join(lines)


def _cmd_plot(args: argparse.Namespace) -> int:
    from refsim.plot import figures as plotting

    if not os.path.isfile(args.results):
        raise FileNotFoundError(f"results: no file at {args.results!r}; expected the JSONL file that "
                                "refsim sweep --out wrote")
    records = sweep.read_results(args.results)
    if not records:
        raise ValueError(f"results: {args.results!r} holds no result records (an empty or unfinished sweep?)")
    groups = sweep.aggregate(records, x=args.x, hue=args.hue, y=args.y, where=_where(args.where))
    if not groups:
        raise ValueError(f"{args.results!r}: no record has --x {args.x!r}"
                         f"{'' if not args.where else ' and matches --where'}; fields varied there: "
                         f"{sorted({k for r in records for k in r.get('varied', {})})}")
    multi_x = len({name for name, _ in groups}) > 1
    numeric = all(isinstance(xv, (int, float)) and not isinstance(xv, bool) and xv is not None
                  for rows in groups.values() for xv, *_ in rows)
    title = args.title or f"{args.y} vs {args.x}"
    ylabel = args.ylabel or args.y
    names = [", ".join(s for s in ((xn if multi_x else ""), _label(args.hue, hv)) if s) or args.y
             for xn, hv in groups]
    if numeric and not (args.xlog and any(xv <= 0 for rows in groups.values() for xv, *_ in rows)):
        series = [(nm, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
                  for nm, rows in zip(names, groups.values())]
        plotting.line_plot(args.out, series, title=title, xlabel=args.xlabel or args.x, ylabel=ylabel,
                           xlog=args.xlog)
    else:  # categorical x (strings, null, or <= 0 on a log axis): grouped bars
        cats = []
        for rows in groups.values():
            for xv, *_ in rows:
                if json.dumps(xv) not in cats:
                    cats.append(json.dumps(xv))
        series = []
        for nm, rows in zip(names, groups.values()):
            by = {json.dumps(r[0]): r for r in rows}
            series.append((nm, [by[c][1] if c in by else 0.0 for c in cats],
                           [by[c][2] if c in by else 0.0 for c in cats]))
        plotting.bar_plot(args.out, [c.strip('"') for c in cats], series, title=title,
                          xlabel=args.xlabel or args.x, ylabel=ylabel)
    print(markdown_table(groups, x=args.x, hue=args.hue, y=args.y))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def add_sweep_subcommands(subparsers) -> None:
    """Register ``sweep`` and ``plot`` on the ``refsim`` sub-command parser."""
    p = subparsers.add_parser("sweep", help="accuracy over a grid of config fields, appended to a JSONL file",
                              description="Evaluate a network over the Cartesian grid of the --vary axes, "
                              "--repeats times with derived seeds; each finished point is appended to --out "
                              "as one JSON line, and a re-run skips the points already there (docs/sweep.md).")
    p.add_argument("--model", default="auto", help="model name or 'auto' (from the checkpoint keys) (default: auto)")
    p.add_argument("--weights", required=True, help="checkpoint path (or 'random')")
    p.add_argument("--data", required=True, help="CIFAR-layout .npz or an image folder <class>/<image>")
    p.add_argument("--preset", default="ideal", help="base config: preset name or .json file (default: ideal)")
    p.add_argument("--vary", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="one grid axis: a dotted config field and JSON-scalar values; FIELD1+FIELD2=... "
                   "sets several fields to the same value; repeatable")
    p.add_argument("--repeats", type=int_arg(1), default=1, help="repeats per point, each with its own derived seed (default: 1)")
    p.add_argument("--limit", type=int_arg(1), default=None, help="evaluate the first N images only")
    p.add_argument("--seed", type=int_arg(0), default=0, help="base seed S; repeat r uses SeedSequence(S, spawn_key=(r,))")
    p.add_argument("--calibrate", type=int_arg(1), default=None, metavar="N",
                   help="calibrate fixed per-layer DAC/ADC ranges on the last N images (never evaluated); "
                   f"default: off, or 32 for a preset that needs calibration (refsim presets NAME)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="run a preset that needs calibration uncalibrated")
    p.add_argument("--jobs", type=int_arg(1, 1024), default=1, help="worker processes (default 1: this process)")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="submit points to a running Dask scheduler (needs the 'distributed' extra)")
    p.add_argument("--out", required=True, help="JSONL results file (appended; existing points skipped)")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no progress bar or notes on stderr")
    p.set_defaults(func=_cmd_sweep)

    p = subparsers.add_parser("plot", help="mean accuracy (error bars: std over repeats) from a sweep's JSONL",
                              description="Plot the mean of --y over repeats against --x, one line per --hue "
                              "value, error bars = sample std across repeats; prints a Markdown table.")
    p.add_argument("results", help="JSONL file written by refsim sweep")
    p.add_argument("--x", required=True, help="field on the x axis (varied or dotted config field); "
                   "'a|b' takes whichever of a, b the record varied")
    p.add_argument("--hue", default=None, help="field that splits the lines")
    p.add_argument("--y", default="accuracy", help="record field on the y axis (default: accuracy)")
    p.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                   help="keep only records with this value; repeatable")
    p.add_argument("--xlog", action="store_true", help="logarithmic x axis")
    p.add_argument("--title", default=None, help="figure title (default: '<y> vs <x>')")
    p.add_argument("--xlabel", default=None, help="x axis label, with its unit (default: the --x field)")
    p.add_argument("--ylabel", default=None, help="y axis label, with its unit (default: the --y field)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.set_defaults(func=_cmd_plot)


def main(argv: list[str] | None = None) -> int:
    """``python -m refsim.cli.sweep sweep|plot ...``: the same as ``refsim sweep|plot ...``."""
    from refsim.cli import main as refsim_main

    return refsim_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
