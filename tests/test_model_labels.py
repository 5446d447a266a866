"""Every equation label that refsim's code cites is defined in docs/MODEL.md (one home per equation)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = (ROOT / "docs" / "MODEL.md").read_text(encoding="utf-8")

#: A label: one of the label letters of docs/MODEL.md and a digit (the layers' L up to two digits,
#: L1-L18), optionally primed (X1'), standing alone (not inside an identifier, a dotted name or a
#: word like "dev-D1"; [R23] and F32 are a source and a dtype, not labels). Not followed by ".digit":
#: Q5.26 and Q12.19 are fixed-point formats (as Q31), not the TFLite equations Q1-Q4.
LABEL = re.compile(r"(?<![A-Za-z0-9_.\-])((?:[WMGFPTRODXACNHQ][1-9]|L[1-9][0-9]?)'?)(?![A-Za-z0-9_]|\.[0-9])")


def defined(label: str) -> bool:
    """A label is defined where MODEL.md writes it in parentheses, alone or first of a list."""
    return re.search(r"\(" + re.escape(label) + r"[,)]", MODEL) is not None


def cited_labels() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / "refsim").rglob("*.py")):
        for m in LABEL.finditer(path.read_text(encoding="utf-8")):
            out.setdefault(m.group(1), set()).add(str(path.relative_to(ROOT)))
    return out


def test_every_cited_label_is_defined_in_model_md():
    missing = {k: sorted(v) for k, v in cited_labels().items() if not defined(k)}
    assert not missing, f"labels cited under refsim/ but not defined in docs/MODEL.md: {missing}"


def test_no_retired_label_style():
    """Drift was once labelled dev-D1..dev-D3 (clashing with the DAC's D1-D4); it is T1-T3 now."""
    offenders = [str(p.relative_to(ROOT)) for p in [*(ROOT / "refsim").rglob("*.py"), *(ROOT / "docs").rglob("*.md")]
                 if "dev-D" in p.read_text(encoding="utf-8")]
    assert not offenders, offenders


def test_the_scan_finds_the_labels_it_must():
    labels = cited_labels()
    # the DAC, ADC, multiply and drift labels are cited by their modules
    for label in ("D2", "A1", "X1'", "X3", "T3", "P2", "H1", "L2", "L18", "Q1", "Q2", "Q3", "Q4"):
        assert label in labels, label
    assert not defined("Z9") and not defined("D9") and not defined("Q9")


def test_a_missing_quantized_label_is_caught():
    """A docstring citing an undefined TFLite equation (eq. Q9) is found and fails the check;
    fixed-point formats (Q5.26, Q12.19, Q31) are not labels."""
    doc = "Requantize (eq. Q1), then eq. Q9; raws in Q5.26, sums in Q12.19, a Q31 multiplier, Q0.31."
    found = [m.group(1) for m in LABEL.finditer(doc)]
    assert found == ["Q1", "Q9"]
    assert [k for k in found if not defined(k)] == ["Q9"]


@pytest.mark.parametrize("doc", ["devices.md", "layers.md"])
def test_topic_pages_use_model_md_labels(doc):
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    used = {m.group(1) for m in LABEL.finditer(text)}
    missing = sorted(label for label in used if not defined(label))
    assert not missing, f"docs/{doc} uses labels not defined in docs/MODEL.md: {missing}"


def test_no_reference_points_outside_the_repository():
    """The repository stands on its own: no page or docstring sends readers to ../shared/MODEL_SPEC.md."""
    offenders = []
    for path in [*ROOT.joinpath("refsim").rglob("*.py"), *ROOT.joinpath("docs").rglob("*.md"),
                 *ROOT.joinpath("tutorials").rglob("*.py"), ROOT / "README.md"]:
        if "MODEL_SPEC" in path.read_text(encoding="utf-8"):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
