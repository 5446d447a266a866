"""How close refsim's quantized passes are to the floor of a NumPy pipeline, layer by layer.

Run:  python -m bench.bench_floor [--case int8] [--net resnet50] [--repeats 7] [--no-write]

ResNet-50 (random weights, one 224 x 224 image; ``--net`` for a smaller one) under ``--case``: every crossbar's input is
recorded during one forward. Then, for every crossbar, three timings on that same input
(best of ``--repeats``, interleaved):

- **matmul**: the plain products of its analog passes (``bench.passes.pass_matmul_seconds``
  shapes: ``(B, rows) @ (rows, cols)`` per tile, slice, read and drive pass);
- **refsim**: ``Crossbar.matvec``;
- **floor** (int8-like cases only: one pass per tile): the least NumPy work an 8-bit DAC + ADC
  pass needs, with no orchestration and no checks: per-vector range (one row-wise ``max``;
  ``min`` too for signed inputs), ``rint(x * c_max / x_max)``, the product, ``rint`` of the
  result, the clip reductions, one rescale multiply into the output, in
  blocks of 512 vectors like refsim. Both roundings test for near-ties (two reductions each),
  as refsim must to equal exact arithmetic. Its result is not used; it only measures time.

The ratio ``floor / matmul`` is what a pure-NumPy implementation of this pipeline can reach
at best (NumPy cannot fuse element-wise passes); ``refsim / matmul`` is the per-pass ratio of
``bench/results.md``. Writes ``bench/results_floor.md`` (``--out``); returns the totals
``(matmul, refsim, floor)`` in seconds.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np

from bench.cases import CASES, NETWORKS, build_inputs, build_network
from bench.passes import crossbars, matvec_passes

OUT = Path(__file__).with_name("results_floor.md")
BLOCK = 512


def floor_pass(x: np.ndarray, g: np.ndarray, c_max: int = 127, n_adc: int = 127) -> np.ndarray:
    """The minimal NumPy sequence of one 8-bit DAC + ADC pass (timing only; see module docstring)."""
    out = np.empty((x.shape[0], g.shape[1]))
    for b in range(0, x.shape[0], BLOCK):
        xb = x[b : b + BLOCK]
        hi = xb.max(axis=1)
        x_max = hi if xb.min() >= 0 else np.maximum(hi, -xb.min(axis=1))
        c = xb * (c_max / x_max)[:, None]
        codes = np.rint(c)
        np.subtract(c, codes, out=c)  # the DAC's tie test: exact rounding of x c_max / x_max
        _ = (c.max(), c.min())
        z = codes @ g
        k = np.rint(z)
        np.subtract(z, k, out=z)
        _ = (z.max(), z.min(), k.max() > n_adc, k.min() < -n_adc)
        np.multiply(k, x_max[:, None], out=out[b : b + BLOCK])
    return out


def best(fn, repeats: int) -> float:
    t = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def main(argv=None) -> np.ndarray:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="int8", choices=sorted(c for c, v in CASES.items() if v.config))
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--net", default="resnet50", choices=sorted(NETWORKS))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    cfg = CASES[args.case].config()
    sd, image = build_inputs(args.net, 0)
    net = build_network(args.net, sd, cfg, 0)
    inputs = {}
    for name, xb in crossbars(net):
        xb.matvec = (lambda fn, name: (lambda v, **kw: (inputs.__setitem__(name, v.reshape(-1, v.shape[-1]).copy()),
                                                        fn(v, **kw))[1]))(xb.matvec, name)
    net(image)
    rng = np.random.default_rng(0)
    rows, total = [], np.zeros(3)
    for name, xb in crossbars(net):
        v = inputs[name]
        entries = matvec_passes(xb).entries
        one_pass = len(entries) == 1 and entries[0][2] == 1
        mats = [(rng.standard_normal((v.shape[0], r)), rng.standard_normal((r, c)), n) for r, c, n in entries]
        t_mm = sum(n * best(lambda a=a, g=g: a @ g, args.repeats) for a, g, n in mats)
        t_rs = best(lambda: type(xb).matvec(xb, v), args.repeats)
        g = rng.standard_normal(xb.shape) * 0.01
        t_fl = best(lambda: floor_pass(v, g), args.repeats) if one_pass else np.nan
        rows.append((name, v.shape[0], xb.shape, t_mm, t_rs, t_fl))
        total += (t_mm, t_rs, 0.0 if np.isnan(t_fl) else t_fl)
    has_floor = not any(np.isnan(r[5]) for r in rows)
    lines = [
        f"# Per-pass cost against a NumPy floor: {args.net}, case `{args.case}`", "",
        f"Command: `python -m bench.bench_floor --case {args.case} --net {args.net} --repeats {args.repeats}`  ",
        f"Date: {datetime.datetime.now().isoformat(timespec='seconds')}  ",
        f"Machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, NumPy {np.__version__}; load average {os.getloadavg()}; "
        f"BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'default')}", "",
        "Definitions: bench/bench_floor.py. Times are the best of the repeats, per crossbar, on its "
        "recorded input.", "",
        f"**Network totals**: matmul {total[0]:.3f} s, refsim {total[1]:.3f} s "
        f"(**{total[1] / total[0]:.2f}x**)"
        + (f", NumPy floor {total[2]:.3f} s (**{total[2] / total[0]:.2f}x**)." if has_floor else "."), "",
        "| crossbar | B | W (n_in x n_out) | matmul (ms) | refsim (ms) | refsim / matmul | floor (ms) | floor / matmul |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, b, shape, t_mm, t_rs, t_fl in rows:
        fl = "-" if np.isnan(t_fl) else f"{t_fl * 1e3:.2f} | {t_fl / t_mm:.2f}"
        lines.append(f"| {name} | {b} | {shape[0]} x {shape[1]} | {t_mm * 1e3:.2f} | {t_rs * 1e3:.2f} | "
                     f"{t_rs / t_mm:.2f} | {fl if fl != '-' else '- | -'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        Path(args.out).write_text(text)
    return total


if __name__ == "__main__":
    main()
