"""Mutation fuzzing of the file readers that tests/test_io_security.py and test_io_hardening.py
(torch zip/legacy/pickle, npz) and test_tflite_reader.py (TFLite) do not cover.

Each reader gets a valid small file built here, then mutated bytes (bit flips, truncation,
insertion, deletion, overwrite: ``strategies.mutated``) and hand-made hostile edits. The
requirement for every input: either the file reads to the same content as the intact one, or
the reader raises its documented error type (``CheckpointError``, ``ValueError``) whose
message names the file or the argument -- never an IndexError, KeyError, TypeError,
UnicodeDecodeError, RecursionError, a hang or a huge allocation.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strategies import mutated  # noqa: E402

from refsim.io import CheckpointError, load_state_dict, read_safetensors, write_safetensors  # noqa: E402

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
                                      and np.array_equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- safetensors

ST_ARRAYS = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1, -2], np.int64)}


def _safetensors_bytes() -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "w.safetensors"
        write_safetensors(p, ST_ARRAYS, {"k": "v"})
        return p.read_bytes()


ST_BYTES = _safetensors_bytes()


def _st(header: dict, buffer: bytes) -> bytes:
    blob = json.dumps(header).encode()
    return len(blob).to_bytes(8, "little") + blob + buffer


def test_safetensors_fuzz_base_reads():
    assert _same(read_safetensors(ST_BYTES), ST_ARRAYS)


@FUZZ
@given(mutated(ST_BYTES))
def test_fuzz_safetensors(data):
    try:
        out = read_safetensors(data)
    except CheckpointError as exc:
        assert "safetensors" in str(exc)
        return
    # a flip inside a tensor's bytes changes its values, not its names, dtypes or shapes
    assert {k: (v.dtype, v.shape) for k, v in out.items()} == {k: (v.dtype, v.shape) for k, v in ST_ARRAYS.items()}


@pytest.mark.parametrize("dtype", [["F32"], {"F32": 1}, 4, None])
def test_safetensors_dtype_that_is_not_a_string_names_the_entry(tmp_path, dtype):
    # a list or dict dtype once raised "TypeError: unhashable type" from the dtype table lookup
    path = tmp_path / "w.safetensors"
    path.write_bytes(_st({"w": {"dtype": dtype, "shape": [1], "data_offsets": [0, 4]}}, bytes(4)))
    with pytest.raises(CheckpointError, match=rf"^{path}: safetensors entry 'w': dtype: received .*expected one of"):
        load_state_dict(path)


def test_safetensors_repeated_name_is_refused():
    # json.loads keeps the last of two equal keys: the file's first 'w' (here float32 ones) was silently dropped
    blob = (b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
            b'"w":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}')
    data = len(blob).to_bytes(8, "little") + blob + np.float32(1).tobytes()
    with pytest.raises(CheckpointError, match="received the name 'w' twice in one object; expected each name once"):
        read_safetensors(data)
