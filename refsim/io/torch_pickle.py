"""A restricted unpickler that rebuilds PyTorch tensors as NumPy arrays.

PyTorch checkpoints are Python pickles. A pickle is a small program: its
``GLOBAL`` opcodes import any module attribute and its ``REDUCE`` opcodes call
it, so loading an untrusted pickle with :func:`pickle.load` can run arbitrary
code. This module never does that. :class:`RestrictedUnpickler` overrides
``find_class`` -- the single hook through which a pickle can name a Python
object (``GLOBAL``, ``STACK_GLOBAL``, ``INST``, the ``EXT`` registry) -- and
answers only from :data:`ALLOWED_GLOBALS`, a table of the few names that a
state dict needs, each mapped to a *refsim* stand-in:

========================================  ====================================
pickle global                             refsim stand-in
========================================  ====================================
``collections.OrderedDict``               :class:`collections.OrderedDict`
``torch._utils._rebuild_tensor``          :func:`rebuild_tensor` (legacy)
``torch._utils._rebuild_tensor_v2``       :func:`rebuild_tensor_v2`
``torch._utils._rebuild_parameter``       :func:`rebuild_parameter`
``torch._utils._rebuild_parameter_with_state``  :func:`rebuild_parameter_with_state`
``torch._tensor._rebuild_from_type_v2``   :func:`rebuild_from_type_v2`
``torch.<Type>Storage``                   :class:`StorageType` marker
``torch.<dtype>`` (``torch.float32``...)  :class:`TorchDType` marker
``torch.Size`` / ``torch.device``         ``tuple`` / ``str``
========================================  ====================================

Any other global raises :class:`~refsim.io.errors.UnsafeCheckpointError`
*before* anything is imported or called. The stand-ins allocate nothing: they
validate their arguments and return a :class:`TensorSpec` (storage reference,
offset, shape, strides). Storage bytes are read afterwards by the container
readers (:mod:`~refsim.io.torch_zip`, :mod:`~refsim.io.torch_legacy`), checked
against the size of the file, and turned into arrays by
:func:`materialize_tensors`.
"""

from __future__ import annotations

import collections
import io
import pickle
import pickletools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from refsim.io.errors import CheckpointError, CorruptCheckpointError, UnsafeCheckpointError

__all__ = [
    "STORAGE_DTYPES",
    "ALLOWED_GLOBALS",
    "StorageType",
    "TorchDType",
    "StorageRef",
    "StorageTable",
    "TensorSpec",
    "RestrictedUnpickler",
    "restricted_load",
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

# torch dtype attribute names that may appear as pickle globals.
_TORCH_DTYPE_NAMES = (
    "float64", "double", "float32", "float", "float16", "half", "bfloat16",
    "int64", "long", "int32", "int", "int16", "short", "int8", "uint8", "bool",
)

# Hard bounds on the metadata of one tensor (untrusted input).
MAX_NDIM = 32
MAX_NESTING_DEPTH = 64


class _Immutable:
    """Mixin: refuse pickle's BUILD opcode, which would otherwise update ``__dict__``.

    The markers and callables in :data:`ALLOWED_GLOBALS` are shared module
    objects; a malicious pickle must not be able to alter them for later loads.
    """

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise UnsafeCheckpointError(f"pickle tried to set the state of {self!r}; refused")


@dataclass(frozen=True)
class StorageType(_Immutable):
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
class TorchDType(_Immutable):
    """Marker standing in for a ``torch.<dtype>`` object (inert)."""

    name: str


@dataclass(frozen=True)
class _TypeMarker(_Immutable):
    """Marker standing in for ``torch.Tensor`` / ``torch.nn.Parameter``."""

    name: str


@dataclass(frozen=True)
class StorageRef(_Immutable):
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
class TensorSpec(_Immutable):
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
            raise CorruptCheckpointError(f"storage key must be a str, got {type(key).__name__}")
        if not isinstance(storage_type, StorageType):
            raise CorruptCheckpointError(
                f"storage {key!r}: storage type must be a torch.<Type>Storage class, got {storage_type!r}"
            )
        _check_int(numel, f"storage {key!r} element count")
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


def _check_int(value: Any, what: str) -> int:
    """Raise CorruptCheckpointError unless ``value`` is a non-negative Python int."""
    if type(value) is not int or value < 0:
        raise CorruptCheckpointError(f"{what} must be a non-negative int, got {value!r}")
    return value


def _check_int_tuple(value: Any, what: str) -> tuple:
    """Validate a shape or stride tuple from the pickle."""
    if not isinstance(value, (tuple, list)) or len(value) > MAX_NDIM:
        raise CorruptCheckpointError(f"{what} must be a tuple of at most {MAX_NDIM} ints, got {value!r}")
    return tuple(_check_int(v, what) for v in value)


# --- stand-ins for the allowed torch globals (validate, never allocate) -------------


def rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> TensorSpec:
    """Stand-in for ``torch._utils._rebuild_tensor`` (legacy format).

    Parameters
    ----------
    storage : StorageRef
    storage_offset : int
        In elements.
    size, stride : tuple of int
        Shape and strides (in elements); same length.

    Returns
    -------
    TensorSpec
    """
    if not isinstance(storage, StorageRef):
        raise CorruptCheckpointError(f"tensor storage must come from a persistent id, got {storage!r}")
    shape = _check_int_tuple(size, "tensor size")
    strides = _check_int_tuple(stride, "tensor stride")
    if len(shape) != len(strides):
        raise CorruptCheckpointError(f"tensor size {shape} and stride {strides} have different lengths")
    return TensorSpec(storage, _check_int(storage_offset, "tensor storage offset"), shape, strides)


def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                      backward_hooks=None, metadata=None) -> TensorSpec:
    """Stand-in for ``torch._utils._rebuild_tensor_v2``; autograd fields ignored."""
    return rebuild_tensor(storage, storage_offset, size, stride)


def rebuild_parameter(data, requires_grad=True, backward_hooks=None) -> TensorSpec:
    """Stand-in for ``torch._utils._rebuild_parameter``: a Parameter is its data."""
    if not isinstance(data, TensorSpec):
        raise CorruptCheckpointError(f"parameter data must be a tensor, got {data!r}")
    return data


def rebuild_parameter_with_state(data, requires_grad=True, backward_hooks=None, state=None) -> TensorSpec:
    """Stand-in for ``torch._utils._rebuild_parameter_with_state``; state ignored."""
    return rebuild_parameter(data, requires_grad, backward_hooks)


def rebuild_from_type_v2(func, new_type, args, state) -> TensorSpec:
    """Stand-in for ``torch._tensor._rebuild_from_type_v2`` (plain Tensor/Parameter only)."""
    func = getattr(func, "func", None)
    if func not in (rebuild_tensor, rebuild_tensor_v2, rebuild_parameter, rebuild_parameter_with_state):
        raise UnsafeCheckpointError(f"_rebuild_from_type_v2 with function {func!r} is refused")
    if not isinstance(new_type, _TypeMarker):
        raise UnsafeCheckpointError(f"_rebuild_from_type_v2 with type {new_type!r} is refused")
    if not isinstance(args, tuple):
        raise CorruptCheckpointError(f"_rebuild_from_type_v2 args must be a tuple, got {args!r}")
    return func(*args)


def _torch_device(*args) -> str:
    """Stand-in for ``torch.device``: the device string (locations are ignored)."""
    return ":".join(str(a) for a in args)


def _torch_size(*args) -> tuple:
    """Stand-in for ``torch.Size``."""
    return tuple(*args)


class _SafeCallable(_Immutable):
    """Wraps an allowed stand-in function so that pickle cannot mutate it."""

    __slots__ = ("name", "func")

    def __init__(self, name: str, func: Callable[..., Any]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "func", func)

    def __setattr__(self, key: str, value: Any) -> None:
        raise UnsafeCheckpointError(f"pickle tried to set attribute {key!r} of {self.name}; refused")

    def __call__(self, *args: Any) -> Any:
        return self.func(*args)

    def __repr__(self) -> str:
        return f"<refsim stand-in for {self.name}>"


def _build_allowed() -> dict[tuple[str, str], Any]:
    functions = {
        ("torch._utils", "_rebuild_tensor"): rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter_with_state,
        ("torch._tensor", "_rebuild_from_type_v2"): rebuild_from_type_v2,
        ("torch", "device"): _torch_device,
        ("torch", "Size"): _torch_size,
    }
    allowed: dict[tuple[str, str], Any] = {
        key: _SafeCallable(".".join(key), func) for key, func in functions.items()
    }
    allowed[("collections", "OrderedDict")] = collections.OrderedDict
    allowed[("torch", "Tensor")] = _TypeMarker("Tensor")
    allowed[("torch._tensor", "Tensor")] = _TypeMarker("Tensor")
    allowed[("torch.nn.parameter", "Parameter")] = _TypeMarker("Parameter")
    for name, (dtype, itemsize) in STORAGE_DTYPES.items():
        allowed[("torch", name)] = StorageType(name, dtype, itemsize)
    for name in _TORCH_DTYPE_NAMES:
        allowed[("torch", name)] = TorchDType(name)
    return allowed


#: (module, name) -> refsim stand-in. Nothing outside this table is ever resolved.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = _build_allowed()


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves globals only from :data:`ALLOWED_GLOBALS`.

    Parameters
    ----------
    file : binary file
        The pickle stream.
    persistent_load : callable
        ``pid -> object``; validates the persistent id (storages).
    """

    def __init__(self, file, persistent_load: Callable[[Any], Any]) -> None:
        super().__init__(file)
        self._persistent_load = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise UnsafeCheckpointError(
                f"checkpoint refers to the Python global {module}.{name}, which is not on refsim's "
                "allow-list of tensor-rebuilding names; it was NOT imported or executed. "
                "Only plain state dicts (tensors in dicts/lists) can be read."
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        return self._persistent_load(pid)


def _refuse_persistent_id(pid: Any) -> Any:
    raise CorruptCheckpointError(f"unexpected persistent id {pid!r} in a pickle that must hold none")


_MEMO_OPCODES = ("PUT", "BINPUT", "LONG_BINPUT")


def prescan_pickle(data: bytes, what: str = "pickle", offset: int = 0) -> int:
    """Walk the opcodes of the first pickle in ``data`` without executing any.

    CPython's C unpickler grows its memo table to ``2 x index`` on a
    ``LONG_BINPUT``, so a 5-byte opcode with index 2**31 would allocate
    gigabytes. Pickles written by pickle number memo entries 0, 1, 2...; this
    scan refuses any memo index larger than the number of opcodes before it.

    Returns
    -------
    int
        Number of opcodes, STOP included.

    Raises
    ------
    CorruptCheckpointError
        Malformed opcode stream or an out-of-range memo index.
    """
    n_ops = 0
    stream = io.BytesIO(data)  # shares the bytes object's buffer (no copy)
    stream.seek(offset)
    try:
        for opcode, arg, _pos in pickletools.genops(stream):
            n_ops += 1
            if opcode.name in _MEMO_OPCODES and int(arg) > n_ops:
                raise CorruptCheckpointError(
                    f"{what}: memo index {arg} after only {n_ops} opcodes (a memory-exhaustion pattern)"
                )
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - pickletools reports malformed streams in many ways
        raise CorruptCheckpointError(f"cannot parse {what}: {type(exc).__name__}: {exc}") from exc
    return n_ops


def restricted_load(data: bytes, persistent_load: Callable[[Any], Any] | None = None,
                    what: str = "pickle", offset: int = 0) -> tuple[Any, int]:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`.

    Parameters
    ----------
    data : bytes
        Buffer starting with a pickle (trailing bytes are allowed).
    persistent_load : callable, optional
        Handler for persistent ids; by default any persistent id is an error.
    what : str
        Name used in error messages.
    offset : int
        Position of the pickle in ``data``.

    Returns
    -------
    obj : object
        The unpickled object (TensorSpec leaves, not arrays).
    n_read : int
        Bytes consumed from ``data`` starting at ``offset``.

    Raises
    ------
    UnsafeCheckpointError
        A global outside the allow-list was requested.
    CorruptCheckpointError
        Any other failure (truncation, bad opcodes, wrong argument types...).
        Arbitrary bytes can make the C unpickler raise almost any built-in
        exception, so every exception except :class:`CheckpointError` is
        wrapped here -- at this single boundary.
    """
    prescan_pickle(data, what, offset)
    stream = io.BytesIO(data)
    stream.seek(offset)
    unpickler = RestrictedUnpickler(stream, persistent_load or _refuse_persistent_id)
    try:
        obj = unpickler.load()
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - boundary: see docstring
        raise CorruptCheckpointError(f"cannot parse {what}: {type(exc).__name__}: {exc}") from exc
    return obj, stream.tell() - offset


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
    n_elements = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if n_elements == 0:
        return np.zeros(shape, dtype=flat.dtype)
    last = spec.offset + sum((s - 1) * st for s, st in zip(shape, stride))
    if last >= ref.view_numel:
        raise CorruptCheckpointError(
            f"tensor of shape {shape}, stride {stride}, offset {spec.offset} reaches element {last} "
            f"of storage {ref.key!r}, which has only {ref.view_numel} elements"
        )
    start = ref.view_offset + spec.offset
    view = np.lib.stride_tricks.as_strided(
        flat[start:], shape=shape, strides=tuple(st * flat.itemsize for st in stride), writeable=False
    )
    return np.array(view, order="C", copy=True)


def materialize_tensors(obj: Any, storages: dict[str, np.ndarray]) -> Any:
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

    Returns
    -------
    object
        Same structure with arrays as leaves.
    """
    budget = [8 * sum(a.size for a in storages.values()) + (1 << 20)]

    def walk(node: Any, depth: int) -> Any:
        if depth > MAX_NESTING_DEPTH:
            raise CorruptCheckpointError(f"checkpoint nests containers deeper than {MAX_NESTING_DEPTH}")
        if isinstance(node, TensorSpec):
            n = int(np.prod(node.shape, dtype=object)) if node.shape else 1
            budget[0] -= n
            if budget[0] < 0:
                raise CorruptCheckpointError("tensors would expand to far more elements than the file holds")
            if node.storage.key not in storages:
                raise CorruptCheckpointError(f"storage {node.storage.key!r} has no data in the file")
            return tensor_from_storage(storages[node.storage.key], node)
        if isinstance(node, dict):
            return {k: walk(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, depth + 1) for v in node]
        if isinstance(node, tuple):
            return tuple(walk(v, depth + 1) for v in node)
        return node

    return walk(obj, 0)
