"""``.npz`` state dicts: NumPy's own zip of ``.npy`` arrays, read without pickle or NumPy's loader."""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any

import numpy as np

from refsim.io._source import read_source
from refsim.io._zip import open_zip
from refsim.io.errors import CheckpointError, CorruptCheckpointError
from refsim.io.limits import DEFAULT_LIMITS, ReadLimits

__all__ = ["read_npz", "write_npz", "is_npz", "read_npy_header", "check_npz_sizes", "NUMERIC_KINDS"]


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


#: dtype kinds an npz state dict may hold: bool, signed/unsigned int, float.
NUMERIC_KINDS = "biuf"


def read_npy_header(stream: Any, what: str) -> tuple[tuple, bool, np.dtype]:
    """Parse the magic and header of an untrusted ``.npy`` stream (format versions 1.0 and 2.0).

    Parameters
    ----------
    stream : binary file
        Positioned at the start of the ``.npy`` data; left after the header.
    what : str
        Names the array in error messages (``"npz member 'w.npy'"``, a path...).

    Returns
    -------
    shape : tuple of int
    fortran_order : bool
    dtype : numpy.dtype
        Always of a kind in :data:`NUMERIC_KINDS`.

    Raises
    ------
    CorruptCheckpointError
        No NPY magic, another format version, a header NumPy cannot parse
        (``tokenize.TokenError``, ``SyntaxError``... all wrapped), or a
        non-numeric dtype.
    """
    prefix = stream.read(len(np.lib.format.MAGIC_PREFIX))
    if prefix != np.lib.format.MAGIC_PREFIX:
        raise CorruptCheckpointError(f"{what} is not a .npy array (no NPY magic; starts {prefix!r})")
    version = tuple(stream.read(2))
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise CorruptCheckpointError(f"{what}: .npy format version {version} (expected 1.0 or 2.0)")
    try:
        shape, fortran, dtype = readers[version](stream, max_header_size=_MAX_HEADER)
    except Exception as exc:  # noqa: BLE001 - NumPy parses the header with tokenize/ast: many error types
        raise CorruptCheckpointError(f"{what}: bad .npy header: {type(exc).__name__}: {exc}") from None
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise CorruptCheckpointError(
            f"{what}: received dtype {dtype}; expected a numeric dtype (bool, int, uint, float)"
        )
    return shape, fortran, dtype


_MAX_HEADER = 10_000  # NumPy's own default bound on a .npy header


def check_npz_sizes(archive: zipfile.ZipFile, file_size: int, limits: ReadLimits | None = None) -> None:
    """Refuse an archive whose members declare more uncompressed bytes than
    ``limits.npz_budget(file_size)`` (a "zip bomb"), before anything is inflated.

    Raises
    ------
    CorruptCheckpointError
        The declared total exceeds the budget.
    """
    limits = limits or DEFAULT_LIMITS
    declared = sum(info.file_size for info in archive.infolist())
    budget = limits.npz_budget(file_size)
    if declared > budget:
        raise CorruptCheckpointError(
            f"npz members declare {declared} uncompressed bytes in a {file_size}-byte file; the limit is "
            f"{budget} (ReadLimits.max_bytes / max_expansion)"
        )


def read_npz(source: Any, limits: ReadLimits | None = None) -> dict[str, np.ndarray]:
    """Read an ``.npz`` file without pickle and without trusting its sizes.

    Every member must be a ``.npy`` array of a numeric dtype (bool, int, uint,
    float). Before anything is inflated, the archive's directory is checked
    against its entries (:func:`refsim.io._zip.open_zip`) and the declared
    uncompressed sizes against ``limits.npz_budget(len(file))``; each header's
    ``prod(shape) x itemsize`` must equal its member's remaining bytes.

    Parameters
    ----------
    source : str, os.PathLike or bytes
    limits : ReadLimits, optional
        Resource limits (default :data:`refsim.io.limits.DEFAULT_LIMITS`).

    Returns
    -------
    dict of str to numpy.ndarray
        Every array (key = member name without ``.npy``), fully loaded, in archive order.

    Raises
    ------
    CorruptCheckpointError
        Not a readable npz, a damaged directory, a member that is not a numeric
        ``.npy`` array, or sizes beyond the limits.
    """
    data = read_source(source, "source")
    limits = limits or DEFAULT_LIMITS
    with open_zip(data) as archive:
        infos = archive.infolist()
        check_npz_sizes(archive, len(data), limits)
        out = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise CorruptCheckpointError(f"npz member {info.filename!r} is not a '.npy' file")
            out[info.filename[:-4]] = _read_member(archive, info)
    return out


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    name = info.filename
    try:
        with archive.open(info) as member:
            shape, fortran, dtype = read_npy_header(member, f"npz member {name!r}")
            count = int(np.prod(shape, dtype=object)) if shape else 1
            nbytes = count * dtype.itemsize
            remaining = info.file_size - member.tell()
            if nbytes != remaining:
                raise CorruptCheckpointError(
                    f"npz member {name!r}: header declares shape {shape} of {dtype} ({nbytes} bytes); "
                    f"the member holds {remaining}"
                )
            raw = member.read(nbytes + 1)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile/zlib report damage (CRC, truncation) in many ways
        raise CorruptCheckpointError(f"npz member {name!r}: {type(exc).__name__}: {exc}") from exc
    if len(raw) != nbytes:
        raise CorruptCheckpointError(f"npz member {name!r}: read {len(raw)} bytes, expected {nbytes}")
    try:
        flat = np.frombuffer(raw, dtype=dtype)
        array = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
    except (ValueError, OverflowError) as exc:
        raise CorruptCheckpointError(f"npz member {name!r}: shape {shape}: {exc}") from None
    return np.array(array, order="C", dtype=dtype.newbyteorder("="))


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
        raise TypeError(f"state_dict: received {type(state_dict).__name__}; expected a dict of str to numpy.ndarray")
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
