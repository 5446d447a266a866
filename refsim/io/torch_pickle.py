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
from typing import Any, Callable

from refsim.io.errors import CheckpointError, CorruptCheckpointError, UnsafeCheckpointError
from refsim.io.limits import DEFAULT_LIMITS
from refsim.io.torch_storage import (
    STORAGE_DTYPES,
    StorageRef,
    StorageType,
    TensorSpec,
    TorchDType,
    TypeMarker,
    Immutable,
    check_int,
    check_int_tuple,
)

__all__ = [
    "ALLOWED_GLOBALS",
    "RestrictedUnpickler",
    "prescan_pickle",
    "restricted_load",
    "rebuild_tensor",
    "rebuild_tensor_v2",
    "rebuild_parameter",
    "rebuild_parameter_with_state",
    "rebuild_from_type_v2",
]

# torch dtype attribute names that may appear as pickle globals.
_TORCH_DTYPE_NAMES = (
    "float64", "double", "float32", "float", "float16", "half", "bfloat16",
    "int64", "long", "int32", "int", "int16", "short", "int8", "uint8", "bool",
)

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
        raise CorruptCheckpointError(f"tensor storage: received {storage!r}; expected a storage from a persistent id")
    shape = check_int_tuple(size, "tensor size")
    strides = check_int_tuple(stride, "tensor stride")
    if len(shape) != len(strides):
        raise CorruptCheckpointError(f"tensor size {shape} and stride {strides} have different lengths")
    return TensorSpec(storage, check_int(storage_offset, "tensor storage offset"), shape, strides)


def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                      backward_hooks=None, metadata=None) -> TensorSpec:
    """Stand-in for ``torch._utils._rebuild_tensor_v2``; autograd fields ignored."""
    return rebuild_tensor(storage, storage_offset, size, stride)


def rebuild_parameter(data, requires_grad=True, backward_hooks=None) -> TensorSpec:
    """Stand-in for ``torch._utils._rebuild_parameter``: a Parameter is its data."""
    if not isinstance(data, TensorSpec):
        raise CorruptCheckpointError(f"parameter data: received {data!r}; expected a tensor")
    return data


def rebuild_parameter_with_state(data, requires_grad=True, backward_hooks=None, state=None) -> TensorSpec:
    """Stand-in for ``torch._utils._rebuild_parameter_with_state``; state ignored."""
    return rebuild_parameter(data, requires_grad, backward_hooks)


def rebuild_from_type_v2(func, new_type, args, state) -> TensorSpec:
    """Stand-in for ``torch._tensor._rebuild_from_type_v2`` (plain Tensor/Parameter only)."""
    func = getattr(func, "func", None)
    if func not in (rebuild_tensor, rebuild_tensor_v2, rebuild_parameter, rebuild_parameter_with_state):
        raise UnsafeCheckpointError(f"_rebuild_from_type_v2 with function {func!r} is refused")
    if not isinstance(new_type, TypeMarker):
        raise UnsafeCheckpointError(f"_rebuild_from_type_v2 with type {new_type!r} is refused")
    if not isinstance(args, tuple):
        raise CorruptCheckpointError(f"_rebuild_from_type_v2 args: received {args!r}; expected a tuple")
    return func(*args)


def _torch_device(*args) -> str:
    """Stand-in for ``torch.device``: the device string (locations are ignored)."""
    return ":".join(str(a) for a in args)


def _torch_size(*args) -> tuple:
    """Stand-in for ``torch.Size``."""
    return tuple(*args)


class _SafeCallable(Immutable):
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
    allowed[("torch", "Tensor")] = TypeMarker("Tensor")
    allowed[("torch._tensor", "Tensor")] = TypeMarker("Tensor")
    allowed[("torch.nn.parameter", "Parameter")] = TypeMarker("Parameter")
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


#: Pickle-level nesting allowed on top of ``max_depth``: a tensor is a REDUCE of an
#: argument tuple holding its size tuple, a Parameter or subclass wraps it again.
_CALL_LEVELS = 8

_MEMO_OPCODES = ("PUT", "BINPUT", "LONG_BINPUT")
_GET_OPCODES = ("GET", "BINGET", "LONG_BINGET")
# Opcodes that build a new container from stack items (depth = 1 + deepest item).
_BUILDERS = {"TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "LIST", "DICT", "FROZENSET",
             "EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"}
# Opcodes that add stack items to the container below them, in place.
_IN_PLACE = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS"}


class _Depth:
    """Nesting depth of one object on the symbolic pickle stack (shared through the memo)."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value


class _DepthScan:
    """Symbolic execution of a pickle's stack that tracks container nesting depth.

    Each stack slot holds a :class:`_Depth`: a new container is one deeper than
    its deepest item, a call (REDUCE, BUILD...) as deep as its arguments, a
    memo entry shares the object of its PUT. Tuples and frozensets -- the
    containers CPython hashes recursively -- are immutable, so their depth is
    exact; mutable containers grown later through the memo are bounded again
    when the result is walked (:func:`materialize_tensors`, ``_flatten``).
    """

    def __init__(self, what: str, max_depth: int) -> None:
        self.what, self.max_depth = what, max_depth
        self.stack: list[_Depth] = []
        self.marks: list[int] = []
        self.memo: dict[Any, _Depth] = {}

    def _check(self, depth: int) -> int:
        if depth > self.max_depth:
            raise CorruptCheckpointError(
                f"{self.what}: containers nested deeper than {self.max_depth} levels "
                "(raise ReadLimits.max_depth to read it)"
            )
        return depth

    def _pop(self, n: int) -> list[_Depth]:
        if n > len(self.stack) - (self.marks[-1] if self.marks else 0):
            raise CorruptCheckpointError(f"cannot parse {self.what}: pickle stack underflow")
        items = self.stack[len(self.stack) - n:] if n else []
        del self.stack[len(self.stack) - n:]
        return items

    def step(self, opcode: Any, arg: Any) -> None:
        name = opcode.name
        if name == "MARK":
            self.marks.append(len(self.stack))
            return
        if name in _MEMO_OPCODES or name == "MEMOIZE":
            if not self.stack:
                raise CorruptCheckpointError(f"cannot parse {self.what}: memo store from an empty stack")
            self.memo[len(self.memo) if name == "MEMOIZE" else arg] = self.stack[-1]
            return
        if name in _GET_OPCODES:
            self.stack.append(self.memo.get(arg, _Depth(0)))
            return
        before = opcode.stack_before
        sliced: list[_Depth] = []
        if pickletools.markobject in before:
            n_below = before.index(pickletools.markobject)
            if not self.marks:
                raise CorruptCheckpointError(f"cannot parse {self.what}: {name} without a MARK")
            start = self.marks.pop()
            sliced = self.stack[start:]
            del self.stack[start:]
        else:
            n_below = len(before)
        below = self._pop(n_below)
        if name in _IN_PLACE:
            container = below[0]
            deepest = max((d.value for d in below[1:] + sliced), default=0)
            container.value = max(container.value, self._check(deepest + 1))
            self.stack.append(container)
            return
        deepest = max((d.value for d in below + sliced), default=0)
        depth = self._check(deepest + (1 if name in _BUILDERS else 0))
        self.stack.extend(_Depth(depth) for _ in opcode.stack_after)


def prescan_pickle(data: bytes, what: str = "pickle", offset: int = 0,
                   max_depth: int = DEFAULT_LIMITS.max_depth) -> int:
    """Walk the opcodes of the first pickle in ``data`` without executing any.

    Two patterns are refused before the unpickler sees them:

    - CPython's C unpickler grows its memo table to ``2 x index`` on a
      ``LONG_BINPUT``, so a 5-byte opcode with index 2**31 would allocate
      gigabytes. Pickles written by pickle number memo entries 0, 1, 2...;
      any memo index larger than the number of opcodes before it is refused.
    - Containers nested deeper than ``max_depth`` (see :class:`_DepthScan`):
      hashing a tuple nested 150,000 deep as a dict key overflows the C stack.

    Returns
    -------
    int
        Number of opcodes, STOP included.

    Raises
    ------
    CorruptCheckpointError
        Malformed opcode stream, an out-of-range memo index, or too deep nesting.
    """
    n_ops = 0
    scan = _DepthScan(what, max_depth + _CALL_LEVELS)
    stream = io.BytesIO(data)  # shares the bytes object's buffer (no copy)
    stream.seek(offset)
    try:
        for opcode, arg, _pos in pickletools.genops(stream):
            n_ops += 1
            if opcode.name in _MEMO_OPCODES and int(arg) > n_ops:
                raise CorruptCheckpointError(
                    f"{what}: memo index {arg} after only {n_ops} opcodes (a memory-exhaustion pattern)"
                )
            scan.step(opcode, arg)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - pickletools reports malformed streams in many ways
        raise CorruptCheckpointError(f"cannot parse {what}: {type(exc).__name__}: {exc}") from exc
    return n_ops


def restricted_load(data: bytes, persistent_load: Callable[[Any], Any] | None = None,
                    what: str = "pickle", offset: int = 0,
                    max_depth: int = DEFAULT_LIMITS.max_depth) -> tuple[Any, int]:
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
    max_depth : int
        Container nesting limit (:attr:`refsim.io.ReadLimits.max_depth`).

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
    prescan_pickle(data, what, offset, max_depth)
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
