"""Benchmark: ``refsim infer`` on ResNet-50 (random weights, one 224x224 image) vs a plain-NumPy forward.

Each measurement is a fresh child process, so start-up (imports, random
weights, programming the crossbars) counts:

* ``refsim infer --model resnet50 --weights random --preset P --seed 0 --json``
  (builds the network on crossbars, runs the analog forward and the ideal
  digital forward that the command prints side by side);
* the plain-NumPy reference: the same loading (``random_state_dict("resnet50")``,
  the demo image, ImageNet preprocessing) and one forward of the same network
  built with ``config=None`` (im2col + ``x @ W``, no crossbar objects).

Wall time is measured around the child; peak memory is the child's own
``ru_maxrss`` (``os.wait4``). Targets: ideal / NumPy <= 1.5x; peak <= 2 GB in
every preset. The best of ``--repeats`` runs of each is kept (the shared
machine is noisy).

Run: ``python bench/bench_infer.py [--repeats 2] [--presets ideal int8 aihwkit_noise_managed]``
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time

#: ``refsim infer`` in a child.
RUN_CLI = "import sys; from refsim import cli; sys.exit(cli.main(sys.argv[1:]))"
#: The plain-NumPy reference: same loading, one forward with config=None.
RUN_NUMPY = (
    "from refsim.tools import inference as inf; "
    "m = inf.build_model('resnet50', 'random', None); "
    "x = inf.preprocess_image(inf.demo_image(224), m)[None]; "
    "print(int(m.net(x).argmax()))"
)


def run_child(argv: list) -> tuple[float, float, str]:
    """Run ``argv``; return (wall time s, peak RSS GB of the child, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]}... exited with {proc.returncode}")
    rss = usage.ru_maxrss / 1e9 if sys.platform == "darwin" else usage.ru_maxrss * 1024 / 1e9
    return wall, rss, out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--presets", nargs="+", default=["ideal", "int8", "aihwkit_noise_managed"])
    args = ap.parse_args(argv)
    py = sys.executable
    res = {}
    runs = [("numpy", [py, "-c", RUN_NUMPY])] + [
        (p, [py, "-c", RUN_CLI, "infer", "--model", "resnet50", "--weights", "random", "--preset", p,
             "--seed", "0", "--json"]) for p in args.presets]
    for _ in range(args.repeats):  # interleaved: load from other processes hits all alike
        for name, cmd in runs:
            wall, rss, _ = run_child(cmd)
            print(f"  {name}: {wall:.2f} s, peak RSS {rss:.2f} GB", file=sys.stderr, flush=True)
            best = res.get(name, (float("inf"), 0.0))
            res[name] = (min(best[0], wall), max(best[1], rss))
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}, "
          f"python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'run':<20} {'wall (s)':>9} {'peak RSS (GB)':>14} {'vs numpy':>9}")
    for name, (wall, rss) in res.items():
        print(f"{name:<20} {wall:9.2f} {rss:14.2f} {wall / res['numpy'][0]:8.2f}x")
    return res


if __name__ == "__main__":
    main()
