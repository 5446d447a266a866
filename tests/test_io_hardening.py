"""Hostile checkpoints that once crashed refsim or loaded silently wrong (issue 16).

Each test builds the hostile file by hand (the bytes a careless or malicious
writer would produce) and checks that refsim refuses it with a
``CheckpointError`` naming the file and the entry, or -- where the file is in
fact a valid tensor -- reads it exactly. Hypothesis extends the byte-level
fuzzing of ``test_io_security.py`` to npz members and to deep nesting.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _ckpt_writer as cw  # noqa: E402
from strategies import mutated  # noqa: E402

from refsim.io import (  # noqa: E402
    CheckpointError,
    CorruptCheckpointError,
    ReadLimits,
    extract_state_dict,
    load_state_dict,
    read_npz,
    read_safetensors,
    write_npz,
)

ROOT = Path(__file__).resolve().parents[1]


def _deep_tuple_key_pickle(depth: int) -> bytes:
    """{((...((),)...),): 1} built with EMPTY_TUPLE then TUPLE1 x depth (no recursion needed)."""
    return b"\x80\x02}" + b")" + b"\x85" * depth + b"K\x01s."


def _zip_with_pickle(pkl: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.pkl", pkl)
        archive.writestr("archive/version", "3\n")
    return out.getvalue()


@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_tuple_key_nested_150000_deep_is_refused_not_a_segfault(tmp_path, container):
    """CPython hashes the key while unpickling, recursively: the process died with SIGSEGV."""
    pkl = _deep_tuple_key_pickle(150_000)
    data = _zip_with_pickle(pkl) if container == "zip" else cw.torch_legacy_bytes({}, main_pickle=pkl)
    path = tmp_path / "deep.pt"
    path.write_bytes(data)
    code = textwrap.dedent(f"""
        from refsim.io import CheckpointError, load_state_dict
        try:
            load_state_dict({str(path)!r})
        except CheckpointError as exc:
            print(type(exc).__name__, exc)
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "CorruptCheckpointError" in run.stdout and "nested deeper than" in run.stdout
    assert str(path) in run.stdout


def test_tuple_key_nested_100000_deep_is_a_checkpoint_error():
    """At this depth the hash survived, and repr() in _flatten's message raised RecursionError."""
    with pytest.raises(CorruptCheckpointError, match="nested deeper than"):
        load_state_dict(_zip_with_pickle(_deep_tuple_key_pickle(100_000)))


def test_flatten_never_reprs_a_deep_key_and_bounds_dict_depth():
    key = ()
    for _ in range(5000):  # repr() of this raises RecursionError
        key = (key,)
    with pytest.raises(CorruptCheckpointError, match="is not a str"):
        extract_state_dict({"w": np.ones(2), key: np.ones(1)})
    deep = node = {}
    for _ in range(100_000):
        node["a"] = {}
        node = node["a"]
    node["w"] = np.ones(2)
    with pytest.raises(CorruptCheckpointError, match="nested deeper than 64"):
        extract_state_dict(deep)


def _nested_pickle(depth: int, kind: str) -> bytes:
    """A state dict whose tensor sits under ``depth`` containers, built opcode by opcode."""
    leaf = cw.dumps(cw.dense("0", np.arange(3, dtype=np.float32)), cw._pid(False))
    body = leaf[2:-1]  # strip PROTO and STOP
    for _ in range(depth):
        body = {"tuple": b"(" + body + b"t", "list": b"(" + body + b"l",
                "dict": b"}X\x01\x00\x00\x00a" + body + b"s"}[kind]
    return b"\x80\x02}X\x01\x00\x00\x00w" + body + b"s."


@settings(max_examples=25, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(0, 140), kind=st.sampled_from(["tuple", "list", "dict"]))
def test_fuzz_nesting_depth_is_bounded_by_the_limit(depth, kind):
    storage = cw.Storage("0", "float32", np.arange(3, dtype=np.float32).tobytes())
    data = cw.torch_zip_bytes(cw.ordered({"x": cw.tensor(storage, 0, (3,), (1,))}))
    data = _rewrite_pickle(data, _nested_pickle(depth, kind))
    try:
        obj = load_state_dict(data, strip_prefix=None) if kind == "dict" else None
        if obj is None:
            from refsim.io import load_checkpoint
            load_checkpoint(data)
    except CorruptCheckpointError as exc:
        assert "nested deeper than" in str(exc)
        assert depth > 50  # nothing a real state dict holds is refused
    else:
        assert depth <= 64 + 8


def test_depth_limit_is_overridable():
    data = _rewrite_pickle(cw.torch_zip_bytes(cw.ordered({"x": cw.dense("0", np.arange(3, dtype=np.float32))})),
                           _nested_pickle(100, "dict"))
    with pytest.raises(CorruptCheckpointError, match="ReadLimits.max_depth"):
        load_state_dict(data)
    out = load_state_dict(data, limits=ReadLimits(max_depth=200))
    (key, value), = out.items()
    assert key == "w" + ".a" * 100 and value.tolist() == [0.0, 1.0, 2.0]


def _rewrite_pickle(data: bytes, pkl: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, pkl if info.filename.endswith("data.pkl") else src.read(info))
    return out.getvalue()


@pytest.mark.parametrize("stride", [2**62, 2**70])
def test_huge_stride_of_a_size_one_dimension(stride):
    """A size-1 dimension never moves along its stride: the tensor is valid and reads exactly."""
    values = np.arange(6, dtype=np.float32)
    storage = cw.Storage("0", "float32", values.tobytes())
    data = cw.torch_zip_bytes(cw.ordered({"w": cw.tensor(storage, 0, (1, 2, 3), (stride, 3, 1))}))
    np.testing.assert_array_equal(load_state_dict(data)["w"], values.reshape(1, 2, 3))


def test_huge_stride_of_a_real_dimension_names_the_entry(tmp_path):
    storage = cw.Storage("0", "float32", np.arange(6, dtype=np.float32).tobytes())
    path = tmp_path / "s.pt"
    path.write_bytes(cw.torch_zip_bytes(cw.ordered({"bad": cw.tensor(storage, 0, (2, 3), (2**70, 1))})))
    with pytest.raises(CorruptCheckpointError, match=r"s\.pt: .*entry 'bad'.*reaches element"):
        load_state_dict(path)


def _safetensors(shape) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}}).encode()
    return len(header).to_bytes(8, "little") + header


@pytest.mark.parametrize("shape", [[2**40, 2**40, 0], [2**64, 0], [0] * 40])
def test_safetensors_absurd_empty_shapes_name_file_and_entry(tmp_path, shape):
    path = tmp_path / "x.safetensors"
    path.write_bytes(_safetensors(shape))
    with pytest.raises(CorruptCheckpointError, match=r"x\.safetensors: safetensors entry 'w'"):
        load_state_dict(path)
    read_safetensors(_safetensors([3, 0]))  # a legal empty tensor still reads


# --- npz ----------------------------------------------------------------------------


def _npz_of(members: dict[str, bytes], method=zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for name, raw in members.items():
            archive.writestr(name, raw)
    return out.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array)
    return buf.getvalue()


def _bomb(n_mib: int) -> bytes:
    """An npz whose one member, float64 zeros, inflates to ``n_mib`` MiB (deflated by hand)."""
    header = _npy_header((n_mib << 17,), "<f8")
    crc, size, comp = zlib.crc32(header), len(header), zlib.compressobj(1, zlib.DEFLATED, -15)
    chunks = [comp.compress(header)]
    zeros = bytes(1 << 20)
    for _ in range(n_mib):
        chunks.append(comp.compress(zeros))
        crc, size = zlib.crc32(zeros, crc), size + len(zeros)
    chunks.append(comp.flush())
    return _raw_zip("w.npy", b"".join(chunks), crc, size, zipfile.ZIP_DEFLATED)


def test_npz_bomb_is_refused_before_inflating():
    """A ~1 MB npz whose member inflates to 256 MiB is refused from the directory alone."""
    data = _bomb(256)
    assert len(data) < 2_000_000
    with pytest.raises(CorruptCheckpointError, match="uncompressed bytes"):
        load_state_dict(data)
    small = _bomb(8)  # the caller may raise the limit
    with pytest.raises(CorruptCheckpointError, match="uncompressed bytes"):
        read_npz(small, limits=ReadLimits(max_bytes=1 << 20))
    out = read_npz(small, limits=ReadLimits(max_expansion=1e5))
    assert out["w"].shape == (8 << 17,) and not out["w"].any()


def _npy_header(shape, descr) -> bytes:
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


def _raw_zip(name: str, payload: bytes, crc: int, size: int, method: int) -> bytes:
    """One-member zip assembled by hand (zipfile cannot write a pre-deflated payload)."""
    import struct
    fname = name.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(payload), size, len(fname), 0)
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(payload), size,
                          len(fname), 0, 0, 0, 0, 0, 0)
    body = local + fname + payload
    cd = central + fname
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(cd), len(body), 0)
    return body + cd + end


def test_npz_header_token_error_is_a_checkpoint_error():
    good = _npy(np.arange(3.0))
    bad = good.replace(b"}", b'}"""', 1)  # an unterminated triple-quoted string: tokenize.TokenError
    with pytest.raises(CorruptCheckpointError, match=r"member 'w\.npy': bad \.npy header"):
        read_npz(_npz_of({"w.npy": bad}))


def test_npz_member_without_magic_is_refused():
    with pytest.raises(CorruptCheckpointError, match="not a .npy array"):
        load_state_dict(_npz_of({"w.npy": b"hello, I am not an array"}))


@pytest.mark.parametrize("array", [np.array(["ab", "c"]), np.zeros(2, dtype="V4"),
                                   np.zeros(2, dtype=[("a", "<f4")]), np.array([1 + 2j]),
                                   np.array(["2020-01-01"], dtype="M8[D]")])
def test_npz_only_numeric_dtypes(array):
    with pytest.raises(CorruptCheckpointError, match="expected a numeric dtype"):
        read_npz(_npz_of({"w.npy": _npy(array)}))


def test_npz_header_shape_must_match_the_member_size():
    with pytest.raises(CorruptCheckpointError, match="the member holds"):
        read_npz(_npz_of({"w.npy": _npy_header((10**12,), "<f4") + bytes(16)}))


def test_npz_fortran_order_and_byte_order_are_read_exactly(tmp_path):
    a = np.asfortranarray(np.arange(12, dtype=">i4").reshape(3, 4))
    np.savez(tmp_path / "f.npz", a=a)
    out = read_npz(tmp_path / "f.npz")["a"]
    np.testing.assert_array_equal(out, a)
    assert out.dtype == np.dtype("int32") and out.flags.c_contiguous


def _eight_key_npz(tmp_path) -> bytes:
    write_npz(tmp_path / "e.npz", {f"k{i}": np.arange(4.0) + i for i in range(8)})
    return (tmp_path / "e.npz").read_bytes()


def test_npz_with_a_damaged_central_directory_is_refused(tmp_path):
    """One flipped bit in an entry's name length made zipfile stop early: 3 of 8 keys loaded."""
    data = bytearray(_eight_key_npz(tmp_path))
    entry = bytes(data).index(b"PK\x01\x02", bytes(data).index(b"PK\x01\x02") + 1)  # second entry
    data[entry + 29] ^= 0x04  # high byte of the file-name length
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        assert 0 < len(archive.namelist()) < 8  # zipfile alone would read a subset silently
    with pytest.raises(CorruptCheckpointError, match="end record declares 8"):
        load_state_dict(bytes(data))


NPZ_BYTES = _npz_of({"a.npy": _npy(np.arange(6, dtype=np.float32).reshape(2, 3)),
                     "b.npy": _npy(np.array([1, -2, 3], dtype=np.int64))})
MEMBER_BYTES = _npy(np.arange(6, dtype=np.float32).reshape(2, 3))


def _only_clean(data: bytes) -> None:
    try:
        out = load_state_dict(data)
    except CheckpointError:
        return
    assert all(isinstance(v, np.ndarray) and v.dtype.kind in "biuf" for v in out.values())


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(NPZ_BYTES))
def test_fuzz_npz_file(data):
    _only_clean(data)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(MEMBER_BYTES), st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
def test_fuzz_npz_member(member, method):
    """Mutates the .npy bytes themselves (the zip stays valid) to exercise the header parser."""
    _only_clean(_npz_of({"a.npy": member}, method))
