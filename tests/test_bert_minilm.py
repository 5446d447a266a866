"""refsim.nn.BertEncoder: all-MiniLM-L6-v2 against an independent PyTorch float64 BERT with the
same weights; a small random BERT (no package needed); the analog paths and the per-layer report."""
import math

import numpy as np
import pytest

from checks import minilm, minilm_dir as model_dir
from refsim.io import load_state_dict
from refsim.nn import BertEncoder, layer_report
from refsim.nn.bert import bert_param_shapes
from tests.tolerances import ATOL_EXACT, TOL_TORCH

SENTENCES = ["A man is playing a guitar.", "A man plays the guitar on a stage in front of a crowd.",
             "A woman is slicing an onion.", "Héllo!", "The cat sat on the mat, and then it slept for hours."]


def torch_bert(sd, num_heads, ids, mask, types, eps=1e-12):
    """Hugging Face BertModel + mean pooling + normalize, written out in PyTorch float64 (the oracle)."""
    torch = pytest.importorskip("torch", reason="PyTorch (optional, pip install torch==2.13.0) is the oracle")
    F = torch.nn.functional
    p = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in sd.items()}
    ids, mask, types = (torch.tensor(a) for a in (ids, mask, types))
    n, L = ids.shape
    lin = lambda x, k: F.linear(x, p[k + ".weight"], p[k + ".bias"])  # noqa: E731
    ln = lambda x, k: F.layer_norm(x, (x.shape[-1],), p[k + ".weight"], p[k + ".bias"], eps)  # noqa: E731
    x = p["embeddings.word_embeddings.weight"][ids] + p["embeddings.token_type_embeddings.weight"][types]
    x = ln(x + p["embeddings.position_embeddings.weight"][:L], "embeddings.LayerNorm")
    ext = (1.0 - mask[:, None, None, :].double()) * torch.finfo(torch.float64).min  # HF's extended mask
    d = x.shape[-1] // num_heads
    heads = lambda t: t.view(n, L, num_heads, d).transpose(1, 2)  # noqa: E731
    i = 0
    while f"encoder.layer.{i}.attention.self.query.weight" in p:
        pre = f"encoder.layer.{i}."
        q, k, v = (heads(lin(x, pre + "attention.self." + m)) for m in ("query", "key", "value"))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + ext, dim=-1)
        ctx = (a @ v).transpose(1, 2).reshape(n, L, -1)
        x = ln(lin(ctx, pre + "attention.output.dense") + x, pre + "attention.output.LayerNorm")
        h = F.gelu(lin(x, pre + "intermediate.dense"))
        x = ln(lin(h, pre + "output.dense") + x, pre + "output.LayerNorm")
        i += 1
    m = mask[..., None].double()
    u = (x * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
    return x.numpy(), F.normalize(u, p=2, dim=1).numpy()


def random_bert(rng, vocab=40, hidden=12, layers=2, inter=20, positions=16):
    shapes = bert_param_shapes(vocab, hidden, layers, inter, positions, 2)
    sd = {k: (1.0 + 0.1 * rng.normal(size=s) if k.endswith("LayerNorm.weight") else 0.3 * rng.normal(size=s))
          for k, s in shapes.items()}
    sd["pooler.dense.weight"] = rng.normal(size=(hidden, hidden))  # ignored, as in sentence-transformers
    return sd


def test_random_bert_matches_torch_with_padding_and_token_types():
    rng = np.random.default_rng(0)
    sd = random_bert(rng)
    ids = rng.integers(0, 40, size=(3, 7))
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3, [1, 1] + [0] * 5])
    types = rng.integers(0, 2, size=(3, 7))
    net = BertEncoder(sd, 3)
    tok_ref, e_ref = torch_bert(sd, 3, ids, mask, types)
    np.testing.assert_allclose(net(ids, mask, types), e_ref, atol=ATOL_EXACT)
    np.testing.assert_allclose(net.token_embeddings(ids, mask, types), tok_ref, atol=TOL_TORCH)
    # a padded sentence embeds exactly as the same sentence alone
    np.testing.assert_allclose(net(ids[1:2, :4], mask[1:2, :4], types[1:2, :4]), e_ref[1:2], atol=ATOL_EXACT)


def test_minilm_digital_matches_torch():
    m = minilm()
    sd = load_state_dict(model_dir() / "model.safetensors")
    enc = m.tokenizer(SENTENCES)
    assert enc.attention_mask.min() == 0  # the batch is padded
    tok_ref, e_ref = torch_bert(sd, 12, enc.input_ids, enc.attention_mask, enc.token_type_ids)
    e = m.encoder(enc, digital=True)
    assert e.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(e, e_ref, atol=1e-6)
    assert np.max(np.abs(e - e_ref)) < TOL_TORCH  # float64 both: round-off only
    real = enc.attention_mask.astype(bool)
    np.testing.assert_allclose(m.encoder.token_embeddings(enc, digital=True)[real], tok_ref[real], atol=1e-6)


def test_minilm_similarity_is_semantic():
    e = minilm().encoder(minilm().tokenizer(SENTENCES[:3]), digital=True)
    cos = e @ e.T
    assert cos[0, 1] > 0.6 > 0.2 > cos[0, 2]  # guitar ~ guitar, guitar !~ onion


def test_minilm_analog_close_to_digital_and_layer_report():
    """int8_bounded on every weight and on run-time QK^T / AV arrays: each layer's own error, and the result."""
    m = minilm("int8_bounded", runtime=True)
    enc = m.tokenizer(SENTENCES[:2])
    y, rows = layer_report(m.encoder, enc)
    names = [r.name for r in rows]
    assert names[:7] == [f"encoder.layer.0.{s}" for s in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                          "self_attn.attn", "self_attn.out_proj", "linear1", "linear2")]
    assert len(rows) == 6 * 7 and all(r.analog for r in rows)
    attn = [r for r in rows if r.kind == "attention"]
    assert all(r.runtime_arrays for r in attn) and all(0 < r.rel_error < 0.5 for r in rows)
    # 6 matrices a layer (4 of 384x384, 384x1536, 1536x384), G+ and G- arrays, tiled at the preset's size
    r = m.encoder.layers()["encoder.layer.0.linear1"].config.array.rows_max or 10**9
    c = m.encoder.layers()["encoder.layer.0.linear1"].config.array.cols_max or 10**9
    tiles = lambda n_in, n_out: -(-n_in // r) * -(-n_out // c)  # noqa: E731
    assert m.encoder.n_arrays == 6 * 2 * (4 * tiles(384, 384) + tiles(384, 1536) + tiles(1536, 384))
    cos = np.sum(y * m.encoder(enc, digital=True), axis=1)  # both unit vectors
    assert np.all(cos > 0.7) and np.all(cos < 1 - 1e-6)  # close, but the 8-bit converters do change it


def test_bad_input():
    rng = np.random.default_rng(1)
    sd = random_bert(rng)
    net = BertEncoder(sd, 3)
    with pytest.raises(ValueError, match=r"input_ids: received values in \[0, 40\]"):
        net(np.array([[0, 40]]))
    with pytest.raises(ValueError, match="attention_mask: received shape"):
        net(np.array([[0, 1]]), np.array([[1, 1, 1]]))
    with pytest.raises(ValueError, match="attention_mask: row 1 starts with padding"):
        net(np.array([[0, 1], [2, 3]]), np.array([[1, 1], [0, 1]]))
    with pytest.raises(ValueError, match="input_ids: received 17 tokens"):
        net(np.zeros((1, 17), dtype=int))
    with pytest.raises(ValueError, match="input_ids: received dtype float64"):
        net(np.zeros((1, 3)))
    bad = dict(sd)
    del bad["encoder.layer.1.output.dense.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['encoder.layer.1.output.dense.bias'\]"):
        BertEncoder(bad, 3)
    with pytest.raises(ValueError, match="not a BERT model"):
        BertEncoder({"fc.weight": np.zeros((2, 2))}, 1)
    with pytest.raises(ValueError, match="num_heads: received 5; expected a positive int dividing embed_dim=12"):
        BertEncoder(sd, 5)
