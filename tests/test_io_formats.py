"""safetensors, npz, format sniffing and state-dict extraction.

Oracles: hand-built safetensors bytes following the published layout (not our
writer), round trips through our writers, and NumPy's own ``np.load``.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _ckpt_writer as cw  # noqa: E402
from strategies import tensor_dicts  # noqa: E402

from refsim.io import (  # noqa: E402
    CheckpointError,
    CorruptCheckpointError,
    UnsupportedCheckpointError,
    detect_format,
    extract_state_dict,
    load_state_dict,
    read_npz,
    read_safetensors,
    write_npz,
    write_safetensors,
)


def _safetensors_bytes(header: dict, buffer: bytes) -> bytes:
    """Independent builder of the published layout: u64 LE length, JSON, data."""
    blob = json.dumps(header).encode()
    return len(blob).to_bytes(8, "little") + blob + buffer


def test_safetensors_hand_built_file():
    a = np.arange(6, dtype="<f4").reshape(2, 3)
    b = np.array([1, -2], dtype="<i8")
    h = np.array([0x3FC0, 0xC000], dtype="<u2")  # bfloat16 1.5, -2.0
    buffer = a.tobytes() + b.tobytes() + h.tobytes()
    header = {"__metadata__": {"format": "pt"},
              "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "b": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]},
              "h": {"dtype": "BF16", "shape": [2], "data_offsets": [40, 44]}}
    out = read_safetensors(_safetensors_bytes(header, buffer))
    assert list(out) == ["a", "b", "h"]
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["b"], b)
    np.testing.assert_array_equal(out["h"], np.float32([1.5, -2.0]))
    assert detect_format(_safetensors_bytes(header, buffer)) == "safetensors"


@pytest.mark.parametrize("entry, message", [
    ({"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}, "bytes for shape"),
    ({"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "outside"),
    ({"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}, "shape"),
    ({"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}, "hole"),
    ({"dtype": "F32", "shape": [1]}, "data_offsets"),
])
def test_safetensors_bad_offsets(entry, message):
    with pytest.raises(CorruptCheckpointError, match=message):
        read_safetensors(_safetensors_bytes({"x": entry}, b"\0" * 8))


def test_safetensors_overlap_and_unknown_dtype():
    header = {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
    with pytest.raises(CorruptCheckpointError, match="overlaps"):
        read_safetensors(_safetensors_bytes(header, b"\0" * 8))
    with pytest.raises(UnsupportedCheckpointError, match="F8_E4M3"):
        read_safetensors(_safetensors_bytes({"x": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, b"\0"))
    with pytest.raises(CorruptCheckpointError, match="header length"):
        read_safetensors((10**9).to_bytes(8, "little") + b"{}")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tensor_dicts())
def test_safetensors_and_npz_round_trip(tmp_path_factory, tensors):
    folder = tmp_path_factory.mktemp("rt")
    write_safetensors(folder / "x.safetensors", tensors, metadata={"k": "v"})
    write_npz(folder / "x.npz", tensors)
    for path in (folder / "x.safetensors", folder / "x.npz"):
        out = read_safetensors(path) if path.suffix == ".safetensors" else read_npz(path)
        assert list(out) == list(tensors)
        for key, value in tensors.items():
            assert out[key].dtype == value.dtype and out[key].shape == value.shape
            np.testing.assert_array_equal(out[key], value)


def test_npz_matches_numpy_and_refuses_object_arrays(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"conv.weight": rng.standard_normal((2, 3)), "file": np.arange(3)}
    write_npz(tmp_path / "a.npz", arrays)
    with np.load(tmp_path / "a.npz") as ref:
        for key in arrays:
            np.testing.assert_array_equal(read_npz(tmp_path / "a.npz")[key], ref[key])
    assert detect_format((tmp_path / "a.npz").read_bytes()) == "npz"
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CorruptCheckpointError, match="dtype object"):
        read_npz(tmp_path / "obj.npz")
    with pytest.raises(ValueError, match="dtype object"):
        write_npz(tmp_path / "b.npz", {"x": np.array([None], dtype=object)})


def test_format_is_sniffed_from_content_not_extension(tmp_path):
    a = np.ones((2, 2), np.float32)
    files = {
        "zip.npz": cw.torch_zip_bytes(cw.ordered({"w": cw.dense("0", a)})),
        "legacy.safetensors": cw.torch_legacy_bytes(cw.ordered({"w": cw.dense("0", a, legacy=True)})),
    }
    write_safetensors(tmp_path / "st.pth", {"w": a})
    write_npz(tmp_path / "np.th", {"w": a})
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    for path in tmp_path.iterdir():
        np.testing.assert_array_equal(load_state_dict(path)["w"], a)
    assert {detect_format(p.read_bytes()) for p in tmp_path.iterdir()} == {
        "torch-zip", "torch-legacy", "safetensors", "npz"}


def test_extract_state_dict_nesting_and_prefix():
    w = np.zeros(2)
    assert list(extract_state_dict({"state_dict": {"module.a": w, "module.b": w}, "epoch": 3})) == ["a", "b"]
    assert list(extract_state_dict({"model": {"state_dict": {"a": w}}})) == ["a"]
    assert list(extract_state_dict({"a": w, "module.b": w})) == ["a", "module.b"]  # not all prefixed
    assert list(extract_state_dict({"module.a": w}, strip_prefix=None)) == ["module.a"]
    assert list(extract_state_dict({"enc": {"w": w}, "dec": {"w": w}})) == ["enc.w", "dec.w"]
    assert list(extract_state_dict({"ema": {"model": {"x": w}}, "model": {"y": w}}, key="ema/model")) == ["x"]
    with pytest.raises(CorruptCheckpointError, match="no entry 'nope'"):
        extract_state_dict({"a": w}, key="nope")
    with pytest.raises(CorruptCheckpointError, match="no tensors"):
        extract_state_dict({"epoch": 3})
    with pytest.raises(CorruptCheckpointError, match="not a str"):
        extract_state_dict({1: w})


def test_bad_source_types_and_missing_files(tmp_path):
    with pytest.raises(TypeError, match="source"):
        load_state_dict(12)
    with pytest.raises(FileNotFoundError):
        load_state_dict(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="unrecognized"):
        load_state_dict(io.BytesIO(b"x").getvalue())
