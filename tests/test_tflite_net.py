"""refsim.nn.quantized and refsim.nn.tflite_net: TFLite's integer network on refsim layers.

Oracles:
- the LiteRT interpreter (reference kernels, ``BUILTIN_REF``), recorded by
  tests/data/make_mobilenet_reference.py: every tensor of the tiny test graph
  (tests/_tflite_writer.py) and the uint8 logits and softmax outputs of MobileNetV2
  on the 24 shared ImageNet samples, bit for bit;
- scalar transliterations of gemmlowp's C++ (Python ints) for the fixed-point helpers.
"""
from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _tflite_writer as tw  # noqa: E402
from strategies import mutated  # noqa: E402

from refsim import presets  # noqa: E402
from refsim.io import CheckpointError  # noqa: E402
from refsim.nn import layer_report  # noqa: E402
from refsim.nn.quantized import (  # noqa: E402
    activation_range, multiply_by_quantized_multiplier, quantize_multiplier, rounding_divide_by_pot, srdhm,
)
from refsim.nn.tflite_net import same_padding, tflite_net  # noqa: E402
from refsim.tools.preprocess import central_crop, load_image, tflite_preprocess, to_rgb  # noqa: E402

REF = Path(__file__).resolve().parent / "data" / "mobilenet_v2_tflite_reference.npz"
TINY_SEED = 7  # as tests/data/make_mobilenet_reference.py
int32s = st.integers(-(2**31), 2**31 - 1)


@pytest.fixture(scope="module")
def ref():
    with np.load(REF, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# --- fixed-point helpers against the C++ written out with Python ints ---------------------------

def _srdhm_cpp(a: int, b: int) -> int:
    if a == b == -(2**31):
        return 2**31 - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    s = ab + nudge
    return abs(s) // (1 << 31) * (1 if s >= 0 else -1)  # C++ division truncates toward zero


def _rdbp_cpp(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


@settings(max_examples=400)
@given(st.lists(int32s, min_size=1, max_size=8), int32s, st.integers(0, 31))
def test_fixed_point_helpers_match_gemmlowp(xs, b, k):
    x = np.array(xs, dtype=np.int64)
    assert srdhm(x, b).tolist() == [_srdhm_cpp(v, b) for v in xs]
    assert rounding_divide_by_pot(x, k).tolist() == [_rdbp_cpp(v, k) for v in xs]


@settings(max_examples=300)
@given(st.lists(st.integers(-(2**24), 2**24), min_size=1, max_size=8), st.integers(2**30, 2**31 - 1),
       st.integers(-31, 6))
def test_multiply_by_quantized_multiplier(xs, q, e):
    expect = [_rdbp_cpp(_srdhm_cpp(((v << max(e, 0)) + 2**31) % 2**32 - 2**31, q), max(-e, 0)) for v in xs]
    assert multiply_by_quantized_multiplier(np.array(xs), q, e).tolist() == expect


@settings(max_examples=300)
@given(st.floats(1e-9, 1e6, allow_nan=False))
def test_quantize_multiplier_is_nearest_q31(m):
    q, e = quantize_multiplier(m)
    assert 2**30 <= q < 2**31
    assert abs(q * 2.0 ** (e - 31) - m) <= 2.0 ** (e - 32)  # round to nearest of the Q31 grid
    assert math.frexp(m)[1] in (e, e - 1)


def test_quantize_multiplier_edges():
    assert quantize_multiplier(0.5) == (2**30, 0)
    assert quantize_multiplier(1.0) == (2**30, 1)
    assert quantize_multiplier(1 - 2.0**-33) == (2**30, 1)  # rounds up to 2^31, renormalized
    assert quantize_multiplier(0.0) == (0, 0) and quantize_multiplier(2.0**-40) == (0, 0)
    with pytest.raises(ValueError, match="multiplier"):
        quantize_multiplier(-1.0)


def test_activation_range():
    assert activation_range("RELU6", np.float32(0.03), 0) == (0, 200)
    assert activation_range("RELU6", np.float32(0.023528477177023888), 0) == (0, 255)  # 6/s = 255.01
    assert activation_range("RELU6", np.float32(0.05), 100) == (100, 220)
    assert activation_range("NONE", np.float32(0.05), 100) == (0, 255)
    with pytest.raises(NotImplementedError, match="TANH"):
        activation_range("TANH", np.float32(0.05), 0)


def test_same_padding_matches_tflite_rule():
    assert same_padding(224, 3, 2, 1, "SAME") == (112, 0, 1)  # total 1: none on top, 1 at the bottom
    assert same_padding(7, 3, 2, 1, "SAME") == (4, 1, 1)
    assert same_padding(7, 7, 1, 1, "VALID") == (1, 0, 0)
    assert same_padding(8, 3, 2, 1, "VALID") == (3, 0, -1)  # last row never read


# --- the tiny graph: every tensor equals the interpreter's -------------------------------------

@pytest.fixture(scope="module")
def tiny():
    data, _ = tw.tiny_model(0)
    return data, np.random.default_rng(TINY_SEED).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)


def test_tiny_graph_every_tensor_bit_exact(ref, tiny):
    data, xs = tiny
    assert hashlib.sha256(data).hexdigest() == str(ref["tiny_sha256"])
    net = tflite_net(data)
    got = net.tensors(xs, digital=True)  # the batch of 4 at once
    names = {i: t.name for i, t in enumerate(net.model.tensors)}
    keys = [k for k in ref if k.startswith("tiny_t")]
    assert len(keys) == 10
    for key in keys:
        np.testing.assert_array_equal(got[names[int(key[6:])]], ref[key], err_msg=names[int(key[6:])])


def test_tiny_graph_analog_paths(tiny):
    """config=None (exact matmuls through Conv2d) and the ideal preset (rounded back to integers)
    equal the digital path; a noisy preset changes the logits and is reported per layer."""
    data, xs = tiny
    digital = tflite_net(data).quantized_outputs(xs, digital=True)
    for config in (None, presets.get("ideal")):
        got = tflite_net(data, config=config, seed=3).quantized_outputs(xs)
        np.testing.assert_array_equal(got[0], digital[0])
        np.testing.assert_array_equal(got[1], digital[1])
    net = tflite_net(data, config=presets.get("int8"), seed=3)
    logits, rows = layer_report(net, xs)
    assert logits.shape == (4, 20)
    assert [r.name for r in rows] == ["net/conv", "net/dw", "net/pw", "net/pw2", "net/fc"]
    assert all(r.analog and r.n_arrays > 0 and r.rel_error > 0 for r in rows)
    assert net.layers()["net/dw"].groups == 4 and net.n_arrays == sum(r.n_arrays for r in rows)


def test_logits_are_the_dequantized_softmax_input(tiny):
    data, xs = tiny
    net = tflite_net(data)
    logits_q, _ = net.quantized_outputs(xs, digital=True)
    np.testing.assert_allclose(net(xs, digital=True), np.float32(0.6) * (logits_q.astype(float) - 128), rtol=1e-15)


def test_bad_input_is_named(tiny):
    net = tflite_net(tiny[0])
    for bad in (np.zeros((1, 8, 8, 3)), np.zeros((1, 3, 8, 8), np.uint8), np.zeros((8, 8, 3), np.uint8)):
        with pytest.raises(ValueError, match=r"x: received .*expected uint8 \(N, 8, 8, 3\)"):
            net(bad)


# --- preprocessing ------------------------------------------------------------------------------

def test_central_crop_geometry():
    img = to_rgb(np.zeros((375, 500, 3), np.uint8))
    assert central_crop(img).size == (500 - 2 * 31, 375 - 2 * 23)  # top = 375 // 16, left = 500 // 16
    out = tflite_preprocess(np.arange(40 * 30 * 3, dtype=np.int64).astype(np.uint8).reshape(30, 40, 3))
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8


# --- MobileNetV2 on the shared ImageNet samples -------------------------------------------------

@pytest.fixture(scope="module")
def mobilenet():
    from conftest import shared_data_path

    path = shared_data_path() / "mobilenet" / "mobilenet_v2_1.0_224_quant.tflite"
    if not path.is_file():
        pytest.skip(f"MobileNetV2 TFLite file not found at {path} (set REFSIM_DATA to the data folder)")
    return tflite_net(path), shared_data_path()


def test_mobilenet_equals_tflite_on_24_images(mobilenet, ref):
    """Same uint8 inputs (SHA-256), then the logits (uint8 input of SOFTMAX) and the uint8 probabilities
    equal the interpreter's reference kernels bit for bit; top-1 22 / 24 as TFLite."""
    net, data = mobilenet
    xs = np.stack([tflite_preprocess(load_image(data / "imagenet-samples" / n)) for n in ref["names"]])
    assert [hashlib.sha256(x[None].tobytes()).hexdigest() for x in xs] == list(ref["input_sha256"])
    top1 = []
    for start in range(0, len(xs), 6):
        logits_q, probs_q = net.quantized_outputs(xs[start:start + 6], digital=True)
        np.testing.assert_array_equal(logits_q, ref["logits_q_ref"][start:start + 6])
        np.testing.assert_array_equal(probs_q, ref["output_q_ref"][start:start + 6])
        top1 += np.argmax(logits_q, axis=1).tolist()
    assert int(np.sum(np.array(top1) == ref["labels"])) == 22


@settings(max_examples=150, deadline=5000)
@given(mutated(tw.tiny_model(0)[0]))
def test_fuzz_mutated_graph_builds_and_runs_or_fails_cleanly(data):
    """A file the reader accepts but whose graph is inconsistent gives a clear error, never another."""
    try:
        net = tflite_net(data, seed=1)
        shape = net.input_tensor.shape
        if np.prod(shape) > 10_000:
            return
        net(np.zeros((1,) + tuple(shape[1:]), np.uint8), digital=True)
    except (CheckpointError, ValueError, NotImplementedError):
        pass
