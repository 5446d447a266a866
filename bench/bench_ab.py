"""Did a change make a preset slower? The same cases timed in two checkouts of refsim, side by side.

Run:  python -m bench.bench_ab OLD_CHECKOUT [NEW_CHECKOUT] [--cases int8 ideal ...] [--net resnet50]
                                [--rounds 4] [--out bench/results_ab.md] [--no-write]

For every case of :data:`bench.cases.CASES` (refsim kinds; default: every one but the per-cell
extrapolation) one worker process per checkout (``NEW_CHECKOUT`` defaults to this one; an old one is
made with ``git worktree add /tmp/old COMMIT``) builds the network with *its own* refsim and bench
code (random weights, seed 0, one image), then both answer ``--rounds`` interleaved rounds (old, new,
then new, old, ...): each round times the digital NumPy forward and the analog forward in CPU seconds
of the worker (``time.process_time``, one BLAS thread: on a shared machine the time other processes
hold the core is not counted). The report gives the best of each, the ratio of each analog forward
to its own process's NumPy forward, the quotient new / old of both (the rule of issue 14: no preset's
time may grow by more than 5 %), and whether the two outputs are bit for bit the same.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_name("results_ab.md")
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: the worker, run with ``python -c`` in a checkout (so that it imports that checkout's refsim and bench)
WORKER = r'''
import hashlib, json, sys, time
import numpy as np
from bench.cases import CASES, build_inputs, build_network
case, net_name = CASES[sys.argv[1]], sys.argv[2]
sd, x = build_inputs(net_name, 0)
net = build_network(net_name, sd, case.config(), 0)
y = np.asarray(net(x))
print(json.dumps({"hash": hashlib.sha256(y.tobytes()).hexdigest()}), flush=True)
for line in sys.stdin:
    c0 = time.process_time(); net(x, digital=True); c1 = time.process_time(); net(x); c2 = time.process_time()
    print(json.dumps({"numpy_s": c1 - c0, "analog_s": c2 - c1}), flush=True)
'''


def default_cases() -> list[str]:
    from bench.cases import CASES

    return [name for name, c in CASES.items() if c.kind in ("refsim", "wire")]


def _worker(checkout: Path, case: str, net: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(checkout), **{v: "1" for v in THREAD_VARS})
    return subprocess.Popen([sys.executable, "-c", WORKER, case, net], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env, cwd=checkout)


def run_case(old: Path, new: Path, case: str, *, net: str, rounds: int) -> dict:
    """Best CPU times of the case in both checkouts over ``rounds`` interleaved rounds."""
    procs = {"old": _worker(old, case, net), "new": _worker(new, case, net)}
    try:
        hashes = {}
        for name, p in procs.items():
            line = p.stdout.readline()
            if not line:
                return {"case": case, "error": f"the {name} worker exited with code {p.wait()}"}
            hashes[name] = json.loads(line)["hash"]
        times = {name: [] for name in procs}
        for r in range(rounds):
            for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
                procs[name].stdin.write("round\n")
                procs[name].stdin.flush()
                times[name].append(json.loads(procs[name].stdout.readline()))
    finally:
        for p in procs.values():
            if p.stdin and not p.stdin.closed:
                p.stdin.close()
            p.wait()
    res = {"case": case, "same_output": hashes["old"] == hashes["new"]}
    for name, t in times.items():
        res[f"{name}_s"] = min(d["analog_s"] for d in t)
        res[f"{name}_numpy_s"] = min(d["numpy_s"] for d in t)
        res[f"{name}_ratio"] = res[f"{name}_s"] / res[f"{name}_numpy_s"]
    res["time_quotient"] = res["new_s"] / res["old_s"]
    res["ratio_quotient"] = res["new_ratio"] / res["old_ratio"]
    return res


def _git_head(checkout: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def write_report(results: list[dict], args, path: Path) -> None:
    cmd = "python -m bench.bench_ab " + " ".join(sys.argv[1:])
    lines = [
        "# Preset times against an earlier commit (CPU time, side by side)", "",
        f"Command: `{cmd}`  ",
        f"Old: `{args.old}` at {_git_head(Path(args.old))}; new: `{args.new}` at {_git_head(Path(args.new))}  ",
        f"Date: {datetime.datetime.now().isoformat(timespec='seconds')}  ",
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, NumPy "
        f"{np.__version__}; load average {tuple(round(v, 2) for v in os.getloadavg())}", "",
        "Definitions: bench/bench_ab.py (network " + args.net + ", one image, random weights; CPU seconds of each "
        "worker, one BLAS thread, best of " + str(args.rounds) + " interleaved rounds; ratio = analog forward / "
        "the NumPy forward of the same process).", "",
        "| case | old (s) | new (s) | old / NumPy | new / NumPy | new / old (time) | new / old (ratio) | "
        "same output |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['error']} | | | | | | |")
            continue
        lines.append(f"| {r['case']} | {r['old_s']:.3f} | {r['new_s']:.3f} | {r['old_ratio']:.2f} | "
                     f"{r['new_ratio']:.2f} | **{r['time_quotient']:.3f}** | {r['ratio_quotient']:.3f} | "
                     f"{'yes' if r['same_output'] else 'no'} |")
    worst = max((r["time_quotient"] for r in results if "error" not in r), default=float("nan"))
    lines += ["", f"Largest new / old: **{worst:.3f}** (the rule: at most 1.05).", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_ab", description=__doc__.splitlines()[0])
    ap.add_argument("old", help="an earlier checkout of refsim (git worktree add /tmp/old COMMIT)")
    ap.add_argument("new", nargs="?", default=str(REPO), help="the checkout to compare (default: this one)")
    ap.add_argument("--cases", nargs="+", default=None, help="cases of bench.cases.CASES (default: every refsim one)")
    ap.add_argument("--net", default="resnet50")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    for name in ("old", "new"):
        if not (Path(getattr(args, name)) / "refsim" / "__init__.py").is_file():
            ap.error(f"{name}: received {getattr(args, name)!r}; "
                     "expected a checkout of refsim (with refsim/__init__.py)")
    if args.rounds < 1:
        ap.error(f"--rounds: received {args.rounds}; expected an integer >= 1")
    results = []
    for case in args.cases or default_cases():
        r = run_case(Path(args.old), Path(args.new), case, net=args.net, rounds=args.rounds)
        results.append(r)
        if "error" in r:
            print(f"{case:>18}: FAILED {r['error']}", flush=True)
        else:
            print(f"{case:>18}: old {r['old_s']:.3f} s  new {r['new_s']:.3f} s  new/old {r['time_quotient']:.3f} "
                  f"(ratio to NumPy {r['ratio_quotient']:.3f})  same output: {r['same_output']}", flush=True)
    if not args.no_write:
        write_report(results, args, Path(args.out))
    return results


if __name__ == "__main__":
    main()
