"""Backward passes of refsim.train against central finite differences in float64.

Every backward is checked on the scalar ``L = sum(y * R)`` (R fixed random, so dL/dy = R) with
:func:`refsim.train.gradcheck.numerical_grad` (h = 1e-6) and the bound
:data:`refsim.train.gradcheck.RTOL_FINITE_DIFF` = 1e-6 (expected error ~1e-10; justified in
that module). Planted errors of 1e-4 in one gradient must trip the same check. The training
forwards must agree with the inference layers of refsim.nn they stand for.
"""
import numpy as np
import pytest

import refsim
from refsim.nn import LSTM, Conv2d, Linear, MultiheadAttention
from refsim.nn import functional as F
from refsim.nn.cifar_resnet import cifar_resnet_param_shapes
from refsim.nn.statedict import random_params
from refsim.train import attention_grad as A
from refsim.train import functional_grad as FG
from refsim.train import layers_grad as LG
from refsim.train import lstm_grad as LS
from refsim.train import resnet_grad as RG
from refsim.train.gradcheck import RTOL_FINITE_DIFF, check_grads, grad_rel_error, numerical_grad
from checks import ideal, rel_err
from tolerances import RTOL_EXACT

#: The planted error: one gradient scaled by (1 + PLANT); 100x the finite-difference bound.
PLANT = 1e-4


def fd_check(forward, backward, arrays: dict, seed: int = 0, index=None) -> dict:
    """forward(arrays) -> (y, cache); backward(R, cache) -> {name: dL/d arrays[name]}.
    Checks every gradient that ``backward`` returns against central differences of sum(y * R)."""
    y, cache = forward(arrays)
    R = np.random.default_rng(seed).normal(size=np.shape(y))
    analytic = backward(R, cache)

    def loss():
        return float(np.sum(forward(arrays)[0] * R))

    numeric = {k: numerical_grad(loss, arrays[k], index=None if index is None else index(arrays[k])) for k in analytic}
    return check_grads(analytic, numeric, RTOL_FINITE_DIFF)


def rng(seed=0):
    return np.random.default_rng(seed)


# -- the helpers ---------------------------------------------------------------------------
@pytest.mark.parametrize("geom", [
    dict(kernel_size=(3, 2), stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1)),
    dict(kernel_size=(3, 3), stride=(2, 1), padding=(1, 2, 0, 1), dilation=(2, 1)),
    dict(kernel_size=(2, 2), stride=(2, 2), padding=(1, 1, 1, 1), dilation=(1, 2)),
])
def test_col2im_is_the_adjoint_of_im2col(geom):
    x = rng(1).normal(size=(2, 3, 7, 6))
    cols, _, _ = F.im2col(x, **geom)
    C = rng(2).normal(size=cols.shape)
    lhs, rhs = np.sum(cols * C), np.sum(x * F.col2im(C, x.shape, **geom))
    assert abs(lhs - rhs) <= RTOL_EXACT * np.sum(np.abs(cols * C))


def test_col2im_refuses_a_wrong_shape():
    with pytest.raises(ValueError, match="cols: received shape"):
        F.col2im(np.zeros((5, 4)), (1, 1, 4, 4), (2, 2))


# -- digital operations --------------------------------------------------------------------
def test_relu():
    fd_check(lambda a: FG.relu_forward(a["x"]), lambda d, c: {"x": FG.relu_backward(d, c)},
             {"x": rng().normal(size=(3, 4, 5))})


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, dilation=1),
                                dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1))])
def test_max_pool2d(kw):
    fd_check(lambda a: FG.max_pool2d_forward(a["x"], **kw), lambda d, c: {"x": FG.max_pool2d_backward(d, c)},
             {"x": rng(3).normal(size=(2, 3, 7, 8))})


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)])
def test_avg_pool2d(kw):
    fd_check(lambda a: FG.avg_pool2d_forward(a["x"], **kw), lambda d, c: {"x": FG.avg_pool2d_backward(d, c)},
             {"x": rng(4).normal(size=(2, 3, 7, 8))})


@pytest.mark.parametrize("size", [1, (3, 2), (4, 5)])
def test_adaptive_and_global_avg_pool(size):
    fd_check(lambda a: FG.adaptive_avg_pool2d_forward(a["x"], size),
             lambda d, c: {"x": FG.adaptive_avg_pool2d_backward(d, c)}, {"x": rng(5).normal(size=(2, 3, 5, 7))})
    fd_check(lambda a: FG.global_avg_pool_forward(a["x"]), lambda d, c: {"x": FG.global_avg_pool_backward(d, c)},
             {"x": rng(5).normal(size=(2, 3, 5, 7))})


@pytest.mark.parametrize("shape", [(4, 3, 3, 2), (5, 3)])
def test_batch_norm_training_mode(shape):
    arrays = {"x": rng(6).normal(1.0, 2.0, size=shape), "gamma": rng(7).uniform(0.5, 1.5, 3),
              "beta": rng(8).normal(size=3)}

    def backward(d, c):
        dx, dg, db = FG.batch_norm_backward(d, c)
        return {"x": dx, "gamma": dg, "beta": db}

    fd_check(lambda a: FG.batch_norm_forward(a["x"], a["gamma"], a["beta"], eps=1e-5), backward, arrays)


def test_batch_norm_statistics_and_running_update():
    x = rng(9).normal(2.0, 3.0, size=(4, 3, 2, 5))
    y, cache = FG.batch_norm_forward(x, np.ones(3), np.zeros(3), eps=0.0)
    per_channel = y.transpose(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(per_channel.mean(axis=1), 0.0, atol=1e-14)
    np.testing.assert_allclose(per_channel.var(axis=1), 1.0, rtol=1e-13)
    rm, rv = FG.update_running_stats(np.zeros(3), np.ones(3), cache, momentum=0.25)
    xc = x.transpose(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(rm, 0.25 * xc.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(rv, 0.75 + 0.25 * xc.var(axis=1, ddof=1), rtol=1e-14)
    with pytest.raises(ValueError, match="momentum: received"):
        FG.update_running_stats(np.zeros(3), np.ones(3), cache, momentum=1.5)
    with pytest.raises(ValueError, match="more than one value per channel"):
        FG.batch_norm_forward(np.ones((1, 3)), np.ones(3), np.zeros(3))


def test_option_a_shortcut():
    fd_check(lambda a: FG.option_a_shortcut_forward(a["x"], 8), lambda d, c: {"x": FG.option_a_shortcut_backward(d, c)},
             {"x": rng(10).normal(size=(2, 4, 5, 6))})


def test_softmax_cross_entropy():
    arrays = {"z": rng(11).normal(size=(5, 4)) * 3}
    labels = np.array([0, 3, 1, 1, 2])
    fd_check(lambda a: FG.softmax_cross_entropy_forward(a["z"], labels),
             lambda d, c: {"z": FG.softmax_cross_entropy_backward(d, c)}, arrays)
    # the value: -mean log softmax at the label, and stable for huge logits
    p = F.softmax(arrays["z"], axis=1)
    loss, _ = FG.softmax_cross_entropy_forward(arrays["z"], labels)
    assert abs(loss - np.mean(-np.log(p[np.arange(5), labels]))) < 1e-14
    big, _ = FG.softmax_cross_entropy_forward(np.array([[1000.0, 0.0]]), np.array([1]))
    assert big == 1000.0


@pytest.mark.parametrize("labels, match", [(np.array([0, 4]), r"labels: received values in \[0, 4\]"),
                                           (np.array([0.0, 1.0]), "labels: received float64"),
                                           (np.array([0]), r"shape \(1,\); expected ints of shape \(2,\)")])
def test_softmax_cross_entropy_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        FG.softmax_cross_entropy_forward(np.zeros((2, 4)), labels)


# -- weight layers -------------------------------------------------------------------------
def linear_backward_dict(d, c):
    dx, g = LG.linear_backward(d, c)
    return {"x": dx, **g}


@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    arrays = {"x": rng(12).normal(size=(2, 3, 5)), "weight": rng(13).normal(size=(4, 5))}
    if bias:
        arrays["bias"] = rng(14).normal(size=4)
    fd_check(lambda a: LG.linear_forward(a["x"], a["weight"], a.get("bias")), linear_backward_dict, arrays)


CONV_GEOMS = [
    dict(stride=1, padding=0, dilation=1, groups=1),
    dict(stride=2, padding=1, dilation=1, groups=1),
    dict(stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2),
    dict(stride=1, padding="same", dilation=2, groups=4),
]


@pytest.mark.parametrize("kw", CONV_GEOMS)
def test_conv2d(kw):
    arrays = {"x": rng(15).normal(size=(2, 4, 6, 5)), "weight": rng(16).normal(size=(4, 4 // kw["groups"], 3, 2)),
              "bias": rng(17).normal(size=4)}

    def backward(d, c):
        dx, g = LG.conv2d_backward(d, c)
        return {"x": dx, **g}

    fd_check(lambda a: LG.conv2d_forward(a["x"], a["weight"], a["bias"], **kw), backward, arrays)


@pytest.mark.parametrize("kw", CONV_GEOMS)
def test_training_forwards_equal_the_inference_layers(kw):
    x = rng(18).normal(size=(2, 4, 6, 5))
    w, b = rng(19).normal(size=(8, 4 // kw["groups"], 3, 2)), rng(20).normal(size=8)
    assert rel_err(LG.conv2d_forward(x, w, b, **kw)[0], Conv2d(w, b, **kw)(x)) <= RTOL_EXACT
    w2 = rng(21).normal(size=(3, 5))
    x2 = rng(22).normal(size=(4, 5))
    assert rel_err(LG.linear_forward(x2, w2, b[:3])[0], Linear(w2, b[:3])(x2)) <= RTOL_EXACT


def test_crossbar_in_the_forward_exact_straight_through_backward():
    """xbar runs the crossbar in the forward; the backward is dy W and dy^T x whatever it does."""
    x, w = rng(23).normal(size=(6, 5)), rng(24).normal(size=(3, 5))
    y_exact, c_exact = LG.linear_forward(x, w)
    xb = refsim.Crossbar(w.T, ideal())
    y_ideal, _ = LG.linear_forward(x, w, xbar=xb.matvec)
    assert rel_err(y_ideal, y_exact) <= 1e-9  # ideal crossbar: exact up to its float recombination
    noisy = lambda v: v @ w.T + 0.1 * np.sign(v @ w.T)  # a crude non-ideality
    y_noisy, c_noisy = LG.linear_forward(x, w, xbar=noisy)
    assert rel_err(y_noisy, y_exact) > 1e-2
    dy = rng(25).normal(size=y_exact.shape)
    dx_n, g_n = LG.linear_backward(dy, c_noisy)
    np.testing.assert_array_equal(dx_n, dy @ w)
    np.testing.assert_array_equal(g_n["weight"], dy.T @ x)
    groups_xbar = [lambda cols: cols @ np.ones((cols.shape[1], 2))] * 2
    y, c = LG.conv2d_forward(np.ones((1, 2, 3, 3)), np.zeros((4, 1, 2, 2)), groups=2, xbar=groups_xbar)
    assert np.all(y == 4.0)  # the forward used xbar, not the (zero) weight


def lstm_params(n_in=4, H=3, layers=2, bidirectional=True, seed=26):
    r = rng(seed)
    p = {}
    for k in range(layers):
        for sfx in ["", "_reverse"][: 1 + bidirectional]:
            k_in = n_in if k == 0 else (1 + bidirectional) * H
            p[f"weight_ih_l{k}{sfx}"] = r.normal(0, 0.5, (4 * H, k_in))
            p[f"weight_hh_l{k}{sfx}"] = r.normal(0, 0.5, (4 * H, H))
            p[f"bias_ih_l{k}{sfx}"] = r.normal(0, 0.5, 4 * H)
            p[f"bias_hh_l{k}{sfx}"] = r.normal(0, 0.5, 4 * H)
    return p


@pytest.mark.parametrize("bidirectional, batch_first", [(True, False), (False, True)])
def test_lstm(bidirectional, batch_first):
    params = lstm_params(bidirectional=bidirectional)
    D = 1 + bidirectional
    arrays = {"x": rng(27).normal(size=(2, 3, 4) if batch_first else (3, 2, 4)), "h0": rng(28).normal(size=(2 * D, 2, 3)),
              "c0": rng(29).normal(size=(2 * D, 2, 3)), **params}
    R = [rng(30 + i).normal(size=(2 * D, 2, 3)) for i in range(2)]

    def forward(a):
        out, (h_n, c_n), cache = LS.lstm_forward({k: a[k] for k in params}, a["x"], (a["h0"], a["c0"]),
                                                 batch_first=batch_first)
        cache["out_shape"] = out.shape
        # the final states enter the loss too: fold them in as extra outputs
        return np.concatenate([out.ravel(), h_n.ravel(), c_n.ravel()]), cache

    def backward(d, cache):
        n = int(np.prod(cache["out_shape"]))
        m = R[0].size
        dx, (dh0, dc0), g = LS.lstm_backward(d[:n].reshape(cache["out_shape"]), cache,
                                             d[n : n + m].reshape(R[0].shape), d[n + m :].reshape(R[0].shape))
        return {"x": dx, "h0": dh0, "c0": dc0, **g}

    fd_check(forward, backward, arrays)
    out, (h_n, c_n), _ = LS.lstm_forward(params, arrays["x"], (arrays["h0"], arrays["c0"]), batch_first=batch_first)
    ref_out, (ref_h, ref_c) = LSTM(params, batch_first=batch_first)(arrays["x"], (arrays["h0"], arrays["c0"]))
    assert max(rel_err(out, ref_out), rel_err(h_n, ref_h), rel_err(c_n, ref_c)) <= RTOL_EXACT


def mha_params(E=4, seed=31):
    r = rng(seed)
    return {"in_proj_weight": r.normal(0, 0.5, (3 * E, E)), "in_proj_bias": r.normal(0, 0.5, 3 * E),
            "out_proj.weight": r.normal(0, 0.5, (E, E)), "out_proj.bias": r.normal(0, 0.5, E)}


def mha_masks(L=3, S=5, N=2):
    attn_mask = rng(32).normal(size=(L, S))
    kpm = np.zeros((N, S), dtype=bool)
    kpm[1, -2:] = True  # the second sequence's last two keys are padding
    return attn_mask, kpm


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention(batch_first):
    params = mha_params()
    attn_mask, kpm = mha_masks()
    sh = (lambda t: (t[1], t[0], t[2])) if batch_first else (lambda t: t)
    arrays = {"query": rng(33).normal(size=sh((3, 2, 4))), "key": rng(34).normal(size=sh((5, 2, 4))),
              "value": rng(35).normal(size=sh((5, 2, 4))), **params}
    kw = dict(key_padding_mask=kpm, attn_mask=attn_mask, batch_first=batch_first)

    def forward(a):
        return A.mha_forward({k: a[k] for k in params}, a["query"], a["key"], a["value"], 2, **kw)

    def backward(d, c):
        (dq, dk, dv), g = A.mha_backward(d, c)
        return {"query": dq, "key": dk, "value": dv, **g}

    fd_check(forward, backward, arrays)
    y, _ = forward(arrays)
    ref, _ = MultiheadAttention(params, 2, batch_first=batch_first)(arrays["query"], arrays["key"], arrays["value"],
                                                                   key_padding_mask=kpm, attn_mask=attn_mask)
    assert rel_err(y, ref) <= RTOL_EXACT


# -- a whole CIFAR ResNet --------------------------------------------------------------------
def resnet8_case(seed=36):
    sd = random_params(cifar_resnet_param_shapes(8), rng(seed))
    x = rng(seed + 1).normal(size=(2, 3, 8, 8))
    return sd, x, np.array([3, 7])


def some_entries(arr, k=3, seed=37):
    """k entries of ``arr`` (a fixed random choice), as multi-indices."""
    flat = rng(seed).choice(arr.size, size=min(k, arr.size), replace=False)
    return [np.unravel_index(i, arr.shape) for i in flat]


def test_cifar_resnet_loss_gradient_against_finite_differences():
    """Three entries of every parameter tensor and of the input, through the whole network and the loss."""
    sd, x, labels = resnet8_case()
    arrays = {"x": x, **{k: v for k, v in sd.items() if not k.endswith(("running_mean", "running_var"))}}

    def forward(a):
        logits, cache = RG.cifar_resnet_forward({**sd, **{k: v for k, v in a.items() if k != "x"}}, a["x"])
        loss, c_ce = FG.softmax_cross_entropy_forward(logits, labels)
        return np.array(loss), (cache, c_ce)

    def backward(d, c):
        cache, c_ce = c
        dx, g = RG.cifar_resnet_backward(FG.softmax_cross_entropy_backward(float(d), c_ce), cache)
        return {"x": dx, **g}

    errs = fd_check(forward, backward, arrays, index=some_entries)
    assert len(errs) == 1 + 3 * 7 + 2  # x; stem + 3 blocks of conv/bn/conv/bn, 7 tensors each; linear


def test_cifar_resnet_running_stats_and_input_check():
    sd, x, labels = resnet8_case()
    loss, grads, stats = RG.cifar_resnet_loss_and_grads(sd, x, labels, momentum=0.1)
    assert set(stats) == {k for k in sd if k.endswith(("running_mean", "running_var"))}
    stem_out = LG.conv2d_forward(x, sd["conv1.weight"], padding=1)[0]
    _, c = FG.batch_norm_forward(stem_out, sd["bn1.weight"], sd["bn1.bias"])
    rm, rv = FG.update_running_stats(sd["bn1.running_mean"], sd["bn1.running_var"], c, 0.1)
    assert rel_err(stats["bn1.running_mean"], rm) <= RTOL_EXACT and rel_err(stats["bn1.running_var"], rv) <= RTOL_EXACT
    with pytest.raises(ValueError, match="missing keys"):
        RG.cifar_resnet_forward({k: v for k, v in sd.items() if k != "layer1.0.bn1.bias"}, x)


# -- planted errors must fail the check ----------------------------------------------------
def scaled(fn, key, index=None):
    """``fn`` with the gradient ``key`` of its result scaled by 1 + PLANT (``index``: where in the
    returned tuple the gradients sit, a dict or an array)."""

    def wrapped(*a, **k):
        out = list(fn(*a, **k))
        part = out[index]
        if isinstance(part, dict):
            part = dict(part)
            part[key] = part[key] * (1 + PLANT)
        else:
            part = part * (1 + PLANT)
        out[index] = part
        return tuple(out)

    return wrapped


@pytest.mark.parametrize("target", ["linear", "conv2d", "batch_norm", "lstm", "mha", "resnet_conv"])
def test_a_planted_gradient_error_fails_the_check(target, monkeypatch):
    tests = {
        "linear": (LG, "linear_backward", scaled(LG.linear_backward, "weight", 1), lambda: test_linear(True)),
        "conv2d": (LG, "conv2d_backward", scaled(LG.conv2d_backward, "weight", 1), lambda: test_conv2d(CONV_GEOMS[2])),
        "batch_norm": (FG, "batch_norm_backward", scaled(FG.batch_norm_backward, None, 1),
                       lambda: test_batch_norm_training_mode((4, 3, 3, 2))),
        "lstm": (LS, "lstm_backward", scaled(LS.lstm_backward, "weight_hh_l1", 2), lambda: test_lstm(False, True)),
        "mha": (A, "mha_backward", scaled(A.mha_backward, "in_proj_weight", 1), lambda: test_multihead_attention(False)),
        "resnet_conv": (RG, "conv2d_backward", scaled(LG.conv2d_backward, "weight", 1),
                        test_cifar_resnet_loss_gradient_against_finite_differences),
    }
    module, name, planted, run = tests[target]
    run()  # passes as it is
    monkeypatch.setattr(module, name, planted)
    with pytest.raises(AssertionError, match="gradients off by more than"):
        run()


def test_the_error_measure():
    assert grad_rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 2e-6])) == pytest.approx(2e-6 / (2.0 + 2e-6), rel=1e-9)
    assert grad_rel_error(np.array([5.0, 1.0]), np.array([np.nan, 1.0])) == 0.0  # NaN = not checked
    with pytest.raises(AssertionError, match="gradient keys differ"):
        check_grads({"a": np.ones(1)}, {"b": np.ones(1)}, 1e-6)
    with pytest.raises(TypeError, match="arr: received"):
        numerical_grad(lambda: 0.0, np.ones(3, dtype=np.float32))
