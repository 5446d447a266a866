"""Compare a candidate simulator's arrays with a golden reference, stage by stage.

The candidate directory holds arrays in the reference's layout (the same relative
file names, ``<stage>.npy``); it may hold any subset of the stages and needs no
manifest. For every stage present in both, in the reference's pipeline order:

* integer stages (levels, DAC and ADC codes; ``integer: true`` in the manifest) must be
  equal exactly, whatever dtype the candidate wrote them in;
* real stages pass where ``|c - r| <= atol + rtol |r|`` element by element (NaN only
  where the reference has NaN).

The report gives, per stage, the largest absolute difference, the largest relative
difference ``max |c - r| / |r|`` (over ``r != 0``; ``inf`` where ``r = 0 != c``) and
the number of failing elements, and names the **first** stage that departs: where the
two pipelines first disagree, which is where to look.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refsim.golden._safe import load_array
from refsim.golden.format import Entry, load_golden

__all__ = ["StageDiff", "CompareReport", "compare_dirs", "compare_arrays"]


@dataclass(frozen=True)
class StageDiff:
    """The comparison of one stage."""

    name: str
    status: str  # "ok" | "differs" | "shape" | "absent" | "error" (unreadable candidate array)
    max_abs: float = float("nan")
    max_rel: float = float("nan")
    n_bad: int = 0
    size: int = 0
    integer: bool = False
    section: str = "stages"
    message: str = ""  # why a candidate array could not be compared (status "error")


@dataclass
class CompareReport:
    """Per-stage differences (reference order) and the first departing stage."""

    rtol: float
    atol: float
    rows: list[StageDiff] = field(default_factory=list)

    @property
    def compared(self) -> list[StageDiff]:
        return [r for r in self.rows if r.status != "absent"]

    @property
    def failures(self) -> list[StageDiff]:
        return [r for r in self.rows if r.status in ("differs", "shape", "error")]

    @property
    def first_failure(self) -> str | None:
        """Name of the first stage (manifest order; stages before draws) beyond tolerance."""
        f = self.failures
        return f[0].name if f else None

    @property
    def ok(self) -> bool:
        return bool(self.compared) and not self.failures

    def format(self, show_absent: bool = False) -> str:
        """The report as a text table."""
        lines = [f"tolerance: |c - r| <= {self.atol:g} + {self.rtol:g} |r| (integer stages exact)",
                 f"{'stage':<44} {'status':<8} {'max_abs':>11} {'max_rel':>11} {'n_bad':>8}"]
        for r in self.rows:
            if r.status == "absent" and not show_absent:
                continue
            tag = r.name + (" [int]" if r.integer else "") + (" [draw]" if r.section == "draws" else "")
            lines.append(f"{tag:<44} {r.status:<8} {r.max_abs:>11.3e} {r.max_rel:>11.3e} {r.n_bad:>8d}")
            if r.message:
                lines.append(f"    {r.message}")
        n_abs = sum(r.status == "absent" for r in self.rows)
        lines.append(f"compared {len(self.compared)} of {len(self.rows)} arrays ({n_abs} absent from the candidate)")
        if not self.compared:
            lines.append("RESULT: nothing to compare (no reference stage found in the candidate)")
        elif self.failures:
            lines.append(f"RESULT: MISMATCH in {len(self.failures)} arrays; first departing stage: {self.first_failure}")
        else:
            lines.append("RESULT: all compared stages agree")
        return "\n".join(lines)


def compare_arrays(name: str, ref: np.ndarray, cand: np.ndarray, *, integer: bool, rtol: float, atol: float,
                   section: str = "stages") -> StageDiff:
    """Compare one candidate array with its reference (see the module docstring)."""
    ref = np.asarray(ref)
    cand = np.asarray(cand)
    if cand.shape != ref.shape:
        return StageDiff(name, "shape", size=ref.size, integer=integer, section=section)
    if ref.size == 0:
        return StageDiff(name, "ok", 0.0, 0.0, 0, 0, integer, section)
    r = ref.astype(np.float64)
    c = cand.astype(np.float64) if cand.dtype.kind in "fiub" else np.full(r.shape, np.nan)
    if integer and ref.dtype.kind in "iu" and cand.dtype.kind in "iu":
        diff = np.abs(ref.astype(object) - cand.astype(object)).astype(np.float64)  # no int overflow
        bad = ref != cand
    else:
        with np.errstate(invalid="ignore"):
            diff = np.abs(c - r)
        both_nan = np.isnan(r) & np.isnan(c)
        diff = np.where(both_nan, 0.0, diff)
        diff = np.where(np.isnan(diff), np.inf, diff)
        if integer:
            bad = (c != r) & ~both_nan
        else:
            bad = ~(diff <= atol + rtol * np.abs(np.where(np.isnan(r), 0.0, r)))
    nz = np.abs(r) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(nz, diff / np.where(nz, np.abs(r), 1.0), np.where(diff > 0, np.inf, 0.0))
    n_bad = int(np.count_nonzero(bad))
    return StageDiff(name, "differs" if n_bad else "ok", float(diff.max()), float(rel.max()), n_bad, int(ref.size),
                     integer, section)


def compare_dirs(reference: str | Path, candidate: str | Path, *, rtol: float = 0.0, atol: float = 0.0,
                 draws: bool = True) -> CompareReport:
    """Compare every reference stage (and draw, if ``draws``) found in ``candidate``.

    Defaults are bit-exact (``rtol = atol = 0``): a golden reference is exact unless the
    caller says how much round-off the candidate may add (e.g. ``rtol=1e-12``).

    The reference is loaded and checked whole first (:func:`~refsim.golden.format.load_golden`:
    any malformed manifest, path outside its folder or bad array raises ``ValueError``).
    A candidate file is looked up at the same relative path inside ``candidate``; one that
    is missing is "absent", one that reaches outside ``candidate``, is not a regular
    file or not a numeric ``.npy`` array is an "error" row -- a failure -- and the
    remaining stages are still compared.
    """
    for name, v in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v >= 0):
            raise ValueError(f"{name}: received {v!r}; expected a finite number >= 0")
    ref_root, cand_root = Path(reference), Path(candidate)
    ref = load_golden(ref_root)
    if not cand_root.is_dir():
        raise FileNotFoundError(f"candidate {str(cand_root)!r} is not a directory")
    report = CompareReport(float(rtol), float(atol))
    sections = (("stages", ref.stages), ("draws", ref.draws)) if draws else (("stages", ref.stages),)
    for section, arrays in sections:
        for d in ref.manifest[section]:
            e = Entry.from_dict(d)
            try:
                cand = load_array(cand_root, e.file, f"candidate {e.name!r}", missing_ok=True)
            except ValueError as exc:
                report.rows.append(StageDiff(e.name, "error", integer=e.integer, section=section, message=str(exc)))
                continue
            if cand is None:
                report.rows.append(StageDiff(e.name, "absent", integer=e.integer, section=section))
                continue
            report.rows.append(compare_arrays(e.name, arrays[e.name], cand, integer=e.integer, rtol=rtol,
                                              atol=atol, section=section))
    return report
