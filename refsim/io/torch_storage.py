"""Tensor storages of PyTorch checkpoints: descriptions, bounds, and NumPy decoding.

The restricted unpickler (:mod:`refsim.io.torch_pickle`) turns each tensor of
a pickle into a :class:`TensorSpec` -- a :class:`StorageRef`, an offset, a
shape and strides -- without reading or allocating anything. Once the
container reader has the storage bytes (checked against the file size),
:func:`decode_storage` turns them into a 1-D array and
:func:`materialize_tensors` copies every strided view out of it:

.. math::  T[i_0, .., i_{n-1}] = S[\\text{offset} + \\sum_d i_d \\, \\text{stride}_d]
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from refsim.io.errors import CorruptCheckpointError, UnsafeCheckpointError

__all__ = [
    "STORAGE_DTYPES",
    "MAX_NDIM",
    "MAX_NESTING_DEPTH",
    "StorageType",
    "TorchDType",
    "TypeMarker",
    "Immutable",
    "StorageRef",
    "StorageTable",
    "TensorSpec",
    "check_int",
    "check_int_tuple",
    "decode_storage",
    "tensor_from_storage",
    "materialize_tensors",
]

# Storage class name -> (dtype name, element size in bytes). bfloat16 has no
# NumPy dtype; it is read as uint16 and widened to float32 in decode_storage.
STORAGE_DTYPES: dict[str, tuple[str, int]] = {
    "DoubleStorage": ("float64", 8),
    "FloatStorage": ("float32", 4),
    "HalfStorage": ("float16", 2),
    "BFloat16Storage": ("bfloat16", 2),
    "LongStorage": ("int64", 8),
    "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2),
    "CharStorage": ("int8", 1),
    "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1),
}

# Hard bounds on the metadata of one tensor (untrusted input).
MAX_NDIM = 32
MAX_NESTING_DEPTH = 64  # the default of refsim.io.ReadLimits.max_depth


class Immutable:
    """Mixin: refuse pickle's BUILD opcode, which would otherwise update ``__dict__``.

    The markers and callables in :data:`ALLOWED_GLOBALS` are shared module
    objects; a malicious pickle must not be able to alter them for later loads.
    """

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise UnsafeCheckpointError(f"pickle tried to set the state of {self!r}; refused")


@dataclass(frozen=True)
class StorageType(Immutable):
    """Marker standing in for a ``torch.<Type>Storage`` class.

    Attributes
    ----------
    name : str
        PyTorch class name, e.g. ``"FloatStorage"``.
    dtype : str
        Element type: a NumPy dtype name or ``"bfloat16"``.
    itemsize : int
        Bytes per element.
    """

    name: str
    dtype: str
    itemsize: int


@dataclass(frozen=True)
class TorchDType(Immutable):
    """Marker standing in for a ``torch.<dtype>`` object (inert)."""

    name: str


@dataclass(frozen=True)
class TypeMarker(Immutable):
    """Marker standing in for ``torch.Tensor`` / ``torch.nn.Parameter``."""

    name: str


@dataclass(frozen=True)
class StorageRef(Immutable):
    """A storage named by a pickle persistent id; bytes are read later.

    Attributes
    ----------
    key : str
        Storage key (zip member ``data/<key>`` or legacy root key).
    dtype : str
        Element type (see :data:`STORAGE_DTYPES`).
    itemsize : int
        Bytes per element.
    numel : int
        Elements in the root storage.
    view_offset : int
        Legacy storage views only: first element of the view in the root.
    view_numel : int
        Elements visible through this reference (``numel`` when not a view).
    """

    key: str
    dtype: str
    itemsize: int
    numel: int
    view_offset: int = 0
    view_numel: int = -1


@dataclass(frozen=True)
class TensorSpec(Immutable):
    """A tensor described by a pickle, not yet read: ``storage[offset + sum(i*stride)]``.

    Attributes
    ----------
    storage : StorageRef
    offset : int
        Storage offset in elements.
    shape : tuple of int
    stride : tuple of int
        Strides in elements.
    """

    storage: StorageRef
    offset: int
    shape: tuple
    stride: tuple


class StorageTable:
    """Registry of the storages named by one pickle, with size bounds.

    Parameters
    ----------
    max_bytes : int
        Upper bound on the bytes of any one storage (the file size): a
        persistent id that claims more is refused before anything is allocated.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.roots: dict[str, StorageRef] = {}

    def get(self, key: Any, storage_type: Any, numel: Any) -> StorageRef:
        """Return the root :class:`StorageRef` for ``key``, checking consistency."""
        if not isinstance(key, str):
            raise CorruptCheckpointError(f"storage key: received {type(key).__name__}; expected a str")
        if not isinstance(storage_type, StorageType):
            raise CorruptCheckpointError(
                f"storage {key!r}: storage type: received {storage_type!r}; expected a torch.<Type>Storage class"
            )
        check_int(numel, f"storage {key!r} element count")
        if numel * storage_type.itemsize > self.max_bytes:
            raise CorruptCheckpointError(
                f"storage {key!r} claims {numel} elements of {storage_type.itemsize} bytes, "
                f"more than the file's {self.max_bytes} bytes"
            )
        ref = self.roots.get(key)
        if ref is None:
            ref = StorageRef(key, storage_type.dtype, storage_type.itemsize, numel, 0, numel)
            self.roots[key] = ref
        elif (ref.dtype, ref.numel) != (storage_type.dtype, numel):
            raise CorruptCheckpointError(
                f"storage {key!r} is declared twice with different types/sizes: "
                f"({ref.dtype}, {ref.numel}) and ({storage_type.dtype}, {numel})"
            )
        return ref


def check_int(value: Any, what: str) -> int:
    """Raise CorruptCheckpointError unless ``value`` is a non-negative Python int."""
    if type(value) is not int or value < 0:
        raise CorruptCheckpointError(f"{what}: received {value!r}; expected a non-negative int")
    return value


def check_int_tuple(value: Any, what: str) -> tuple:
    """Validate a shape or stride tuple from the pickle."""
    if not isinstance(value, (tuple, list)) or len(value) > MAX_NDIM:
        raise CorruptCheckpointError(f"{what}: received {value!r}; expected a tuple of at most {MAX_NDIM} ints")
    return tuple(check_int(v, what) for v in value)


# --- materialization ----------------------------------------------------------------


def decode_storage(raw: bytes | memoryview, dtype: str, byteorder: str = "little") -> np.ndarray:
    """Decode raw storage bytes into a 1-D array.

    bfloat16 is the top half of a float32, so it widens exactly:
    ``f32_bits = u16_bits << 16``.

    Parameters
    ----------
    raw : bytes
        ``numel * itemsize`` bytes.
    dtype : str
        A value of :data:`STORAGE_DTYPES`.
    byteorder : {"little", "big"}

    Returns
    -------
    numpy.ndarray, shape (numel,)
        Native byte order; float32 for bfloat16; read-only view or copy.
    """
    order = "<" if byteorder == "little" else ">"
    if dtype == "bfloat16":
        bits = np.frombuffer(raw, dtype=order + "u2").astype(np.uint32)
        return (bits << np.uint32(16)).view(np.float32)
    if dtype == "bool":
        return np.frombuffer(raw, dtype=np.uint8) != 0
    np_dtype = np.dtype(dtype).newbyteorder(order)
    flat = np.frombuffer(raw, dtype=np_dtype)
    return flat.astype(flat.dtype.newbyteorder("="), copy=False)


def tensor_from_storage(flat: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Copy the strided view ``spec`` out of the decoded root storage ``flat``.

    Element ``idx`` of the tensor is ``flat[view_offset + offset + sum_d idx_d * stride_d]``.

    Parameters
    ----------
    flat : numpy.ndarray, shape (numel,)
        Decoded root storage.
    spec : TensorSpec

    Returns
    -------
    numpy.ndarray, shape ``spec.shape``
        A fresh C-contiguous, writeable array.
    """
    ref = spec.storage
    shape, stride = spec.shape, spec.stride
    n_elements = int(np.prod(shape, dtype=object)) if shape else 1
    if n_elements == 0:
        try:
            return np.zeros(shape, dtype=flat.dtype)
        except (ValueError, OverflowError) as exc:  # a dimension beyond NumPy's intp
            raise CorruptCheckpointError(f"empty tensor of shape {shape} cannot be represented: {exc}") from None
    last = spec.offset + sum((s - 1) * st for s, st in zip(shape, stride))
    if last >= ref.view_numel:
        raise CorruptCheckpointError(
            f"tensor of shape {shape}, stride {stride}, offset {spec.offset} reaches element {last} "
            f"of storage {ref.key!r}, which has only {ref.view_numel} elements"
        )
    # A dimension of size 1 never moves along its stride, so any stride there is
    # harmless to the bound above but may not fit in a C ssize_t: it is set to 0.
    # Every other stride is below the storage length, so its byte stride fits.
    byte_strides = tuple(0 if s == 1 else st * flat.itemsize for s, st in zip(shape, stride))
    if any(b >= 1 << 62 for b in byte_strides) or n_elements >= 1 << 62:
        raise CorruptCheckpointError(f"tensor of shape {shape}, stride {stride} does not fit in memory")
    start = ref.view_offset + spec.offset
    view = np.lib.stride_tricks.as_strided(flat[start:], shape=shape, strides=byte_strides, writeable=False)
    return np.array(view, order="C", copy=True)


def materialize_tensors(obj: Any, storages: dict[str, np.ndarray], max_depth: int = MAX_NESTING_DEPTH) -> Any:
    """Replace every :class:`TensorSpec` in ``obj`` by a NumPy array.

    Containers are rebuilt (``dict``/``OrderedDict`` -> ``dict``, lists, tuples);
    other leaves (numbers, strings, None, markers) are kept. The total number
    of elements produced is bounded by ``8 x`` the elements of all storages plus
    ``2**20``, so zero-stride views cannot inflate a small file into a huge
    allocation.

    Parameters
    ----------
    obj : object
        Output of :func:`restricted_load`.
    storages : dict of str to numpy.ndarray
        Decoded root storages by key.
    max_depth : int
        Deepest container nesting accepted (:attr:`refsim.io.ReadLimits.max_depth`).

    Returns
    -------
    object
        Same structure with arrays as leaves.
    """
    budget = [8 * sum(a.size for a in storages.values()) + (1 << 20)]
    # Results by id(): a pickle can share containers through its memo, so a
    # 60-level chain of {"a": d, "b": d} would take 2**60 steps without this.
    done: dict[int, Any] = {}

    def walk(node: Any, depth: int, path: str) -> Any:
        if depth > max_depth:
            raise CorruptCheckpointError(f"entry {path!r}: containers nested deeper than {max_depth} levels")
        if not isinstance(node, (TensorSpec, dict, list, tuple)):
            return node
        if id(node) in done:
            return done[id(node)]
        if isinstance(node, TensorSpec):
            n = int(np.prod(node.shape, dtype=object)) if node.shape else 1
            budget[0] -= n
            if budget[0] < 0:
                raise CorruptCheckpointError(
                    f"entry {path!r}: tensors would expand to far more elements than the file holds"
                )
            if node.storage.key not in storages:
                raise CorruptCheckpointError(f"entry {path!r}: storage {node.storage.key!r} has no data in the file")
            try:
                result: Any = tensor_from_storage(storages[node.storage.key], node)
            except CorruptCheckpointError as exc:
                raise CorruptCheckpointError(f"entry {path!r}: {exc}") from exc
        elif isinstance(node, dict):
            result = {k: walk(v, depth + 1, _join(path, k)) for k, v in node.items()}
        else:
            items = [walk(v, depth + 1, _join(path, i)) for i, v in enumerate(node)]
            result = items if isinstance(node, list) else tuple(items)
        done[id(node)] = result
        return result

    return walk(obj, 0, "")


def _join(path: str, key: Any) -> str:
    """Dotted entry name for error messages (non-str keys shortened, never fully repr'd)."""
    part = key if isinstance(key, str) else reprlib.repr(key)
    return f"{path}.{part}" if path else str(part)
