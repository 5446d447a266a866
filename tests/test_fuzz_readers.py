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
from hypothesis import strategies as st

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


# ---------------------------------------------------------------- Keras HDF5 (h5py, optional)


def _keras_file(path: Path, edit=None) -> Path:
    h5py = pytest.importorskip("h5py", reason="h5py (the optional 'models' extra) is not installed")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"dense_1", b"emb"])
        f.attrs["keras_version"] = b"2.1.5"
        g = f.create_group("dense_1")
        g.attrs["weight_names"] = np.array([b"dense_1/kernel:0", b"dense_1/bias:0"])
        g.create_dataset("dense_1/kernel:0", data=np.arange(6, dtype=np.float32).reshape(2, 3))
        g.create_dataset("dense_1/bias:0", data=np.ones(3, np.float32))
        g = f.create_group("emb")
        g.attrs["weight_names"] = np.array([b"emb/embeddings:0"])
        g.create_dataset("emb/embeddings:0", data=np.full((4, 2), 0.5, np.float32))
        if edit is not None:
            edit(f)
    return path


def _keras_content(kw) -> dict:
    return {f"{layer}/{name}": arr for layer, ws in kw.layers.items() for name, arr in ws.items()}


def _keras_base() -> tuple[bytes, dict] | None:
    import tempfile

    try:
        import h5py  # noqa: F401
    except ImportError:
        return None
    from refsim.io.keras_hdf5 import read_keras_hdf5

    with tempfile.TemporaryDirectory() as d:
        path = _keras_file(Path(d) / "w.h5")
        return path.read_bytes(), _keras_content(read_keras_hdf5(path))


KERAS = _keras_base()


@pytest.mark.skipif(KERAS is None, reason="h5py (the optional 'models' extra) is not installed")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=mutated(KERAS[0] if KERAS else b""))
def test_fuzz_keras_hdf5(tmp_path, data):
    # damaged HDF5 metadata once escaped as KeyError, RuntimeError, OSError or UnicodeDecodeError from h5py
    from refsim.io.keras_hdf5 import read_keras_hdf5

    path = tmp_path / "m.h5"
    path.write_bytes(data)
    try:
        kw = read_keras_hdf5(path)
    except CheckpointError as exc:
        assert str(exc).startswith(str(path))
        return
    got = _keras_content(kw)
    assert {k: (v.dtype, v.shape) for k, v in got.items()} == {k: (v.dtype, v.shape) for k, v in KERAS[1].items()}


def _set_attr(obj, key, value):
    def edit(f):
        (f if obj == "/" else f[obj]).attrs[key] = value
    return edit


def _replace(name, make):
    def edit(f):
        del f[name]
        make(f, name)
    return edit


@pytest.mark.parametrize("edit, match", [
    (_set_attr("/", "layer_names", np.array([b"dense_1", b"\xff\xfe"])),
     r"/\.attrs\['layer_names'\]\[1\]: received bytes that are not UTF-8"),
    (_set_attr("dense_1", "weight_names", np.array([b"/emb/emb/embeddings:0"])),
     r"weight_names'\]\[0\]: received '/emb/emb/embeddings:0'; expected a non-empty relative path"),
    (_replace("dense_1/dense_1/bias:0", lambda f, n: f.__setitem__(n, __import__("h5py").SoftLink("/emb/emb/embeddings:0"))),
     r"dense_1/dense_1/bias:0: 'dense_1/bias:0' is a SoftLink; expected a member stored in this file"),
    (_replace("emb", lambda f, n: f.__setitem__(n, __import__("h5py").ExternalLink("/etc/other.h5", "/emb"))),
     r"layer 'emb': 'emb' is a ExternalLink"),
    (_replace("emb/emb/embeddings:0", lambda f, n: f.create_dataset(n, shape=(10**10,), dtype="f4")),
     r"emb/emb/embeddings:0: shape \(10000000000,\) of float32 declares 40000000000 bytes; expected at most \d+ "
     r"\(the file size\)"),
    (_replace("emb/emb/embeddings:0", lambda f, n: f.create_dataset(n, shape=(10**8, 100), dtype="f8", chunks=(1, 100),
                                                                     compression="gzip")),
     r"declares 80000000000 bytes; expected at most \d+ \(ReadLimits\)"),
    (_replace("emb/emb/embeddings:0", lambda f, n: f.create_dataset(n, data=np.array([b"ab", b"cd"]))),
     r"emb/emb/embeddings:0: received dtype \|S2; expected a numeric array"),
    (_replace("emb", lambda f, n: f.create_dataset(n, data=np.ones(2))),
     r"layer 'emb': listed in the Keras layout but not a group in the file \(a Dataset\)"),
])
def test_keras_hdf5_hostile_layouts(tmp_path, edit, match):
    from refsim.io.keras_hdf5 import read_keras_hdf5

    path = _keras_file(tmp_path / "w.h5", edit)
    with pytest.raises(CheckpointError, match=match) as info:
        read_keras_hdf5(path)
    assert str(info.value).startswith(f"{path}: ")


def test_keras_hdf5_external_data_is_refused(tmp_path):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.ones(2, np.float32).tobytes())

    def edit(f):
        del f["emb/emb/embeddings:0"]
        f.create_dataset("emb/emb/embeddings:0", shape=(2,), dtype="f4", external=[(str(raw), 0, 8)])
    path = _keras_file(tmp_path / "w.h5", edit)
    from refsim.io.keras_hdf5 import read_keras_hdf5

    with pytest.raises(CheckpointError, match="its data is stored outside this file"):
        read_keras_hdf5(path)


# ---------------------------------------------------------------- refsim train --resume state (OUT.state.npz)


def _train_state(tmp_path):
    from refsim.nn.cifar_resnet import cifar_resnet_param_shapes
    from refsim.nn.statedict import random_params
    from refsim.train.loop import _save_state
    from refsim.train.net import TrainNet

    sd = {k: np.asarray(v, np.float32)
          for k, v in random_params(cifar_resnet_param_shapes(8), np.random.default_rng(0)).items()}
    net = TrainNet(sd, None)
    mom = {k: np.full(np.shape(v), 0.25) for k, v in list(net.params().items())[:4]}
    path = tmp_path / "r.state.npz"
    _save_state(str(path), net, mom, {"run": {"options": {}}, "epoch": 1, "history": [{"steps": 3}, {"steps": 3}]})
    return path, (lambda: TrainNet(sd, None)), mom


def test_resume_state_with_a_damaged_zip_directory_is_refused(tmp_path):
    # zipfile trusts the central directory: a flipped bit in an entry's name length hides the entries after it
    # (np.load then happened to fail on the swallowed name; open_zip now names the damage itself)
    from refsim.train.loop import _load_state

    path, make_net, mom = _train_state(tmp_path)
    _, got = _load_state(str(path), make_net())
    assert set(got) == set(mom)
    data = bytearray(path.read_bytes())
    first_mom = data.index(b"mom/", data.index(b"PK\x01\x02"))  # its name in the central directory
    entry = data.rindex(b"PK\x01\x02", 0, first_mom)
    data[entry + 29] ^= 0x04  # high byte of that entry's file-name length
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"^--resume: received a file .* that is not a readable \.npz "
                                         r"\(CorruptCheckpointError: zip central directory holds"):
        _load_state(str(path), make_net())


def test_resume_state_zip_bomb_is_refused_before_inflating(tmp_path):
    # a 64 MiB deflated member in a ~0.4 MB state file was inflated whole by np.load before any check
    import zipfile

    from refsim.train.loop import _load_state

    path, make_net, _ = _train_state(tmp_path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("mom/zz/w.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False,
                                                          "shape": (64 << 20,)})
            for _ in range(64):
                member.write(bytes(1 << 20))
    with pytest.raises(ValueError, match=r"^--resume: .*npz members declare \d+ uncompressed bytes in a \d+-byte file"):
        _load_state(str(path), make_net())


# ---------------------------------------------------------------- dataset .npz (--data)

DS_IMAGES = np.random.default_rng(1).integers(0, 256, size=(6, 4, 4, 3), dtype=np.uint8)
DS_LABELS = np.arange(6) % 3


def _dataset_bytes(compressed: bool) -> bytes:
    import io

    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, images=DS_IMAGES, labels=DS_LABELS,
                                                      label_names=np.array(["cat", "dog", "emu"]))
    return buf.getvalue()


DS_BYTES = {False: _dataset_bytes(False), True: _dataset_bytes(True)}


def _check_dataset(path: Path, limit) -> None:
    from refsim.tools.datasets import load_dataset

    try:
        ds = load_dataset(path, limit=limit)
    except ValueError as exc:
        assert str(exc).startswith("--data: ") and str(path) in str(exc)
        return
    n = 6 if limit is None else min(limit, 6)
    assert np.array_equal(ds.images, DS_IMAGES[:n]) and np.array_equal(ds.labels, DS_LABELS[:n])
    assert ds.class_names == ["cat", "dog", "emu"]


@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "deflated"])
def test_dataset_fuzz_base_reads(tmp_path, compressed):
    path = tmp_path / "d.npz"
    path.write_bytes(DS_BYTES[compressed])
    _check_dataset(path, None)
    _check_dataset(path, 2)


@FUZZ
@given(data=mutated(DS_BYTES[False]) | mutated(DS_BYTES[True]),
       limit=st.sampled_from([None, 1, 4]))
def test_fuzz_dataset_npz(tmp_path_factory, data, limit):
    # a damaged central directory once made zipfile hide the last members: label_names silently dropped
    path = tmp_path_factory.mktemp("ds") / "d.npz"
    path.write_bytes(data)
    _check_dataset(path, limit)


def test_dataset_with_a_damaged_zip_directory_is_refused(tmp_path):
    data = bytearray(DS_BYTES[False])
    entry = data.rindex(b"PK\x01\x02")  # the last of three entries (label_names)
    data[entry + 47] ^= 0x80  # its name in the central directory: 'label_names.npy' -> 'l\xe1bel_names.npy';
    # zipfile trusts the directory, np.load then saw no 'label_names' and the dataset lost its class names
    path = tmp_path / "d.npz"
    path.write_bytes(bytes(data))
    from refsim.tools.datasets import load_dataset

    with pytest.raises(ValueError, match=r"^--data: received .* which is not a readable \.npz \(CorruptCheckpointError"):
        load_dataset(path)


# ---------------------------------------------------------------- TFLite graph built from a file


@pytest.mark.parametrize("index, shape", [(17, (1, 2)), (17, (1, 2, 2)), (17, (1, 2, 2, 4)), (3, (1, 4, 4, 5)),
                                          (12, (2, 4, 4, 8))])
def test_tflite_conv_output_of_another_shape_is_named(index, shape):
    # a 2-D conv output once raised IndexError (y.shape[2]); the others failed later, in an op that
    # read the tensor, with a message naming that op instead of the conv that declares the tensor
    import dataclasses

    import _tflite_writer as tw

    from refsim.io.tflite import read_tflite
    from refsim.nn.tflite_net import tflite_net

    model = read_tflite(tw.tiny_model(0)[0])
    tflite_net(model)  # the intact graph builds
    tensors = list(model.tensors)
    name = tensors[index].name.rsplit("/", 1)[0]
    channels = tensors[index].shape[3]
    tensors[index] = dataclasses.replace(tensors[index], shape=shape)
    with pytest.raises(ValueError, match=rf"^CONV_2D {name} output: received shape \({', '.join(map(str, shape))}\); "
                                         rf"expected 4-D \(batch 1, height, width, {channels} channels\)"):
        tflite_net(dataclasses.replace(model, tensors=tensors))
