"""``refsim spice``: the SPICE netlist of one physical array of a crossbar, checked in ngspice.

:func:`add_spice_subcommands` registers on an ``argparse`` subparsers object::

    refsim spice --preset NAME_OR_JSON --shape N_IN N_OUT [--seed S]
                 [--r-row OHM] [--r-col OHM] [--array t0.s0.pos] [--input random|ones]
                 [--pass LABEL] --out FILE.cir [--run]

It programs a :class:`refsim.Crossbar` with a random matrix ``W ~ N(0, 1)`` of shape
``(N_IN, N_OUT)`` (seed ``S``; the crossbar's own streams from ``S + 1``, as
``refsim matvec`` does), with the preset's wire section and ``--r-row``/``--r-col``
overriding its segment resistances; draws one input vector (``random``: ``N(0, 1)``;
``ones``), runs it through the DAC (``Crossbar.trace``) and writes, with
:func:`refsim.wires.spice.write_netlist`, the circuit of docs/MODEL.md section 4 of one
physical array (``--array``, a key ``t{tile}.s{slice}.{device}`` as in
``Trace.conductances_S``) driven by that vector's row voltages. The array's
conductances are ``g_S`` (after programming error and drift; read noise is drawn
per multiply and is not in the netlist).

With ``--run`` it solves the netlist with ngspice and compares the sense currents
with refsim's ``I = V @ G_eff`` (``g_eff_S`` of that array):
``max_j |I_ngspice - I_refsim| / max_j |I_refsim|`` must be <= :data:`RTOL_SPICE`.

Exit codes: 0 success (and agreement with ``--run``), 1 ngspice disagrees, 2 bad
arguments (unknown preset or array key, bad shape, unwritable file) or ngspice absent.

With ``wire.pair_layout = "interleaved"`` (differential mappings) the two devices of
a pair share one physical array with columns ``[G+_0, G-_0, G+_1, ...]``; its key is
``t{tile}.s{slice}.pair``.
"""

from __future__ import annotations

import argparse
import shutil
import sys

import numpy as np

from refsim.cli.common import float_arg, int_arg, resolve_config
from refsim.crossbar import Crossbar
from refsim.wires.spice import run_ngspice, write_netlist

__all__ = ["RTOL_SPICE", "add_spice_subcommands", "cmd_spice", "physical_arrays"]

#: ngspice vs refsim's G_eff, relative to the largest sense current (docs/MODEL.md section 4 asks
#: for ~1e-9; both solve the same linear equations in float64, we see ~1e-13).
RTOL_SPICE = 1e-8
#: Columns printed in the current table (the maximum difference is over all of them).
SHOW_COLS = 16


def _interleave(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Columns ``[a_0, b_0, a_1, b_1, ...]``: ``(rows, cols)`` x 2 -> ``(rows, 2 cols)``."""
    out = np.empty((a.shape[0], 2 * a.shape[1]))
    out[:, 0::2], out[:, 1::2] = a, b
    return out


def physical_arrays(xb: Crossbar) -> dict[str, tuple[int, np.ndarray, np.ndarray]]:
    """Every physical array of ``xb``: key -> ``(tile index, g_S, g_eff_S)``, both ``(rows, cols)`` in S.

    Keys are ``t{tile}.s{slice}.{device}`` (the keys of ``Trace.conductances_S``), or
    ``t{tile}.s{slice}.pair`` for a differential pair laid out in one array with
    interleaved columns.
    """
    cfg = xb.config
    interleaved = cfg.wire.enabled and cfg.wire.pair_layout == "interleaved" and cfg.mapping.differential
    cond = xb.conductances()  # every stage of every array, recomputed by the crossbar
    out = {}
    for ti, tile in enumerate(xb.tiles):
        for k, s in enumerate(tile.slices):
            pre = f"t{ti}.s{k}."
            if interleaved:
                out[pre + "pair"] = (ti, _interleave(cond[pre + "pos"], cond[pre + "neg"]),
                                     _interleave(cond[pre + "pos.eff"], cond[pre + "neg.eff"]))
                continue
            for name in s.devices:
                out[pre + name] = (ti, cond[pre + name], cond[pre + name + ".eff"])
    return out


def _error(msg: str) -> int:
    print(f"refsim spice: error: {msg}", file=sys.stderr)
    return 2


def _config(args: argparse.Namespace):
    """The preset with the wire overrides of ``--r-row`` / ``--r-col``."""
    cfg = resolve_config(args.preset)
    changes = {}
    if args.r_row is not None:
        changes["wire.r_row_ohm"] = args.r_row
    if args.r_col is not None:
        changes["wire.r_col_ohm"] = args.r_col
    return cfg.replace(**changes) if changes else cfg


def _print_currents(ideal_A, refsim_A, ngspice_A=None) -> None:
    """Table of the first :data:`SHOW_COLS` sense currents, uA."""
    head = f"  {'col':>4} {'ideal V@G (uA)':>22} {'refsim V@G_eff (uA)':>24}"
    if ngspice_A is not None:
        head += f" {'ngspice (uA)':>24} {'|diff| / max|I|':>16}"
    print(head)
    scale = max(float(np.max(np.abs(refsim_A))), np.finfo(float).tiny)
    for j in range(min(len(refsim_A), SHOW_COLS)):
        line = f"  {j:>4} {ideal_A[j] * 1e6:>22.17g} {refsim_A[j] * 1e6:>24.17g}"
        if ngspice_A is not None:
            line += f" {ngspice_A[j] * 1e6:>24.17g} {abs(ngspice_A[j] - refsim_A[j]) / scale:>16.3e}"
        print(line)
    if len(refsim_A) > SHOW_COLS:
        print(f"  ... {len(refsim_A) - SHOW_COLS} more columns")


def cmd_spice(args: argparse.Namespace) -> int:
    """Write the netlist of one physical array; with ``args.run`` compare ngspice with refsim."""
    n_in, n_out = args.shape
    if n_in < 1 or n_out < 1:
        return _error(f"--shape: received {n_in} {n_out}; expected N_IN N_OUT >= 1")
    try:
        cfg = _config(args)
    except (ValueError, TypeError, OSError) as exc:
        return _error(str(exc))
    rng = np.random.default_rng(args.seed)
    w = rng.normal(size=(n_in, n_out))
    x = rng.normal(size=(1, n_in)) if args.input == "random" else np.ones((1, n_in))
    try:
        xb = Crossbar(w, cfg, rng=np.random.default_rng(args.seed + 1))
    except (ValueError, TypeError) as exc:
        return _error(str(exc))
    arrays = physical_arrays(xb)
    if args.array not in arrays:
        return _error(f"--array: unknown array {args.array!r}; the physical arrays of preset {cfg.name!r} "
                      f"with shape {n_in} x {n_out} are: {', '.join(arrays)}")
    ti, g_S, g_eff_S = arrays[args.array]
    volts = xb.trace(x).tiles[ti].voltages_V  # pass label -> (1, rows) row voltages, V
    label = next(iter(volts)) if args.drive_pass is None else args.drive_pass
    if label not in volts:
        return _error(f"--pass: unknown drive pass {label!r}; this config drives {', '.join(volts)}")
    v_V = volts[label][0]  # (rows,)
    wire = cfg.wire
    try:
        text = write_netlist(args.out, g_S, wire.r_row_ohm, wire.r_col_ohm, v_V,
                             r_driver_ohm=wire.r_driver_ohm, r_sense_ohm=wire.r_sense_ohm,
                             title=f"refsim spice: {cfg.name} {n_in}x{n_out} seed {args.seed} array {args.array} "
                                   f"input {args.input} pass {label}")
    except OSError as exc:
        return _error(f"--out: cannot write {args.out!r}: {exc}")
    rows, cols = g_S.shape
    print(f"preset {cfg.name!r}, weights {n_in} x {n_out}, seed {args.seed}, {xb.n_arrays} physical arrays")
    print(f"array {args.array}: {rows} rows x {cols} cols; r_row = {wire.r_row_ohm:g} ohm, "
          f"r_col = {wire.r_col_ohm:g} ohm, r_driver = {wire.r_driver_ohm:g} ohm, r_sense = {wire.r_sense_ohm:g} ohm")
    print(f"input {args.input!r}, drive pass {label!r} (of {', '.join(volts)}): row voltages "
          f"{v_V.min():.6g} .. {v_V.max():.6g} V")
    print(f"wrote {args.out} ({text.count(chr(10))} lines); solve it with:  ngspice -b {args.out}")
    ideal_A = v_V @ g_S  # (cols,) currents without wires, A
    refsim_A = v_V @ g_eff_S  # (cols,) currents with wires, A
    if not args.run:
        _print_currents(ideal_A, refsim_A)
        return 0
    if shutil.which("ngspice") is None:
        return _error("--run: the ngspice executable is not on PATH; install it (apt-get install ngspice) "
                      "or leave out --run")
    try:
        ngspice_A = run_ngspice(text)
    except (RuntimeError, OSError) as exc:
        return _error(f"--run: {exc}")
    if ngspice_A.shape != refsim_A.shape:
        print(f"refsim spice: ngspice returned {ngspice_A.shape[0]} currents, expected {cols}", file=sys.stderr)
        return 1
    _print_currents(ideal_A, refsim_A, ngspice_A)
    scale = max(float(np.max(np.abs(refsim_A))), np.finfo(float).tiny)
    rel = float(np.max(np.abs(ngspice_A - refsim_A))) / scale
    ok = rel <= RTOL_SPICE
    print(f"max |I_ngspice - I_refsim| / max |I_refsim| = {rel:.3e} "
          f"({'within' if ok else 'ABOVE'} tolerance {RTOL_SPICE:g})")
    return 0 if ok else 1


def add_spice_subcommands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``spice`` command.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()`` of the main ``refsim`` parser.

    Returns
    -------
    argparse.ArgumentParser
        The ``spice`` parser.
    """
    p = subparsers.add_parser(
        "spice", help="write the SPICE netlist of one physical array (wire resistance); --run checks it in ngspice",
        description="Program a random N_IN x N_OUT matrix, DAC one input vector, and write the SPICE netlist "
                    "(docs/MODEL.md section 4) of one physical array; --run solves it with ngspice and compares "
                    "the sense currents with refsim's V @ G_eff.")
    p.add_argument("--preset", required=True, help="preset name or .json config")
    p.add_argument("--shape", type=int_arg(1, 1 << 16), nargs=2, required=True, metavar=("N_IN", "N_OUT"),
                   help="weight matrix shape (rows x columns of the arrays, before tiling)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="seed of the weights and the input (default 0)")
    p.add_argument("--r-row", type=float_arg(0.0), default=None, metavar="OHM",
                   help="row wire segment resistance, ohm (default: the preset's wire.r_row_ohm)")
    p.add_argument("--r-col", type=float_arg(0.0), default=None, metavar="OHM",
                   help="column wire segment resistance, ohm (default: the preset's wire.r_col_ohm)")
    p.add_argument("--array", default="t0.s0.pos",
                   help="physical array t{tile}.s{slice}.{device} (default t0.s0.pos; an unknown key lists them)")
    p.add_argument("--input", choices=("random", "ones"), default="random",
                   help="input vector: N(0, 1) draws or all ones (default random)")
    p.add_argument("--pass", dest="drive_pass", default=None, metavar="LABEL",
                   help="drive pass of a bit-serial / two-pass DAC (default: the first)")
    p.add_argument("--out", required=True, help="netlist file to write (.cir)")
    p.add_argument("--run", action="store_true", help="solve with ngspice and compare with refsim (exit 1 if > 1e-8)")
    p.set_defaults(func=cmd_spice)
    return p
