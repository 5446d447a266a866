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


# ---------------------------------------------------------------- text files: STS-B .tsv, vocabularies

STS_TEXT = ("genre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
            "main\tf\t2012\t0\tnone\tnone\tA man plays a flute.\tA man plays the flute.\t4.8\n"
            "main\tf\t2012\t1\tnone\tnone\tA cat \"sleeps.\tDogs run.\t0.25\n")


@FUZZ
@given(mutated(STS_TEXT.encode()))
def test_fuzz_sts_tsv(tmp_path_factory, data):
    # bytes that are not UTF-8 escaped as UnicodeDecodeError; a non-number score as a bare float() ValueError
    from refsim.tools.sts import load_sts

    path = tmp_path_factory.mktemp("sts") / "dev.tsv"
    path.write_bytes(data)
    try:
        out = load_sts(path)
    except ValueError as exc:
        assert str(exc).startswith("--data: ") and str(path) in str(exc)
        return
    assert np.all(np.isfinite(out.scores)) and len(out.sentence1) == len(out.sentence2) == len(out.scores)


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.replace("4.8", "nan"), r"score 'nan' on line 2 of .*; expected a finite number"),
    (lambda t: t.replace("4.8", "high"), r"score 'high' on line 2 of .*; expected a finite number"),
    (lambda t: t.encode().replace(b"flute.\t", b"fl\xffte.\t"), r"whose bytes are not UTF-8 \(invalid start byte at byte"),
    (lambda t: t.replace("Dogs run.", "x" * 200_000), r"which csv cannot split \(field larger than field limit"),
], ids=["nan_score", "word_score", "not_utf8", "huge_field"])
def test_sts_tsv_defects_name_data_and_file(tmp_path, edit, match):
    from refsim.tools.sts import load_sts

    path = tmp_path / "dev.tsv"
    text = edit(STS_TEXT)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=rf"^--data: received .*{match}"):
        load_sts(path)


def test_calibration_text_that_is_not_utf8(tmp_path):
    from refsim.tools.sts import calibration_sentences

    path = tmp_path / "cal.txt"
    path.write_bytes(b"One sentence here. Another \xe9 one.")
    with pytest.raises(ValueError, match=r"^--calibrate-on: received .*cal\.txt', whose bytes are not UTF-8"):
        calibration_sentences(path, 2)


@pytest.mark.parametrize("text, match", [
    ('{"num_attention_heads": "12"}', r"config\.json .*: num_attention_heads: received '12' \(str\); expected an int"),
    ('{"hidden_act": "gelu"}', r"num_attention_heads: received None"),
    ('{"num_attention_heads": 12, "layer_norm_eps": -1}', r"layer_norm_eps: received -1; expected a value > 0"),
    ("[1, 2]", r"config\.json .*: received JSON of type list; expected a JSON object"),
    ("[" * 100_000, r"config\.json .*: received JSON nested too deeply"),
    ('{"num_attention_heads": 1' + "0" * 5000 + "}", r"num_attention_heads: received an integer of 5001 digits"),
], ids=["str_heads", "no_heads", "negative_eps", "list", "deep", "huge_int"])
def test_sentence_model_config_json_defects_are_named(tmp_path, text, match):
    # a list config raised AttributeError (.get), a missing key KeyError, deep nesting RecursionError
    from refsim.tools.sts import load_sentence_model

    (tmp_path / "config.json").write_text(text)
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    (tmp_path / "model.safetensors").write_bytes(ST_BYTES)
    with pytest.raises((ValueError, TypeError), match=rf"^--weights: .*{match}"):
        load_sentence_model("minilm", tmp_path / "model.safetensors")


def test_wordpiece_vocab_that_is_not_utf8(tmp_path):
    from refsim.tools.wordpiece import load_vocab

    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\n[UNK]\ncaf\xe9\n")
    with pytest.raises(ValueError, match=r"^vocab: received .*vocab\.txt', whose bytes are not UTF-8"):
        load_vocab(path)


@pytest.mark.parametrize("data, match", [
    (b'{"a": 1, "\xff": 2}', r"bytes that are not UTF-8"),
    (b"[" * 100_000, r"JSON nested too deeply"),
    (b'{"a": 1' + b"0" * 5000 + b"}", r"holds dict; expected a JSON object"),
], ids=["not_utf8", "deep", "huge_int"])
def test_textgenrnn_vocab_defects_are_named(tmp_path, data, match):
    # these escaped as UnicodeDecodeError, RecursionError and a bare int() ValueError
    from refsim.tools.textgenrnn import load_vocab

    path = tmp_path / "vocab.json"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=rf"^--vocab: '{path}'.*{match}"):
        load_vocab(path)


# ---------------------------------------------------------------- CrossSim parameter dump


@pytest.mark.parametrize("value, shown", [("\u00b2", "'\u00b2'"), ("9" * 5000, "'9999"), ("x" * 100_000, "'xxxx")],
                         ids=["superscript_digit", "5000_digits", "long_name"])
def test_crosssim_enum_value_is_named_and_bounded(tmp_path, value, shown):
    # '²'.isdigit() is True: int('²') raised "invalid literal for int()"; 5,000 digits hit int()'s digit limit;
    # a 100,000-character name was repeated whole in the message
    from refsim.peers.crosssim import from_crosssim

    path = tmp_path / "params.json"
    path.write_text(json.dumps({"core": {"style": value}}))
    with pytest.raises(ValueError, match=rf"^CrossSim core\.style: received {shown}.*; expected one of") as info:
        from_crosssim(path)
    assert len(str(info.value)) < 300


# ---------------------------------------------------------------- images (IMAGE argument, dataset folders)


def _image_bytes(fmt: str) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(DS_IMAGES[0].repeat(2, axis=0)).save(buf, fmt)
    return buf.getvalue()


IMAGES = {".ppm": _image_bytes("PPM"), ".png": _image_bytes("PNG"), ".bmp": _image_bytes("BMP"),
          ".gif": _image_bytes("GIF")}


@FUZZ
@given(ext=st.sampled_from(sorted(IMAGES)), data=st.data())
def test_fuzz_image_files(tmp_path_factory, ext, data):
    # PIL's PPM and PNG plugins raised bare ValueErrors ("invalid literal for int()", "Truncated IHDR chunk")
    import warnings

    from refsim.tools.preprocess import load_image

    blob = data.draw(mutated(IMAGES[ext]))
    path = tmp_path_factory.mktemp("img") / f"x{ext}"
    path.write_bytes(blob)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL warns about some damaged files it still reads
            img = load_image(path)
    except ValueError as exc:
        assert str(exc).startswith(f"path: cannot read {str(path)!r} as an image: ")
        return
    assert img.mode == "RGB"


@pytest.mark.parametrize("blob", [b"P6\n7 X\n255\n" + bytes(63), b"P6\n" + b"7" * 200 + b" 3\n255\n",
                                  b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00"],
                         ids=["ppm_size_not_a_number", "ppm_token_too_long", "png_truncated_ihdr"])
def test_damaged_image_header_names_the_path(tmp_path, blob):
    from refsim.tools.preprocess import load_image

    path = tmp_path / ("x.png" if blob.startswith(b"\x89") else "x.ppm")
    path.write_bytes(blob)
    with pytest.raises(ValueError, match=rf"^path: cannot read '{path}' as an image: "):
        load_image(path)


def test_dataset_folder_labels_that_are_not_utf8(tmp_path):
    # the wnid lookup of an image folder read --labels without catching UnicodeDecodeError
    from refsim.tools.datasets import load_dataset

    (tmp_path / "n01440764").mkdir()
    (tmp_path / "n01440764" / "a.ppm").write_bytes(IMAGES[".ppm"])
    labels = tmp_path / "labels.txt"
    labels.write_bytes(b"n01440764 tench\nn01443537 goldfish \xff\n")
    with pytest.raises(ValueError, match=rf"^--labels: cannot read '{labels}' as UTF-8 text"):
        load_dataset(tmp_path, labels=labels)


# ---------------------------------------------------------------- sweep results (JSONL)


def _results_text() -> str:
    recs = []
    for bits in (4, 6, 8):
        for r in range(2):
            recs.append({"schema": 1, "model": "cifar-resnet20", "preset": "int8", "varied": {"adc.bits": bits},
                         "seed": 0, "repeat": r, "config": {"adc": {"bits": bits, "clip": [0, 1]}},
                         "accuracy": 0.5 + bits / 100 + r / 1000, "correct": 5, "n": 10})
    return "".join(json.dumps(r) + "\n" for r in recs)


RESULTS_TEXT = _results_text()


@FUZZ
@given(data=mutated(RESULTS_TEXT.encode()),
       query=st.sampled_from([("adc.bits", None, "accuracy"), ("adc.bits", "preset", "n"),
                              ("adc.bits|preset", "adc.clip", "accuracy"), ("seed", "config", "correct")]))
def test_fuzz_sweep_results(tmp_path_factory, data, query):
    # non-UTF-8 bytes, deep nesting and 5,000-digit numbers escaped read_results (UnicodeDecodeError,
    # RecursionError, ValueError); a 'varied' that is not an object, a list hue and a string y escaped aggregate
    import warnings

    from refsim.tools.sweep import aggregate, read_results

    path = tmp_path_factory.mktemp("sw") / "results.jsonl"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = read_results(path)
    assert all(isinstance(r, dict) for r in records)
    x, hue, y = query
    try:
        groups = aggregate(records, x=x, hue=hue, y=y)
    except ValueError as exc:
        assert str(exc).startswith("results record ") and f": {y}: received " in str(exc)
        return
    assert all(np.isfinite(m) or np.isnan(m) for rows in groups.values() for _, m, _, _ in rows)


@pytest.mark.parametrize("line", [b'{"varied": {"adc.bits": 4}, "accuracy": 0.5, "x": "\\xff"}\n'.replace(b"\\xff", b"\xff"),
                                  b"[" * 100_000 + b"\n", b'{"accuracy": 1' + b"0" * 5000 + b"}\n"],
                         ids=["not_utf8", "deep", "huge_int"])
def test_sweep_results_bad_line_is_skipped_with_a_warning(tmp_path, line):
    from refsim.tools.sweep import read_results

    path = tmp_path / "results.jsonl"
    path.write_bytes(RESULTS_TEXT.encode() + line)
    with pytest.warns(UserWarning, match=r"line 7: not valid JSON .*; skipped"):
        assert len(read_results(path)) == 6


@pytest.mark.parametrize("edit, match", [
    (lambda r: r.update(accuracy="high"), r"^results record 1: accuracy: received 'high'; expected a number"),
    (lambda r: r.update(varied=["adc.bits"]), None),
    (lambda r: r["config"]["adc"].update(clip=[0, 2]), None),
], ids=["string_y", "varied_list", "list_hue"])
def test_sweep_aggregate_of_odd_records(edit, match):
    from refsim.tools.sweep import aggregate

    records = [json.loads(line) for line in RESULTS_TEXT.splitlines()]
    edit(records[0])
    if match:
        with pytest.raises(ValueError, match=match):
            aggregate(records, x="adc.bits", y="accuracy")
        return
    groups = aggregate(records, x="adc.bits", hue="adc.clip", y="accuracy")
    counts = sum(n for rows in groups.values() for *_, n in rows)
    assert counts == 6  # x falls back to the record's config.adc.bits when 'varied' is not an object
