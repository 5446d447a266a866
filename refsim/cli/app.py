"""The ``refsim`` command line.

Sub-commands are registered by the modules that implement them (each exposes an
``add_*_subcommands(subparsers)`` function whose handlers return an exit code)::

    refsim infer [IMAGE] / eval    single-image inference with a per-layer report; dataset accuracy
    refsim sweep / plot            resumable accuracy sweeps over config fields; accuracy plots
    refsim presets [NAME]          list presets, or print one as JSON
    refsim matvec ...              one crossbar multiply of a random matrix, stage by stage
    refsim weights list|fetch|import
    refsim golden export|suite|compare|replay; refsim calibrate
    refsim spice                   the SPICE netlist of any physical array (and an ngspice check)
    refsim train                   hardware-aware (or FP) fine-tuning of a CIFAR ResNet, resumable
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np

from refsim import __version__, presets
from refsim._validate import received
from refsim.cli.common import int_arg, resolve_config, run_command
from refsim.health import DeadCrossbarWarning
from refsim.cli.golden import add_golden_subcommands
from refsim.cli.infer import add_infer_subcommands
from refsim.cli.spice import add_spice_subcommands
from refsim.cli.sweep import add_sweep_subcommands
from refsim.cli.train import add_train_subcommands
from refsim.cli.weights import add_weights_subcommands

__all__ = ["main", "build_parser"]




def _cmd_presets(args: argparse.Namespace) -> int:
    """List the presets (name, first sentence, array size, calibration), or describe one: its
    docstring (source, what differs, arrays) and its config as JSON (``--json``: the JSON only)."""
    import textwrap

    if args.name is None:
        w = max(len(n) for n in presets.names())
        for name in presets.names():
            cfg = presets.get(name)
            arrays = ("untiled" if cfg.array.rows_max is None
                      else f"{cfg.array.rows_max} x {cfg.array.cols_max} arrays")
            cal = "; needs calibration" if presets.needs_calibration(name) else ""
            print(textwrap.fill(f"{presets.summary(name)} ({arrays}{cal})", width=100, initial_indent=f"{name:<{w}}  ",
                                subsequent_indent=" " * (w + 2)))
        print("\n'refsim presets NAME' describes one (source, what differs from it, arrays) and prints its config.")
        return 0
    cfg = presets.get(args.name)
    if args.json:
        print(cfg.to_json())
        return 0
    print(args.name)
    for para in presets.describe(args.name).split("\n"):
        if para.startswith("- "):
            print(textwrap.fill(para, width=100, initial_indent="  ", subsequent_indent="    "))
        else:
            print(textwrap.fill(para, width=100) if para else "")
    need = presets.needs_calibration(args.name)
    if need:
        print()
        print(textwrap.fill(f"Needs calibration: {need}. refsim infer, eval and sweep calibrate it on images "
                            "disjoint from the evaluated ones (--calibrate-on, --calibration FILE).", width=100))
    print("\nconfig (refsim presets NAME --json prints only this):")
    print(cfg.to_json())
    return 0


def _cmd_matvec(args: argparse.Namespace) -> int:
    cfg = resolve_config(args.preset)
    rng = np.random.default_rng(args.seed)
    w = rng.normal(size=(args.n_in, args.n_out))
    x = rng.normal(size=(args.batch, args.n_in))
    xb = __import__("refsim").Crossbar(w, cfg, rng=np.random.default_rng(args.seed + 1))
    tr = xb.trace(x)
    exact = x @ w
    err = float(np.linalg.norm(tr.y - exact) / max(np.linalg.norm(exact), 1e-300))
    if not np.isfinite(err):  # never print NaN as a result: validation should have refused the config
        raise ValueError(received(f"--preset {args.preset}", f"a config whose output holds non-finite values "
                                  f"(relative error {err})", "a config that computes finite outputs"))
    out = {
        "preset": cfg.name, "shape": [args.n_in, args.n_out], "batch": args.batch, "n_arrays": xb.n_arrays,
        "tiles": len(xb.tiles), "path": tr.path, "read_sampling": tr.read_sampling,
        "relative_error": err, "adc_clip_fraction": tr.adc_clip_fraction, "dac_clip_fraction": tr.dac_clip_fraction,
        "adc_zero_fraction": None if tr.adc_levels_used is None else tr.adc_zero_fraction,
        "adc_levels_used": tr.adc_levels_used,
    }
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:<20} {v}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse without the usage block on errors: one line, ``refsim <command>: error: ...`` (exit 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="refsim",
        description="refsim: a pure-NumPy golden-reference simulator of analog in-memory computing.",
    )
    parser.add_argument("--version", action="version", version=f"refsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("presets", help="list the presets, or describe one (source, differences, arrays, JSON)")
    p.add_argument("name", nargs="?", default=None, help="preset to describe (default: list them all)")
    p.add_argument("--json", action="store_true", help="print only the preset's config as JSON")
    p.set_defaults(func=_cmd_presets)
    p = sub.add_parser("matvec", help="one crossbar multiply of a random matrix; error and clipping")
    p.add_argument("--preset", default="ideal", help="preset name or .json config (default: ideal)")
    p.add_argument("--n-in", type=int_arg(1, 1 << 20), default=64,
                   help="rows of the random matrix W, inputs (default: 64)")
    p.add_argument("--n-out", type=int_arg(1, 1 << 20), default=32, help="columns of W, outputs (default: 32)")
    p.add_argument("--batch", type=int_arg(1, 1 << 20), default=8,
                   help="input vectors x, each N(0, 1) (default: 8)")
    p.add_argument("--seed", type=int_arg(0), default=0,
                   help="seed of W and x; the crossbar's programming and noise use seed + 1 (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_matvec)
    for add_subcommands in (add_weights_subcommands, add_golden_subcommands, add_spice_subcommands,
                            add_infer_subcommands, add_sweep_subcommands, add_train_subcommands):
        add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed "refsim <command>: error: argument --flag: ..."
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    with warnings.catch_warnings():  # refsim's own warnings: one line each, no source excerpt
        default_show = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, DeadCrossbarWarning):
                print(f"refsim: warning: {message}", file=sys.stderr if file is None else file)
            else:
                default_show(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        return run_command(args.func, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
