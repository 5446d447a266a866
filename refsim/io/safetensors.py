"""Reader and writer for the safetensors format (no dependency on the package).

Layout::

    8 bytes     N, unsigned little-endian header length
    N bytes     UTF-8 JSON object:
                  {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
                   ..., "__metadata__": {"<str>": "<str>"}}   (metadata optional)
    rest        the data buffer; offsets are relative to its start

Every tensor is little-endian, C-contiguous; ``end - begin`` must equal
``prod(shape) x itemsize``; the byte ranges must lie inside the buffer and
must not overlap, and (as in the reference implementation) they must cover
the buffer without holes.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from refsim.io._source import read_source
from refsim.io.errors import CorruptCheckpointError, UnsupportedCheckpointError
from refsim.io.torch_storage import MAX_NDIM, decode_storage

__all__ = ["SAFETENSORS_DTYPES", "read_safetensors", "write_safetensors", "is_safetensors"]

#: safetensors dtype code -> (refsim dtype name, itemsize)
SAFETENSORS_DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("float64", 8),
    "F32": ("float32", 4),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "I64": ("int64", 8),
    "I32": ("int32", 4),
    "I16": ("int16", 2),
    "I8": ("int8", 1),
    "U8": ("uint8", 1),
    "BOOL": ("bool", 1),
}
_CODE_OF = {np.dtype(name): code for code, (name, _) in SAFETENSORS_DTYPES.items() if name != "bfloat16"}

#: Header size limit of the reference implementation (100 MB).
MAX_HEADER_BYTES = 100_000_000


def is_safetensors(data: bytes) -> bool:
    """True if ``data`` looks like safetensors: a plausible length, then ``{``."""
    if len(data) < 10:
        return False
    n = int.from_bytes(data[:8], "little")
    return 2 <= n <= len(data) - 8 and data[8:9] == b"{"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unique_keys(pairs: list) -> dict:
    """``object_pairs_hook``: a JSON object that repeats a name is refused (which entry is meant?)."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise CorruptCheckpointError(f"safetensors header: received the name {_short(key)} twice in one "
                                         "object; expected each name once")
        out[key] = value
    return out


def _parse_entry(name: str, entry: Any, buffer_len: int) -> tuple[str, tuple, int, int]:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise CorruptCheckpointError(f"safetensors entry {name!r}: received {_short(entry)}; expected dtype, shape, data_offsets")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str):  # a list or dict is not even hashable
        raise CorruptCheckpointError(f"safetensors entry {name!r}: dtype: received {_short(code)}; expected one of "
                                     f"{sorted(SAFETENSORS_DTYPES)}")
    if code not in SAFETENSORS_DTYPES:
        raise UnsupportedCheckpointError(
            f"safetensors entry {name!r} has dtype {code!r}; supported: {sorted(SAFETENSORS_DTYPES)}"
        )
    if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(type(s) is int and 0 <= s < 1 << 62
                                                                         for s in shape):
        raise CorruptCheckpointError(
            f"safetensors entry {name!r}: shape: received {shape!r}; expected a list of at most {MAX_NDIM} "
            "ints in [0, 2**62)"
        )
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
        raise CorruptCheckpointError(f"safetensors entry {name!r}: data_offsets: received {offsets!r}; expected [begin, end]")
    begin, end = offsets
    itemsize = SAFETENSORS_DTYPES[code][1]
    if not 0 <= begin <= end <= buffer_len:
        raise CorruptCheckpointError(
            f"safetensors entry {name!r}: data_offsets {offsets} outside the {buffer_len}-byte data buffer"
        )
    if end - begin != int(np.prod(shape, dtype=object)) * itemsize:
        raise CorruptCheckpointError(
            f"safetensors entry {name!r}: {end - begin} bytes for shape {shape} of {code} ({itemsize} bytes each)"
        )
    return code, tuple(shape), begin, end


def read_safetensors(source: Any, limits: Any = None) -> dict[str, np.ndarray]:
    """Read a ``.safetensors`` file.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        Path of the file, or its content.
    limits : ReadLimits, optional
        Accepted for a uniform reader signature; every size is bounded by the file.

    Returns
    -------
    dict of str to numpy.ndarray
        In file-header order; BF16 widened to float32, other dtypes kept.
        ``__metadata__`` is dropped.

    Raises
    ------
    CorruptCheckpointError
        Bad header length, JSON, offsets, sizes or holes/overlaps.
    UnsupportedCheckpointError
        A dtype outside :data:`SAFETENSORS_DTYPES`.
    """
    data = read_source(source, "source")
    if len(data) < 8:
        raise CorruptCheckpointError(f"safetensors file of {len(data)} bytes is shorter than its 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n > min(MAX_HEADER_BYTES, len(data) - 8):
        raise CorruptCheckpointError(f"safetensors header length {n} exceeds the file ({len(data)} bytes) or 100 MB")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=_unique_keys)
    except CorruptCheckpointError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError, MemoryError) as exc:
        raise CorruptCheckpointError(f"safetensors header is not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise CorruptCheckpointError(f"safetensors header: received {type(header).__name__}; expected a JSON object")
    buffer = memoryview(data)[8 + n:]
    entries = [(k, _parse_entry(k, v, len(buffer))) for k, v in header.items() if k != "__metadata__"]
    spans = sorted((begin, end, name) for name, (_, _, begin, end) in entries)
    position = 0
    for begin, end, name in spans:
        if begin != position:
            kind = "overlaps the previous tensor" if begin < position else "leaves a hole before it"
            raise CorruptCheckpointError(f"safetensors entry {name!r} at bytes [{begin}, {end}) {kind}")
        position = end
    if position != len(buffer):
        raise CorruptCheckpointError(f"safetensors data buffer has {len(buffer) - position} unused trailing bytes")
    out = {}
    for name, (code, shape, begin, end) in entries:
        flat = decode_storage(buffer[begin:end], SAFETENSORS_DTYPES[code][0], "little")
        try:
            out[name] = flat.reshape(shape).copy()
        except (ValueError, OverflowError, MemoryError) as exc:  # e.g. [2**40, 2**40, 0]: beyond NumPy's limits
            raise CorruptCheckpointError(f"safetensors entry {name!r}: shape {shape}: {exc}") from None
    return out


def write_safetensors(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                      metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` as a safetensors file (NumPy dtypes only; no bfloat16).

    Parameters
    ----------
    path : str or os.PathLike
    tensors : dict of str to numpy.ndarray
        dtypes among float64/32/16, int64/32/16/8, uint8, bool.
    metadata : dict of str to str, optional
        Stored as ``__metadata__``.
    """
    if not isinstance(tensors, dict):
        raise TypeError(f"tensors: received {type(tensors).__name__}; expected a dict of str to numpy.ndarray")
    header: dict[str, Any] = {}
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError(f"metadata: received {metadata!r:.60}; expected a dict of str to str")
        header["__metadata__"] = dict(metadata)
    chunks, position = [], 0
    for name, value in tensors.items():
        array = np.asarray(value)
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"tensors: key {name!r} is not a valid tensor name (str, not '__metadata__')")
        if array.dtype not in _CODE_OF:
            raise ValueError(f"tensors[{name!r}] has dtype {array.dtype}; supported: {sorted(map(str, _CODE_OF))}")
        raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _CODE_OF[array.dtype], "shape": list(array.shape),
                        "data_offsets": [position, position + len(raw)]}
        chunks.append(raw)
        position += len(raw)
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # align the data buffer to 8 bytes, as the reference writer does
    with open(path, "wb") as handle:
        handle.write(len(blob).to_bytes(8, "little"))
        handle.write(blob)
        for raw in chunks:
            handle.write(raw)
