"""Labelled image datasets and class-name files for ``refsim infer``, ``refsim eval`` and calibration.

* :func:`load_dataset`: the CIFAR ``.npz`` layout (``images`` uint8 ``(N, 32, 32, 3)``,
  ``labels``, optional ``label_names``) or an image folder ``<class>/<image>``, as a
  :class:`Dataset`; ``limit`` reads only the first images (a compressed ``.npz`` inflates only
  those rows).
* :func:`load_labels`: class names from a text file (``<wnid> <label>`` or one label per line).

The models that classify them are built by :mod:`refsim.tools.inference` (which re-exports
these names).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from refsim.tools.inference import Model

__all__ = ["IMAGE_SUFFIXES", "Dataset", "load_dataset", "load_labels"]

#: File suffixes read as images from a dataset folder (lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
_WNID = re.compile(r"^n\d{8}$")


def load_labels(path, num_classes: int | None = None) -> list:
    """Class names from a text file: ``<wnid> <label>`` or one label per line (line k = class k).

    Blank lines at the end are ignored. ``num_classes`` given: the count must match.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--labels: no file at {os.fspath(path)!r}; expected a text file of class names "
                                "('<wnid> <label>' or one label per line)")
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [line.strip() for line in fh.read().splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--labels: cannot read {os.fspath(path)!r} as UTF-8 text: {exc}") from exc
    while lines and not lines[-1]:
        lines.pop()
    names = []
    for line in lines:
        first, _, rest = line.partition(" ")
        names.append(rest.strip() if _WNID.match(first) and rest.strip() else line)
    if num_classes is not None and len(names) != num_classes:
        raise ValueError(f"--labels: {os.fspath(path)!r} has {len(names)} lines; the model has {num_classes} "
                         "classes (one label per line, in class-index order).")
    return names


def _wnids(path) -> list:
    try:
        with open(path, encoding="utf-8") as fh:
            return [line.split(" ", 1)[0] for line in fh.read().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--labels: cannot read {os.fspath(path)!r} as UTF-8 text: {exc}") from None


@dataclass
class Dataset:
    """Labelled images: ``images`` is a uint8 array ``(N, H, W, 3)`` or a list of file paths."""

    images: Any
    labels: np.ndarray
    class_names: list | None
    kind: str  # "npz" or "folder"

    def __len__(self) -> int:
        return len(self.labels)


def _first_rows(f, key: str, limit: int | None) -> np.ndarray:
    """``f[key][:limit]`` of an open ``np.load`` npz, inflating only the first ``limit`` rows of a
    C-order member (a compressed 5,000-image file otherwise inflates whole for a few images);
    anything unusual takes ``f[key][:limit]`` itself."""
    if limit is None:
        return f[key]
    from refsim.io.npz import read_npy_header

    try:
        with f.zip.open(f"{key}.npy") as member:
            shape, fortran, dtype = read_npy_header(member, key)
            n, row = min(limit, shape[0]), int(np.prod(shape[1:])) * dtype.itemsize
            raw = bytearray(member.read(n * row)) if shape and not fortran else b""
        if shape and not fortran and len(raw) == n * row:
            return np.frombuffer(raw, dtype=dtype).reshape((n, *shape[1:]))
    except Exception:  # noqa: BLE001 - any doubt: NumPy's own reader, with its own errors
        pass
    return f[key][:limit]


def _unreadable(path: Path, exc: Exception) -> ValueError:
    return ValueError(f"--data: received {str(path)!r}, which is not a readable .npz ({type(exc).__name__}: "
                      f"{str(exc)[:120]}); expected a CIFAR-layout .npz (images, labels) or an image folder")


def _labels(raw: np.ndarray, path: Path) -> np.ndarray:
    """The ``labels`` array as int64 ``(N,)``: integers, or floats that are whole numbers (no NaN)."""
    ok = raw.ndim == 1 and (raw.dtype.kind in "iu" or (raw.dtype.kind == "f" and bool(np.all(np.isfinite(raw)))
                                                         and bool(np.all(raw == np.round(raw)))))
    if ok and raw.dtype.kind == "u" and raw.size and int(raw.max()) > np.iinfo(np.int64).max:
        ok = False
    if not ok:
        raise ValueError(f"--data: received labels of dtype {raw.dtype}, shape {raw.shape} in {str(path)!r}; "
                         "expected one integer class index per image, shape (N,)")
    return raw.astype(np.int64)


def load_dataset(path, *, limit: int | None = None, model: Model | None = None, labels=None) -> Dataset:
    """Read a CIFAR-layout ``.npz`` or an image folder ``<class>/<image>``.

    Folder labels: when every folder name is a class name (or, with ``labels``
    in ``<wnid> <label>`` form, a wnid) of ``model``, the class index is that
    name's index; otherwise folders are numbered in sorted order (as
    torchvision's ``ImageFolder``). ``limit`` keeps the first ``limit`` images.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"--limit: expected a positive int; received {limit}.")
    path = Path(os.fspath(path))
    if path.is_file():
        try:
            from refsim.io._zip import check_zip_file

            # zipfile trusts the central directory: a damaged one silently hides members (label_names...)
            check_zip_file(path)
            with np.load(path, allow_pickle=False) as f:
                if "images" not in f.files or "labels" not in f.files:
                    raise ValueError(f"--data: received {str(path)!r} with arrays {f.files}; "
                                     "expected 'images' and 'labels'.")
                raw_labels = f["labels"]
                images = _first_rows(f, "images", limit)
                names = [str(s) for s in f["label_names"]] if "label_names" in f.files else None
        except ValueError as exc:
            if str(exc).startswith("--data"):
                raise
            raise _unreadable(path, exc) from None
        except Exception as exc:  # noqa: BLE001 - not a zip, truncated, bad headers: all "not a dataset file"
            raise _unreadable(path, exc) from None
        labels = _labels(raw_labels, path)[:limit]
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or len(images) != len(labels):
            raise ValueError(f"--data: received images of dtype {images.dtype}, shape {images.shape} with "
                             f"{len(labels)} labels; expected uint8 (N, H, W, 3) and N labels.")
        return Dataset(images, labels, names, "npz")
    if not path.is_dir():
        raise FileNotFoundError(f"--data: no .npz file or folder at {str(path)!r}")
    folders = sorted(p for p in path.iterdir() if p.is_dir())
    known = list(model.class_names or []) if model is not None else []
    lookup = {n: i for i, n in enumerate(known)}
    if labels is not None:
        lookup.update({w: i for i, w in enumerate(_wnids(labels))})
    mapped = bool(folders) and all(p.name in lookup for p in folders)
    files, ys = [], []
    for k, d in enumerate(folders):
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                files.append(f)
                ys.append(lookup[d.name] if mapped else k)
    if not files:
        raise ValueError(f"--data: no images ({', '.join(IMAGE_SUFFIXES)}) in {str(path)!r}/<class>/.")
    names = known if mapped else [p.name for p in folders]
    return Dataset(files[:limit], np.asarray(ys[:limit], dtype=np.int64), names, "folder")
