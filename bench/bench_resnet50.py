"""Benchmark: ResNet-50 (torchvision layout), one 224x224 image, ideal preset vs plain NumPy.

Both networks hold the same random weights (He-normal convolutions, random
BatchNorm statistics); the "plain NumPy" network is the same code with
``config=None`` (im2col + ``x @ W``, no crossbar objects). The two forwards
are timed interleaved (numpy, ideal, numpy, ideal, ...) and the best of
``--repeats`` of each is kept, so load from other processes hits both alike.
Prints the times, their ratio, the one-off programming (build) times, the
agreement of the logits, the peak memory traced (``tracemalloc``, NumPy
buffers included) while building and running the ideal network, and the
process's peak resident memory (``resource.getrusage().ru_maxrss``, which
also counts the state dict and the plain-NumPy network).

Run: ``python bench/bench_resnet50.py [--repeats 5] [--seed 0]``
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
import tracemalloc

import numpy as np

import refsim
from refsim.nn import resnet_from_state_dict
from refsim.nn.resnet import resnet_param_shapes
from refsim.nn.statedict import random_params


def random_state_dict(rng: np.random.Generator) -> dict:
    """Random ResNet-50 parameters with torchvision's keys and shapes."""
    return random_params(resnet_param_shapes(50), rng)


def interleaved_best_times(fns, repeats: int):
    """Best wall time (s) of each function over ``repeats`` interleaved rounds, and the last results."""
    best, outs = [np.inf] * len(fns), [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            outs[i] = fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best, outs


def peak_rss_GB() -> float:
    """Peak resident set size of this process, GB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1e9 if sys.platform == "darwin" else r * 1024 / 1e9


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    sd = random_state_dict(rng)
    x = rng.normal(size=(1, 3, 224, 224))

    t0 = time.perf_counter()
    digital = resnet_from_state_dict(sd, config=None)
    build_digital = time.perf_counter() - t0
    digital(x)  # warm-up

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    analog = resnet_from_state_dict(sd, config=refsim.presets.get("ideal"), seed=args.seed)
    build_ideal = time.perf_counter() - t0
    analog(x)
    traced_peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()

    (t_digital, t_ideal), (y_digital, y_ideal) = interleaved_best_times(
        [lambda: digital(x), lambda: analog(x)], args.repeats
    )

    res = {
        "forward_numpy_s": t_digital,
        "forward_ideal_s": t_ideal,
        "ratio": t_ideal / t_digital,
        "build_numpy_s": build_digital,
        "build_ideal_s": build_ideal,
        "n_arrays": analog.n_arrays,
        "max_rel_diff": float(np.max(np.abs(y_ideal - y_digital)) / np.max(np.abs(y_digital))),
        "same_top5": bool(np.array_equal(np.argsort(-y_ideal[0])[:5], np.argsort(-y_digital[0])[:5])),
        "ideal_traced_peak_GB": traced_peak / 1e9,
        "process_peak_rss_GB": peak_rss_GB(),
    }
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
          f"python {platform.python_version()}, numpy {np.__version__}")
    for k, v in res.items():
        print(f"{k:>16}: {v:.4g}" if isinstance(v, float) else f"{k:>16}: {v}")
    return res


if __name__ == "__main__":
    main()
