"""refsim's quantized multiply side by side with CrossSim's, on the same matrices and batches.

Run:  python -m bench.bench_peer [--crosssim-python PY] [--shapes 1152x256x3136 512x512x1024] [--rounds 7]
                                 [--out bench/results_peer.md] [--no-write]

For every shape ``n_in x n_out x B`` (default: one xiao2022 array on a 56 x 56 feature map, and one
rasch2023 tile on 1,024 vectors) the same ``W (n_in, n_out)`` and ``x (B, n_in)`` (standard
normal, seed 0) are multiplied by

- **matmul**: ``x @ W`` in float64, the floor of any simulator of the pipeline;
- **refsim**: ``Crossbar(W, presets.get("int8").replace(**UNTILED)).matvec(x)``: 8-bit weights, 8-bit
  signed DAC with a per-vector absolute-max range, 8-bit signed ADC with the "max" range,
  differential one-sided mapping with in-array subtraction, one array for the whole matrix (as
  CrossSim's core here; the preset itself tiles at 512 x 512); every rounding that of the exact
  value (D2, A1);
- **CrossSim** 3.2 (where its Python can import ``simulator``): an ``AnalogCore`` of ``W.T``
  with the nearest settings: ``core.style = "BALANCED"``, ``balanced.style = "ONE_SIDED"``,
  subtraction in the array, ``weight_bits = 8`` (``cell_bits = 7``), ``SignMagnitudeDAC`` of 8
  bits over the fixed range ``[-max|x|, max|x|]`` (CrossSim has no per-vector range),
  ``SignMagnitudeADC`` of 8 bits with ``adc_range_option = "MAX"``; ``core.matmat(x.T)``.

Each simulator runs in its own worker process (this file with ``--worker``; CrossSim's in
``--crosssim-python``, default ``$CROSSSIM_PYTHON``, else this Python), one BLAS thread each
(``--threads``), and times its own ``x @ W`` next to its multiply. The rounds are interleaved
(refsim's worker, then CrossSim's, ``--rounds`` times) so both see the same machine load; the
report gives the best CPU time of each (and the wall-clock quotient), every ratio from the same
run, and the relative error
``max |y - x W| / max |x W|`` of each (physics: the "max" ADC range is wide, see
bench/results_crossbar.md). Writes ``bench/results_peer.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_name("results_peer.md")
SHAPES = ("1152x256x3136", "512x512x1024")
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: one array for the whole matrix, as the CrossSim core below (the int8 preset tiles at 512 x 512)
UNTILED = {"array.rows_max": None, "array.cols_max": None}


# -- worker side (runs in either Python; imports refsim or CrossSim only when asked) ----------
def _crosssim_multiply(w: np.ndarray, x: np.ndarray):
    from simulator import AnalogCore, CrossSimParameters

    p = CrossSimParameters()
    p.core.style = "BALANCED"
    p.core.balanced.style = "ONE_SIDED"
    p.core.balanced.subtract_current_in_xbar = True
    p.core.weight_bits = 8
    p.xbar.device.cell_bits = 7
    x_max = float(np.abs(x).max())
    p.core.mapping.inputs.mvm.min, p.core.mapping.inputs.mvm.max = -x_max, x_max
    p.xbar.dac.mvm.bits, p.xbar.dac.mvm.model, p.xbar.dac.mvm.signed = 8, "SignMagnitudeDAC", True
    p.xbar.adc.mvm.bits, p.xbar.adc.mvm.model, p.xbar.adc.mvm.signed = 8, "SignMagnitudeADC", True
    p.xbar.adc.mvm.adc_range_option = "MAX"
    core = AnalogCore(np.ascontiguousarray(w.T), p)
    x_t = np.ascontiguousarray(x.T)
    return lambda: core.matmat(x_t).T


def _refsim_multiply(w: np.ndarray, x: np.ndarray):
    import refsim

    xb = refsim.Crossbar(w, refsim.presets.get("int8").replace(**UNTILED))
    return lambda: xb.matvec(x)


def worker(tool: str, data_dir: str) -> None:
    """Answer ``round`` lines on stdin with one JSON line ``{"matmul_s", "multiply_s"}`` per round."""
    w, x = np.load(Path(data_dir) / "w.npy"), np.load(Path(data_dir) / "x.npy")
    try:
        multiply = (_crosssim_multiply if tool == "crosssim" else _refsim_multiply)(w, x)
    except ImportError as e:
        print(json.dumps({"skipped": f"{tool} not importable in {sys.executable}: {e}"}), flush=True)
        return
    exact = x @ w
    y = multiply()  # warm-up, and the error of the result
    err = float(np.abs(y - exact).max() / np.abs(exact).max())
    print(json.dumps({"ready": True, "rel_error": err}), flush=True)
    for line in sys.stdin:
        if line.strip() != "round":
            break
        w0, c0 = time.perf_counter(), time.process_time()
        _ = x @ w
        w1, c1 = time.perf_counter(), time.process_time()
        multiply()
        w2, c2 = time.perf_counter(), time.process_time()
        print(json.dumps({"matmul_s": c1 - c0, "multiply_s": c2 - c1, "matmul_wall_s": w1 - w0,
                          "multiply_wall_s": w2 - w1}), flush=True)


# -- orchestration -------------------------------------------------------------------------------
class Worker:
    """A worker process of one simulator, fed one ``round`` at a time."""

    def __init__(self, tool: str, python: str, data_dir: str, threads: int):
        env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS})
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.proc = subprocess.Popen([python, str(Path(__file__).resolve()), "--worker", tool, data_dir],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
        self.hello = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            return {"skipped": f"worker exited with code {self.proc.returncode} before answering"}
        return json.loads(line)

    def round(self) -> dict:
        self.proc.stdin.write("round\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def run_shape(n_in: int, n_out: int, batch: int, *, crosssim_python: str, rounds: int, threads: int) -> dict:
    """Time the three multiplies of one shape; returns best times, ratios and errors."""
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal((n_in, n_out)), rng.standard_normal((batch, n_in))
    res = {"shape": (n_in, n_out, batch)}
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "w.npy", w)
        np.save(Path(tmp) / "x.npy", x)
        workers = {"refsim": Worker("refsim", sys.executable, tmp, threads),
                   "crosssim": Worker("crosssim", crosssim_python, tmp, threads)}
        try:
            live = {}
            for tool, wk in workers.items():
                if "skipped" in wk.hello:
                    res[f"{tool}_skipped"] = wk.hello["skipped"]
                else:
                    live[tool] = wk
                    res[f"{tool}_rel_error"] = wk.hello["rel_error"]
            best = {}
            for _ in range(rounds):
                for tool, wk in live.items():  # interleaved: both see the same load
                    t = wk.round()
                    for k, v in t.items():
                        best[(tool, k)] = min(best.get((tool, k), np.inf), v)
        finally:
            for wk in workers.values():
                wk.close()
    for tool in live:
        mm, mu = best[(tool, "matmul_s")], best[(tool, "multiply_s")]
        res.update({f"{tool}_matmul_s": mm, f"{tool}_s": mu, f"{tool}_ratio": mu / mm,
                    f"{tool}_wall_ratio": best[(tool, "multiply_wall_s")] / best[(tool, "matmul_wall_s")]})
    if len(live) == 2:
        res["crosssim_over_refsim"] = res["crosssim_s"] / res["refsim_s"]
        res["crosssim_over_refsim_wall"] = best[("crosssim", "multiply_wall_s")] / best[("refsim", "multiply_wall_s")]
    return res


def report(results: list[dict], command: str) -> str:
    lines = [
        "# refsim's quantized multiply against CrossSim's", "",
        f"Command: `{command}`  ",
        f"Date: {datetime.datetime.now().isoformat(timespec='seconds')}  ",
        f"Machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, NumPy {np.__version__}; load average "
        f"{tuple(round(v, 2) for v in os.getloadavg())}", "",
        "Definitions: bench/bench_peer.py (refsim: `int8` preset in one array (`array.rows_max = cols_max = None`), exact rounding; CrossSim 3.2: balanced "
        "one-sided core, 8-bit weights, 8-bit sign-magnitude DAC and ADC, MAX ADC range). Times are CPU "
        "seconds of the worker process (`time.process_time`, one BLAS thread: on a shared machine they "
        "do not count the time other processes hold the core), best of the interleaved rounds; each "
        "simulator's ratio is to the `x @ W` timed in its own process; **CrossSim / refsim** compares "
        "the two multiplies directly. The last column gives the same quotient of wall-clock times.", "",
        "| W (n_in x n_out) | B | matmul (ms) | refsim (ms) | refsim / matmul | CrossSim (ms) | CrossSim / matmul "
        "| CrossSim / refsim | rel. error refsim | rel. error CrossSim | CrossSim / refsim (wall) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for r in results:
        n_in, n_out, b = r["shape"]
        mm = [r[f"{t}_matmul_s"] * 1e3 for t in ("refsim", "crosssim") if f"{t}_matmul_s" in r]
        cells = [f"{n_in} x {n_out}", str(b), " / ".join(f"{v:.1f}" for v in mm)]
        for tool in ("refsim", "crosssim"):
            if f"{tool}_s" in r:
                cells += [f"{r[f'{tool}_s'] * 1e3:.1f}", f"{r[f'{tool}_ratio']:.2f}"]
            else:
                cells += ["skipped", "-"]
                notes.append(f"- {n_in} x {n_out}: {r.get(f'{tool}_skipped', 'skipped')}")
        cells.append(f"**{r['crosssim_over_refsim']:.2f}**" if "crosssim_over_refsim" in r else "-")
        cells += [f"{r[f'{t}_rel_error']:.2f}" if f"{t}_rel_error" in r else "-" for t in ("refsim", "crosssim")]
        cells.append(f"{r['crosssim_over_refsim_wall']:.2f}" if "crosssim_over_refsim_wall" in r else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "matmul: refsim's process / CrossSim's process."]
    both = [r for r in results if "refsim_s" in r and "crosssim_s" in r]
    if both:  # the quotient the other way round, with its reading: is refsim's multiply no slower?
        lines += ["", "**refsim / CrossSim** (CPU time; at most 1: refsim's multiply no slower than CrossSim's):"]
        for r in both:
            q = r["refsim_s"] / r["crosssim_s"]
            verdict = "met (refsim no slower)" if q <= 1 else f"not met (refsim {100 * (q - 1):.0f}% slower)"
            lines.append(f"- {r['shape'][0]} x {r['shape'][1]}, B = {r['shape'][2]}: **{q:.2f}**: {verdict}")
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        lines += ["", f"The machine was loaded (load average {load:.1f} on {os.cpu_count()} cores): CPU times "
                      "leave out the time other processes held the core but not their share of caches and "
                      "memory bandwidth; the rounds are interleaved, so the load falls on both alike."]
    if notes:
        lines += ["", "Skipped:"] + sorted(set(notes))
    return "\n".join(lines) + "\n"


def parse_shape(text: str) -> tuple[int, int, int]:
    try:
        n_in, n_out, b = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape: received {text!r}; expected N_INxN_OUTxB, e.g. 1152x256x3136")
    return n_in, n_out, b


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", type=parse_shape, default=[parse_shape(s) for s in SHAPES])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--crosssim-python", default=os.environ.get("CROSSSIM_PYTHON", sys.executable),
                    help="a Python that can import CrossSim's `simulator` (default $CROSSSIM_PYTHON, else this one)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    results = [run_shape(*s, crosssim_python=args.crosssim_python, rounds=args.rounds, threads=args.threads)
               for s in args.shapes]
    command = "python -m bench.bench_peer " + " ".join(sys.argv[1:] if argv is None else argv)
    text = report(results, command.strip())
    print(text)
    if not args.no_write:
        Path(args.out).write_text(text)
    return results


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
    else:
        main()
