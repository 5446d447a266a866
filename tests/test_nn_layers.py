"""Linear, Conv2d, LSTM and attention against naive float64 oracles; ideal crossbar == digital."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refsim
from refsim.nn import LSTM, Conv2d, Linear, MultiheadAttention, crossbar_rng, resolve_config
from refsim.nn.attention import AttentionCore
from refsim.oracles.nn import attention_naive, conv2d_naive, linear_naive, lstm_naive
from strategies import conv_cases
from checks import ideal, rel_err
from tolerances import RTOL_EXACT


@settings(max_examples=40, deadline=None)
@given(conv_cases(), st.booleans(), st.integers(0, 2**31 - 1))
def test_conv2d_equals_direct_loops_digital_and_ideal(case, with_bias, seed):
    xs, ws, stride, padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    b = rng.normal(size=ws[0]) if with_bias else None
    ref = conv2d_naive(x, w, b, stride, padding, dilation, groups)
    for cfg in (None, ideal()):
        conv = Conv2d(w, b, stride=stride, padding=padding, dilation=dilation, groups=groups, config=cfg)
        assert rel_err(conv(x), ref) < RTOL_EXACT
    assert conv.n_arrays >= groups  # each group on its own arrays


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 7), st.booleans(), st.integers(0, 2**31 - 1))
def test_linear_equals_loops_digital_and_ideal(n, n_in, n_out, with_bias, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=(n, n_in)), rng.normal(size=(n_out, n_in))
    b = rng.normal(size=n_out) if with_bias else None
    ref = linear_naive(x, w, b)
    assert rel_err(Linear(w, b)(x), ref) < RTOL_EXACT
    lin = Linear(w, b, config=ideal())
    assert rel_err(lin(x), ref) < RTOL_EXACT
    # leading batch dimensions are kept
    assert rel_err(lin(x[None, :, None, :])[0, :, 0], ref) < RTOL_EXACT


def test_conv2d_padding_same_and_valid():
    rng = np.random.default_rng(4)
    x, w = rng.normal(size=(1, 2, 6, 5)), rng.normal(size=(3, 2, 4, 3))
    y = Conv2d(w, padding="same", dilation=(1, 2))(x)
    assert y.shape == (1, 3, 6, 5)
    # total padding 3 rows (1 top, 2 bottom) and 4 columns (2, 2): compare with explicit padding
    xp = np.pad(x, ((0, 0), (0, 0), (1, 2), (2, 2)))
    assert rel_err(y, conv2d_naive(xp, w, dilation=(1, 2))) < RTOL_EXACT
    assert Conv2d(w, padding="valid")(x).shape == (1, 3, 3, 3)


def lstm_params(rng, n_in, H, layers, bidir, bias=True):
    p = {}
    for k in range(layers):
        for sfx in [""] + (["_reverse"] if bidir else []):
            k_in = n_in if k == 0 else (2 if bidir else 1) * H
            p[f"weight_ih_l{k}{sfx}"] = rng.normal(size=(4 * H, k_in)) * 0.5
            p[f"weight_hh_l{k}{sfx}"] = rng.normal(size=(4 * H, H)) * 0.5
            if bias:
                p[f"bias_ih_l{k}{sfx}"] = rng.normal(size=4 * H) * 0.1
                p[f"bias_hh_l{k}{sfx}"] = rng.normal(size=4 * H) * 0.1
    return p


@settings(max_examples=12, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.integers(1, 2), st.booleans(), st.booleans(),
       st.booleans(), st.integers(0, 2**31 - 1))
def test_lstm_equals_naive_oracle(n_in, H, L, layers, bidir, bias, with_state, seed):
    rng = np.random.default_rng(seed)
    p = lstm_params(rng, n_in, H, layers, bidir, bias)
    x = rng.normal(size=(L, 2, n_in))
    D = 2 if bidir else 1
    h0 = rng.normal(size=(D * layers, 2, H)) if with_state else None
    c0 = rng.normal(size=(D * layers, 2, H)) if with_state else None
    ref_out, ref_h, ref_c = lstm_naive(x, p, layers, H, bidir, h0, c0)
    for cfg in (None, ideal()):
        out, (h, c) = LSTM(p, config=cfg)(x, None if h0 is None else (h0, c0))
        assert rel_err(out, ref_out) < RTOL_EXACT
        assert rel_err(h, ref_h) < RTOL_EXACT and rel_err(c, ref_c) < RTOL_EXACT
    # batch_first and unbatched layouts give the same numbers
    out_bf, _ = LSTM(p, batch_first=True)(x.transpose(1, 0, 2), None if h0 is None else (h0, c0))
    assert rel_err(out_bf, ref_out.transpose(1, 0, 2)) < RTOL_EXACT
    out_u, (h_u, _) = LSTM(p)(x[:, 0], None if h0 is None else (h0[:, 0], c0[:, 0]))
    assert rel_err(out_u, ref_out[:, 0]) < RTOL_EXACT and rel_err(h_u, ref_h[:, 0]) < RTOL_EXACT


def test_lstm_key_and_shape_errors():
    p = lstm_params(np.random.default_rng(0), 3, 2, 2, False)
    with pytest.raises(ValueError, match="missing keys \\['bias_hh_l1'\\]"):
        LSTM({k: v for k, v in p.items() if k != "bias_hh_l1"})
    bad = dict(p, weight_hh_l1=np.zeros((8, 3)))
    with pytest.raises(ValueError, match=r"weight_hh_l1: received shape \(8, 3\); expected shape \(8, 2\)"):
        LSTM(bad)
    with pytest.raises(NotImplementedError, match="proj_size"):
        LSTM(dict(p, weight_hr_l0=np.zeros((1, 2))))
    with pytest.raises(ValueError, match="3 features"):
        LSTM(p)(np.zeros((4, 1, 5)))


def mha_params(rng, E, bias=True):
    p = {"in_proj_weight": rng.normal(size=(3 * E, E)) / np.sqrt(E), "out_proj.weight": rng.normal(size=(E, E))}
    if bias:
        p["in_proj_bias"], p["out_proj.bias"] = rng.normal(size=3 * E), rng.normal(size=E)
    return p


@settings(max_examples=15, deadline=None)
@given(st.sampled_from([(4, 1), (4, 2), (6, 3)]), st.integers(1, 4), st.integers(1, 4), st.booleans(),
       st.integers(0, 2**31 - 1))
def test_multihead_attention_equals_naive_oracle(eh, L, S, bias, seed):
    E, H = eh
    rng = np.random.default_rng(seed)
    p = mha_params(rng, E, bias)
    q, k, v = rng.normal(size=(L, 2, E)), rng.normal(size=(S, 2, E)), rng.normal(size=(S, 2, E))
    attn_mask = rng.normal(size=(L, S))
    kpm = np.zeros((2, S), bool)
    kpm[1, -1] = S > 1  # pad the last key of the 2nd sequence (never a whole row)
    d = E // H
    w_in, b_in = p["in_proj_weight"], p.get("in_proj_bias", np.zeros(3 * E))
    ref_y = np.zeros((L, 2, E))
    ref_w = np.zeros((2, H, L, S))
    for n in range(2):
        Q, K, V = (t[:, n] @ w_in[i * E:(i + 1) * E].T + b_in[i * E:(i + 1) * E] for i, t in enumerate((q, k, v)))
        mask = attn_mask + np.where(kpm[n], -np.inf, 0.0)[None, :]
        heads = []
        for h in range(H):
            o, a = attention_naive(Q[:, h * d:(h + 1) * d], K[:, h * d:(h + 1) * d], V[:, h * d:(h + 1) * d], mask)
            heads.append(o)
            ref_w[n, h] = a
        ref_y[:, n] = np.concatenate(heads, axis=1) @ p["out_proj.weight"].T + p.get("out_proj.bias", 0.0)
    for cfg in (None, ideal()):
        mha = MultiheadAttention(p, H, config=cfg)
        y, w = mha(q, k, v, key_padding_mask=kpm, attn_mask=attn_mask, average_attn_weights=False)
        assert rel_err(y, ref_y) < RTOL_EXACT and rel_err(w, ref_w) < RTOL_EXACT
    y_avg, w_avg = mha(q, k, v, key_padding_mask=kpm, attn_mask=attn_mask)
    assert rel_err(w_avg, ref_w.mean(axis=1)) < RTOL_EXACT
    # bool attn_mask: True = may not attend, equal to a -inf float mask
    bmask = rng.random((L, S)) < 0.3
    bmask[:, 0] = False
    y_b, _ = mha(q, k, v, attn_mask=bmask)
    y_f, _ = mha(q, k, v, attn_mask=np.where(bmask, -np.inf, 0.0))
    assert rel_err(y_b, y_f) == 0.0


def test_attention_runtime_arrays_are_flagged_and_exact_when_ideal():
    rng = np.random.default_rng(5)
    p = mha_params(rng, 4)
    x = rng.normal(size=(3, 2, 4))
    ref, _ = MultiheadAttention(p, 2)(x, x, x)
    mha = MultiheadAttention(p, 2, runtime_config=ideal(), name="att")
    rec = {}
    y, _ = mha.forward(x, x, x, records=rec)
    assert rel_err(y, ref) < RTOL_EXACT
    core = rec["att.attn"]
    assert core.runtime_arrays and core.analog and core.n_arrays == 2 * 2 * 2
    assert set(rec) == {"att.q_proj", "att.k_proj", "att.v_proj", "att.attn", "att.out_proj"}
    assert not rec["att.q_proj"].analog  # projections digital (config=None)
    assert rel_err(mha.core.digital_replay(core), core.output) < RTOL_EXACT
    assert isinstance(mha.core, AttentionCore)


def test_records_and_digital_replay():
    rng = np.random.default_rng(6)
    w, x = rng.normal(size=(3, 2, 3, 3)), rng.normal(size=(2, 2, 5, 5))
    conv = Conv2d(w, padding=1, name="c", config=ideal())
    rec = {}
    y = conv.forward(x, records=rec)
    r = rec["c"]
    assert r.kind == "conv2d" and r.analog and r.n_arrays == conv.n_arrays > 0
    assert r.clip_fraction == 0.0
    assert np.array_equal(r.output, y) and np.array_equal(r.input, x)
    assert rel_err(conv.digital_replay(r), y) < RTOL_EXACT
    rec_d = {}
    Conv2d(w, padding=1, name="c").forward(x, records=rec_d)
    assert not rec_d["c"].analog and rec_d["c"].n_arrays == 0 and np.isnan(rec_d["c"].clip_fraction)


def test_int8_records_clip_fraction_from_trace():
    rng = np.random.default_rng(7)
    w, x = rng.normal(size=(4, 16)), rng.normal(size=(5, 16))
    lin = Linear(w, name="fc", config=refsim.presets.get("int8"))
    rec = {}
    y = lin.forward(x, records=rec)
    assert np.array_equal(y, lin(x))  # trace path == matvec path
    assert 0.0 <= rec["fc"].clip_fraction <= 1.0
    assert 0 < rel_err(y, x @ w.T) < 0.1  # quantized, not exact, but close


def test_config_callable_and_seed_streams():
    cfg = ideal()
    chosen = []

    def per_layer(name):
        chosen.append(name)
        return cfg if name == "a" else None

    assert resolve_config(per_layer, "a") is cfg and resolve_config(per_layer, "b") is None
    assert chosen == ["a", "b"]
    with pytest.raises(TypeError, match=r"config\('x'\): received str from the config callable"):
        resolve_config(lambda n: "ideal", "x")
    with pytest.raises(TypeError, match="config: received str; expected a refsim.CrossbarConfig"):
        resolve_config("ideal", "x")
    # streams depend only on (seed, name, index): same draws whatever the order of creation
    a1 = crossbar_rng(3, "layer1.0.conv1").normal(size=4)
    crossbar_rng(3, "other").normal(size=10)
    assert np.array_equal(a1, crossbar_rng(3, "layer1.0.conv1").normal(size=4))
    assert not np.array_equal(a1, crossbar_rng(3, "layer1.0.conv2").normal(size=4))
    assert not np.array_equal(a1, crossbar_rng(4, "layer1.0.conv1").normal(size=4))
    assert not np.array_equal(a1, crossbar_rng(3, "layer1.0.conv1", 1).normal(size=4))
    with pytest.raises(ValueError, match="seed"):
        crossbar_rng(-1, "a")
    assert dataclasses.is_dataclass(cfg)


def test_layer_input_errors():
    with pytest.raises(ValueError, match="not divisible by groups=2"):
        Conv2d(np.zeros((3, 1, 1, 1)), groups=2)
    with pytest.raises(NotImplementedError, match="padding_mode"):
        Conv2d(np.zeros((2, 1, 1, 1)), padding_mode="reflect")
    with pytest.raises(ValueError, match=r"c input must have 4 channels .* received shape \(1, 3, 4, 4\)"):
        Conv2d(np.zeros((2, 4, 1, 1)), name="c")(np.zeros((1, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"fc.bias: received shape \(3,\); expected shape \(2,\)"):
        Linear(np.zeros((2, 3)), np.zeros(3), name="fc")
    with pytest.raises(ValueError, match=r"fc input: received shape \(1, 4\); expected shape \(\.\.\., 3\)"):
        Linear(np.zeros((2, 3)), name="fc")(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="num_heads"):
        MultiheadAttention(mha_params(np.random.default_rng(0), 4), 3)
    with pytest.raises(NotImplementedError, match="kdim"):
        MultiheadAttention(dict(mha_params(np.random.default_rng(0), 4), q_proj_weight=np.zeros((4, 4))), 2)


def test_records_never_change_what_forward_returns():
    """``forward(x, records=d)`` returns what ``forward(x)`` returns and fills ``d``; bad types are refused."""
    rng = np.random.default_rng(7)
    lin = Linear(rng.normal(size=(3, 4)), rng.normal(size=3), name="fc", config=refsim.presets.get("int8"), seed=1)
    x = rng.normal(size=(2, 4))
    plain = lin.forward(x)
    recs = {}
    y = lin.forward(x, records=recs)
    assert isinstance(y, np.ndarray) and np.array_equal(y, plain)
    assert list(recs) == ["fc"] and recs["fc"].analog
    with pytest.raises(TypeError, match="records"):
        lin.forward(x, records=True)
    with pytest.raises(TypeError, match="digital"):
        lin.forward(x, digital=1)
