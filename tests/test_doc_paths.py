"""Every repository path that the README and the docs name exists (layout moves keep the docs true)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: a path inside the repository: a top-level folder of the project, then path characters
PATH = re.compile(r"(?<![\w./-])((?:refsim|tests|tutorials|bench|docs)/[\w./-]*[\w])")
#: module paths in dotted form: refsim.a.b
MODULE = re.compile(r"(?<![\w.])(refsim(?:\.[a-z_][a-z0-9_]*)+)")


def doc_files():
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "tutorials" / "README.md"]


def missing_paths(text: str) -> list[str]:
    out = []
    for m in PATH.finditer(text):
        p = m.group(1).rstrip(".")
        if text[m.end() : m.end() + 1] in ("*", "{") or "NN_" in p:
            continue  # a pattern (tests/test_devices_*.py, tutorials/NN_name.py), not a path
        if not (ROOT / p).exists() and not git_ignored(p):
            out.append(p)
    return out


def git_ignored(path: str) -> bool:
    """An output folder or file that git ignores (tutorials/out/, weights/...): made by running
    things, absent from a fresh clone."""
    import subprocess

    try:
        # a folder pattern (tutorials/out/) matches an absent path only when written as a folder
        return any(subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", p], timeout=30).returncode == 0
                   for p in (path, path.rstrip("/") + "/"))
    except (OSError, subprocess.SubprocessError):
        return False


def importable(dotted: str) -> bool:
    """``refsim.a.b.c``: a module, or an attribute of the longest importable module prefix."""
    import importlib

    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:n]))
        except ModuleNotFoundError:
            continue
        for attr in parts[n:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_path_named_in_the_docs_exists():
    bad = {str(f.relative_to(ROOT)): missing_paths(f.read_text(encoding="utf-8")) for f in doc_files()}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"paths named in the docs that do not exist: {bad}"


def test_every_module_named_in_the_docs_imports():
    bad = {}
    for f in doc_files():
        names = sorted({m.group(1).rstrip(".") for m in MODULE.finditer(f.read_text(encoding="utf-8"))})
        wrong = [n for n in names if not importable(n)]
        if wrong:
            bad[str(f.relative_to(ROOT))] = wrong
    assert not bad, f"refsim names in the docs that do not exist: {bad}"


def test_the_checks_can_fail():
    assert missing_paths("see `refsim/no_such_module.py`") == ["refsim/no_such_module.py"]
    assert missing_paths("`tutorials/no_such_tutorial.py`") == ["tutorials/no_such_tutorial.py"]
    assert not importable("refsim.no_such_module") and importable("refsim.wires.parasitics")
