"""Digital ops of refsim.nn.functional against naive loops and exact identities."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refsim.nn import functional as F
from refsim.oracles.nn import conv2d_naive
from strategies import conv_cases
from checks import rel_err
from tolerances import ATOL_EXACT, RTOL_EXACT


@settings(max_examples=40, deadline=None)
@given(conv_cases(), st.integers(0, 2**31 - 1))
def test_im2col_matmul_equals_direct_loop_convolution(case, seed):
    xs, ws, stride, padding, dilation, groups = case
    if groups != 1:
        ws = (ws[0], ws[1] * groups) + ws[2:]
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    pad4 = (padding[0], padding[0], padding[1], padding[1])
    cols, oh, ow = F.im2col(x, ws[2:], stride, pad4, dilation)
    y = (cols @ w.reshape(ws[0], -1).T).reshape(xs[0], oh, ow, ws[0]).transpose(0, 3, 1, 2)
    assert rel_err(y, conv2d_naive(x, w, None, stride, padding, dilation)) < RTOL_EXACT


def naive_max_pool(x, k, s, p):
    n, c, h, w = x.shape
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    y = np.full((n, c, oh, ow), -np.inf)
    for a in range(n):
        for b in range(c):
            for i in range(oh):
                for j in range(ow):
                    for u in range(k):
                        for v in range(k):
                            r, q = s * i + u - p, s * j + v - p
                            if 0 <= r < h and 0 <= q < w:
                                y[a, b, i, j] = max(y[a, b, i, j], x[a, b, r, q])
    return y


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.integers(4, 8), st.integers(0, 2**31 - 1))
def test_max_pool_equals_loops(k, s, p, size, seed):
    p = min(p, k // 2)
    x = np.random.default_rng(seed).normal(size=(2, 2, size, size + 1))
    assert np.array_equal(F.max_pool2d(x, k, s, p), naive_max_pool(x, k, s, p))


def test_adaptive_avg_pool_global_and_bins():
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 7))
    assert rel_err(F.adaptive_avg_pool2d(x, 1)[:, :, 0, 0], x.mean(axis=(2, 3))) < RTOL_EXACT
    y = F.adaptive_avg_pool2d(x, (2, 3))
    # bin (1, 2) of a 5x7 map: rows floor(5/2)=2..ceil(10/2)=5, cols floor(14/3)=4..7
    assert rel_err(y[:, :, 1, 2], x[:, :, 2:5, 4:7].mean(axis=(2, 3))) < RTOL_EXACT


def test_gelu_exact_and_tanh_forms():
    x = np.linspace(-6, 6, 101)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert rel_err(F.gelu(x), exact) < RTOL_EXACT
    # the tanh form approximates the exact one to ~1e-3 but is not equal
    d = np.max(np.abs(F.gelu(x, "tanh") - exact))
    assert 1e-6 < d < 1e-2
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, "fast")


def test_softmax_sums_to_one_and_masks():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 6)) * 50
    y = F.softmax(z)
    assert np.allclose(y.sum(axis=-1), 1.0, rtol=0, atol=1e-15)
    z[0, :] = -np.inf
    z[1, 2] = -np.inf
    y = F.softmax(z)
    assert np.all(np.isnan(y[0])) and y[1, 2] == 0.0


def test_layer_norm_moments():
    rng = np.random.default_rng(2)
    x = rng.normal(3, 5, size=(3, 4, 16))
    y = F.layer_norm(x, eps=0.0)
    # LayerNorm output: mean 0 and variance 1 up to the round-off of a mean and a variance of E terms
    assert np.allclose(y.mean(-1), 0, atol=ATOL_EXACT) and np.allclose(y.var(-1), 1, atol=ATOL_EXACT)


def test_fold_batch_norm_is_exact_for_convolution():
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(2, 3, 6, 6)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    gamma, beta = rng.uniform(0.5, 2, 4), rng.normal(size=4)
    mean, var = rng.normal(size=4), rng.uniform(0.1, 2, 4)
    ref = F.batch_norm_eval(conv2d_naive(x, w, b, padding=(1, 1)), mean, var, gamma, beta, 1e-5)
    wf, bf = F.fold_batch_norm(w, b, gamma, beta, mean, var, 1e-5)
    assert rel_err(conv2d_naive(x, wf, bf, padding=(1, 1)), ref) < RTOL_EXACT


def test_as_float64_and_pair_errors_name_the_argument():
    with pytest.raises(TypeError, match="x: received dtype <U1; expected a real numeric array"):
        F.as_float64(np.array(["a"]), "x")
    with pytest.raises(ValueError, match=r"x: received shape \(2, 2\); expected 4 dimensions"):
        F.as_float64(np.zeros((2, 2)), "x", ndim=4)
    with pytest.raises(TypeError, match="stride"):
        F.pair(1.5, "stride")
    with pytest.raises(ValueError, match="padding: received -1; expected >= 0"):
        F.pair(-1, "padding")
