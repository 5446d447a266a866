"""Evaluation and calibration cost of the presets on a pretrained CIFAR-10 ResNet (issue 17).

Run:  python -m bench.bench_presets [--n 64] [--batch-size 64] [--rounds 3] [--threads 1]
      [--presets int8 rasch2023_standard xiao2022_resnet50] [--baseline int8] [--weights FILE]
      [--data-dir DIR] [--out bench/results_presets.md] [--json FILE] [--no-write]

Two targets of issue 17:

* **faithful preset <= 3x the noise-free 8-bit preset**: ``rasch2023_standard`` (1/f read noise
  drawn once at the evaluation time and held, short-term read and output noise sampled
  output-referred at every multiply, calibrated, t = 1 h) against ``int8`` (--baseline), both
  evaluated on the same ``--n`` CIFAR-10 test images;
* **calibration <= 1.5x an evaluation of the same images**, for every preset that needs
  calibration (``rasch2023_standard``: the DAC's static input range alpha;
  ``xiao2022_resnet50``: the DAC and ADC ranges).

Why ``int8`` is the baseline: it is the noise-free 8-bit preset on the same arrays as
``rasch2023_standard`` (512 x 512, even split; 8-bit DAC and ADC, 8-bit weights, no device
model). ``int8_bounded`` is the same plus bound management, whose re-reads of clipped vectors
add work that depends on the data; ``xiao2022_resnet50`` uses other arrays (1152 x 256).

Everything runs in one worker process (``--worker``, started by :func:`main` with
``--threads`` BLAS threads) on the same code paths as ``refsim eval``:

* **eval**: :func:`refsim.tools.inference.evaluate` of the first ``--n`` images of
  ``cifar10_test_subset.npz`` in batches of ``--batch-size`` (``refsim eval --limit N``), with
  the model built by :func:`refsim.tools.inference.build_model` (calibrated where the preset
  needs it); ``digital`` is the same network's exact float64 forward (``config=None`` path);
* **calibrate**: :func:`refsim.cli.calibration.calibrate_if_needed` with ``--calibrate-on``
  ``cifar10_train_subset.npz`` and ``--calibrate-n N`` (what ``refsim eval`` runs: loading and
  preprocessing the images, :func:`refsim.tools.calibrate.calibrate_model`, and building the
  calibrated model again), split into profile (``calibrate_model``) and the rest;
* **eval of the calibration images**: ``evaluate`` of the calibrated model on those same N
  calibration images: the denominator of the calibration target.

Times are CPU seconds of the worker (``time.process_time``; with one BLAS thread that is what
the wall time would be on an idle core), so the load from other processes on a shared machine
counts little; every step runs once per round, the presets interleaved (the order rotates
every round), and the best of the rounds is kept. Ratios are of times measured in this run.
Writes ``bench/results_presets.md`` (``--out``); returns the result dict.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_name("results_presets.md")
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
DEFAULT_PRESETS = ("int8", "rasch2023_standard", "xiao2022_resnet50")
FAITHFUL = "rasch2023_standard"
#: Issue 17's limits: the faithful preset / the noise-free 8-bit one; calibration / evaluation.
TARGETS = {"faithful_vs_noisefree": 3.0, "calibrate_vs_eval": 1.5}


def default_data_dir() -> Path:
    """``$REFSIM_DATA`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("REFSIM_DATA") or REPO.parent / "shared" / "data")


def _cpu(fn):
    """``(fn(), CPU seconds of this process, wall seconds)``."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - t0


def _best(xs) -> float:
    return float(min(xs)) if xs else float("nan")


# -- the worker -------------------------------------------------------------------------------
def run_worker(args) -> dict:
    """Every measurement, in this process (see the module docstring)."""
    import warnings

    from bench.passes import crossbars
    from refsim import presets
    from refsim.cli.calibration import calibrate_if_needed
    from refsim.health import DeadCrossbarWarning
    from refsim.tools import calibrate as cal_mod
    from refsim.tools.inference import build_model, evaluate, load_dataset

    warnings.simplefilter("ignore", DeadCrossbarWarning)  # int8's "max" ADC range: dead layers, known
    data = Path(args.data_dir)
    weights = Path(args.weights) if args.weights else data / "weights" / "resnet20-12fca82f.th"
    test_npz = data / "cifar10" / "cifar10_test_subset.npz"
    cal_npz = data / "cifar10" / "cifar10_train_subset.npz"
    for p in (weights, test_npz, cal_npz):
        if not p.exists():
            return {"skipped": f"{p} not found (pass --data-dir or set REFSIM_DATA)"}
    from refsim.io import load_state_dict

    sd = load_state_dict(weights)
    ds = load_dataset(test_npz, limit=args.n)
    ds_cal = load_dataset(cal_npz, limit=args.n)  # calibrate_if_needed takes the first N of this file
    ns = argparse.Namespace(calibrate_on=str(cal_npz), calibrate_n=args.n, calibration=None,
                            no_calibrate=False, quiet=True)

    # calibrate_model, timed inside calibrate_if_needed (same call, same arguments)
    profile_s: list[float] = []
    orig_calibrate_model = cal_mod.calibrate_model

    def timed_calibrate_model(*a, **kw):
        out, cpu, _ = _cpu(lambda: orig_calibrate_model(*a, **kw))
        profile_s.append(cpu)
        return out

    cal_mod.calibrate_model = timed_calibrate_model

    def build(cfg):
        return build_model("auto", sd, cfg, seed=args.seed)

    names = list(args.presets)
    state = {}
    for name in names:
        cfg = presets.get(name)
        model, build_cpu, _ = _cpu(lambda: build(cfg))
        state[name] = {"cfg": cfg, "model": model, "build_cpu_s": build_cpu,
                       "needs": presets.needs_calibration(name)}
    res: dict = {name: {"eval_cpu_s": [], "eval_wall_s": [], "cal_cpu_s": [], "cal_wall_s": [],
                        "profile_cpu_s": [], "eval_cal_cpu_s": []} for name in names}
    res["digital"] = {"eval_cpu_s": [], "eval_wall_s": []}
    digital_model = build_model("auto", sd, None, seed=args.seed)
    accuracy, cal_configs = {}, {}
    for rnd in range(args.rounds):
        order = names[rnd % len(names):] + names[: rnd % len(names)]  # rotate: no preset always first
        for name in order:
            st, r = state[name], res[name]
            if st["needs"]:
                n0 = len(profile_s)
                (model, info, _), cpu, wall = _cpu(lambda: calibrate_if_needed(
                    ns, st["model"], st["cfg"], lambda lc: build_model("auto", sd, lc, seed=args.seed)))
                if info is None or len(profile_s) != n0 + 1:
                    raise RuntimeError(f"{name}: calibrate_if_needed did not calibrate (once)")
                cfgs = {k: lay.config.to_dict() for k, lay in model.net.layers().items() if lay.config is not None}
                if name in cal_configs and cal_configs[name] != cfgs:
                    raise RuntimeError(f"{name}: the calibration differs between rounds (not deterministic)")
                cal_configs[name] = cfgs
                st["cal_model"], st["cal_info"] = model, info
                r["cal_cpu_s"].append(cpu)
                r["cal_wall_s"].append(wall)
                r["profile_cpu_s"].append(profile_s[-1])
                out, cpu, _ = _cpu(lambda: evaluate(model, ds_cal, batch_size=args.batch_size))
                r["eval_cal_cpu_s"].append(cpu)
            model = st.get("cal_model", st["model"])
            out, cpu, wall = _cpu(lambda: evaluate(model, ds, batch_size=args.batch_size))
            r["eval_cpu_s"].append(cpu)
            r["eval_wall_s"].append(wall)
            accuracy[name] = out["correct"]
        out, cpu, wall = _cpu(lambda: evaluate(digital_model, ds, batch_size=args.batch_size, digital=True))
        res["digital"]["eval_cpu_s"].append(cpu)
        res["digital"]["eval_wall_s"].append(wall)
        accuracy["digital"] = out["correct"]
    cal_mod.calibrate_model = orig_calibrate_model
    info = {}
    for name in names:
        st = state[name]
        net = st.get("cal_model", st["model"]).net
        xbs = crossbars(net)
        d = st["cfg"].device
        info[name] = {
            "needs_calibration": st["needs"], "build_cpu_s": st["build_cpu_s"],
            "read_sampling": sorted({xb.read_sampling for _, xb in xbs}),
            "held_read_noise": bool(d.has_held_read_noise()), "t_inference_s": d.t_inference_s,
            "arrays": f"{st['cfg'].array.rows_max} x {st['cfg'].array.cols_max}",
            "n_arrays": int(net.n_arrays), "n_crossbars": len(xbs),
            "calibrated": None if "cal_info" not in st else st["cal_info"]["images"],
            "config_name": sorted({xb.config.name for _, xb in xbs}),
        }
    return {"times": res, "accuracy": accuracy, "info": info, "n": args.n, "batch_size": args.batch_size,
            "rounds": args.rounds, "weights": str(weights), "presets": names}


# -- derived numbers and the report -----------------------------------------------------------
def derive(raw: dict, baseline: str) -> dict:
    """Best CPU times, the ratios and the per-round ratio ranges."""
    t = raw["times"]
    out = {"eval": {k: _best(v["eval_cpu_s"]) for k, v in t.items()}, "ratios": {}, "targets": []}
    base = t.get(baseline)
    for name, v in t.items():
        if name == "digital":
            continue
        r = {"vs_baseline": out["eval"][name] / out["eval"][baseline] if base else float("nan"),
             "vs_digital": out["eval"][name] / out["eval"]["digital"]}
        if base:
            per = np.array(v["eval_cpu_s"]) / np.array(base["eval_cpu_s"])
            r["vs_baseline_rounds"] = (float(per.min()), float(np.median(per)), float(per.max()))
        if v["cal_cpu_s"]:
            r["cal_s"], r["profile_s"] = _best(v["cal_cpu_s"]), _best(v["profile_cpu_s"])
            r["eval_cal_s"] = _best(v["eval_cal_cpu_s"])
            r["cal_vs_eval"] = r["cal_s"] / r["eval_cal_s"]
            r["profile_vs_eval"] = r["profile_s"] / r["eval_cal_s"]
            per = np.array(v["cal_cpu_s"]) / np.array(v["eval_cal_cpu_s"])
            r["cal_vs_eval_rounds"] = (float(per.min()), float(np.median(per)), float(per.max()))
        out["ratios"][name] = r
    rt = out["ratios"]
    if FAITHFUL in rt and base:
        v = rt[FAITHFUL]["vs_baseline"]
        out["targets"].append((f"{FAITHFUL} (calibrated, t = 1 h) evaluation <= "
                               f"{TARGETS['faithful_vs_noisefree']:g}x {baseline}", v,
                               v <= TARGETS["faithful_vs_noisefree"]))
    for name, r in rt.items():
        if "cal_vs_eval" in r:
            out["targets"].append((f"{name}: calibration <= {TARGETS['calibrate_vs_eval']:g}x an evaluation "
                                   "of the same images", r["cal_vs_eval"],
                                   r["cal_vs_eval"] <= TARGETS["calibrate_vs_eval"]))
    return out


def _rng(t) -> str:
    return f"{t[0]:.2f} / {t[1]:.2f} / {t[2]:.2f}"


def report(raw: dict, meta: dict, baseline: str) -> str:
    d = derive(raw, baseline)
    n, info, acc = raw["n"], raw["info"], raw["accuracy"]
    lines = [
        f"# Preset cost on a pretrained CIFAR-10 ResNet-20: evaluation and calibration ({n} images)", "",
        f"Command: `{meta['command']}` at commit {meta['git']}  ",
        f"Date: {meta['date']}; total wall time {meta['total_s'] / 60:.1f} min  ",
        f"Machine: {meta['nproc']} CPUs ({meta['cpu']}), Python {meta['python']}, NumPy {meta['numpy']} "
        f"({meta['blas']}), {meta['threads']} BLAS thread(s) in the worker  ",
        f"Load average (1, 5, 15 min) at start {meta['load_start']}, at end {meta['load_end']}: the machine is "
        "shared; times are the worker's CPU seconds (`time.process_time`), best of "
        f"{raw['rounds']} interleaved rounds (the presets' order rotates every round).  ",
        f"Weights: `{Path(raw['weights']).name}`; evaluated: the first {n} images of "
        f"`cifar10_test_subset.npz`, batch {raw['batch_size']} (as `refsim eval --limit {n}`); calibration: the "
        f"first {n} images of `cifar10_train_subset.npz` (`--calibrate-n {n}`).", "",
        "Definitions and the choice of the baseline: bench/bench_presets.py. Baseline: "
        f"`{baseline}`, the noise-free 8-bit preset on the same 512 x 512 arrays as `{FAITHFUL}`.", "",
        "## Targets (issue 17)", "", "| target | measured | |", "|---|---|---|",
    ]
    lines += [f"| {a} | {v:.2f}x | {'met' if ok else '**not met**'} |" for a, v, ok in d["targets"]]
    lines += ["", "## Evaluation", "",
              f"| preset | arrays | read noise sampling | held 1/f | eval CPU (s) | vs {baseline} (best; per round "
              "min / median / max) | vs digital | top-1 |", "|---|---|---|---|---|---|---|---|"]
    for name in raw["presets"]:
        r, i = d["ratios"][name], info[name]
        lines.append(f"| {name}{' (calibrated)' if i['needs_calibration'] else ''} | {i['arrays']} "
                     f"({i['n_arrays']} arrays) | {', '.join(i['read_sampling'])} | "
                     f"{'yes' if i['held_read_noise'] else 'no'} | {d['eval'][name]:.2f} | "
                     f"{r['vs_baseline']:.2f}x ({_rng(r.get('vs_baseline_rounds', (np.nan,) * 3))}) | "
                     f"{r['vs_digital']:.2f}x | {acc[name]}/{n} |")
    lines.append(f"| digital (float64, no crossbars) | - | - | - | {d['eval']['digital']:.2f} | "
                 f"{d['eval']['digital'] / d['eval'][baseline]:.2f}x | 1.00x | {acc['digital']}/{n} |")
    lines += ["", "## Calibration", "",
              "| preset | ranges | calibration CPU (s) | of which profile (`calibrate_model`) | eval of the same "
              "images (s) | calibration / eval (best; per round min / median / max) | profile / eval |",
              "|---|---|---|---|---|---|---|"]
    for name in raw["presets"]:
        r, i = d["ratios"][name], info[name]
        if "cal_s" not in r:
            continue
        lines.append(f"| {name} | {i['needs_calibration'].split(':')[0]} | {r['cal_s']:.2f} | {r['profile_s']:.2f} | "
                     f"{r['eval_cal_s']:.2f} | {r['cal_vs_eval']:.2f}x ({_rng(r['cal_vs_eval_rounds'])}) | "
                     f"{r['profile_vs_eval']:.2f}x |")
    rounds = raw["rounds"]
    lines += ["", "## Every round (CPU s; round 1 runs first in a fresh process: cold memory)", "",
              "| step | " + " | ".join(str(r + 1) for r in range(rounds)) + " |", "|---|" + "---|" * rounds]
    steps = [("eval_cpu_s", "eval"), ("cal_cpu_s", "calibration"), ("eval_cal_cpu_s", "eval of the calibration images")]
    for name in raw["presets"] + ["digital"]:
        for key, what in steps:
            v = raw["times"][name].get(key)
            if v:
                lines.append(f"| {name}: {what} | " + " | ".join(f"{t:.2f}" for t in v) + " |")
    lines += ["", "Calibration = `refsim.cli.calibration.calibrate_if_needed` as `refsim eval` runs it: load and "
              "preprocess the calibration images, profile (`refsim.tools.calibrate.calibrate_model`: one digital "
              "forward, every layer profiled as it is recorded: the DAC range from its input; for the ADC ranges one multiply per "
              "crossbar with an ideal ADC that keeps only its ADC input currents, `Crossbar.adc_input_currents`, on "
              "at most `MAX_PROFILE_VECTORS` input vectors), and build the calibrated model. Eval of the same images = `evaluate` of the calibrated model on those "
              "calibration images.", ""]
    return "\n".join(lines)


def _machine() -> dict:
    from bench.report import machine_info

    m = machine_info()
    m["load_start"] = tuple(round(v, 1) for v in m["load_start"]) if m.get("load_start") else None
    return m


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_presets", description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="evaluated images, and calibration images (default 64)")
    ap.add_argument("--batch-size", type=int, default=64, help="images per forward (default 64, as refsim eval)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best is kept (default 3)")
    ap.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS))
    ap.add_argument("--baseline", default="int8", help="the noise-free 8-bit preset (default int8)")
    ap.add_argument("--weights", default=None, help="CIFAR ResNet checkpoint (default <data>/weights/resnet20-...)")
    ap.add_argument("--data-dir", default=None, help="the shared data (default $REFSIM_DATA or ../shared/data)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads of the worker (default 1)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--json", default=None, help="also write the raw numbers here")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for flag, v in (("--n", args.n), ("--batch-size", args.batch_size), ("--rounds", args.rounds),
                    ("--threads", args.threads)):
        if v < 1:
            ap.error(f"{flag}: received {v}; expected a positive integer")
    if args.baseline not in args.presets:
        args.presets = [args.baseline] + list(args.presets)
    args.data_dir = str(args.data_dir or default_data_dir())
    if args.worker:
        print("BENCH_RESULT " + json.dumps(run_worker(args)), flush=True)
        return {}
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    meta = _machine()
    meta.update(command=f"python -m bench.bench_presets {argv_text}".strip(), threads=args.threads)
    cmd = [sys.executable, "-m", "bench.bench_presets", "--worker", "--n", str(args.n), "--batch-size",
           str(args.batch_size), "--rounds", str(args.rounds), "--baseline", args.baseline, "--seed",
           str(args.seed), "--data-dir", args.data_dir, "--presets", *args.presets]
    if args.weights:
        cmd += ["--weights", args.weights]
    env = dict(os.environ, **{v: str(args.threads) for v in THREAD_VARS})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    meta["total_s"] = time.perf_counter() - t0
    meta["load_end"] = tuple(round(v, 1) for v in os.getloadavg())
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"the worker exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    raw = json.loads(line[len("BENCH_RESULT "):])
    if "skipped" in raw:
        print(f"skipped: {raw['skipped']}")
        return raw
    text = report(raw, meta, args.baseline)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "raw": raw}, indent=1))
    if not args.no_write:
        Path(args.out).write_text(text)
    raw["derived"] = derive(raw, args.baseline)
    return raw


if __name__ == "__main__":
    main()
