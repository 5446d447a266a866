"""Benchmark of Crossbar.matvec against plain ``x @ W`` (float64 BLAS), same run, same data.

Run:  python bench/bench_crossbar.py [--repeats N] [--no-write]

A 1152 x 256 weight matrix (one xiao2022 array) and a batch of 3136 input vectors
(a 56 x 56 feature map). Reports the median of several repeats and the ratio to
``x @ W``; writes bench/results_crossbar.md. Targets: ideal <= 1.3x, 8-bit DAC/ADC <= 2.5x.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import refsim

N_IN, N_OUT, BATCH = 1152, 256, 3136
TARGETS = {"ideal preset": 1.3, "8-bit DAC + 8-bit ADC": 2.5}
#: targets relative to another case of the same run: label -> (reference label, max ratio)
REL_TARGETS = {"int8 + read noise, output-referred": ("int8 preset (8-bit W, DAC, ADC)", 3.0)}
#: cases timed once (too slow to repeat): the exact per-cell reference path
ONCE = {"int8 + read noise, per-cell (reference)"}


def cases() -> list[tuple[str, refsim.CrossbarConfig | None]]:
    ideal = refsim.presets.get("ideal")
    return [
        ("x @ W (numpy)", None),
        ("ideal preset", ideal),
        ("8-bit DAC + 8-bit ADC", ideal.replace(**{"dac.bits": 8, "adc.bits": 8})),
        ("int8 preset (8-bit W, DAC, ADC)", refsim.presets.get("int8")),
        ("bit-serial inputs (slice_bits=1)", refsim.presets.get("bitserial_int8")),
        ("4 weight slices x 2 bits", refsim.presets.get("int8").replace(**{"weight.n_slices": 4,
                                                                            "weight.bits_per_slice": 2})),
        # read noise redrawn at every multiply (state-independent, 1 % of g_max per device)
        ("int8 + read noise, output-referred", _read_noise("output_referred")),
        ("int8 + read noise, per-cell (reference)", _read_noise("per_cell")),
    ]


def _read_noise(sampling: str) -> refsim.CrossbarConfig:
    return refsim.presets.get("int8").replace(**{"device.read_model": "independent", "device.read_sigma_rel": 0.01,
                                                 "device.read_sampling": sampling})


def time_median(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="timed repeats per case (median reported)")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results_crossbar.md")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    w = rng.normal(size=(N_IN, N_OUT)) / np.sqrt(N_IN)
    x = rng.normal(size=(BATCH, N_IN))
    load_before = load_average()
    rows = []
    t_ref = None
    for label, cfg in cases():
        if cfg is None:
            fn = lambda: x @ w  # noqa: E731
        else:
            xb = refsim.Crossbar(w, cfg, rng=np.random.default_rng(1))
            fn = lambda xb=xb: xb.matvec(x)  # noqa: E731
        t0 = time.perf_counter()
        y = fn()
        t_first = time.perf_counter() - t0
        err = float(np.max(np.abs(y - x @ w)) / np.max(np.abs(x @ w)))
        t = t_first if label in ONCE else time_median(fn, args.repeats)
        t_ref = t if t_ref is None else t_ref
        rows.append((label, t, t / t_ref, err))
        print(f"{label:36s} {t * 1e3:9.1f} ms  {t / t_ref:6.2f}x  max rel. error {err:.1e}", flush=True)
    load_after = load_average()

    lines = [
        "# Crossbar benchmark",
        "",
        f"Command: `python bench/bench_crossbar.py --repeats {args.repeats}`  ",
        f"Date: {datetime.datetime.now().isoformat(timespec='seconds')}  ",
        f"Machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}  ",
        f"Load average (1, 5, 15 min) before: {load_before}; after: {load_after} "
        f"(values above the CPU count mean other processes shared the machine)",
        "",
        f"W: {N_IN} x {N_OUT}, x: {BATCH} x {N_IN}, float64; median of {args.repeats} repeats after one warm-up; "
        "ratio to `x @ W` measured in the same run. Error: max |y - x @ W| / max |x @ W|.",
        "",
        "| case | time (ms) | ratio to x @ W | target | max rel. error |",
        "|---|---:|---:|---:|---:|",
    ]
    times = {label: t for label, t, _, _ in rows}
    for label, t, ratio, err in rows:
        target = TARGETS.get(label)
        mark = "" if target is None else f"<= {target}x ({'met' if ratio <= target else 'MISSED'})"
        if label in REL_TARGETS:
            ref, limit = REL_TARGETS[label]
            rel = t / times[ref]
            mark = f"<= {limit}x `{ref}`: {rel:.2f}x ({'met' if rel <= limit else 'MISSED'})"
        if label in ONCE:
            mark = "timed once (slow reference path)"
        lines.append(f"| {label} | {t * 1e3:.1f} | {ratio:.2f} | {mark} | {err:.1e} |")
    lines += [
        "",
        "Notes: this measures time, not accuracy. The large errors of the quantized cases are physics, not",
        "bugs: the ADC's \"max\" range of a 1152-row array is the current of every row driven at full scale",
        "on full-on cells, and random inputs use a small fraction of it, so few ADC levels are used (see",
        "tutorial 04 for calibrated ranges). Bit-serial inputs make 7 reads per multiply, 4 weight slices",
        "4 reads, each with its own ADC conversion. Read noise: output-referred sampling adds one matmul",
        "(V^2 @ sigma^2) and one normal per output; the per-cell reference draws one normal per cell and",
        "input vector (two devices x 1152 x 256 x 3136 here) and is the exact, slow golden path.",
    ]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if not args.no_write:
        out = Path(__file__).resolve().parent / "results_crossbar.md"
        out.write_text(text)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
