"""The performance benchmark suite: ``python -m bench [--quick] [--presets ...] [--out bench/results.md]``.

One run: the network (ResNet-50 on one 224x224 image by default) under every case of
:data:`bench.cases.CASES`, each in a fresh subprocess (:mod:`bench.worker`) so that its peak
resident memory (``ru_maxrss``) is its own. The report (:mod:`bench.report`) is written to
``--out``; the raw numbers to ``--json`` when given. See docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.cases import CASES, FULL, NETWORKS, QUICK
from bench.report import machine_info, write_report

__all__ = ["main", "run_case", "run_suite"]

REPO = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def run_case(name: str, *, net: str, seed: int = 0, weights: str | None = None, repeats: int = 3,
             budget_s: float = 60.0, threads: int = 1, timeout_s: float = 3600.0) -> dict:
    """Run one case in a fresh ``python -m bench.worker`` process; returns its result dict
    (with ``error`` and the stderr tail when it failed)."""
    cmd = [sys.executable, "-m", "bench.worker", "--case", name, "--net", net, "--seed", str(seed),
           "--repeats", str(repeats), "--budget-s", str(budget_s), "--threads", str(threads)]
    if weights:
        cmd += ["--weights", str(weights)]
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"case": name, "error": f"timed out after {timeout_s:.0f} s"}
    wall = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            res = json.loads(line[len("BENCH_RESULT "):])
            res["wall_s"] = wall
            return res
    return {"case": name, "error": f"exit code {proc.returncode}", "stderr": proc.stderr[-3000:], "wall_s": wall}


def run_suite(names, *, net: str, log=print, **kw) -> list[dict]:
    """Run the cases ``names`` in order; ``log`` gets one progress line per case."""
    results = []
    for name in names:
        res = run_case(name, net=net, **kw)
        results.append(res)
        if "error" in res:
            log(f"{name:>18}: FAILED {res['error']}\n{res.get('stderr', '')}")
        elif "skipped" in res:
            log(f"{name:>18}: skipped ({res['skipped']})")
        else:
            log(f"{name:>18}: build {res['build_s']:8.2f} s  forward {res['forward_s']:8.3f} s  "
                f"numpy {res['numpy_s']:7.3f} s  peak RSS {res['peak_rss_GB']:.2f} GB  (wall {res['wall_s']:.0f} s)")
    return results


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"reduced run: {', '.join(QUICK)} on resnet18 at 64x64")
    ap.add_argument("--presets", nargs="+", choices=sorted(CASES), metavar="CASE",
                    help=f"cases to run (default: all): {', '.join(FULL)}")
    ap.add_argument("--net", choices=sorted(NETWORKS), default=None,
                    help="network (default resnet50; resnet18 with --quick)")
    ap.add_argument("--weights", default=None, help="torchvision-layout checkpoint (default: random weights)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds per case (at most)")
    ap.add_argument("--budget-s", type=float, default=60.0, help="stop adding rounds after this many seconds")
    ap.add_argument("--threads", type=int, default=1, help="BLAS / torch threads of every case")
    ap.add_argument("--out", default=str(REPO / "bench" / "results.md"))
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument("--from-json", default=None, help="only re-render the report of a --json file")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:
        data = json.loads(Path(args.from_json).read_text())
        print(write_report(data["results"], data["meta"], args.out))
        return 0
    net = args.net or ("resnet18" if args.quick else "resnet50")
    names = args.presets or (QUICK if args.quick else FULL)
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    meta = machine_info()
    meta.update(command=f"python -m bench {argv_text}".strip(), net=net, image=NETWORKS[net][2], seed=args.seed,
                weights=args.weights or f"random (seed {args.seed})", threads=args.threads)
    t0 = time.perf_counter()
    results = run_suite(names, net=net, seed=args.seed, weights=args.weights, repeats=args.repeats,
                        budget_s=args.budget_s, threads=args.threads)
    meta["total_s"] = time.perf_counter() - t0
    meta["load_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    text = write_report(results, meta, args.out)
    print(text)
    return 1 if any("error" in r for r in results) else 0
