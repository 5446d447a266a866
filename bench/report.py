"""Derived numbers, targets and the Markdown report of a benchmark run (:mod:`bench.suite`)."""
from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import numpy as np

from bench.cases import CASES

__all__ = ["machine_info", "derive", "targets", "write_report", "TARGETS"]

#: The targets of issue 10 (limits are ratios unless the unit says otherwise).
TARGETS = {
    "ideal_vs_numpy": 1.3,
    "int8_vs_numpy": 2.5,
    "per_pass": 1.5,
    "bitserial_vs_ideal": 12.0,
    "noise_vs_noisefree": 3.0,
    "wire_first_image_s": 15 * 60.0,
    "wire_later_vs_ideal": 1.5,
    "peak_rss_GB": 2.0,
}


def machine_info() -> dict:
    """nproc, CPU model, memory, load, versions, BLAS."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        blas = "unknown"
    try:
        import subprocess
        repo = Path(__file__).resolve().parents[1]
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "refsim"], cwd=repo, capture_output=True,
                               text=True).stdout.strip()
        git = f"{head}{' + uncommitted changes in refsim/' if dirty else ''}"
    except OSError:
        git = "unknown"
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9 if hasattr(os, "sysconf") else float("nan")
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "nproc": os.cpu_count(), "cpu": cpu, "mem_GB": mem,
        "load_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "git": git, "python": platform.python_version(), "numpy": np.__version__, "blas": blas,
    }


def _rel_err(y, y_ref) -> float:
    y, y_ref = np.asarray(y), np.asarray(y_ref)
    return float(np.max(np.abs(y - y_ref)) / np.max(np.abs(y_ref)))


def derive(results: list[dict]) -> dict:
    """Per case: ratio to the in-process NumPy forward, per-pass ratio, ratio to ideal and
    to its counterpart, float32 logit error; keyed by case name."""
    by = {r["case"]: dict(r) for r in results if "error" not in r and "skipped" not in r}
    for r in by.values():
        r["ratio"] = r["forward_s"] / r["numpy_s"]
        pm = r.get("pass_matmul_s") or 0.0
        r["per_pass"] = r["matvec_s"] / pm if pm > 0 else float("nan")
        if r["case"] == "wire":
            r["first_image_est_s"] = r["build_s"] + r["geff_total_s"] + r["first_s"]
    ideal = by.get("ideal")
    for r in by.values():
        if ideal is not None:
            r["vs_ideal"] = r["ratio"] / ideal["ratio"]
        c = CASES[r["case"]].counterpart
        if c in by:
            r["vs_counterpart"] = r["ratio"] / by[c]["ratio"]
            if "logits" in r and "logits" in by[c] and r["case"].endswith("_f32"):
                r["f32_rel_err"] = _rel_err(r["logits"], by[c]["logits"])
    return by


def targets(by: dict) -> list[tuple[str, str, str]]:
    """``(target, measured, met)`` rows."""
    T, rows = TARGETS, []

    def row(text, value, limit, fmt="{:.2f}x", na=None):
        if value is None:
            rows.append((text, na or "not run", "-"))
        else:
            rows.append((text, fmt.format(value), "met" if value <= limit else "**not met**"))

    row(f"ideal <= {T['ideal_vs_numpy']}x plain NumPy", by.get("ideal", {}).get("ratio"), T["ideal_vs_numpy"])
    row(f"int8 (8-bit DAC and ADC) <= {T['int8_vs_numpy']}x plain NumPy", by.get("int8", {}).get("ratio"),
        T["int8_vs_numpy"])
    for name, r in by.items():
        if np.isfinite(r.get("per_pass", np.nan)):
            row(f"{name}: time per analog pass <= {T['per_pass']}x the matmul of that pass", r["per_pass"],
                T["per_pass"])
    row(f"bitserial_int8 <= {T['bitserial_vs_ideal']:g}x ideal", by.get("bitserial_int8", {}).get("vs_ideal"),
        T["bitserial_vs_ideal"])
    row(f"rasch_sqrt (output-referred PCM noise) <= {T['noise_vs_noisefree']:g}x noise-free",
        by.get("rasch_sqrt", {}).get("vs_counterpart"), T["noise_vs_noisefree"])
    pc = by.get("rasch_percell", {}).get("vs_counterpart")
    rows.append(("rasch_percell (1/f, per-cell; target applies to output-referred only)",
                 "-" if pc is None else f"{pc:.0f}x noise-free (extrapolated)", "n/a"))
    w = by.get("wire", {})
    row(f"wire: first image incl. G_eff <= {T['wire_first_image_s'] / 60:g} min", w.get("first_image_est_s"),
        T["wire_first_image_s"], fmt="{:.0f} s (extrapolated)")
    row(f"wire: later images <= {T['wire_later_vs_ideal']}x ideal", w.get("vs_ideal"), T["wire_later_vs_ideal"])
    for name, r in by.items():
        if "peak_rss_GB" in r and CASES[name].kind != "torch":
            row(f"{name}: peak memory <= {T['peak_rss_GB']:g} GB (ru_maxrss)", r["peak_rss_GB"], T["peak_rss_GB"],
                fmt="{:.2f} GB")
    return rows


def _f(v, fmt="{:.3g}") -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else fmt.format(v)


def table(by: dict, results: list[dict]) -> list[str]:
    head = ("| case | build (s) | first image (s) | forward (s) | NumPy fwd, same process (s) | ratio to NumPy | "
            "ratio to ideal | analog passes / image | matvec (s) | pass-matmul (s) | time per pass / matmul | "
            "peak RSS (GB) |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for res in results:
        name = res["case"]
        if name not in by:
            out.append(f"| {name} | {res.get('error') or res.get('skipped')} |" + " |" * 10)
            continue
        r = by[name]
        star = " (extrapolated)" if r.get("extrapolated") else ""
        out.append(
            f"| {name}{star} | {_f(r['build_s'])} | {_f(r['first_s'])} | {_f(r['forward_s'])} | {_f(r['numpy_s'])} | "
            f"{_f(r['ratio'], '{:.2f}')} | {_f(r.get('vs_ideal'), '{:.2f}')} | {r.get('n_passes', 0)} | "
            f"{_f(r.get('matvec_s'))} | {_f(r.get('pass_matmul_s'))} | {_f(r.get('per_pass'), '{:.2f}')} | "
            f"{_f(r['peak_rss_GB'], '{:.2f}')} |")
    return out


def details(by: dict) -> list[str]:
    out = []
    f32 = [r for r in by.values() if "f32_rel_err" in r]
    if f32:
        out += ["", "### float32 mode vs float64", "",
                "| case | forward ratio f32 / f64 | max relative logit error vs float64 |", "|---|---|---|"]
        out += [f"| {r['case']} | {r['vs_counterpart']:.2f} | {r['f32_rel_err']:.2e} |" for r in f32]
    if "torch_f32" in by or "torch_f64" in by:
        out += ["", "### PyTorch CPU", ""]
        out += [f"- {n}: {by[n]['forward_s']:.3f} s, {by[n]['ratio']:.2f}x plain NumPy, max relative logit "
                f"difference to NumPy {by[n]['max_rel_diff_vs_numpy']:.1e}" for n in ("torch_f32", "torch_f64") if n in by]
    if "wire" in by:
        w = by["wire"]
        out += ["", "### Wire resistance: exact G_eff", "",
                f"{w['geff_arrays']} physical arrays; G_eff timed once per distinct array shape on a programmed "
                f"conductance matrix of that shape (`refsim.wires.parasitics.effective_conductance`, 1 ohm row and column "
                f"segments) and multiplied by the number of arrays of that shape: **{w['geff_total_s']:.0f} s** "
                f"wall ({w.get('geff_total_cpu_s', float('nan')):.0f} s of CPU time, i.e. the wall time on an idle "
                f"core with one BLAS thread). "
                f"First image = build without wires ({w['build_s']:.1f} s) + G_eff + first forward "
                f"({w['first_s']:.1f} s) = **{w['first_image_est_s']:.0f} s**. Later images: the forward of "
                f"the same tiling (G_eff has the shape of G, so the forward arithmetic is the same).", "",
                "| array shape | arrays | G_eff s each (wall) | CPU s each | s total (wall) |", "|---|---|---|---|---|"]
        out += [f"| {s['shape'][0]} x {s['shape'][1]} | {s['count']} | {s['seconds']:.2f} | "
                f"{s.get('cpu_s', float('nan')):.2f} | {s['count'] * s['seconds']:.0f} |" for s in w["geff_shapes"]]
    if "rasch_percell" in by:
        p = by["rasch_percell"]
        out += ["", "### Exact per-cell PCM read noise (extrapolated)", "",
                f"Analog forward timed on {', '.join(q['layer'] for q in p['per_layer'])} (their inputs recorded by a digital "
                f"forward), {100 * p['measured_mac_fraction']:.1f}% of the network's multiply-accumulates; the "
                f"rest extrapolated at the measured seconds per MAC; forward = digital forward + extrapolated "
                f"analog matvecs.", "", "| layer | MACs | analog forward (s) | CPU (s) | ns per MAC |", "|---|---|---|---|---|"]
        out += [f"| {q['layer']} | {q['macs']:.3g} | {q['seconds']:.2f} | {q.get('cpu_s', float('nan')):.2f} | "
                f"{1e9 * q['matvec_s'] / q['macs']:.1f} |" for q in p["per_layer"]]
    return out


def write_report(results: list[dict], meta: dict, path) -> str:
    """Render the report, write it to ``path`` and return its text."""
    by = derive(results)
    load = meta.get("load_start")
    lines = [
        f"# refsim benchmark: {meta['net']}, one {meta['image']}x{meta['image']} image", "",
        f"Command: `{meta['command']}` at commit {meta.get('git', 'unknown')}  ", f"Date: {meta['date']}; total wall time {meta.get('total_s', 0) / 60:.1f} min  ",
        f"Machine: {meta['nproc']} CPUs ({meta['cpu']}), {meta['mem_GB']:.0f} GB RAM, Python {meta['python']}, "
        f"NumPy {meta['numpy']} ({meta['blas']}), {meta['threads']} BLAS/torch thread(s) per case  ",
        f"Load average (1, 5, 15 min) at start {load}, at end {meta.get('load_end')}: the machine is shared, "
        "so absolute times vary between runs; ratios are taken against the plain-NumPy forward timed "
        "interleaved in the same process.  ",
        f"Weights: {meta['weights']}; every case in a fresh subprocess; peak memory = that process's "
        "`ru_maxrss` (includes the state dict and the image, and the interpreter).", "",
        "## Results", "",
    ]
    lines += table(by, results)
    lines += ["", "## Targets", "", "| target | measured | |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in targets(by)]
    lines += details(by)
    lines += ["", "Definitions: docs/performance.md.", ""]
    text = "\n".join(lines)
    Path(path).write_text(text)
    return text
