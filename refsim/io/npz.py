"""``.npz`` state dicts: NumPy's own zip of ``.npy`` arrays, read without pickle."""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any

import numpy as np

from refsim.io._source import read_source
from refsim.io.errors import CorruptCheckpointError

__all__ = ["read_npz", "write_npz", "is_npz"]


def is_npz(data: bytes) -> bool:
    """True if ``data`` is a zip archive whose members are all ``*.npy``."""
    if not data.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except Exception:  # noqa: BLE001 - sniffing only
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


def read_npz(source: Any) -> dict[str, np.ndarray]:
    """Read an ``.npz`` file with ``allow_pickle=False`` (object arrays refused).

    Parameters
    ----------
    source : str, os.PathLike or bytes

    Returns
    -------
    dict of str to numpy.ndarray
        Every array, fully loaded, in archive order.

    Raises
    ------
    CorruptCheckpointError
        Not a readable npz, or an array needs pickle (object dtype).
    """
    data = read_source(source, "source")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {name: np.array(archive[name]) for name in archive.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile,
            NotImplementedError, RuntimeError, MemoryError, OverflowError, SyntaxError, TypeError) as exc:
        # np.load reports object arrays as ValueError ("Object arrays cannot be loaded when
        # allow_pickle=False") and bad .npy headers as ValueError/SyntaxError.
        raise CorruptCheckpointError(f"cannot read npz: {type(exc).__name__}: {exc}") from exc


def write_npz(path: str | os.PathLike, state_dict: dict[str, np.ndarray], compressed: bool = False) -> None:
    """Write a state dict as ``.npz`` (one ``<key>.npy`` member per tensor).

    Parameters
    ----------
    path : str or os.PathLike
        Output file, written exactly there (no suffix is appended).
    state_dict : dict of str to numpy.ndarray
        Non-object dtypes only.
    compressed : bool
        Use ``numpy.savez_compressed``.
    """
    if not isinstance(state_dict, dict) or not all(isinstance(k, str) for k in state_dict):
        raise TypeError(f"state_dict must be a dict of str to numpy.ndarray, got {type(state_dict).__name__}")
    arrays = {}
    for key, value in state_dict.items():
        array = np.asarray(value)
        if array.dtype == object:
            raise ValueError(f"state_dict[{key!r}] has dtype object; npz state dicts hold numeric arrays only")
        arrays[key] = array
    # Written member by member (as numpy.savez does internally) so that any key,
    # even "file", is allowed.
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method, allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
