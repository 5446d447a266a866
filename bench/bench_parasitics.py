"""Benchmark: exact G_eff vs sparse nodal solve vs CrossSim's fixed-point iteration.

Run from the repository root (one run, well under 5 minutes on 2 cores)::

    python bench/bench_parasitics.py              # writes bench/results_parasitics.md
    python bench/bench_parasitics.py --sizes 64 128 --out /tmp/r.md
    OPENBLAS_NUM_THREADS=2 python bench/bench_parasitics.py   # multi-threaded BLAS

Unless ``OPENBLAS_NUM_THREADS`` is set, the script re-runs itself with it set to 1
(see ``main``); the thread setting is written into the results.

For each array size and IR-drop level it times, for one input vector:
(a) ``refsim.wires.parasitics.effective_conductance`` (once per programmed array; each
    further input vector then costs one ``v @ G_eff``),
(b) ``refsim.wires.parasitics.column_currents_nodal`` (sparse LU of the full nodal matrix),
(c) the damped fixed-point iteration of CrossSim (``bench/crosssim_baseline.py``),
and reports the accuracy of (b) and (c) against (a), and of (a) against ngspice
for the sizes where that is quick. Cell conductances uniform in 1..25 uS,
inputs uniform in 0..0.2 V, r_row = r_col chosen for ~1 %, ~30 % (and ~65 %) loss.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crosssim_baseline import crosssim_fixed_point  # noqa: E402

from refsim.wires import parasitics  # noqa: E402

from refsim.wires import spice

G_LO_S, G_HI_S, V_HI_V = 1e-6, 25e-6, 0.2
# r_row = r_col (ohm) giving ~1 % and ~30 % loss of the total current at 64x64 (measured);
# the loss grows ~ r * n^2 for small drops, so r is scaled by (64/n)^2.
R64_OHM = {"mild (~1%)": 0.28, "strong (~30%)": 12.0, "severe (~65%)": 60.0}
SEVERE_MAX_SIZE = 256  # the fixed point needs thousands of iterations there; keeps the run < 5 min
FP_MAX_TOTAL_ITER = 5000  # cap on the fixed point's iterations over all its gamma retries
NGSPICE_MAX_SIZE = 64  # ngspice takes seconds per solve beyond this


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed(fn, *args, **kwargs):
    """(result, wall s, process CPU s); CPU time is the fairer number on a shared machine."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, time.process_time() - c0


def rel_err(x, ref):
    return float(np.max(np.abs(x - ref)) / np.max(np.abs(ref)))


def run_case(n: int, level: str, rng: np.random.Generator) -> dict:
    g = rng.uniform(G_LO_S, G_HI_S, (n, n))
    v = rng.uniform(0.0, V_HI_V, n)
    r = R64_OHM[level] * (64.0 / n) ** 2
    geff, t_a, c_a = timed(parasitics.effective_conductance, g, r, r)
    i_a = v @ geff
    i_b, t_b, c_b = timed(parasitics.column_currents_nodal, g, v, r, r)
    fp, t_c, c_c = timed(crosssim_fixed_point, g, v, r, r, max_total_iter=FP_MAX_TOTAL_ITER)
    row = dict(n=n, level=level, r=r, drop=1.0 - i_a.sum() / (v @ g).sum(), t_a=t_a, t_b=t_b, t_c=t_c,
               c_a=c_a, c_b=c_b, c_c=c_c,
               err_b=rel_err(i_b, i_a), err_c=rel_err(fp.currents_A, i_a), fp=fp, err_spice=None)
    if n <= NGSPICE_MAX_SIZE and shutil.which("ngspice"):
        row["err_spice"] = rel_err(spice.run_ngspice(spice.netlist(g, r, r, v)), i_a)
    return row


def markdown(rows: list[dict], command: str, total_s: float) -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    import numpy
    import scipy

    lines = [
        "# Wire-parasitics benchmark",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}; Python {platform.python_version()}, "
        f"numpy {numpy.__version__}, scipy {scipy.__version__}",
        f"- OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}; "
        f"load average at the end (1/5/15 min): {', '.join(f'{x:.2f}' for x in load)} "
        "(a shared machine: other jobs ran at the same time, so times are upper bounds)",
        f"- total wall time of this run: {total_s:.0f} s",
        "- one input vector per case; g ~ U(1, 25) uS, v ~ U(0, 0.2) V, r_row = r_col = r, no terminal resistances",
        "- (a) `effective_conductance` (exact; once per programmed array, then `v @ G_eff` per vector);",
        "  (b) `column_currents_nodal` (scipy splu of the full nodal matrix, per vector);",
        "  (c) CrossSim damped fixed point (`bench/crosssim_baseline.py`, gamma 1 -> x0.98 on failure,",
        "  100 iterations per attempt, at most 5000 in all, stop at max cell-voltage change < 1e-6 V).",
        "- r is scaled as (64/n)^2 from the 64x64 value, so the loss is only approximately the nominal level;",
        "  the measured loss is in the table. The severe level is run up to 256x256 only.",
        "- errors: max |I - I_a| / max |I_a| over the columns; ngspice column: (a) vs ngspice.",
        "- times: wall s / process CPU s (CPU time is the fairer number when other jobs share the cores).",
        "",
        "| size | IR drop | r (ohm) | loss of total I | (a) G_eff s | (b) nodal s | (c) fixed pt s | (c) iters (attempts' total) | (c) converged | (b) err | (c) err | (a) vs ngspice | (a)/(b) CPU time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fp = r["fp"]
        spice_err = f"{r['err_spice']:.1e}" if r["err_spice"] is not None else "-"
        lines.append(
            f"| {r['n']}x{r['n']} | {r['level']} | {r['r']:.3g} | {100 * r['drop']:.2f} % | "
            f"{r['t_a']:.3f} / {r['c_a']:.3f} | {r['t_b']:.3f} / {r['c_b']:.3f} | {r['t_c']:.4f} / {r['c_c']:.4f} | "
            f"{fp.iterations} ({fp.total_iterations}) | "
            f"{'yes' if fp.converged else 'NO'} (gamma {fp.gamma:.3f}) | {r['err_b']:.1e} | {r['err_c']:.1e} | "
            f"{spice_err} | {r['c_a'] / r['c_b']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    if "OPENBLAS_NUM_THREADS" not in os.environ and argv is None:
        # The solvers make many mid-sized LAPACK calls; on a shared 2-core machine OpenBLAS's
        # thread team then spends most of its time waiting (we measured 10-100x slowdowns under
        # load). Re-run single-threaded unless the caller chose a thread count explicitly.
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        sys.exit(subprocess.call([sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env=env))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results_parasitics.md"))
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows, t0 = [], time.perf_counter()
    for n in args.sizes:
        for level in R64_OHM:
            if level.startswith("severe") and n > SEVERE_MAX_SIZE:
                continue
            row = run_case(n, level, rng)
            rows.append(row)
            print(f"{n}x{n} {level}: drop {100 * row['drop']:.2f} %, G_eff {row['t_a']:.2f} s (CPU {row['c_a']:.2f} s), "
                  f"nodal {row['t_b']:.2f} s, "
                  f"fixed point {row['t_c']:.3f} s ({row['fp'].total_iterations} it, converged={row['fp'].converged}), "
                  f"err nodal {row['err_b']:.1e}, err fp {row['err_c']:.1e}", flush=True)
    command = "python bench/bench_parasitics.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(rows, command.strip(), time.perf_counter() - t0)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
