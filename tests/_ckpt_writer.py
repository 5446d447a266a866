"""Test helper: write PyTorch-format checkpoints WITHOUT torch.

Emits the same pickles torch.save writes (globals ``torch._utils._rebuild_tensor_v2``,
``torch.FloatStorage``..., persistent ids for storages) with the pure-Python
pickler, so the readers can be tested where torch is absent; where torch is
present, tests also check that ``torch.load`` reads these files.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from dataclasses import dataclass

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

STORAGE_OF = {
    "float64": "DoubleStorage", "float32": "FloatStorage", "float16": "HalfStorage",
    "bfloat16": "BFloat16Storage", "int64": "LongStorage", "int32": "IntStorage",
    "int16": "ShortStorage", "int8": "CharStorage", "uint8": "ByteStorage", "bool": "BoolStorage",
}


class G:
    """A pickle global ``module.name``, emitted verbatim (no import)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle requires reduce functions to be callable
        raise RuntimeError("never called")


class Call:
    """``func(*args)`` as a pickle REDUCE."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@dataclass(frozen=True)
class Storage:
    """Raw storage: key, dtype name, raw little-endian bytes."""

    key: str
    dtype: str
    raw: bytes

    @property
    def itemsize(self) -> int:
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize

    @property
    def numel(self) -> int:
        return len(self.raw) // self.itemsize


class _Pickler(pickle._Pickler):  # pure-Python pickler: its dispatch table is extensible
    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, persistent):
        super().__init__(file, protocol=2)
        self._persistent = persistent

    def persistent_id(self, obj):
        return self._persistent(obj)

    def _save_g(self, obj):
        self.write(pickle.GLOBAL + obj.module.encode() + b"\n" + obj.name.encode() + b"\n")
        self.memoize(obj)

    dispatch[G] = _save_g


def dumps(obj, persistent=lambda o: None) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, persistent).dump(obj)
    return buf.getvalue()


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 values exactly representable in bfloat16 -> uint16 bit patterns."""
    return (np.asarray(values, np.float32).view(np.uint32) >> 16).astype(np.uint16)


def tensor(storage: Storage, offset: int, shape: tuple, stride: tuple, legacy: bool = False):
    if legacy:
        return Call(G("torch._utils", "_rebuild_tensor"), storage, offset, tuple(shape), tuple(stride))
    hooks = Call(G("collections", "OrderedDict"))
    return Call(G("torch._utils", "_rebuild_tensor_v2"), storage, offset, tuple(shape), tuple(stride), False, hooks)


def dense(key: str, array: np.ndarray, dtype: str | None = None, legacy: bool = False):
    """A contiguous tensor holding ``array`` in its own storage."""
    array = np.ascontiguousarray(array)
    dtype = dtype or str(array.dtype)
    raw = bf16_bits(array).tobytes() if dtype == "bfloat16" else array.astype(array.dtype.newbyteorder("<")).tobytes()
    strides = tuple(s // array.itemsize for s in array.strides) if array.size else (1,) * array.ndim
    return tensor(Storage(key, dtype, raw), 0, array.shape, strides, legacy)


def ordered(items: dict):
    """An OrderedDict built as torch pickles it: OrderedDict() then SETITEMS."""
    return _OrderedDictProxy(items)


class _OrderedDictProxy(dict):
    def __reduce__(self):
        return G("collections", "OrderedDict"), (), None, None, iter(self.items())


def _pid(legacy: bool):
    def persistent(obj):
        if isinstance(obj, Storage):
            typ = G("torch", STORAGE_OF[obj.dtype])
            if legacy:
                return ("storage", typ, obj.key, "cpu", obj.numel, None)
            return ("storage", typ, obj.key, "cpu", obj.numel)
        return None
    return persistent


def _storages(obj, found=None, seen=None) -> dict:
    found = {} if found is None else found
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return found
    seen.add(id(obj))
    if isinstance(obj, Storage):
        found[obj.key] = obj
    elif isinstance(obj, Call):
        _storages(obj.args, found, seen)
    elif isinstance(obj, dict):
        for v in obj.values():
            _storages(v, found, seen)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _storages(v, found, seen)
    return found


def torch_zip_bytes(obj, name: str = "archive") -> bytes:
    """A torch>=1.6 zip checkpoint of ``obj`` (built from dense()/tensor()/ordered())."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{name}/data.pkl", dumps(obj, _pid(False)))
        archive.writestr(f"{name}/byteorder", "little")
        for key, storage in _storages(obj).items():
            archive.writestr(f"{name}/data/{key}", storage.raw)
        archive.writestr(f"{name}/version", "3\n")
    return buf.getvalue()


def torch_legacy_bytes(obj, main_pickle: bytes | None = None) -> bytes:
    """A legacy (pre-1.6) checkpoint of ``obj``; ``main_pickle`` replaces pickle 4 if given."""
    sys_info = {"protocol_version": 1001, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    storages = _storages(obj)
    parts = [pickle.dumps(LEGACY_MAGIC, protocol=2), pickle.dumps(1001, protocol=2),
             pickle.dumps(sys_info, protocol=2),
             main_pickle if main_pickle is not None else dumps(obj, _pid(True)),
             pickle.dumps(list(storages), protocol=2)]
    for storage in storages.values():
        parts.append(struct.pack("<q", storage.numel) + storage.raw)
    return b"".join(parts)
