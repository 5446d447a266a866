"""Reader for PyTorch's zip checkpoint format (``torch.save`` since PyTorch 1.6).

Layout of the archive (``<name>`` is an arbitrary top-level folder)::

    <name>/data.pkl        the object tree, pickled; tensors refer to storages
                           through persistent ids
                           ('storage', <Type>Storage, key, location, numel)
    <name>/data/<key>      raw bytes of storage ``key`` (numel x itemsize)
    <name>/byteorder       'little' or 'big' (absent in old files: little)
    <name>/version         serialization version (text)

PyTorch writes every member uncompressed (``ZIP_STORED``); compressed members
are refused as unsupported, which also bounds every read by the file size.
Zip CRC-32 checksums are verified by :mod:`zipfile` as each member is read.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from refsim.io.errors import CheckpointError, CorruptCheckpointError, UnsupportedCheckpointError
from refsim.io._zip import open_zip
from refsim.io.torch_pickle import restricted_load
from refsim.io.torch_storage import StorageTable, decode_storage, materialize_tensors
from refsim.io._source import read_source
from refsim.io.limits import DEFAULT_LIMITS, ReadLimits

__all__ = ["read_torch_zip", "is_torch_zip"]

MAX_MEMBERS = 1_000_000


def is_torch_zip(data: bytes) -> bool:
    """True if ``data`` is a zip archive that contains a ``*/data.pkl`` member."""
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any(n.endswith("/data.pkl") or n == "data.pkl" for n in archive.namelist())
    except Exception:  # noqa: BLE001 - sniffing only; the reader reports the real error
        return False


def _read_member(archive: zipfile.ZipFile, name: str, file_size: int) -> bytes:
    """Read one stored member, checking its sizes against the archive size."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise CorruptCheckpointError(f"zip checkpoint has no member {name!r}") from None
    if info.compress_type != zipfile.ZIP_STORED:
        raise UnsupportedCheckpointError(
            f"zip member {name!r} is compressed (method {info.compress_type}); torch.save writes "
            "uncompressed members -- re-save the checkpoint with torch.save"
        )
    if info.file_size != info.compress_size or info.file_size > file_size:
        raise CorruptCheckpointError(
            f"zip member {name!r} declares {info.file_size} bytes ({info.compress_size} stored) "
            f"in a file of {file_size} bytes"
        )
    with archive.open(info) as member:
        payload = member.read(info.file_size + 1)
    if len(payload) != info.file_size:
        raise CorruptCheckpointError(f"zip member {name!r}: read {len(payload)} bytes, expected {info.file_size}")
    return payload


def _parse(data: bytes, limits: ReadLimits) -> Any:
    archive = open_zip(data)
    with archive:
        names = archive.namelist()
        if len(names) > MAX_MEMBERS:
            raise CorruptCheckpointError(f"zip checkpoint has {len(names)} members (limit {MAX_MEMBERS})")
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise CorruptCheckpointError(f"zip checkpoint must hold exactly one '*/data.pkl', found {pkl}")
        prefix = pkl[0][: -len("data.pkl")]  # '<name>/' or ''
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = _read_member(archive, prefix + "byteorder", len(data)).decode("ascii", "replace")
            if byteorder not in ("little", "big"):
                raise CorruptCheckpointError(f"byteorder record: received {byteorder!r}; expected 'little' or 'big'")
        table = StorageTable(max_bytes=len(data))

        def persistent_load(pid: Any) -> Any:
            # ('storage', storage_type, key, location, numel)
            if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
                raise CorruptCheckpointError(f"unexpected persistent id {pid!r}")
            _, storage_type, key, _location, numel = pid
            return table.get(key, storage_type, numel)

        obj, _ = restricted_load(_read_member(archive, pkl[0], len(data)), persistent_load, "data.pkl",
                                 max_depth=limits.max_depth)
        storages = {}
        for key, ref in table.roots.items():
            raw = _read_member(archive, f"{prefix}data/{key}", len(data))
            if len(raw) != ref.numel * ref.itemsize:
                raise CorruptCheckpointError(
                    f"storage {key!r} holds {len(raw)} bytes, expected {ref.numel} x {ref.itemsize}"
                )
            storages[key] = decode_storage(raw, ref.dtype, byteorder)
    return materialize_tensors(obj, storages, limits.max_depth)


def read_torch_zip(source: Any, limits: ReadLimits | None = None) -> Any:
    """Read a zip-format PyTorch checkpoint without PyTorch.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        Path of the file, or its content.
    limits : ReadLimits, optional
        Resource limits (default :data:`refsim.io.limits.DEFAULT_LIMITS`).

    Returns
    -------
    object
        The saved object with every tensor replaced by a ``numpy.ndarray``
        (same dtype, except bfloat16 -> float32); dicts become ``dict``.

    Raises
    ------
    UnsafeCheckpointError
        The pickle names a global outside the allow-list (nothing executed).
    CorruptCheckpointError
        Malformed archive, pickle or storage.
    UnsupportedCheckpointError
        Compressed members.
    """
    data = read_source(source, "source")
    try:
        return _parse(data, limits or DEFAULT_LIMITS)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError,
            NotImplementedError, RuntimeError) as exc:
        # zipfile raises these on damaged headers (e.g. "Bad CRC-32", "Truncated file header").
        raise CorruptCheckpointError(f"damaged zip checkpoint: {type(exc).__name__}: {exc}") from exc
