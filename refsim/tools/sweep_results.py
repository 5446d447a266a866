"""The results file of an accuracy sweep (docs/sweep.md): append a record, read them back, summarize.

One JSON object per line (:data:`refsim.tools.sweep.RECORD_FIELDS`), appended with a single
``os.write`` on an ``O_APPEND`` descriptor and then ``fsync``, so a killed sweep loses no finished
point and concurrent writers never interleave a line. :func:`aggregate` gives the mean and sample
std over repeats that ``refsim plot`` draws. Re-exported by :mod:`refsim.tools.sweep`.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from refsim._validate import received, show

__all__ = ["append_record", "read_results", "record_value", "aggregate"]


def append_record(path, record: dict) -> None:
    """Append ``record`` as one JSON line: one ``os.write`` on an ``O_APPEND`` fd, then ``fsync``.

    A file whose last line is unterminated (a crash of some other writer) first gets a
    newline, so the fragment stays on a line of its own and is skipped by :func:`read_results`.
    """
    line = (json.dumps(record, sort_keys=False, allow_nan=False) + "\n").encode("utf-8")
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            with open(os.fspath(path), "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    line = b"\n" + line
        n = os.write(fd, line)
        if n != len(line):
            raise OSError(f"{os.fspath(path)!r}: short write ({n} of {len(line)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_results(path) -> list[dict]:
    """Every record of a results file; unparsable lines are skipped with a warning."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for i, raw in enumerate(p.read_bytes().split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # not UTF-8, not JSON, 5,000 digits, too deep
            warnings.warn(f"{str(p)!r} line {i}: not valid JSON (an interrupted write, or bytes that are not UTF-8?); skipped", stacklevel=2)
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


# --------------------------------------------------------------------------- summaries
def record_value(record: dict, name: str):
    """A field of a record: a top-level key (``accuracy``), a varied field, or a dotted config field.

    Raises ``KeyError`` when the record has none of them.
    """
    if name in record:
        return record[name]
    varied = record.get("varied")
    if isinstance(varied, dict) and name in varied:
        return varied[name]
    node = record.get("config", {})
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(name)
        node = node[part]
    return node


def _pick_x(record: dict, x: str) -> tuple[str, object]:
    """``x`` is one field (:func:`record_value`) or alternatives ``a|b``: the first one the record varied.

    With alternatives a record that varied none of them is left out (``KeyError``), so sweeps
    of different fields appended to one file do not mix.
    """
    if "|" not in x:
        return x, record_value(record, x)
    varied = record.get("varied")
    for n in x.split("|"):
        if isinstance(varied, dict) and n in varied:
            return n, varied[n]
    raise KeyError(x)


def aggregate(records: list[dict], *, x: str, hue: str | None = None, y: str = "accuracy",
              where: dict | None = None) -> dict:
    """Mean and sample std (ddof=1; 0 for one repeat) of ``y`` over repeats, per (hue, x).

    Returns ``{(x_name, hue_value): [(x_value, mean, std, count), ...]}`` sorted by x;
    records not matching every ``where`` field, or lacking ``x``, are left out.
    """
    groups: dict = {}
    for i, rec in enumerate(records, 1):
        try:
            if where and any(record_value(rec, k) != v for k, v in where.items()):
                continue
            x_name, xv = _pick_x(rec, x)
            hv = record_value(rec, hue) if hue else None
            yv = record_value(rec, y)
        except KeyError:
            continue
        if isinstance(yv, bool) or not isinstance(yv, (int, float)):
            raise ValueError(received(f"results record {i}: {y}", show(yv), "a number (the y to summarize)"))
        groups.setdefault((x_name, _hashable(hv)), {}).setdefault(json.dumps(xv), []).append(float(yv))
    out = {}
    for key, by_x in groups.items():
        rows = []
        for xs, ys in by_x.items():
            a = np.asarray(ys)
            rows.append((json.loads(xs), float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0, a.size))
        out[key] = sorted(rows, key=lambda r: _sort_key(r[0]))
    return out


def _hashable(v):
    """A hue value usable as a dict key: lists (JSON arrays) as tuples, objects as their JSON text."""
    if isinstance(v, list):
        return tuple(_hashable(e) for e in v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return v


def _sort_key(v) -> tuple:
    """Numbers first, by value (ints and floats together), then everything else by its JSON text."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, float(v), "")
    return (1, 0.0, json.dumps(v))
