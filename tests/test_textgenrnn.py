"""textgenrnn's LSTM language model: Keras HDF5 import, mapping onto refsim, bits per character.

Oracles: PyTorch (``torch.nn.Embedding``/``LSTM``/``Linear`` in float64, and the attention average
written with torch ops from textgenrnn's ``AttentionWeightedAverage.call``) fed with weights that
the test converts from the raw Keras arrays *as Keras' own loader does* (tf.keras
``_convert_rnn_weights``: per gate ``k.T.reshape(k.shape, order='F')`` for CuDNN input kernels,
``k.T`` for recurrent kernels, biases summed), not with refsim's reshape formulation.
Synthetic Keras-layout files (written here with h5py) need neither the package nor data; the
shipped model and the Alice text are used where present (skipped otherwise).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from refsim import presets
from refsim.io import CheckpointError, CorruptCheckpointError, UnsupportedCheckpointError
from refsim.nn import TextgenRNN, layer_report
from tests.tolerances import RTOL_EXACT, TOL_TORCH

h5py = pytest.importorskip("h5py", reason="h5py (the optional 'models' extra) is not installed")
tg = pytest.importorskip("refsim.tools.textgenrnn")

ALICE = "text/alice_in_wonderland.txt"
VOCAB = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [" ", ".", "'", '"', "-", "<s>"]  # 32 tokens


def write_keras(path, *, D=6, H=5, K=2, cudnn=True, seed=0, vocab=VOCAB, drop=None, bidirectional=False):
    """A textgenrnn-layout Keras HDF5 file with random weights; returns the raw arrays by HDF5 path."""
    rng = np.random.default_rng(seed)
    V, C = len(vocab) + 1, D + K * H
    arrays = {"embedding": {"embeddings:0": rng.normal(size=(V, D))}}
    n_in = D
    for k in range(1, K + 1):
        arrays[f"rnn_{k}"] = {"kernel:0": rng.normal(0, 0.5, (n_in, 4 * H)),
                              "recurrent_kernel:0": rng.normal(0, 0.5, (H, 4 * H)),
                              "bias:0": rng.normal(0, 0.5, (8 * H if cudnn else 4 * H,))}
        n_in = H
    arrays["attention"] = {"attention_W:0": rng.normal(size=(C, 1))}
    arrays["output"] = {"kernel:0": rng.normal(0, 0.5, (C, V)), "bias:0": rng.normal(size=(V,))}
    with h5py.File(path, "w") as f:
        names = ["input", "embedding"] + [f"rnn_{k}" for k in range(1, K + 1)] + ["rnn_concat", "attention", "output"]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        f.attrs["keras_version"], f.attrs["backend"] = b"2.1.5", b"tensorflow"
        for layer in names:
            g = f.create_group(layer)
            ws = arrays.get(layer, {})
            if bidirectional and layer.startswith("rnn_"):
                ws = {f"forward_{layer}/{w}": a for w, a in ws.items()}
            keys = [f"{layer}/{w}" if "/" not in w else w for w in ws]
            g.attrs["weight_names"] = np.array([k.encode() for k in keys]) if keys else np.array([], dtype=float)
            for key, a in zip(keys, ws.values()):
                if (layer, key.rsplit("/", 1)[-1]) != drop:
                    g.create_dataset(key, data=a.astype(np.float32))
    return {layer: {w: a.astype(np.float32).astype(np.float64) for w, a in ws.items()} for layer, ws in arrays.items()}


def write_vocab(path, vocab=VOCAB):
    path.write_text(json.dumps({t: i + 1 for i, t in enumerate(vocab)}), encoding="utf8")
    return path


@pytest.fixture
def synthetic(tmp_path):
    def make(**kw):
        raw = write_keras(tmp_path / "w.hdf5", **kw)
        return tmp_path / "w.hdf5", write_vocab(tmp_path / "vocab.json"), raw
    return make


def keras_to_torch_lstm(raw: dict, H: int) -> dict:
    """Keras' own CuDNNLSTM -> LSTM conversion (tf.keras _convert_rnn_weights), then Keras -> torch."""
    k, rk, b = raw["kernel:0"], raw["recurrent_kernel:0"], raw["bias:0"]
    if b.shape == (8 * H,):
        k = np.hstack([g.T.reshape(g.shape, order="F") for g in np.hsplit(k, 4)])
        rk = np.hstack([g.T for g in np.hsplit(rk, 4)])
        b_ih, b_hh = b[:4 * H], b[4 * H:]
    else:
        b_ih, b_hh = b, np.zeros(4 * H)
    return {"weight_ih_l0": k.T, "weight_hh_l0": rk.T, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}


def torch_logits(raw: dict, ids: np.ndarray) -> np.ndarray:
    """The textgenrnn network in PyTorch float64 (the oracle)."""
    torch = pytest.importorskip("torch", reason="torch (optional cross-check) is not installed")
    emb_w = torch.tensor(raw["embedding"]["embeddings:0"])
    with torch.no_grad():
        x = torch.nn.Embedding.from_pretrained(emb_w)(torch.tensor(ids))  # (N, L, D)
        seq, k = [x], 1
        while f"rnn_{k}" in raw:
            H = raw[f"rnn_{k}"]["recurrent_kernel:0"].shape[0]
            lstm = torch.nn.LSTM(seq[-1].shape[-1], H, batch_first=True, dtype=torch.float64)
            for name, a in keras_to_torch_lstm(raw[f"rnn_{k}"], H).items():
                getattr(lstm, name).copy_(torch.tensor(a))
            seq.append(lstm(seq[-1])[0])
            k += 1
        cat = torch.cat(seq, dim=-1)
        logits = cat @ torch.tensor(raw["attention"]["attention_W:0"])[:, 0]  # (N, L)
        ai = torch.exp(logits - logits.max(dim=-1, keepdim=True).values)
        att = ai / (ai.sum(dim=1, keepdim=True) + 1e-7)  # K.epsilon()
        pooled = (cat * att[..., None]).sum(dim=1)
        dense = torch.nn.Linear(cat.shape[-1], emb_w.shape[0], dtype=torch.float64)
        dense.weight.copy_(torch.tensor(raw["output"]["kernel:0"].T))
        dense.bias.copy_(torch.tensor(raw["output"]["bias:0"]))
        return dense(pooled).numpy()


def rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# -- mapping against the torch oracle -----------------------------------------------------

@pytest.mark.parametrize("cudnn", [True, False], ids=["CuDNNLSTM", "LSTM"])
def test_synthetic_file_matches_torch(synthetic, cudnn):
    path, vocab, raw = synthetic(cudnn=cudnn, D=6, H=5, K=2)
    model = tg.load_textgenrnn(path, vocab, None)
    assert model.lstm_layout == ("CuDNNLSTM" if cudnn else "LSTM")
    ids = np.random.default_rng(1).integers(0, len(VOCAB) + 1, size=(4, 9))
    got = model.net(ids)
    assert got.shape == (4, len(VOCAB) + 1)
    assert rel(got, torch_logits(raw, ids)) < TOL_TORCH
    assert rel(model.net(ids[0]), got[0]) < RTOL_EXACT  # unbatched (BLAS may round another way)


def test_three_lstm_layers_and_mapping_catches_gate_errors(synthetic):
    path, vocab, raw = synthetic(K=3, H=4, D=3)
    model = tg.load_textgenrnn(path, vocab, None)
    ids = np.random.default_rng(2).integers(0, len(VOCAB) + 1, size=(3, 7))
    ref = torch_logits(raw, ids)
    assert len(model.net.rnns) == 3 and rel(model.net(ids), ref) < TOL_TORCH
    # the oracle can tell: reading the CuDNN input kernel as a plain Keras kernel changes the logits
    raw["rnn_1"]["kernel:0"] = np.hstack([g.T.reshape(g.shape, order="F") for g in np.hsplit(raw["rnn_1"]["kernel:0"], 4)])
    assert rel(model.net(ids), torch_logits(raw, ids)) > 1e-3


@pytest.fixture(scope="module")
def shipped():
    try:
        w, v = tg.find_textgenrnn_files()
    except FileNotFoundError as exc:
        pytest.skip(f"the textgenrnn package is absent: {exc}")
    from refsim.io.keras_hdf5 import read_keras_hdf5

    kw = read_keras_hdf5(w)
    raw = {layer: {n.rsplit("/", 1)[-1]: a.astype(np.float64) for n, a in ws.items()} for layer, ws in kw.layers.items()}
    return tg.load_textgenrnn(w, v, None), raw


def test_shipped_model_matches_torch(shipped):
    model, raw = shipped
    assert model.lstm_layout == "CuDNNLSTM" and model.net.num_classes == 465 and len(model.vocab) == 464
    ids = tg.encode(tg.normalize_text("Alice was beginning to get very tired of sitting by her sister", model.vocab),
                    model.vocab)
    ctx = np.stack([ids[i:i + 40] for i in (0, 7, 20)])
    assert rel(model.net(ctx), torch_logits(raw, ctx)) < TOL_TORCH


def test_shipped_model_predicts_english(shipped, shared_data):
    """The mapping is the one the model was trained with: a wrong one gives tens of bits/char."""
    model, _ = shipped
    text = (shared_data / ALICE).read_text(encoding="utf8")
    res = tg.bits_per_char(model, text, limit=60, stride=2003, digital=True)
    assert res["n"] == 60 and res["n_skipped_oov"] == 0
    assert res["bits_per_char"] < 3.5 and res["top1_accuracy"] > 0.3  # uniform over 464 chars: 8.86 bits


# -- the metric, against an independent computation -------------------------------------

def test_bits_per_char_definition(synthetic):
    path, vocab, raw = synthetic(D=4, H=3, K=2)
    model = tg.load_textgenrnn(path, vocab, None)
    model.maxlen = 5  # a short context keeps this cheap; the definition is the same
    text = "It was the best of times,\nit was the worst of times; caf\u00e9 \u2014 \u201cno\u201d!"
    norm = tg.normalize_text(text, model.vocab)
    assert norm == "It was the best of times, it was the worst of times; cafe - \"no\"!"
    res = tg.bits_per_char(model, text, stride=2, batch_size=4)
    known = [t for t in range(5, len(norm), 2) if norm[t] in model.vocab]  # ',' ';' '!' are not in VOCAB
    assert res["n"] == len(known) and res["n_skipped_oov"] == len(range(5, len(norm), 2)) - len(known) > 0
    ids = [model.vocab.get(ch, 0) for ch in norm]
    ctx = np.array([ids[t - 5:t] for t in known])
    lg = torch_logits(raw, ctx)
    lp = lg - np.log(np.sum(np.exp(lg - lg.max(1, keepdims=True)), 1, keepdims=True)) - lg.max(1, keepdims=True)
    expected = -np.mean([lp[i, ids[t]] for i, t in enumerate(known)]) / np.log(2)
    assert res["bits_per_char"] == pytest.approx(expected, rel=TOL_TORCH)
    assert res["top1_accuracy"] == np.mean([np.argmax(lg[i]) == ids[t] for i, t in enumerate(known)])
    assert tg.bits_per_char(model, text, stride=2, limit=2)["n"] == 2
    with pytest.raises(ValueError, match="stride"):
        tg.bits_per_char(model, text, stride=0)
    with pytest.raises(ValueError, match="nothing to score"):
        tg.bits_per_char(model, "abc")


def test_analog_report_and_determinism(synthetic):
    path, vocab, _ = synthetic(D=4, H=3, K=2)
    model = tg.load_textgenrnn(path, vocab, presets.get("int8_bounded"), seed=3)
    ids = np.random.default_rng(4).integers(1, len(VOCAB) + 1, size=(3, 6))
    y, rows = layer_report(model.net, ids)
    assert [r.name for r in rows] == ["rnn_1", "rnn_2", "output"] and all(r.analog for r in rows)
    assert all(0 < r.rel_error < 1 for r in rows)
    again = tg.load_textgenrnn(path, vocab, presets.get("int8_bounded"), seed=3)
    assert np.array_equal(again.net(ids), y)
    assert model.net(ids, digital=True) == pytest.approx(tg.load_textgenrnn(path, vocab, None).net(ids), abs=0)


# -- bad input and corrupt files ----------------------------------------------------------

def test_bad_ids(synthetic):
    path, vocab, _ = synthetic()
    net = tg.load_textgenrnn(path, vocab, None).net
    with pytest.raises(TypeError, match="ids"):
        net(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"ids: received values in \[0, 33\]"):
        net(np.array([[0, 33]]))
    with pytest.raises(ValueError, match="missing keys"):
        TextgenRNN({"embedding.weight": np.zeros((3, 2))})


def test_not_hdf5_and_truncated(tmp_path, synthetic):
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(b"not an hdf5 file" * 10)
    with pytest.raises(CorruptCheckpointError, match="bad.hdf5.*cannot be opened as HDF5"):
        tg.load_textgenrnn(bad, tmp_path / "v.json")
    path, vocab, _ = synthetic()
    data = path.read_bytes()
    cut = tmp_path / "cut.hdf5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.hdf5"):
        tg.load_textgenrnn(cut, vocab)
    with pytest.raises(FileNotFoundError, match="no file"):
        tg.load_textgenrnn(tmp_path / "absent.hdf5", vocab)


@pytest.mark.parametrize("drop, match", [
    (("attention", "attention_W:0"), r"attention/attention_W:0: listed in weight_names but not a dataset"),
    (("rnn_2", "recurrent_kernel:0"), r"rnn_2/recurrent_kernel:0.*(not a dataset|expected \(H, 4H\))"),
])
def test_missing_entry(synthetic, drop, match):
    path, vocab, _ = synthetic(drop=drop)
    with pytest.raises(CorruptCheckpointError, match=match):
        tg.load_textgenrnn(path, vocab)


def test_wrong_shape_nan_and_bidirectional(tmp_path, synthetic):
    path, vocab, _ = synthetic(D=6, H=5, K=2)
    with h5py.File(path, "r+") as f:
        del f["output/output/kernel:0"]
        f["output/output/kernel:0"] = np.zeros((16, 7), np.float32)
    with pytest.raises(CorruptCheckpointError, match=r"w.hdf5: output/output/kernel:0: received shape \(16, 7\); "
                                                     r"expected \(16, 33\)"):
        tg.load_textgenrnn(path, vocab)
    path, vocab, _ = synthetic()
    with h5py.File(path, "r+") as f:
        f["rnn_1/rnn_1/bias:0"][0] = np.nan
    with pytest.raises(CorruptCheckpointError, match="rnn_1/bias:0: holds NaN"):
        tg.load_textgenrnn(path, vocab)
    path, vocab, _ = synthetic(bidirectional=True)
    with pytest.raises(UnsupportedCheckpointError, match="Bidirectional"):
        tg.load_textgenrnn(path, vocab)
    plain = tmp_path / "plain.hdf5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(CorruptCheckpointError, match="no attribute 'layer_names'; not a Keras"):
        tg.load_textgenrnn(plain, vocab)


def test_bad_vocab(tmp_path, synthetic):
    path, _, _ = synthetic()
    with pytest.raises(ValueError, match="has 31 tokens; the weights expect 32"):
        tg.load_textgenrnn(path, write_vocab(tmp_path / "v.json", VOCAB[:-1]))
    (tmp_path / "l.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        tg.load_textgenrnn(path, tmp_path / "l.json")


def test_missing_h5py_names_the_extra(monkeypatch, synthetic):
    import sys

    path, vocab, _ = synthetic()
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"refsim\[models\]"):
        tg.load_textgenrnn(path, vocab)


# -- command line -------------------------------------------------------------------------

def test_cli_eval_synthetic(run, tmp_path, synthetic):
    path, vocab, _ = synthetic()
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 3, encoding="utf8")
    code, out, err = run("eval", "--model", "textgenrnn", "--weights", path, "--vocab", vocab, "--data", text,
                         "--preset", "int8_bounded", "--stride", "7", "--limit", "5", "--report", "--json", "--quiet")
    assert code == 0 and err == ""
    res = json.loads(out)
    model = tg.load_textgenrnn(path, vocab, presets.get("int8_bounded"))
    api = tg.bits_per_char(model, text.read_text(), stride=7, limit=5, batch_size=64)
    assert res["bits_per_char"] == api["bits_per_char"] and res["n"] == 5 and res["preset"] == "int8_bounded"
    assert res["digital_bits_per_char"] == tg.bits_per_char(model, text.read_text(), stride=7, limit=5,
                                                            digital=True)["bits_per_char"]
    assert [r["name"] for r in res["layers"]] == ["rnn_1", "rnn_2", "output"]
    code, out, _ = run("eval", "--model", "textgenrnn", "--weights", path, "--vocab", vocab, "--data", text,
                       "--limit", "3", "--quiet", "--no-digital")
    assert code == 0 and "bits/char" in out and "digital (float64)" not in out
    code, _, err = run("eval", "--model", "textgenrnn", "--weights", path, "--vocab", vocab, "--data",
                       tmp_path / "absent.txt")
    assert code == 2 and "--data: no text file" in err
    code, _, err = run("eval", "--data", text)
    assert code == 2 and "--weights: required" in err
    code, _, err = run("eval", "--weights", "random", "--data", text, "--stride", "2")
    assert code == 2 and "--stride: only for" in err
    code, _, err = run("infer", "--model", "textgenrnn")
    assert code == 2 and "language model" in err


def test_cli_eval_shipped_alice(run, shipped, shared_data):
    code, out, err = run("eval", "--model", "textgenrnn", "--data", shared_data / ALICE, "--limit", "4",
                         "--stride", "9001", "--json", "--quiet")
    assert code == 0, err
    res = json.loads(out)
    assert res["weights"].endswith("textgenrnn_weights.hdf5") and res["lstm_layout"] == "CuDNNLSTM"
    assert res["n"] == 4 and 0 < res["bits_per_char"] < 8.86
    assert res["preset"] == "ideal" and res["layers"] is None


def test_package_absent_names_what_to_pass(monkeypatch, synthetic):
    import importlib.util

    path, vocab, _ = synthetic()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(FileNotFoundError, match=r"--vocab: not given, and .*pip install --no-deps textgenrnn"):
        tg.load_textgenrnn(path, None)
    assert tg.load_textgenrnn(path, vocab).net.num_classes == len(VOCAB) + 1  # both given: no package needed
