"""Reader for TensorFlow Lite flatbuffers (``.tflite``), without TensorFlow or flatbuffers.

The file is a FlatBuffer of the TFLite schema (``tensorflow/lite/schema/schema.fbs``,
file identifier ``TFL3``). FlatBuffer layout, all little-endian::

    bytes 0..4   uoffset (u32): root table at position 0 + uoffset
    bytes 4..8   file identifier "TFL3"
    table at t   soffset (i32) s; its vtable is at v = t - s:
                 u16 vtable bytes, u16 table bytes, then one u16 per field id:
                 the field's offset inside the table (0: absent, default value)
    reference    u32 r stored at position p points to p + r (table, vector or string)
    vector at v  u32 length n, then n elements (a vector of tables holds references)
    string       a vector of bytes (UTF-8), NUL-terminated
    union        two fields: a u8 type (id k) and a reference to the table (id k + 1)

Only the schema subset that refsim runs is decoded: the model (version 3, one
subgraph), operator codes, tensors (shape, type, buffer, per-tensor or per-axis
affine quantization), operators among :data:`SUPPORTED_OPS` with their builtin
options, and the constant buffers. Everything else refuses loudly with
:class:`~refsim.io.errors.UnsupportedCheckpointError` (custom operators,
several subgraphs, sparse tensors, non-affine quantization, external buffers).

Safety: every offset and length is checked against the file before it is
read; a vtable, table, vector or string that reaches outside the file, a field
that overflows its table, an index outside its list or a negative dimension
raises :class:`~refsim.io.errors.CorruptCheckpointError` naming the file and
the field (``Model.subgraphs[0].tensors[12].quantization.scale``). The reader
never recurses on file content: the depth of the schema (Model > SubGraph >
Tensor > QuantizationParameters) bounds the nesting, and a budget of
``4 x file size + 4096`` decoded elements bounds the work a file with
shared (aliased) offsets can ask for.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refsim.io._source import read_source
from refsim.io.errors import CorruptCheckpointError, UnsupportedCheckpointError

__all__ = ["TFLiteTensor", "TFLiteOperator", "TFLiteModel", "read_tflite", "is_tflite",
           "TENSOR_TYPES", "SUPPORTED_OPS", "ACTIVATIONS"]

#: TensorType enum -> NumPy dtype name (numeric types only; others are refused).
TENSOR_TYPES = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8", 10: "float64"}
#: ActivationFunctionType enum -> name (``fused_activation_function`` of the options).
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_PADDING = {0: "SAME", 1: "VALID"}
_MAX_RANK = 8

# option field: (field id, name, struct format or "[i" for an int vector, default)
#: builtin code -> (name, BuiltinOptions union type, option fields, options required)
SUPPORTED_OPS = {
    0: ("ADD", 11, [(0, "fused_activation_function", "b", 0)], False),
    1: ("AVERAGE_POOL_2D", 5, [(0, "padding", "b", 0), (1, "stride_w", "i", 0), (2, "stride_h", "i", 0),
                               (3, "filter_width", "i", 0), (4, "filter_height", "i", 0),
                               (5, "fused_activation_function", "b", 0)], True),
    3: ("CONV_2D", 1, [(0, "padding", "b", 0), (1, "stride_w", "i", 0), (2, "stride_h", "i", 0),
                       (3, "fused_activation_function", "b", 0), (4, "dilation_w_factor", "i", 1),
                       (5, "dilation_h_factor", "i", 1)], True),
    4: ("DEPTHWISE_CONV_2D", 2, [(0, "padding", "b", 0), (1, "stride_w", "i", 0), (2, "stride_h", "i", 0),
                                 (3, "depth_multiplier", "i", 0), (4, "fused_activation_function", "b", 0),
                                 (5, "dilation_w_factor", "i", 1), (6, "dilation_h_factor", "i", 1)], True),
    22: ("RESHAPE", 17, [(0, "new_shape", "[i", None)], False),
    25: ("SOFTMAX", 9, [(0, "beta", "f", 0.0)], True),
}


@dataclass(frozen=True)
class TFLiteTensor:
    """One tensor of the subgraph. ``data`` is None for activations (no constant buffer).

    ``scale`` (float32) and ``zero_point`` (int64) are 1-D arrays of one entry
    (per-tensor) or one per slice along ``quantized_dimension`` (per-axis); both
    None for a float tensor. Real value = scale * (q - zero_point).
    """

    index: int
    name: str
    shape: tuple
    dtype: str
    buffer: int
    data: np.ndarray | None = field(repr=False)
    scale: np.ndarray | None
    zero_point: np.ndarray | None
    quantized_dimension: int = 0


@dataclass(frozen=True)
class TFLiteOperator:
    """One operator: ``opcode`` name, tensor indices (-1: optional input absent) and options."""

    index: int
    opcode: str
    version: int
    inputs: tuple
    outputs: tuple
    options: dict


@dataclass(frozen=True)
class TFLiteModel:
    """The model's single subgraph: tensors, operators in execution order, graph inputs/outputs."""

    version: int
    description: str
    tensors: list
    operators: list
    inputs: tuple
    outputs: tuple
    source: str


def is_tflite(data: bytes) -> bool:
    """True if ``data`` carries the TFLite file identifier ``TFL3`` at bytes 4..8."""
    return len(data) >= 8 and data[4:8] == b"TFL3"


class _Buf:
    """The file's bytes with checked primitive reads and a work budget."""

    def __init__(self, data: bytes, source: str):
        self.data, self.n, self.source = data, len(data), source
        self.budget = 4 * len(data) + 4096

    def fail(self, what: str, msg: str, unsupported: bool = False):
        cls = UnsupportedCheckpointError if unsupported else CorruptCheckpointError
        raise cls(f"TFLite file {self.source}: {what}: {msg}")

    def spend(self, n: int, what: str) -> None:
        self.budget -= n + 1
        if self.budget < 0:
            self.fail(what, "the file's offsets ask to decode more elements than 4x its size "
                            "(shared or cyclic references)")

    def unpack(self, fmt: str, pos: int, what: str):
        size = struct.calcsize("<" + fmt)
        if pos < 0 or pos + size > self.n:
            self.fail(what, f"{size}-byte value at byte {pos} lies outside the {self.n}-byte file")
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def follow(self, pos: int, what: str) -> int:
        """Position referenced by the u32 uoffset stored at ``pos``."""
        return pos + self.unpack("I", pos, what)


class _Table:
    """A FlatBuffer table at ``pos``, its vtable checked on construction."""

    def __init__(self, buf: _Buf, pos: int, what: str):
        buf.spend(1, what)
        self.buf, self.pos, self.what = buf, pos, what
        vt = pos - buf.unpack("i", pos, f"{what} (table offset)")
        vt_size = buf.unpack("H", vt, f"{what} (vtable)")
        self.size = buf.unpack("H", vt + 2, f"{what} (vtable)")
        if vt_size < 4 or vt_size % 2 or vt + vt_size > buf.n:
            buf.fail(what, f"vtable at byte {vt} of {vt_size} bytes is malformed or outside the file")
        if self.size < 4 or pos + self.size > buf.n:
            buf.fail(what, f"table at byte {pos} of {self.size} bytes lies outside the {buf.n}-byte file")
        self.vt, self.n_fields = vt, (vt_size - 4) // 2

    def _field(self, fid: int, size: int, name: str) -> int | None:
        """Absolute position of field ``fid`` (None if absent), checked to fit the table."""
        if fid >= self.n_fields:
            return None
        off = self.buf.unpack("H", self.vt + 4 + 2 * fid, f"{self.what}.{name} (vtable)")
        if off == 0:
            return None
        if off + size > self.size:
            self.buf.fail(f"{self.what}.{name}", f"field at offset {off} overflows the {self.size}-byte table")
        return self.pos + off

    def scalar(self, fid: int, fmt: str, name: str, default=0):
        p = self._field(fid, struct.calcsize("<" + fmt), name)
        return default if p is None else self.buf.unpack(fmt, p, f"{self.what}.{name}")

    def _vector(self, fid: int, itemsize: int, name: str) -> tuple[int, int] | None:
        p = self._field(fid, 4, name)
        if p is None:
            return None
        what = f"{self.what}.{name}"
        v = self.buf.follow(p, what)
        n = self.buf.unpack("I", v, f"{what} (length)")
        if v + 4 + n * itemsize > self.buf.n:
            self.buf.fail(what, f"vector of {n} x {itemsize} bytes at byte {v} runs past the {self.buf.n}-byte file")
        self.buf.spend(n, what)
        return v + 4, n

    def array(self, fid: int, dtype: str, name: str) -> np.ndarray | None:
        """A vector of scalars as a fresh NumPy array (None if absent)."""
        dt = np.dtype(dtype).newbyteorder("<")
        found = self._vector(fid, dt.itemsize, name)
        if found is None:
            return None
        start, n = found
        return np.frombuffer(self.buf.data, dtype=dt, count=n, offset=start).astype(dt.newbyteorder("="))

    def string(self, fid: int, name: str) -> str:
        found = self._vector(fid, 1, name)
        if found is None:
            return ""
        start, n = found
        try:
            return self.buf.data[start:start + n].decode("utf-8")
        except UnicodeDecodeError as exc:
            self.buf.fail(f"{self.what}.{name}", f"not UTF-8 ({exc})")

    def table(self, fid: int, name: str) -> _Table | None:
        p = self._field(fid, 4, name)
        return None if p is None else _Table(self.buf, self.buf.follow(p, f"{self.what}.{name}"),
                                             f"{self.what}.{name}")

    def tables(self, fid: int, name: str) -> list:
        found = self._vector(fid, 4, name)
        if found is None:
            return []
        start, n = found
        return [_Table(self.buf, self.buf.follow(start + 4 * i, f"{self.what}.{name}[{i}]"),
                       f"{self.what}.{name}[{i}]") for i in range(n)]


def _indices(t: _Table, fid: int, name: str, n_tensors: int, optional_ok: bool) -> tuple:
    arr = t.array(fid, "i4", name)
    arr = np.zeros(0, np.int32) if arr is None else arr
    low = -1 if optional_ok else 0
    bad = arr[(arr < low) | (arr >= n_tensors)]
    if bad.size:
        t.buf.fail(f"{t.what}.{name}", f"tensor index {int(bad[0])} outside [{low}, {n_tensors})")
    return tuple(int(i) for i in arr)


def _read_buffer(buf: _Buf, t: _Table) -> bytes:
    if t.scalar(1, "Q", "offset") > 1:
        buf.fail(f"{t.what}.offset", "data stored outside the flatbuffer (models > 2 GB) is not supported",
                 unsupported=True)
    found = t._vector(0, 1, "data")
    return b"" if found is None else buf.data[found[0]:found[0] + found[1]]


def _read_quantization(buf: _Buf, q: _Table | None, shape: tuple):
    if q is None:
        return None, None, 0
    if q.scalar(4, "B", "details_type") != 0:
        buf.fail(f"{q.what}.details", "custom quantization details are not supported", unsupported=True)
    scale, zp = q.array(2, "f4", "scale"), q.array(3, "i8", "zero_point")
    qdim = q.scalar(6, "i", "quantized_dimension")
    if scale is None or scale.size == 0:  # min/max only, or empty: not a quantized tensor
        return None, None, 0
    if zp is None or zp.size != scale.size:
        buf.fail(q.what, f"{scale.size} scales but {0 if zp is None else zp.size} zero points")
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        buf.fail(f"{q.what}.scale", f"scales must be finite and > 0; received {scale[:4]}")
    if scale.size > 1 and not (0 <= qdim < len(shape) and shape[qdim] == scale.size):
        buf.fail(q.what, f"{scale.size} per-axis scales along quantized_dimension {qdim} of shape {shape}")
    return scale, zp, int(qdim)


def _read_tensor(buf: _Buf, t: _Table, index: int, buffers: list, cache: dict) -> TFLiteTensor:
    shape_arr = t.array(0, "i4", "shape")
    shape = () if shape_arr is None else tuple(int(s) for s in shape_arr)
    if len(shape) > _MAX_RANK or any(s < 0 for s in shape):
        buf.fail(f"{t.what}.shape", f"shape {shape[:_MAX_RANK + 1]} (rank <= {_MAX_RANK}, dims >= 0 expected)")
    code = t.scalar(1, "b", "type")
    name = t.string(3, "name")
    if code not in TENSOR_TYPES:
        buf.fail(f"{t.what}.type", f"tensor {name!r} has TensorType {code}; supported: "
                                   f"{sorted(TENSOR_TYPES.values())}", unsupported=True)
    if t.table(6, "sparsity") is not None:
        buf.fail(f"{t.what}.sparsity", f"sparse tensor {name!r} is not supported", unsupported=True)
    b = t.scalar(2, "I", "buffer")
    if b >= len(buffers):
        buf.fail(f"{t.what}.buffer", f"buffer index {b} outside [0, {len(buffers)})")
    if b not in cache:
        cache[b] = _read_buffer(buf, buffers[b])
    raw, dtype = cache[b], np.dtype(TENSOR_TYPES[code]).newbyteorder("<")
    data = None
    if raw:
        count = int(np.prod(shape, dtype=object))
        if len(raw) != count * dtype.itemsize:
            buf.fail(f"{t.what}.buffer", f"tensor {name!r} of shape {shape} ({dtype.name}) needs "
                                         f"{count * dtype.itemsize} bytes; buffer {b} holds {len(raw)}")
        data = np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(shape)
        data.setflags(write=False)
    scale, zp, qdim = _read_quantization(buf, t.table(4, "quantization"), shape)
    return TFLiteTensor(index, name, shape, dtype.name, int(b), data, scale, zp, qdim)


def _read_options(buf: _Buf, op: _Table, name: str, union_type: int, spec: list, required: bool) -> dict:
    found = op.scalar(3, "B", "builtin_options_type")
    opts = op.table(4, "builtin_options") if found != 0 else None
    if found not in (0, union_type) or (found != 0 and opts is None) or (required and found == 0):
        buf.fail(f"{op.what}.builtin_options", f"{name} needs options of union type {union_type}; "
                                              f"found type {found}{' without a table' if found else ''}")
    out = {}
    for fid, key, fmt, default in spec:
        if fmt == "[i":
            arr = None if opts is None else opts.array(fid, "i4", key)
            out[key] = default if arr is None else tuple(int(v) for v in arr)
        else:
            out[key] = default if opts is None else opts.scalar(fid, fmt, key, default)
    if "padding" in out:
        if out["padding"] not in _PADDING:
            buf.fail(f"{op.what}.builtin_options.padding", f"unknown Padding {out['padding']}")
        out["padding"] = _PADDING[out["padding"]]
    if "fused_activation_function" in out:
        act = out["fused_activation_function"]
        if act not in ACTIVATIONS:
            buf.fail(f"{op.what}.builtin_options.fused_activation_function", f"unknown activation {act}")
        out["fused_activation_function"] = ACTIVATIONS[act]
    return out


def read_tflite(source: Any) -> TFLiteModel:
    """Read a TFLite flatbuffer.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        Path of the ``.tflite`` file, or its content.

    Returns
    -------
    TFLiteModel
        Tensors in file order (constants with their ``data``), operators in
        execution order, the subgraph's input and output tensor indices.

    Raises
    ------
    CorruptCheckpointError
        Not a TFL3 flatbuffer, or any offset, length, index or size out of range.
    UnsupportedCheckpointError
        A well-formed feature outside the supported subset (see the module docstring).
    """
    label = repr(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else "<bytes>"
    data = read_source(source, "source")
    buf = _Buf(data, label)
    if not is_tflite(data):
        buf.fail("header", f"file identifier {data[4:8]!r} at bytes 4..8; expected b'TFL3'")
    model = _Table(buf, buf.follow(0, "root offset"), "Model")
    version = model.scalar(0, "I", "version")
    if version != 3:
        buf.fail("Model.version", f"schema version {version}; expected 3", unsupported=True)
    codes = []
    for oc in model.tables(1, "operator_codes"):
        code = max(oc.scalar(0, "b", "deprecated_builtin_code"), oc.scalar(3, "i", "builtin_code"))
        if code not in SUPPORTED_OPS:
            custom = oc.string(1, "custom_code")
            label_op = f"custom operator {custom!r}" if code == 32 else f"builtin operator code {code}"
            buf.fail(oc.what, f"{label_op} is not supported; supported: "
                              f"{', '.join(v[0] for v in SUPPORTED_OPS.values())}", unsupported=True)
        codes.append((code, oc.scalar(2, "i", "version", 1)))
    subgraphs = model.tables(2, "subgraphs")
    if len(subgraphs) != 1:
        buf.fail("Model.subgraphs", f"{len(subgraphs)} subgraphs; only models of exactly 1 are supported",
                 unsupported=len(subgraphs) > 1)
    buffers = model.tables(4, "buffers")
    sg = subgraphs[0]
    cache: dict = {}
    tensors = [_read_tensor(buf, t, i, buffers, cache) for i, t in enumerate(sg.tables(0, "tensors"))]
    nt = len(tensors)
    operators = []
    for i, op in enumerate(sg.tables(3, "operators")):
        idx = op.scalar(0, "I", "opcode_index")
        if idx >= len(codes):
            buf.fail(f"{op.what}.opcode_index", f"{idx} outside [0, {len(codes)})")
        code, ver = codes[idx]
        name, union_type, spec, required = SUPPORTED_OPS[code]
        operators.append(TFLiteOperator(
            i, name, int(ver), _indices(op, 1, "inputs", nt, True), _indices(op, 2, "outputs", nt, False),
            _read_options(buf, op, name, union_type, spec, required)))
    return TFLiteModel(int(version), model.string(3, "description"), tensors, operators,
                       _indices(sg, 1, "inputs", nt, False), _indices(sg, 2, "outputs", nt, False), label)
