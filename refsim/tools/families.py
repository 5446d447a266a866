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
import sys
from pathlib import Path


from refsim._validate import received
from refsim.cli.common import USER_ERRORS, float_arg, int_arg
from refsim.config import CrossbarConfig
from refsim.tools.family_models import DEFAULT_CAL, DEFAULT_SIZES, FAMILIES, data_root, evaluate_family
from refsim.tools.stress import KNOBS, find_level, mvm_error, mvm_error_setup, stress_base
from refsim.tools.sweep import read_results, repeat_seed, run_sweep
from refsim.tools.families_report import _LEVEL_KEYS, _figures, _pairs, _records, _table, markdown, summarize  # noqa: F401

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
