"""A minimal FlatBuffer writer for test TFLite models (tests only; refsim never writes .tflite).

Objects are laid out front to back: a table's vtable, then the table, then its
children, so every uoffset points forward as FlatBuffers requires. A table is
``T({field_id: value})`` with values

* ``("b"|"B"|"h"|"H"|"i"|"I"|"q"|"Q"|"f"|"?", number)``: an inline scalar (struct format);
* ``T(...)``: a child table; ``[T, ...]``: a vector of tables;
* ``str``: a string; ``bytes``: a vector of ubyte; ``("vec", fmt, values)``: a vector of scalars.

:func:`tiny_model` builds a small quantized graph of every supported operator.
"""
from __future__ import annotations

import struct

import numpy as np


class T(dict):
    """A table: field id -> value."""


def _align(out: bytearray, n: int, extra: int = 0) -> None:
    while (len(out) + extra) % n:
        out.append(0)


def _emit(out: bytearray, value, memo: dict) -> int:
    """Append ``value`` (table, vector or string) to ``out``; return its position.

    A table object met again is not written twice: later references point to its first copy
    (forward, as long as it is first met inside the same vector or earlier in the file order).
    """
    if isinstance(value, T):
        if id(value) not in memo:
            memo[id(value)] = _emit_table(out, value, memo)
        return memo[id(value)]
    if isinstance(value, list):
        _align(out, 4)
        pos = len(out)
        out += struct.pack("<I", len(value)) + b"\0" * (4 * len(value))
        for i, child in enumerate(value):
            slot = pos + 4 + 4 * i
            struct.pack_into("<I", out, slot, _emit(out, child, memo) - slot)
        return pos
    if isinstance(value, str):
        value = value.encode("utf-8") + b"\0"
        _align(out, 4)
        pos = len(out)
        out += struct.pack("<I", len(value) - 1) + value
        return pos
    if isinstance(value, (bytes, bytearray)):
        _align(out, 16, 4)
        pos = len(out)
        out += struct.pack("<I", len(value)) + bytes(value)
        return pos
    _, fmt, values = value  # ("vec", fmt, values)
    size = struct.calcsize("<" + fmt)
    _align(out, max(size, 4), 4)
    pos = len(out)
    out += struct.pack("<I", len(values)) + b"".join(struct.pack("<" + fmt, v) for v in values)
    return pos


def _emit_table(out: bytearray, table: T, memo: dict) -> int:
    layout, size = {}, 4  # field id -> (offset in table, fmt or None for a reference)
    for fid in sorted(table):
        v = table[fid]
        fmt = v[0] if isinstance(v, tuple) and v[0] != "vec" else "I"
        n = struct.calcsize("<" + fmt)
        size += -size % n
        layout[fid] = (size, fmt, not (isinstance(v, tuple) and v[0] != "vec"))
        size += n
    n_fields = max(table) + 1 if table else 0
    _align(out, 2)
    vt = len(out)
    out += struct.pack("<HH", 4 + 2 * n_fields, size)
    out += b"".join(struct.pack("<H", layout[i][0] if i in layout else 0) for i in range(n_fields))
    _align(out, 8)
    pos = len(out)
    out += b"\0" * size
    struct.pack_into("<i", out, pos, pos - vt)
    for fid, (off, fmt, is_ref) in layout.items():
        if not is_ref:
            struct.pack_into("<" + fmt, out, pos + off, table[fid][1])
    for fid, (off, fmt, is_ref) in layout.items():
        if is_ref:
            struct.pack_into("<I", out, pos + off, _emit(out, table[fid], memo) - (pos + off))
    return pos


def build(root: T, identifier: bytes = b"TFL3") -> bytes:
    """Serialize ``root`` as a FlatBuffer with ``identifier`` at bytes 4..8."""
    out = bytearray(8)
    out[4:8] = identifier
    struct.pack_into("<I", out, 0, _emit_table(out, root, {}))
    return bytes(out)


# ---------------------------------------------------------------- TFLite helpers

def tensor(shape, type_code, buffer, name, scale=None, zero_point=None, extra=None) -> T:
    t = T({0: ("vec", "i", list(shape)), 1: ("b", type_code), 2: ("I", buffer), 3: name})
    if scale is not None:
        t[4] = T({2: ("vec", "f", [scale]), 3: ("vec", "q", [zero_point])})
    t.update(extra or {})
    return t


def operator(opcode_index, inputs, outputs, options_type=0, options=None) -> T:
    op = T({0: ("I", opcode_index), 1: ("vec", "i", list(inputs)), 2: ("vec", "i", list(outputs))})
    if options_type:
        op[3] = ("B", options_type)
        op[4] = options
    return op


def model(codes, tensors, operators, inputs, outputs, buffers, version=3, subgraphs=None) -> T:
    sg = T({0: tensors, 1: ("vec", "i", list(inputs)), 2: ("vec", "i", list(outputs)), 3: operators, 4: "main"})
    return T({0: ("I", version), 1: [T({0: ("b", min(c, 127)), 2: ("i", 1), 3: ("i", c)}) for c in codes],
              2: subgraphs if subgraphs is not None else [sg], 3: "test", 4: [b if isinstance(b, T) else T({0: b}) if b
                                                                             else T() for b in buffers]})


def tiny_model(seed: int = 0, size: int = 8) -> tuple[bytes, dict]:
    """A uint8 graph: CONV_2D 3x3/2 SAME (asymmetric padding) + RELU6 -> DEPTHWISE 3x3 (multiplier 2)
    SAME + RELU6 -> two CONV_2D 1x1 -> ADD -> AVERAGE_POOL_2D 3x3/2 SAME (partial windows) -> CONV_2D 1x1
    -> RESHAPE (1, 2, 2, 5) -> (1, 20) -> SOFTMAX. Returns the file and the weights/biases by name."""
    rng = np.random.default_rng(seed)
    o, p = (size + 1) // 2, (size + 3) // 4
    u8 = lambda *s: rng.integers(0, 256, s, dtype=np.uint8)  # noqa: E731
    i32 = lambda n: rng.integers(-3000, 3000, n).astype("<i4")  # noqa: E731
    w = {"conv": u8(4, 3, 3, 3), "dw": u8(1, 3, 3, 8), "pw": u8(8, 1, 1, 8), "pw2": u8(8, 1, 1, 8),
         "fc": u8(5, 1, 1, 8), "b_conv": i32(4), "b_dw": i32(8), "b_pw": i32(8), "b_pw2": i32(8), "b_fc": i32(5)}
    buffers = [b"", b"", w["conv"].tobytes(), w["b_conv"].tobytes(), w["dw"].tobytes(), w["b_dw"].tobytes(),
               w["pw"].tobytes(), w["b_pw"].tobytes(), w["pw2"].tobytes(), w["b_pw2"].tobytes(),
               w["fc"].tobytes(), w["b_fc"].tobytes(), np.array([1, 5 * p * p], "<i4").tobytes()]
    act = lambda shape, name, s, z: tensor(shape, 3, 0, name, s, z)  # noqa: E731
    tensors = [
        tensor((1, size, size, 3), 3, 1, "input", 1 / 128, 128),                       # 0
        tensor((4, 3, 3, 3), 3, 2, "net/conv/w", 0.02, 120),                            # 1
        tensor((4,), 2, 3, "net/conv/b", 0.02 / 128, 0),                                # 2
        act((1, o, o, 4), "net/conv/out", 0.03, 0),                                     # 3
        tensor((1, 3, 3, 8), 3, 4, "net/dw/w", 0.05, 130),                              # 4
        tensor((8,), 2, 5, "net/dw/b", 0.0015, 0),                                      # 5
        act((1, o, o, 8), "net/dw/out", 0.04, 0),                                       # 6
        tensor((8, 1, 1, 8), 3, 6, "net/pw/w", 0.03, 125),                              # 7
        tensor((8,), 2, 7, "net/pw/b", 0.0012, 0),                                      # 8
        act((1, o, o, 8), "net/pw/out", 0.2, 131),                                      # 9
        tensor((8, 1, 1, 8), 3, 8, "net/pw2/w", 0.03, 127),                             # 10
        tensor((8,), 2, 9, "net/pw2/b", 0.0012, 0),                                     # 11
        act((1, o, o, 8), "net/pw2/out", 0.15, 126),                                    # 12
        act((1, o, o, 8), "net/add/out", 0.25, 128),                                    # 13
        act((1, p, p, 8), "net/pool/out", 0.25, 128),                                   # 14
        tensor((5, 1, 1, 8), 3, 10, "net/fc/w", 0.01, 128),                             # 15
        tensor((5,), 2, 11, "net/fc/b", 0.0025, 0),                                     # 16
        act((1, p, p, 5), "net/fc/out", 0.6, 128),                                      # 17
        tensor((2,), 2, 12, "net/shape"),                                               # 18
        act((1, 5 * p * p), "net/logits", 0.6, 128),                                    # 19
        act((1, 5 * p * p), "net/probs", 1 / 256, 0),                                   # 20
    ]
    conv_opts = lambda stride, act_fn: T({0: ("b", 0), 1: ("i", stride), 2: ("i", stride), 3: ("b", act_fn)})  # noqa
    ops = [
        operator(0, (0, 1, 2), (3,), 1, conv_opts(2, 3)),
        operator(1, (3, 4, 5), (6,), 2, T({0: ("b", 0), 1: ("i", 1), 2: ("i", 1), 3: ("i", 2), 4: ("b", 3)})),
        operator(0, (6, 7, 8), (9,), 1, conv_opts(1, 0)),
        operator(0, (6, 10, 11), (12,), 1, conv_opts(1, 0)),
        operator(2, (9, 12), (13,), 11, T({0: ("b", 0)})),
        operator(3, (13,), (14,), 5, T({0: ("b", 0), 1: ("i", 2), 2: ("i", 2), 3: ("i", 3), 4: ("i", 3)})),
        operator(0, (14, 15, 16), (17,), 1, conv_opts(1, 0)),
        operator(4, (17, 18), (19,), 17, T({0: ("vec", "i", [1, 5 * p * p])})),
        operator(5, (19,), (20,), 9, T({0: ("f", 1.0)})),
    ]
    data = build(model([3, 4, 0, 1, 22, 25], tensors, ops, (0,), (20,), buffers))
    return data, w
