"""The golden-vector format: a directory of ``.npy`` arrays and one ``manifest.json``.

Layout (format version :data:`FORMAT_VERSION`)::

    DIR/manifest.json          what every array is, in pipeline order
    DIR/<stage name>.npy       one array per stage (float64 or int64, C order, little endian)
    DIR/draws/<draw key>.npy   every random draw (float64), replayable

``manifest.json`` holds ``format`` (``"refsim-golden"``), ``format_version``,
``refsim_version``, ``kind`` (``"crossbar"``, ``"layer"`` or ``"network"``),
``config`` (:meth:`refsim.CrossbarConfig.to_dict`, or ``null``), ``seed``, free
``meta`` (scalars such as clip fractions and tile bounds), and two ordered lists
of entries, ``stages`` and ``draws``. Each entry is::

    {"name": "t0.dac_codes", "file": "t0.dac_codes.npy", "shape": [4, 16],
     "dtype": "int64", "unit": "code", "integer": true, "description": "..."}

``integer: true`` marks exact integer quantities (levels, DAC and ADC codes): a
comparison treats them exactly. ``stages`` lists the arrays in the order the
pipeline computes them, so the first stage that departs from a reference is the
first place where two simulators disagree. Any language with an ``.npy`` reader
(NumPy, ``npy-rs``, ``cnpy``, Julia ``NPZ``) reads the arrays; nothing is pickled.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from refsim.golden._safe import GoldenFileError, check_manifest, confined_path, load_array

__all__ = ["FORMAT", "FORMAT_VERSION", "Entry", "Golden", "GoldenFileError", "GoldenWriter", "load_golden", "read_manifest"]

FORMAT = "refsim-golden"
#: Bumped when the layout or the meaning of a stage changes.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+\-]*$")


@dataclass(frozen=True)
class Entry:
    """One array of a golden directory (a manifest entry)."""

    name: str
    file: str
    shape: tuple[int, ...]
    dtype: str
    unit: str
    integer: bool
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "shape": list(self.shape), "dtype": self.dtype,
                "unit": self.unit, "integer": self.integer, "description": self.description}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Entry":
        try:
            return cls(d["name"], d["file"], tuple(int(s) for s in d["shape"]), d["dtype"], d.get("unit", ""),
                       bool(d.get("integer", False)), d.get("description", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise GoldenFileError(f"manifest entry {d!r}: {type(exc).__name__}: {exc}") from None


@dataclass
class Golden:
    """A loaded golden directory: the manifest and the arrays by name."""

    path: Path
    manifest: dict[str, Any]
    stages: dict[str, np.ndarray] = field(default_factory=dict)  # in manifest order
    draws: dict[str, np.ndarray] = field(default_factory=dict)  # draw key -> array

    @property
    def config(self):
        """The :class:`refsim.CrossbarConfig` of the case (None for a network with several)."""
        from refsim.config import CrossbarConfig

        c = self.manifest.get("config")
        return None if c is None else CrossbarConfig.from_dict(c)

    @property
    def entries(self) -> list[Entry]:
        """Stage entries in pipeline order."""
        return [Entry.from_dict(e) for e in self.manifest["stages"]]

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self.stages:
            return self.stages[name]
        raise KeyError(f"stage {name!r} not in {str(self.path)!r}; stages: {list(self.stages)}")


def _as_storable(name: str, arr, integer: bool) -> np.ndarray:
    a = np.asarray(arr)
    if integer:
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)) or not np.array_equal(a, np.rint(a)):
                raise ValueError(f"stage {name!r}: marked integer but holds non-integer values")
        return np.ascontiguousarray(a.astype("<i8"))
    if a.dtype.kind not in "fiub":
        raise TypeError(f"stage {name!r}: received dtype {a.dtype}; expected a numeric array")
    return np.ascontiguousarray(a.astype("<f8"))


class GoldenWriter:
    """Write arrays to a golden directory in order; :meth:`close` writes the manifest."""

    def __init__(self, path: str | Path, *, kind: str, config: dict | None, seed: int | None,
                 meta: dict[str, Any] | None = None):
        from refsim import __version__

        self.path = Path(path)
        if (self.path / MANIFEST).exists():
            raise ValueError(f"out: {str(self.path)!r} already holds a golden case; choose an empty directory")
        (self.path / "draws").mkdir(parents=True, exist_ok=True)
        self.manifest: dict[str, Any] = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "refsim_version": __version__,
            "kind": kind, "config": config, "seed": seed, "meta": dict(meta or {}), "stages": [], "draws": [],
        }
        self._names: set[str] = set()

    def stage(self, name: str, arr, unit: str, *, integer: bool = False, description: str = "") -> None:
        """Append one stage (in pipeline order)."""
        self._add("stages", name, name + ".npy", arr, unit, integer, description)

    def draw(self, key: str, arr, description: str = "standard normal / uniform draw") -> None:
        """Append one random draw (``Trace.draws`` key)."""
        self._add("draws", key, "draws/" + key + ".npy", arr, "1", False, description)

    def _add(self, section, name, file, arr, unit, integer, description) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"stage name {name!r}: use letters, digits and . _ + - only")
        if (section, name) in self._names:
            raise ValueError(f"stage {name!r} written twice")
        self._names.add((section, name))
        a = _as_storable(name, arr, integer)
        np.save(self.path / file, a, allow_pickle=False)
        self.manifest[section].append(Entry(name, file, a.shape, a.dtype.name, unit, integer, description).to_dict())

    def close(self) -> Path:
        (self.path / MANIFEST).write_text(json.dumps(self.manifest, indent=1) + "\n")
        return self.path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a golden directory, checked for format, version and schema.

    Raises
    ------
    FileNotFoundError
        No ``manifest.json``.
    ValueError
        (:class:`~refsim.golden._safe.GoldenFileError`) the manifest is not
        UTF-8 JSON, not an object, of another format or version, or an entry
        is malformed; the message names the file and the field.
    """
    root = Path(path)
    p = root / MANIFEST
    if not p.exists():
        raise FileNotFoundError(f"{str(root)!r}: received a folder without {MANIFEST}; expected a golden case folder")
    real = confined_path(root, MANIFEST, str(p))
    if not real.is_file():
        raise GoldenFileError(f"{str(p)!r}: received a special file or directory; expected a regular JSON file")
    try:
        m = json.loads(real.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise GoldenFileError(f"{str(p)!r}: received text that is not UTF-8 JSON ({exc}); expected a JSON "
                              "object") from None
    if not isinstance(m, dict):
        raise GoldenFileError(f"{str(p)!r}: received a JSON {type(m).__name__}; expected a JSON object")
    if m.get("format") != FORMAT:
        raise GoldenFileError(f"{str(p)!r}: format: received {m.get('format')!r}; expected {FORMAT!r}")
    if m.get("format_version") != FORMAT_VERSION:
        raise GoldenFileError(f"{str(p)!r}: format_version: received {m.get('format_version')!r}; expected "
                              f"{FORMAT_VERSION} (the version this refsim reads)")
    check_manifest(m, str(p))
    m.setdefault("draws", [])
    m.setdefault("meta", {})
    return m


def load_golden(path: str | Path) -> Golden:
    """Load every array of a golden directory (see :mod:`refsim.golden._safe` for the trust model).

    Every ``file`` must stay inside the directory and name a regular numeric ``.npy``
    file; shapes and dtypes are checked against the manifest. Any problem raises
    ``ValueError`` naming the file and the entry.
    """
    root = Path(path)
    m = read_manifest(root)
    g = Golden(root, m)
    for section, target in (("stages", g.stages), ("draws", g.draws)):
        for i, d in enumerate(m[section]):
            e = Entry.from_dict(d)
            where = f"{str(root / MANIFEST)!r}: {section}[{i}] ({e.name!r})"
            a = load_array(root, e.file, where)
            if a.shape != e.shape or a.dtype.name != e.dtype:
                raise GoldenFileError(f"{where}: received shape {a.shape} dtype {a.dtype} in {e.file!r}; "
                                      f"expected the manifest's ({e.shape}, {e.dtype})")
            target[e.name] = a
    return g
