"""refsim.io.tflite: the TFLite flatbuffer reader.

Oracles: the LiteRT interpreter's own view of the shared MobileNetV2 file (tensor
names, shapes, types, quantization, constant-data hashes, operators; recorded by
tests/data/make_mobilenet_reference.py), and test files written by
tests/_tflite_writer.py, whose tiny model the interpreter also ran. Malformed and
mutated files must raise CheckpointError naming the field, never anything else.
"""
from __future__ import annotations

import hashlib
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _tflite_writer as tw  # noqa: E402
from strategies import mutated  # noqa: E402

from refsim.io import CheckpointError, CorruptCheckpointError, UnsupportedCheckpointError  # noqa: E402
from refsim.io.tflite import read_tflite  # noqa: E402

REF = Path(__file__).resolve().parent / "data" / "mobilenet_v2_tflite_reference.npz"
TINY, TINY_W = tw.tiny_model(0)


@pytest.fixture(scope="module")
def ref():
    with np.load(REF, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_tiny_model_is_the_one_the_interpreter_ran(ref):
    assert hashlib.sha256(TINY).hexdigest() == str(ref["tiny_sha256"])


def test_tiny_model_round_trip():
    m = read_tflite(TINY)
    assert (m.version, m.description, m.inputs, m.outputs) == (3, "test", (0,), (20,))
    assert [op.opcode for op in m.operators] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "CONV_2D", "ADD",
                                                 "AVERAGE_POOL_2D", "CONV_2D", "RESHAPE", "SOFTMAX"]
    t = {x.name: x for x in m.tensors}
    for key, name in (("conv", "net/conv/w"), ("dw", "net/dw/w"), ("b_fc", "net/fc/b")):
        np.testing.assert_array_equal(t[name].data, TINY_W[key])
        assert t[name].data.dtype == TINY_W[key].dtype and not t[name].data.flags.writeable
    assert t["input"].shape == (1, 8, 8, 3) and t["input"].data is None
    assert t["input"].scale.dtype == np.float32 and t["input"].scale[0] == np.float32(1 / 128)
    assert int(t["net/dw/w"].zero_point[0]) == 130 and t["net/shape"].scale is None
    dw = m.operators[1].options
    assert dw == {"padding": "SAME", "stride_w": 1, "stride_h": 1, "depth_multiplier": 2,
                  "fused_activation_function": "RELU6", "dilation_w_factor": 1, "dilation_h_factor": 1}
    assert m.operators[5].options["filter_height"] == 3 and m.operators[7].options["new_shape"] == (1, 20)
    assert m.operators[8].options == {"beta": 1.0}


def test_mobilenet_graph_matches_the_interpreter(shared_data, ref):
    path = shared_data / "mobilenet" / "mobilenet_v2_1.0_224_quant.tflite"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == str(ref["model_sha256"])
    m = read_tflite(path)
    assert len(m.tensors) == len(ref["tensor_names"]) == 174 and len(m.operators) == 66
    for t, name, shape, dtype, scale, zp, digest in zip(
            m.tensors, ref["tensor_names"], ref["tensor_shapes"], ref["tensor_dtypes"], ref["tensor_scales"],
            ref["tensor_zero_points"], ref["tensor_sha256"]):
        assert t.name == name and ",".join(map(str, t.shape)) == shape and t.dtype == dtype
        assert (t.scale[0], int(t.zero_point[0])) == (scale, zp) if t.scale is not None else scale == 0
        if digest:
            assert hashlib.sha256(np.ascontiguousarray(t.data).tobytes()).hexdigest() == digest, t.name
    for op, name, ins, outs in zip(m.operators, ref["op_names"], ref["op_inputs"], ref["op_outputs"]):
        assert (op.opcode, ",".join(map(str, op.inputs)), ",".join(map(str, op.outputs))) == (name, ins, outs)
    assert m.inputs == (0,) and m.outputs == (173,)


# --- malformed and unsupported files, each naming what is wrong ---------------------------------

def _model(tensors=None, ops=None, codes=(3,), buffers=(b"", b""), **kw):
    tensors = tensors if tensors is not None else [tw.tensor((1, 2, 2, 1), 3, 1, "x", 0.5, 0)]
    return tw.build(tw.model(list(codes), tensors, ops or [], (0,), (0,), list(buffers), **kw))


@pytest.mark.parametrize("make, cls, fragment", [
    (lambda: b"\x00" * 4 + b"TFL2" + b"\x00" * 8, CorruptCheckpointError, "b'TFL3'"),
    (lambda: b"\x00\x00\x01\x00TFL3", CorruptCheckpointError, "Model (table offset)"),
    (lambda: _model(version=2), UnsupportedCheckpointError, "schema version 2"),
    (lambda: _model(codes=(17,)), UnsupportedCheckpointError, "builtin operator code 17"),
    (lambda: tw.build(tw.model([], [], [], (), (), [b""], subgraphs=[])), CorruptCheckpointError, "0 subgraphs"),
    (lambda: _model(ops=[tw.operator(0, (0, 5, -1), (0,), 1, tw.T({1: ("i", 1)}))]), CorruptCheckpointError,
     "operators[0].inputs: tensor index 5 outside [-1, 1)"),
    (lambda: _model(ops=[tw.operator(3, (0,), (0,))]), CorruptCheckpointError, "opcode_index: 3 outside"),
    (lambda: _model(ops=[tw.operator(0, (0,), (0,), 5, tw.T({0: ("b", 0)}))]), CorruptCheckpointError,
     "CONV_2D needs options of union type 1; found type 5"),
    (lambda: _model(ops=[tw.operator(0, (0,), (0,))]), CorruptCheckpointError, "found type 0"),
    (lambda: _model([tw.tensor((1, 2), 3, 7, "x")]), CorruptCheckpointError, "buffer index 7 outside [0, 2)"),
    (lambda: _model([tw.tensor((2, 3), 3, 1, "w")], buffers=(b"", b"12345")), CorruptCheckpointError,
     "needs 6 bytes; buffer 1 holds 5"),
    (lambda: _model([tw.tensor((1, -2), 3, 0, "x")]), CorruptCheckpointError, "tensors[0].shape"),
    (lambda: _model([tw.tensor((1,), 5, 0, "s")]), UnsupportedCheckpointError, "TensorType 5"),
    (lambda: _model([tw.tensor((1,), 3, 0, "s", extra={6: tw.T({0: ("i", 1)})})]), UnsupportedCheckpointError,
     "sparse tensor 's'"),
    (lambda: _model([tw.tensor((1,), 3, 0, "q", extra={4: tw.T({2: ("vec", "f", [0.5, 0.5]),
                                                              3: ("vec", "q", [0])})})]),
     CorruptCheckpointError, "2 scales but 1 zero points"),
    (lambda: _model([tw.tensor((1,), 3, 0, "q", extra={4: tw.T({2: ("vec", "f", [-1.0]), 3: ("vec", "q", [0])})})]),
     CorruptCheckpointError, "expected finite values > 0"),
    (lambda: _model([tw.tensor((1,), 3, 0, "q", extra={4: tw.T({4: ("B", 1), 5: tw.T()})})]),
     UnsupportedCheckpointError, "custom quantization"),
    (lambda: _model(buffers=(b"", tw.T({1: ("Q", 64), 2: ("Q", 4)}))), UnsupportedCheckpointError,
     "outside the flatbuffer"),
])
def test_malformed_and_unsupported_files(make, cls, fragment):
    data = make()
    with pytest.raises(cls) as info:
        read_tflite(data)
    assert fragment in str(info.value) and "TFLite file <bytes>" in str(info.value)


def test_custom_operator_is_named():
    codes = tw.T({0: ("b", 32), 1: "MyOp", 3: ("i", 32)})
    root = tw.model([], [tw.tensor((1,), 3, 0, "x")], [], (0,), (0,), [b""])
    root[1] = [codes]
    with pytest.raises(UnsupportedCheckpointError, match="custom operator 'MyOp'"):
        read_tflite(tw.build(root))


def test_two_subgraphs_are_refused():
    root = tw.model([], [tw.tensor((1,), 3, 0, "x")], [], (0,), (0,), [b""])
    root[2] = root[2] * 2
    with pytest.raises(UnsupportedCheckpointError, match="2 subgraphs"):
        read_tflite(tw.build(root))


def test_vtable_and_vector_bounds():
    data = bytearray(TINY)
    root = struct.unpack_from("<I", data, 0)[0]
    struct.pack_into("<i", data, root, -len(data))  # vtable beyond the end
    with pytest.raises(CorruptCheckpointError, match="Model"):
        read_tflite(bytes(data))
    for cut in (len(TINY) - 1, len(TINY) // 2, 9):
        with pytest.raises(CorruptCheckpointError, match="outside|runs past"):
            read_tflite(TINY[:cut])


def test_aliased_offsets_are_bounded():
    """4000 references to one tensor with an 8000-byte name: the work budget refuses (32M elements
    from a file of ~24 kB) instead of decoding every copy."""
    big = tw.tensor((1,), 3, 0, "x" * 8000)
    data = tw.build(tw.model([], [big] * 4000, [], (0,), (0,), [b""]))  # the writer emits `big` once
    assert len(data) < 30_000
    with pytest.raises(CorruptCheckpointError, match="4x its size"):
        read_tflite(data)


# --- fuzzing ------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(TINY))
def test_fuzz_mutated_tiny_model(data):
    try:
        model = read_tflite(data)
    except CheckpointError:
        return
    assert len(model.operators) <= 9 + 8 and all(op.opcode for op in model.operators)


@settings(max_examples=200, deadline=2000)
@given(st.integers(0, len(TINY) - 1), st.integers(0, 255))
def test_fuzz_every_byte_overwritten(pos, value):
    data = bytearray(TINY)
    data[pos] = value
    try:
        read_tflite(bytes(data))
    except CheckpointError:
        pass


@settings(max_examples=100, deadline=2000)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_after_identifier(tail):
    try:
        read_tflite(b"\x08\x00\x00\x00TFL3" + tail)
    except CheckpointError:
        pass
