"""Backward passes of refsim.train against PyTorch autograd in float64 (skipped without torch).

Same inputs and parameters in both; every gradient (inputs, weights, biases, BatchNorm
scales and shifts) and the BatchNorm running statistics must agree to TOL_TORCH (1e-10
relative, BLAS summation orders differ), on each layer and on a whole CIFAR ResNet-20.
A planted error of 1e-4 in one layer's weight gradient must fail the ResNet check.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch (optional, pip install torch==2.13.0) is the cross-check oracle")
nn, TF = torch.nn, torch.nn.functional

from refsim.nn.cifar_resnet import cifar_resnet_param_shapes  # noqa: E402
from refsim.nn.statedict import random_params  # noqa: E402
from refsim.train import attention_grad as A  # noqa: E402
from refsim.train import functional_grad as FG  # noqa: E402
from refsim.train import layers_grad as LG  # noqa: E402
from refsim.train import lstm_grad as LS  # noqa: E402
from refsim.train import resnet_grad as RG  # noqa: E402
from refsim.train.gradcheck import check_grads  # noqa: E402
from checks import rel_err  # noqa: E402
from tolerances import TOL_TORCH  # noqa: E402
from torch_models import TorchCifarResNet  # noqa: E402


def rng(seed=0):
    return np.random.default_rng(seed)


def leaf(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def torch_grads(fn, arrays: dict, seed=0):
    """Run ``fn(tensors) -> y`` on leaf tensors, back-propagate sum(y * R); return (y, R, grads)."""
    t = {k: leaf(v) for k, v in arrays.items()}
    y = fn(t)
    R = rng(seed).normal(size=tuple(y.shape))
    (y * torch.tensor(R)).sum().backward()
    return y.detach().numpy(), R, {k: v.grad.numpy() for k, v in t.items()}


def test_relu_and_pooling():
    x = rng(1).normal(size=(2, 3, 9, 8))
    cases = [
        (FG.relu_forward, FG.relu_backward, lambda t: torch.relu(t)),
        (lambda v: FG.max_pool2d_forward(v, 3, 2, 1), FG.max_pool2d_backward, lambda t: TF.max_pool2d(t, 3, 2, 1)),
        (lambda v: FG.max_pool2d_forward(v, (2, 3), (1, 2), (1, 1), (2, 1)), FG.max_pool2d_backward,
         lambda t: TF.max_pool2d(t, (2, 3), (1, 2), (1, 1), (2, 1))),
        (lambda v: FG.avg_pool2d_forward(v, 2, 2, 1), FG.avg_pool2d_backward, lambda t: TF.avg_pool2d(t, 2, 2, 1)),
        (lambda v: FG.adaptive_avg_pool2d_forward(v, (4, 3)), FG.adaptive_avg_pool2d_backward,
         lambda t: TF.adaptive_avg_pool2d(t, (4, 3))),
        (FG.global_avg_pool_forward, FG.global_avg_pool_backward, lambda t: t.mean(dim=(2, 3))),
    ]
    for fwd, bwd, ref in cases:
        y_ref, R, g = torch_grads(lambda t: ref(t["x"]), {"x": x})
        y, cache = fwd(x)
        assert rel_err(y, y_ref) < TOL_TORCH
        check_grads({"x": bwd(R, cache)}, g, TOL_TORCH)


@pytest.mark.parametrize("shape", [(4, 3, 5, 2), (6, 3)])
def test_batch_norm_training_mode_and_running_stats(shape):
    x = rng(2).normal(1.0, 2.0, size=shape)
    gamma, beta = rng(3).uniform(0.5, 1.5, 3), rng(4).normal(size=3)
    rm0, rv0 = rng(5).normal(size=3), rng(6).uniform(0.5, 1.5, 3)
    bn = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(3, momentum=0.3).double().train()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma)), bn.bias.copy_(torch.tensor(beta))
        bn.running_mean.copy_(torch.tensor(rm0)), bn.running_var.copy_(torch.tensor(rv0))
    t = leaf(x)
    y_ref = bn(t)
    R = rng(7).normal(size=shape)
    (y_ref * torch.tensor(R)).sum().backward()
    y, cache = FG.batch_norm_forward(x, gamma, beta, eps=bn.eps)
    dx, dg, db = FG.batch_norm_backward(R, cache)
    rm, rv = FG.update_running_stats(rm0, rv0, cache, momentum=0.3)
    assert rel_err(y, y_ref.detach().numpy()) < TOL_TORCH
    check_grads({"x": dx, "weight": dg, "bias": db, "running_mean": rm, "running_var": rv},
                {"x": t.grad.numpy(), "weight": bn.weight.grad.numpy(), "bias": bn.bias.grad.numpy(),
                 "running_mean": bn.running_mean.numpy(), "running_var": bn.running_var.numpy()}, TOL_TORCH)


def test_softmax_cross_entropy():
    z, labels = rng(8).normal(size=(6, 5)) * 4, np.array([0, 4, 2, 2, 1, 3])
    t = leaf(z)
    loss_ref = TF.cross_entropy(t, torch.tensor(labels))
    loss_ref.backward()
    loss, cache = FG.softmax_cross_entropy_forward(z, labels)
    assert abs(loss - loss_ref.item()) <= TOL_TORCH * abs(loss_ref.item())
    check_grads({"z": FG.softmax_cross_entropy_backward(1.0, cache)}, {"z": t.grad.numpy()}, TOL_TORCH)


def test_linear():
    arrays = {"x": rng(9).normal(size=(2, 3, 7)), "weight": rng(10).normal(size=(5, 7)), "bias": rng(11).normal(size=5)}
    y_ref, R, g = torch_grads(lambda t: TF.linear(t["x"], t["weight"], t["bias"]), arrays)
    y, cache = LG.linear_forward(arrays["x"], arrays["weight"], arrays["bias"])
    dx, grads = LG.linear_backward(R, cache)
    assert rel_err(y, y_ref) < TOL_TORCH
    check_grads({"x": dx, **grads}, g, TOL_TORCH)


@pytest.mark.parametrize("kw", [
    dict(stride=1, padding=0, dilation=1, groups=1),
    dict(stride=2, padding=1, dilation=1, groups=1),
    dict(stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2),
    dict(stride=1, padding="same", dilation=2, groups=4),
])
def test_conv2d(kw):
    arrays = {"x": rng(12).normal(size=(2, 4, 9, 8)), "weight": rng(13).normal(size=(8, 4 // kw["groups"], 3, 2)),
              "bias": rng(14).normal(size=8)}
    y_ref, R, g = torch_grads(lambda t: TF.conv2d(t["x"], t["weight"], t["bias"], **kw), arrays)
    y, cache = LG.conv2d_forward(arrays["x"], arrays["weight"], arrays["bias"], **kw)
    dx, grads = LG.conv2d_backward(R, cache)
    assert rel_err(y, y_ref) < TOL_TORCH
    check_grads({"x": dx, **grads}, g, TOL_TORCH)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm(bidirectional):
    torch.manual_seed(15)
    m = nn.LSTM(4, 3, num_layers=2, bidirectional=bidirectional).double()
    D = 1 + bidirectional
    x, h0, c0 = rng(16).normal(size=(5, 2, 4)), rng(17).normal(size=(2 * D, 2, 3)), rng(18).normal(size=(2 * D, 2, 3))
    tx, th0, tc0 = leaf(x), leaf(h0), leaf(c0)
    out_ref, (hn_ref, cn_ref) = m(tx, (th0, tc0))
    R = [rng(19 + i).normal(size=tuple(a.shape)) for i, a in enumerate((out_ref, hn_ref, cn_ref))]
    sum((a * torch.tensor(r)).sum() for a, r in zip((out_ref, hn_ref, cn_ref), R)).backward()
    params = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    out, (h_n, c_n), cache = LS.lstm_forward(params, x, (h0, c0))
    dx, (dh0, dc0), grads = LS.lstm_backward(R[0], cache, R[1], R[2])
    assert max(rel_err(out, out_ref.detach().numpy()), rel_err(h_n, hn_ref.detach().numpy())) < TOL_TORCH
    check_grads({"x": dx, "h0": dh0, "c0": dc0, **grads},
                {"x": tx.grad.numpy(), "h0": th0.grad.numpy(), "c0": tc0.grad.numpy(),
                 **{k: p.grad.numpy() for k, p in m.named_parameters()}}, TOL_TORCH)


@pytest.mark.parametrize("masks", [False, True])
def test_multihead_attention(masks):
    torch.manual_seed(20)
    m = nn.MultiheadAttention(6, 3).double()
    with torch.no_grad():  # PyTorch initializes the biases to 0; make them matter
        m.in_proj_bias.normal_(), m.out_proj.bias.normal_()
    q, k, v = rng(21).normal(size=(4, 2, 6)), rng(22).normal(size=(5, 2, 6)), rng(23).normal(size=(5, 2, 6))
    kpm = np.zeros((2, 5), dtype=bool)
    kpm[0, 3:] = True
    am = rng(24).normal(size=(4, 5))
    mk = dict(key_padding_mask=kpm, attn_mask=am) if masks else {}
    tq, tk, tv = leaf(q), leaf(k), leaf(v)
    # torch gets the padding mask as floats (-inf), refsim the bool mask: the same masking
    tmk = {n: torch.tensor(np.where(a, -np.inf, 0.0) if a.dtype == bool else a) for n, a in mk.items()}
    y_ref, _ = m(tq, tk, tv, need_weights=False, **tmk)
    R = rng(25).normal(size=tuple(y_ref.shape))
    (y_ref * torch.tensor(R)).sum().backward()
    params = {n: p.detach().numpy() for n, p in m.state_dict().items()}
    y, cache = A.mha_forward(params, q, k, v, 3, **mk)
    (dq, dk, dv), grads = A.mha_backward(R, cache)
    assert rel_err(y, y_ref.detach().numpy()) < TOL_TORCH
    check_grads({"q": dq, "k": dk, "v": dv, **grads},
                {"q": tq.grad.numpy(), "k": tk.grad.numpy(), "v": tv.grad.numpy(),
                 **{n: p.grad.numpy() for n, p in m.named_parameters()}}, TOL_TORCH)


# -- a whole CIFAR ResNet-20 ---------------------------------------------------------------
def resnet20_case():
    sd = random_params(cifar_resnet_param_shapes(20), rng(26))
    x, labels = rng(27).normal(size=(2, 3, 32, 32)), np.array([4, 9])
    m = TorchCifarResNet(20).double().train()
    m.load_state_dict({k: torch.tensor(v) for k, v in sd.items()}, strict=False)
    tx = leaf(x)
    loss = TF.cross_entropy(m(tx), torch.tensor(labels))
    loss.backward()
    ref = {k: p.grad.numpy() for k, p in m.named_parameters()}
    stats = {k: v.numpy() for k, v in m.state_dict().items() if k.endswith(("running_mean", "running_var"))}
    return sd, x, labels, loss.item(), ref, tx.grad.numpy(), stats


def test_cifar_resnet20_against_torch_autograd():
    sd, x, labels, loss_ref, ref, dx_ref, stats_ref = resnet20_case()
    loss, grads, stats = RG.cifar_resnet_loss_and_grads(sd, x, labels)
    assert abs(loss - loss_ref) <= TOL_TORCH * loss_ref
    assert len(grads) == len(ref) == 3 + 9 * 6 + 2  # stem conv + bn (3); 9 blocks of 2 conv + 2 bn (6); linear
    check_grads(grads, ref, TOL_TORCH)
    check_grads(stats, stats_ref, TOL_TORCH)
    logits, cache = RG.cifar_resnet_forward(sd, x)
    _, c_ce = FG.softmax_cross_entropy_forward(logits, labels)
    dx, _ = RG.cifar_resnet_backward(FG.softmax_cross_entropy_backward(1.0, c_ce), cache)
    check_grads({"x": dx}, {"x": dx_ref}, TOL_TORCH)


def test_a_planted_error_in_one_resnet_layer_fails_the_torch_check(monkeypatch):
    sd, x, labels, _, ref, _, _ = resnet20_case()
    real = LG.conv2d_backward

    def planted(dy, cache):
        dx, g = real(dy, cache)
        if cache["w"].shape == (32, 16, 3, 3):  # layer2.0.conv1 only
            g = {"weight": g["weight"] * (1 + 1e-4)}
        return dx, g

    monkeypatch.setattr(RG, "conv2d_backward", planted)
    _, grads, _ = RG.cifar_resnet_loss_and_grads(sd, x, labels)
    with pytest.raises(AssertionError, match=r"layer2\.0\.conv1\.weight"):
        check_grads(grads, ref, TOL_TORCH)
