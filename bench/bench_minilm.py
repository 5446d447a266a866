"""Benchmark: all-MiniLM-L6-v2 on STS-B, an 8-bit preset against refsim's digital forward of the same model.

In one process, for each preset, one model is built with the preset on every
weight matrix; the first ``--pairs`` sentence pairs of the STS-B development
set are embedded (both sentences, batches of one token count, as ``refsim
eval --model minilm`` does) with the analog forward and with ``digital=True``
(exact float64 matmuls, same weights): the same work as the command's two
runs. Digital and analog runs alternate, ``--repeats`` times each, and the
fastest of each is kept (the shared machine is noisy). The time for the whole
development set (1,500 pairs) is extrapolated linearly from the measured pairs.

Targets (issue 19): analog / digital <= 2.5x; the whole development set on an
8-bit preset in <= 10 minutes.

Run: ``OPENBLAS_NUM_THREADS=1 python bench/bench_minilm.py [--pairs 100] [--repeats 2]
[--presets int8 int8_bounded] [--out bench/results_minilm.md]``
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refsim import presets  # noqa: E402
from refsim.tools.sts import evaluate_sts, load_sentence_model, load_sts  # noqa: E402

DEV_PAIRS = 1500


def measure(preset: str, data, repeats: int) -> dict:
    """Build the model with ``preset``; best-of-``repeats`` times of the digital and the analog STS-B run."""
    t0 = time.perf_counter()
    model = load_sentence_model("minilm", config=presets.get(preset), seed=0)
    build = time.perf_counter() - t0
    best = {True: float("inf"), False: float("inf")}
    res = {}
    for _ in range(repeats):
        for digital in (True, False):
            r = evaluate_sts(model, data, digital=digital)
            best[digital] = min(best[digital], r["seconds"])
            res[digital] = r
    return {"preset": preset, "build_s": build, "digital_s": best[True], "analog_s": best[False],
            "ratio": best[False] / best[True], "spearman": res[False]["spearman"],
            "spearman_digital": res[True]["spearman"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "sts-b" / "dev.tsv"))
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--presets", nargs="+", default=["int8", "int8_bounded"])
    ap.add_argument("--out", default=None, help="write the markdown table here (default: print it)")
    args = ap.parse_args(argv)
    data = load_sts(args.data, limit=args.pairs)
    load0 = os.getloadavg()[0]
    start = datetime.datetime.now(datetime.timezone.utc)
    rows = [measure(p, data, args.repeats) for p in args.presets]
    load1 = os.getloadavg()[0]
    scale = DEV_PAIRS / len(data)
    cmd = "OPENBLAS_NUM_THREADS=" + os.environ.get("OPENBLAS_NUM_THREADS", "(unset)") + " python bench/bench_minilm.py " \
          + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"Command: `{cmd.strip()}`, run {start:%Y-%m-%d %H:%M} UTC, load average {load0:.1f} at the start, "
        f"{load1:.1f} at the end; {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        f"First {len(data)} pairs of STS-B dev ({2 * len(data)} sentences); best of {args.repeats} runs each; "
        f"dev-set times extrapolated x{scale:g} to {DEV_PAIRS} pairs.",
        "",
        "| preset | build (s) | digital (s) | analog (s) | analog / digital | target <= 2.5x "
        "| dev set analog, extrapolated (min) | target <= 10 min | Spearman analog | Spearman digital |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        dev_min = (r["build_s"] + r["analog_s"] * scale) / 60
        lines.append(
            f"| {r['preset']} | {r['build_s']:.1f} | {r['digital_s']:.1f} | {r['analog_s']:.1f} | {r['ratio']:.2f}x "
            f"| {'met' if r['ratio'] <= 2.5 else 'NOT met'} | {dev_min:.1f} | {'met' if dev_min <= 10 else 'NOT met'} "
            f"| {r['spearman']:.4f} | {r['spearman_digital']:.4f} |")
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
