"""Reader for PyTorch's legacy (pre-1.6, non-zip) checkpoint format.

A legacy file is five pickles followed by raw storage bytes::

    pickle 1   magic number 0x1950a86a20f9469cfc6c
    pickle 2   protocol version 1001
    pickle 3   sys_info {'protocol_version', 'little_endian', 'type_sizes'}
    pickle 4   the object tree; tensors refer to storages through persistent ids
               ('storage', <Type>Storage, root_key, location, numel, view_metadata)
               with view_metadata None or (view_key, offset, view_numel)
    pickle 5   list of the root storage keys, in the order of the data below
    then, for each key: int64 element count, then count x itemsize raw bytes

All counts are checked against the bytes that remain in the file before
anything is allocated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refsim.io._source import read_source
from refsim.io.limits import DEFAULT_LIMITS, ReadLimits
from refsim.io.errors import CorruptCheckpointError, UnsupportedCheckpointError
from refsim.io.torch_pickle import restricted_load
from refsim.io.torch_storage import StorageRef, StorageTable, decode_storage, materialize_tensors

__all__ = ["LEGACY_MAGIC", "LEGACY_PROTOCOL", "read_torch_legacy", "is_torch_legacy"]

#: First pickle of every legacy PyTorch file.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: Second pickle: the only protocol version PyTorch ever wrote.
LEGACY_PROTOCOL = 1001
#: Pickle protocol-2 encoding of LEGACY_MAGIC: PROTO 2, LONG1 of 10 bytes.
_MAGIC_PREFIX = b"\x80\x02\x8a\x0a" + LEGACY_MAGIC.to_bytes(10, "little")


def is_torch_legacy(data: bytes) -> bool:
    """True if ``data`` starts with the pickled legacy magic number (protocol 2)."""
    return data.startswith(_MAGIC_PREFIX)


def _is_tar(data: bytes) -> bool:
    return len(data) >= 262 and data[257:262] == b"ustar"


def _read_header(data: bytes) -> tuple[int, str]:
    """Parse pickles 1-3; return (bytes consumed, byte order)."""
    magic, pos = restricted_load(data, what="legacy magic number")
    if magic != LEGACY_MAGIC:
        raise CorruptCheckpointError(f"legacy checkpoint magic number is {magic!r}, expected {LEGACY_MAGIC:#x}")
    protocol, n = restricted_load(data, what="legacy protocol version", offset=pos)
    pos += n
    if protocol != LEGACY_PROTOCOL:
        raise UnsupportedCheckpointError(f"legacy protocol version {protocol!r} (only {LEGACY_PROTOCOL} exists)")
    sys_info, n = restricted_load(data, what="legacy sys_info", offset=pos)
    pos += n
    if not isinstance(sys_info, dict) or "little_endian" not in sys_info:
        raise CorruptCheckpointError(f"legacy sys_info: received {sys_info!r}; expected a dict with 'little_endian'")
    return pos, "little" if sys_info["little_endian"] else "big"


def read_torch_legacy(source: Any, limits: ReadLimits | None = None) -> Any:
    """Read a legacy (pre-1.6) PyTorch checkpoint without PyTorch.

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
        Malformed pickles, inconsistent or truncated storage data.
    UnsupportedCheckpointError
        The even older tar-based format of PyTorch < 0.4.
    """
    data = read_source(source, "source")
    limits = limits or DEFAULT_LIMITS
    if _is_tar(data):
        raise UnsupportedCheckpointError("tar-based PyTorch checkpoints (PyTorch < 0.4) are not supported")
    pos, byteorder = _read_header(data)
    table = StorageTable(max_bytes=len(data))

    def persistent_load(pid: Any) -> StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise CorruptCheckpointError(f"unexpected legacy persistent id {pid!r}")
        _, storage_type, root_key, _location, numel, view_metadata = pid
        root = table.get(root_key, storage_type, numel)
        if view_metadata is None:
            return root
        if not (isinstance(view_metadata, tuple) and len(view_metadata) == 3):
            raise CorruptCheckpointError(f"legacy storage view metadata: received {view_metadata!r}; expected a 3-tuple")
        _view_key, offset, view_numel = view_metadata
        if not all(type(v) is int and v >= 0 for v in (offset, view_numel)) or offset + view_numel > root.numel:
            raise CorruptCheckpointError(
                f"storage view {view_metadata!r} does not fit in root storage {root_key!r} of {root.numel} elements"
            )
        return StorageRef(root.key, root.dtype, root.itemsize, root.numel, offset, view_numel)

    obj, n = restricted_load(data, persistent_load, "legacy object pickle", offset=pos,
                             max_depth=limits.max_depth)
    pos += n
    keys, n = restricted_load(data, what="legacy storage key list", offset=pos)
    pos += n
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CorruptCheckpointError(f"legacy storage key list: received {type(keys).__name__}; expected a list of str")
    if sorted(keys) != sorted(table.roots):
        raise CorruptCheckpointError(
            f"legacy storage key list {len(keys)} keys does not match the {len(table.roots)} storages referenced"
        )
    count_dtype = np.dtype("<i8" if byteorder == "little" else ">i8")
    storages = {}
    for key in keys:
        ref = table.roots[key]
        if pos + 8 > len(data):
            raise CorruptCheckpointError(f"file truncated before the element count of storage {key!r}")
        count = int(np.frombuffer(data, dtype=count_dtype, count=1, offset=pos)[0])
        pos += 8
        if count != ref.numel:
            raise CorruptCheckpointError(f"storage {key!r} holds {count} elements, the pickle declared {ref.numel}")
        nbytes = count * ref.itemsize
        if pos + nbytes > len(data):
            raise CorruptCheckpointError(
                f"file truncated in storage {key!r}: needs {nbytes} bytes, {len(data) - pos} remain"
            )
        storages[key] = decode_storage(data[pos:pos + nbytes], ref.dtype, byteorder)
        pos += nbytes
    return materialize_tensors(obj, storages, limits.max_depth)
