"""Reading golden directories that refsim did not write: paths, files and the manifest schema.

Trust model (``docs/golden.md``): a golden directory -- reference or candidate
-- may come from anyone. refsim guarantees that reading it

- opens only regular files inside the directory: every ``file`` of the
  manifest must be a relative path that, symlinks resolved, stays inside the
  case folder (``../x.npy``, ``/etc/passwd``, a symlink out, ``/dev/zero`` or a
  FIFO are refused, naming the entry);
- loads only ``.npy`` arrays of a numeric dtype, without pickle, whose header's
  ``prod(shape) x itemsize`` equals the bytes in the file (checked before
  allocating);
- reports a malformed manifest as a ``ValueError`` naming the file and the field.

It does not guarantee that the numbers are right: a reference is only as good
as whoever made it.
"""

from __future__ import annotations

import os
import reprlib
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from refsim.io.errors import CheckpointError
from refsim.io.npz import read_npy_header

__all__ = ["GoldenFileError", "confined_path", "load_array", "check_manifest"]


class GoldenFileError(ValueError):
    """A golden directory's manifest or array is malformed or reaches outside its folder."""


def confined_path(root: Path, file: Any, where: str) -> Path:
    """``root / file`` after checking that it stays inside ``root`` (symlinks resolved).

    Parameters
    ----------
    root : pathlib.Path
        The case folder.
    file : object
        The manifest's ``file`` value (untrusted).
    where : str
        Names the entry in error messages, e.g. ``"manifest.json: stages[3] ('y')"``.

    Returns
    -------
    pathlib.Path
        The resolved path (it may not exist).
    """
    expected = "a relative path inside the case folder"
    if not isinstance(file, str) or not file or "\\" in file or "\0" in file:
        raise GoldenFileError(f"{where}: file: received {file!r}; expected {expected}")
    pure = PurePosixPath(file)
    if pure.is_absolute() or ".." in pure.parts:
        raise GoldenFileError(f"{where}: file: received {file!r}; expected {expected}")
    base = root.resolve()
    real = (base / pure).resolve()
    if real != base and base not in real.parents:
        raise GoldenFileError(
            f"{where}: file: received {file!r}, which resolves to {str(real)!r} (a symlink out of "
            f"{str(base)!r}); expected {expected}"
        )
    return real


def load_array(root: Path, file: Any, where: str, *, missing_ok: bool = False) -> np.ndarray | None:
    """Load the ``.npy`` array ``file`` of a golden folder without trusting it.

    Returns None for a missing file when ``missing_ok`` (a candidate may omit stages).

    Raises
    ------
    GoldenFileError
        A path outside ``root``, not a regular file, not a numeric ``.npy``
        array, or a header that disagrees with the file's size.
    """
    path = confined_path(root, file, where)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise GoldenFileError(f"{where}: file {file!r}: received no such file; expected a .npy array") from None
    except OSError as exc:
        raise GoldenFileError(f"{where}: file {file!r}: {exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise GoldenFileError(f"{where}: file {file!r}: received a special file or directory; expected a regular "
                              ".npy file")
    try:
        with open(path, "rb") as handle:
            shape, fortran, dtype = read_npy_header(handle, f"{where}: file {file!r}")
            count = int(np.prod(shape, dtype=object)) if shape else 1
            if count * dtype.itemsize != st.st_size - handle.tell():
                raise GoldenFileError(
                    f"{where}: file {file!r}: header declares shape {shape} of {dtype}; received "
                    f"{st.st_size - handle.tell()} data bytes; expected {count * dtype.itemsize}"
                )
            handle.seek(0)
            array = np.load(handle, allow_pickle=False)
    except CheckpointError as exc:
        raise GoldenFileError(str(exc)) from None
    except (OSError, ValueError, MemoryError) as exc:
        raise GoldenFileError(f"{where}: file {file!r}: {type(exc).__name__}: {exc}") from None
    return array


def _field(where: str, name: str, value: Any, expected: str) -> GoldenFileError:
    return GoldenFileError(f"{where}: {name}: received {_short(value)}; expected {expected}")


def _short(value: Any) -> str:
    """A bounded repr (reprlib: safe for deeply nested JSON)."""
    return reprlib.repr(value)


def check_entry(d: Any, where: str) -> dict:
    """Validate one manifest entry (types of name, file, shape, dtype, unit, integer, description)."""
    if not isinstance(d, dict):
        raise _field(where, "entry", d, "a JSON object")
    for key in ("name", "file", "dtype"):
        if not isinstance(d.get(key), str) or not d[key]:
            raise _field(where, key, d.get(key, "nothing"), "a non-empty string")
    shape = d.get("shape")
    if not isinstance(shape, list) or len(shape) > 32 or not all(type(s) is int and 0 <= s < 1 << 62 for s in shape):
        raise _field(f"{where} ({d['name']!r})", "shape", shape, "a list of at most 32 ints >= 0")
    try:
        kind = np.dtype(d["dtype"]).kind
    except TypeError:
        kind = "?"
    if kind not in "biuf":
        raise _field(f"{where} ({d['name']!r})", "dtype", d["dtype"], "a numeric NumPy dtype name")
    for key, types, expected in (("unit", str, "a string"), ("description", str, "a string"),
                                 ("integer", bool, "true or false")):
        if key in d and not isinstance(d[key], types):
            raise _field(f"{where} ({d['name']!r})", key, d[key], expected)
    return d


def check_manifest(m: Any, where: str) -> dict:
    """Validate the manifest's top level and every entry; return it unchanged."""
    if not isinstance(m, dict):
        raise GoldenFileError(f"{where}: received a JSON {type(m).__name__}; expected a JSON object")
    for section in ("stages", "draws"):
        entries = m.get(section, [] if section == "draws" else None)
        if not isinstance(entries, list):
            raise _field(where, section, entries, "a list of entries")
        names = set()
        for i, d in enumerate(entries):
            check_entry(d, f"{where}: {section}[{i}]")
            if d["name"] in names:
                raise _field(f"{where}: {section}[{i}]", "name", d["name"], "a name used once")
            names.add(d["name"])
    if not isinstance(m.get("meta", {}), dict):
        raise _field(where, "meta", m.get("meta"), "a JSON object")
    return m
