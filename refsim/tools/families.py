r"""The cross-family study (docs/results/families/): stages, results and summaries.

``python -m refsim.tools.families STAGE [options]``, from the repository root:

* ``levels --out L.jsonl [--target 0.2]``: every knob of :data:`refsim.tools.stress.KNOBS` at the
  level where the standard MVM error (docs/MODEL.md X6) reaches the target, and the error of
  ``rasch2023_standard`` at each time of ``RASCH2023_TIMES_S`` (one JSON line each).
* ``real_levels --out R.jsonl [--knobs K1,K2]``: per family, each knob at the level where the
  median per-layer error of the network (X6 on its real layers) reaches the target; ``stress
  --levels R.jsonl`` then evaluates each family at its own levels.
* ``direct --out D.jsonl``: every family under ``rasch2023_standard`` at the times ``--times``
  (``--digital-layers depthwise``: those layers digital, a diagnostic).
* ``stress --levels L.jsonl --out S.jsonl``: every family on :func:`refsim.tools.stress.stress_base`
  alone and with each knob at its level; knobs without randomness (DAC and ADC bits, IR drop) once.
* ``layers --levels L.jsonl --out E.jsonl``: per-layer errors (X6 on each layer's recorded input,
  :func:`refsim.tools.family_models.layer_errors`) of every family on a few evaluated inputs, on the
  stress base, at each knob's level and under ``rasch2023_standard`` at 1 h: how far the MVM error
  of the random layer is from the error the real layers see.
* ``table FILE.jsonl``: Markdown table of A* (mean and standard error of the mean over repeats).
* ``figures --direct D.jsonl --stress S.jsonl --outdir DIR [--tag T --title TEXT]``: the study's figures
  (``direct_a_star.png``, ``stress_a_star{T}.png``).

Common options: ``--families`` (comma list of :data:`refsim.tools.family_models.FAMILIES`),
``--size FAMILY=N`` and ``--cal FAMILY=N`` (repeatable; defaults ``DEFAULT_SIZES`` and
``DEFAULT_CAL``), ``--repeats R`` and ``--seed S`` (repeat ``r`` is built with
``SeedSequence(S, spawn_key=(r,))``, as ``refsim sweep``), ``--data ROOT``.

The points run through :func:`refsim.tools.sweep.run_sweep` with :func:`evaluate_task`, so a
results file is resumable as a sweep's. Each record is a sweep record (docs/sweep.md) whose
``accuracy`` is the normalized accuracy A* and whose extra keys are ``family``, ``metric``,
``value`` (the task metric), ``digital_value``, ``e_chance``, ``a_star``, ``stage``, ``knob``
and ``level_mvm_error``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from refsim._validate import received
from refsim.cli.common import USER_ERRORS, float_arg, int_arg
from refsim.config import CrossbarConfig
from refsim.tools.family_models import DEFAULT_CAL, DEFAULT_SIZES, FAMILIES, data_root, evaluate_family
from refsim.tools.stress import KNOBS, find_level, mvm_error, mvm_error_setup, stress_base
from refsim.tools.sweep import read_results, repeat_seed, run_sweep

__all__ = ["DETERMINISTIC_KNOBS", "make_task", "evaluate_task", "direct_tasks", "stress_tasks", "summarize",
           "markdown", "main"]

#: Knobs with no random draw: evaluated once.
DETERMINISTIC_KNOBS = ("dac_bits", "adc_bits", "ir_drop", "none")


def make_task(family: str, config: CrossbarConfig, *, stage: str, varied: dict, repeat: int, seed: int, size: int,
              n_cal: int, root, knob: str | None = None, level_mvm_error: float | None = None) -> dict:
    """One point (a sweep task, docs/sweep.md, with the study's fields)."""
    return {"model": family, "weights": "builtin", "data": str(root), "limit": size, "calibrate": n_cal,
            "preset": f"{stage}:{config.name}", "varied": varied, "seed": seed, "repeat": repeat,
            "point_seed": repeat_seed(seed, repeat), "config": config.to_dict(), "stage": stage, "knob": knob,
            "level_mvm_error": level_mvm_error}


def evaluate_task(task: dict) -> dict:
    """Evaluate one point (:func:`refsim.tools.family_models.evaluate_family`); A* goes to ``accuracy``."""
    import warnings

    cfg = CrossbarConfig.from_dict(task["config"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dead-layer warnings at the coarse stress levels are expected
        res = evaluate_family(task["model"], cfg, seed=task["point_seed"], size=task["limit"],
                              n_cal=task["calibrate"], root=task["data"],
                              digital_layers=tuple(task["varied"].get("digital_layers", ())))
    return {"accuracy": res["a_star"], "correct": res["correct"], "n": res["n"], "seconds": res["seconds"],
            "family": res["family"], "metric": res["metric"], "value": res["value"],
            "digital_value": res["digital_value"], "e_chance": res["e_chance"], "a_star": res["a_star"],
            "stage": task["stage"], "knob": task["knob"], "level_mvm_error": task["level_mvm_error"]}


def direct_tasks(families, times: dict, *, repeats: int, seed: int, sizes: dict, cals: dict, root,
                 digital_layers: tuple = ()) -> list:
    """``rasch2023_standard`` at each ``{label: t_s}`` for every family, repeat slowest; layers whose
    names contain one of ``digital_layers`` stay digital (recorded in ``varied``, and in ``knob``)."""
    from refsim import presets

    base = presets.get("rasch2023_standard")
    extra = {"digital_layers": list(digital_layers)} if digital_layers else {}
    tag = "+digital:" + ",".join(digital_layers) if digital_layers else ""
    return [make_task(f, base.replace(**{"device.t_inference_s": t}), stage="direct",
                      varied={"device.t_inference_s": t, **extra}, repeat=r, seed=seed, size=sizes[f],
                      n_cal=cals[f], root=root, knob=label + tag)
            for r in range(repeats) for f in families for label, t in times.items()]


def stress_tasks(families, levels: list, *, repeats: int, seed: int, sizes: dict, cals: dict, root) -> list:
    """The stress base alone and with each knob of ``levels`` (records of the ``levels`` stage)."""
    base = stress_base()
    tasks = []
    for r in range(repeats):
        for f in families:  # a level with a "family" (real-layer levels) applies to that family only
            points = [("none", {}, 0.0)] + [(lv["knob"], lv["fields"], lv["mvm_error"]) for lv in levels
                                            if lv["knob"] in KNOBS and lv.get("family", f) == f]
            for knob, fields, err in points:
                if r > 0 and knob in DETERMINISTIC_KNOBS:
                    continue
                tasks.append(make_task(f, base.replace(**fields), stage="stress", varied=dict(fields), repeat=r,
                                       seed=seed, size=sizes[f], n_cal=cals[f], root=root, knob=knob,
                                       level_mvm_error=err))
    return tasks


def summarize(records: list) -> list:
    """Rows ``{"stage", "family", "knob", "n", "a_star", "sem", "value", "value_sem", "digital_value", "repeats",
    "level_mvm_error"}`` per stage, family, condition and evaluated size ``n`` (the records' ``limit``):
    mean and standard error of the mean over repeats (0 for one repeat)."""
    groups: dict = {}
    for r in records:
        if "a_star" in r:
            groups.setdefault((r["stage"], r["family"], r["knob"], r.get("limit")), []).append(r)
    rows = []
    for (stage, fam, knob, n), rs in groups.items():
        a, v = np.array([r["a_star"] for r in rs]), np.array([r["value"] for r in rs])

        def sem(x):
            return float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0
        rows.append({"stage": stage, "family": fam, "knob": knob, "n": n, "a_star": float(a.mean()), "sem": sem(a),
                     "value": float(v.mean()), "value_sem": sem(v), "digital_value": rs[0]["digital_value"],
                     "metric": rs[0]["metric"], "repeats": len(rs), "level_mvm_error": rs[0].get("level_mvm_error")})
    order = {f: i for i, f in enumerate(FAMILIES)}
    knobs = {k: i for i, k in enumerate(["none", *KNOBS, "1s", "1h", "1d", "1y"])}
    return sorted(rows, key=lambda r: (r["stage"], knobs.get(r["knob"], 99), order.get(r["family"], 99),
                                       -(r["n"] or 0)))


def markdown(rows: list) -> str:
    """The rows of :func:`summarize` as a Markdown table."""
    out = ["| stage | condition | MVM error | family | N | metric | digital | analog (mean ± s.e.m.) "
           "| A* (mean ± s.e.m.) | repeats |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        err = "" if r["level_mvm_error"] is None else f"{100 * r['level_mvm_error']:.1f} %"
        out.append(f"| {r['stage']} | {r['knob']} | {err} | {r['family']} | {r['n']} | {r['metric']} "
                   f"| {r['digital_value']:.4f} | {r['value']:.4f} ± {r['value_sem']:.4f} "
                   f"| {r['a_star']:.3f} ± {r['sem']:.3f} | {r['repeats']} |")
    return "\n".join(out)


def _table(records: list) -> str:
    """The Markdown table of any results file of this study (A* records, levels or per-layer errors)."""
    if any("a_star" in r for r in records):
        return markdown(summarize(records))
    if any("median" in r for r in records):
        out = ["| family | condition | random-layer MVM error | layers: median | mean | pooled | max | layers |",
               "|---|---|---|---|---|---|---|---|"]
        for r in records:
            e = r.get("random_layer_mvm_error")
            out.append(f"| {r['family']} | {r['knob']} | {'' if e is None else f'{100 * e:.1f} %'} "
                       f"| {100 * r['median']:.1f} % | {100 * r['mean']:.1f} % | {100 * r['pooled']:.1f} % "
                       f"| {100 * r['max']:.0f} % | {r['n_layers']} |")
        return "\n".join(out)
    out = ["| family | knob | kind | level | MVM error | reached |", "|---|---|---|---|---|---|"]
    for r in records:
        v = r["value"]
        shown = f"{v:d}" if isinstance(v, int) else f"{v:.4g}"
        out.append(f"| {r.get('family', 'random 512 x 512 layer')} | {r['knob']} | {r.get('kind')} | {shown} "
                   f"| {100 * r['mvm_error']:.1f} % | {r.get('reached')} |")
    return "\n".join(out)


def _main_rows(records: list) -> list:
    """:func:`summarize` rows at each family's most frequent evaluated size (the study's main runs)."""
    from collections import Counter

    sizes = {f: Counter(r.get("limit") for r in records if r.get("family") == f).most_common(1)[0][0]
             for f in {r.get("family") for r in records if "a_star" in r}}
    return [r for r in summarize(records) if r["n"] == sizes[r["family"]]]


def _figures(direct, stress, outdir: Path, tag: str = "", title: str | None = None) -> list:
    from refsim.plot.figures import bar_plot, line_plot

    made = []
    if not (direct or stress):
        raise ValueError("figures: received neither --direct nor --stress; expected one or both JSONL files")
    if direct:
        rows = _astar_rows(direct, "direct")
        t = {"1s": 1.0, "1h": 3600.0, "1d": 86400.0, "1y": 3.15576e7}
        series = []
        for f in FAMILIES:
            pts = sorted((t[r["knob"]], r["a_star"], r["sem"]) for r in rows if r["family"] == f and r["knob"] in t)
            if pts:
                series.append((f, [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts]))
        line_plot(outdir / "direct_a_star.png", series, title="rasch2023_standard: A* vs time after programming",
                  xlabel="t_inference (s)", ylabel="normalized accuracy A*", xlog=True)
        made.append(outdir / "direct_a_star.png")
    if stress:
        rows = _astar_rows(stress, "stress")
        knobs = [k for k in ["none", *KNOBS] if any(r["knob"] == k for r in rows)]
        series = []
        for f in FAMILIES:
            by = {r["knob"]: r for r in rows if r["family"] == f}
            if by:
                series.append((f, [by[k]["a_star"] if k in by else 0.0 for k in knobs],
                               [by[k]["sem"] if k in by else 0.0 for k in knobs]))
        name = f"stress_a_star{tag}.png"
        bar_plot(outdir / name, knobs, series, size=(1000, 520),
                 title=title or "One non-ideality at a time, each at MVM error ~20 % (X6)", xlabel="non-ideality",
                 ylabel="normalized accuracy A*")
        made.append(outdir / name)
    return made


_ASTAR_KEYS = ("stage", "family", "knob", "value", "digital_value", "metric")
_LEVEL_KEYS = ("knob", "fields", "mvm_error")


def _records(path, flag: str, needed: tuple = (), what: str = "a JSONL file of this study") -> list:
    """A results file's records, each with the keys ``needed`` (A* records only, for _ASTAR_KEYS)."""
    if not path or not Path(path).is_file():
        raise ValueError(received(flag, repr(path), what))
    try:
        recs = read_results(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(received(flag, f"{str(path)!r}, which cannot be read as UTF-8 JSONL ({exc})", what)) \
            from None
    for i, r in enumerate(recs, 1):
        if needed is _ASTAR_KEYS and "a_star" not in r:
            continue
        missing = [k for k in needed if k not in r]
        if missing or ("fields" in needed and not isinstance(r["fields"], dict)):
            raise ValueError(received(flag, f"{str(path)!r} whose record {i} lacks {missing or ['fields (a dict)']}",
                                      what))
    return recs


def _astar_rows(path, stage: str) -> list:
    """:func:`_main_rows` of the ``--direct``/``--stress`` file; refused when it holds no A* record."""
    rows = _main_rows(_records(path, f"--{stage}", _ASTAR_KEYS, f"the JSONL of the {stage} stage"))
    if not rows:
        raise ValueError(received(f"--{stage}", f"{str(path)!r} with no A* record", f"the JSONL of the {stage} stage"))
    return rows


def _pairs(items, what: str) -> dict:
    out = {}
    for item in items:
        fam, eq, n = item.partition("=")
        if not eq or fam not in FAMILIES or not n.isdigit() or int(n) < 1:
            raise ValueError(f"--{what}: received {item!r}; expected FAMILY=N with FAMILY one of {FAMILIES} "
                             "and N a positive int")
        out[fam] = int(n)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m refsim.tools.families", description=__doc__.split("\n")[0])
    p.add_argument("stage", choices=["levels", "real_levels", "direct", "stress", "layers", "table", "figures"])
    p.add_argument("--knobs", default=",".join(KNOBS), help="real_levels: comma list of knobs")
    p.add_argument("results", nargs="?", help="JSONL file (table)")
    p.add_argument("--out", help="JSONL results file (levels, direct, stress); appended, resumable")
    p.add_argument("--levels", help="levels JSONL (stress)")
    p.add_argument("--target", type=float_arg(0, low_open=True), default=0.2,
                   help="MVM error of the stress levels (default 0.2)")
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--size", action="append", default=[], metavar="FAMILY=N")
    p.add_argument("--cal", action="append", default=[], metavar="FAMILY=N")
    p.add_argument("--times", default="1s,1h,1d,1y", help="labels of presets.RASCH2023_TIMES_S (direct)")
    p.add_argument("--digital-layers", default=None, metavar="S1,S2",
                   help="direct: keep the layers whose names contain one of these strings digital")
    p.add_argument("--repeats", type=int_arg(1), default=1)
    p.add_argument("--seed", type=int_arg(0), default=0)
    p.add_argument("--data", default=None, help="data root (default $REFSIM_DATA or ../shared/data)")
    p.add_argument("--direct", help="direct JSONL (figures)")
    p.add_argument("--stress", help="stress JSONL (figures)")
    p.add_argument("--outdir", default=".", help="figure folder (figures)")
    p.add_argument("--tag", default="", help="figures: suffix of the stress figure's file name")
    p.add_argument("--title", default=None, help="figures: title of the stress figure")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    try:
        fams = [f.strip() for f in a.families.split(",") if f.strip()]
        bad = [f for f in fams if f not in FAMILIES]
        if bad or not fams:
            raise ValueError(f"--families: received {a.families!r}; expected a comma list of {FAMILIES}")
        if a.repeats < 1:
            raise ValueError(f"--repeats: received {a.repeats}; expected a positive int")
        sizes, cals = {**DEFAULT_SIZES, **_pairs(a.size, "size")}, {**DEFAULT_CAL, **_pairs(a.cal, "cal")}
        root = data_root(a.data).resolve()
        if a.stage in ("levels", "real_levels", "direct", "stress", "layers"):
            if not a.out:
                raise ValueError(f"--out: the {a.stage} stage needs a results file")
            if Path(a.out).is_dir():
                raise ValueError(received("--out", f"the directory {a.out!r}", "a JSONL results file (new or resumed)"))
        if a.stage == "levels":
            _levels(a.out, a.target)
        elif a.stage == "real_levels":
            knobs = [k.strip() for k in a.knobs.split(",") if k.strip()]
            if not knobs or any(k not in KNOBS for k in knobs):
                raise ValueError(f"--knobs: received {a.knobs!r}; expected a comma list of {list(KNOBS)}")
            _real_levels(fams, knobs, a.out, a.target, cals=cals, root=root, seed=a.seed)
        elif a.stage == "direct":
            from refsim.presets import RASCH2023_TIMES_S as T

            labels = [t.strip() for t in a.times.split(",")]
            if any(t not in T for t in labels):
                raise ValueError(f"--times: received {a.times!r}; expected labels of {sorted(T)}")
            keep = tuple(d.strip() for d in (a.digital_layers or "").split(",") if d.strip())
            run_sweep(direct_tasks(fams, {t: T[t] for t in labels}, repeats=a.repeats, seed=a.seed, sizes=sizes,
                                   cals=cals, root=root, digital_layers=keep), a.out, evaluate=evaluate_task,
                      progress=not a.quiet)
        elif a.stage in ("stress", "layers"):
            levels = _records(a.levels, "--levels", _LEVEL_KEYS, "the JSONL of the levels stage")
            try:
                tasks = stress_tasks(fams, levels, repeats=a.repeats, seed=a.seed, sizes=sizes, cals=cals, root=root)
            except (ValueError, TypeError) as exc:  # a level's fields that are no valid config
                raise ValueError(f"--levels: {a.levels!r}: {exc}") from None
            if a.stage == "stress":
                run_sweep(tasks, a.out, evaluate=evaluate_task, progress=not a.quiet)
            else:
                _layers(fams, levels, a.out, cals=cals, root=root, seed=a.seed)
        elif a.stage == "table":
            recs = _records(a.results, "results", (), "a JSONL file of this study")
            try:
                print(_table(recs))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(received("results", f"{a.results!r} with a record this study does not write "
                                          f"({type(exc).__name__}: {exc})", "a JSONL file of this study")) from None
        else:
            for f in _figures(a.direct, a.stress, Path(a.outdir), a.tag, a.title):
                print(f)
    except USER_ERRORS as exc:
        print(f"refsim.tools.families: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _layers(families, levels: list, out, *, cals: dict, root, seed: int) -> None:
    """The layers stage: one JSON line per (family, condition); resumes."""
    import time
    import warnings

    from refsim import presets
    from refsim.tools.family_models import layer_errors
    from refsim.tools.sweep import append_record

    base = stress_base()
    points = [("none", base, 0.0)] + [(lv["knob"], base.replace(**lv["fields"]), lv["mvm_error"])
                                      for lv in levels if lv["knob"] in KNOBS]
    std = {lv["knob"]: lv["mvm_error"] for lv in levels}.get("rasch2023_standard@1h")
    points.append(("rasch2023_standard@1h", presets.get("rasch2023_standard"), std))
    done = {(r.get("family"), r.get("knob")) for r in read_results(out)}
    for f in families:
        for knob, cfg, err in points:
            if (f, knob) in done:
                continue
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = layer_errors(f, cfg, seed=repeat_seed(seed, 0), n_cal=cals[f], root=root)
            append_record(out, {"family": f, "knob": knob, "random_layer_mvm_error": err, **res,
                                "seconds": time.perf_counter() - t0})


def _real_levels(families, knobs, out, target: float, *, cals: dict, root, seed: int) -> None:
    """The real_levels stage: per family, each knob's level where the median over the network's layers of
    the per-layer error (:func:`refsim.tools.family_models.layer_errors`) reaches ``target`` (bisection;
    bit knobs: nearest). The median, not the norm-weighted pool: one large layer (MiniLM's static-range
    outlier, textgenrnn's output layer) would otherwise set it alone."""
    import warnings

    from refsim.tools.family_models import layer_errors
    from refsim.tools.stress import bisect_log, knob_fields
    from refsim.tools.sweep import append_record

    base, done = stress_base(), {(r.get("family"), r.get("knob")) for r in read_results(out)}
    for f in families:
        for k in knobs:
            if (f, k) in done:
                continue

            def err(v, f=f, k=k):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return layer_errors(f, base.replace(**knob_fields(k, v)), seed=repeat_seed(seed, 0),
                                        n_cal=cals[f], root=root)["median"]
            kb = KNOBS[k]
            if kb.integer:
                errs = {b: err(b) for b in range(int(kb.lo), int(kb.hi) + 1)}
                v = min(errs, key=lambda b: abs(errs[b] - target))
                e, n = errs[v], len(errs)
            else:
                v, e, n = bisect_log(err, kb.lo, kb.hi, target, rtol=0.03)
            append_record(out, {"family": f, "knob": k, "value": v, "mvm_error": e, "target": target,
                                "reached": abs(e / target - 1) <= 0.05, "evaluations": n,
                                "fields": knob_fields(k, v), "kind": kb.kind, "label": kb.label,
                                "measure": "median per-layer error of the network (layer_errors)"})


def _levels(out, target: float) -> None:
    """The levels stage: one JSON line per knob, then the error of rasch2023_standard at each time."""
    from refsim import presets
    from refsim.tools.sweep import append_record

    done = {r.get("knob") for r in read_results(out)}
    for k in KNOBS:
        if k not in done:
            append_record(out, find_level(k, target).to_dict())
    W, X, x_max = mvm_error_setup()
    for label, t in presets.RASCH2023_TIMES_S.items():
        if f"rasch2023_standard@{label}" not in done:
            cfg = presets.get("rasch2023_standard").replace(**{"device.t_inference_s": t, "dac.x_max": x_max})
            append_record(out, {"knob": f"rasch2023_standard@{label}", "value": t, "mvm_error": mvm_error(cfg, W, X),
                                "target": None, "reached": None, "evaluations": 1, "fields": {}, "kind": "preset",
                                "label": f"rasch2023_standard at {label}"})


if __name__ == "__main__":
    raise SystemExit(main())
