"""Mutation fuzzing of the readers of text, image and results inputs (the STS-B .tsv, calibration
text, sentence-model config.json, vocabularies, CrossSim enums, image files and folders, sweep
results); the binary checkpoint and dataset readers are in tests/test_fuzz_readers.py.

Each reader gets a valid small file built here, then mutated bytes (``strategies.mutated``) and
hand-made hostile edits. The requirement for every input: either it reads as the intact one, or
the reader raises its documented error (``ValueError``) whose message names the file or the
argument -- never an IndexError, KeyError, TypeError, UnicodeDecodeError, RecursionError.
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

from refsim.io import write_safetensors  # noqa: E402

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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
    write_safetensors(tmp_path / "model.safetensors", {"a": np.arange(12, dtype=np.float32).reshape(3, 4)}, {"k": "v"})
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


IMAGE = np.random.default_rng(1).integers(0, 256, size=(4, 4, 3), dtype=np.uint8)


def _image_bytes(fmt: str) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(IMAGE.repeat(2, axis=0)).save(buf, fmt)
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
