"""The cross-family study's results (docs/results/families/): A* summaries, Markdown tables,
figures, and the reading of its JSONL files. The stages that make them are in
:mod:`refsim.tools.families`.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from refsim._validate import received
from refsim.tools.family_models import FAMILIES
from refsim.tools.stress import KNOBS
from refsim.tools.sweep import read_results

__all__ = ["summarize", "markdown"]


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
        Path(path).read_bytes().decode("utf-8")  # read_results skips such lines; here the file is refused
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
