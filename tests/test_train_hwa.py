"""The HWA training forward (refsim.train.hwa, docs/MODEL.md N1-N9) and the NHWC training network.

Oracles: the inference crossbar (refsim.Crossbar) for the noise-free forward (same physics
functions: equal to round-off); central finite differences of the straight-through surrogate for
the backward (N9); the input-range rule (N7) written out element by element; the float64
reference network (refsim.train.resnet_grad) for the NHWC network. Planted errors must fail.
"""
import warnings

import numpy as np
import pytest

import refsim
from refsim import presets
from refsim.streams import keyed_rng
from refsim.nn.cifar_resnet import cifar_resnet_param_shapes
from refsim.nn.statedict import random_params
from refsim.train import resnet_grad as RG
from refsim.train.functional_grad import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from refsim.train.gradcheck import RTOL_FINITE_DIFF, grad_rel_error, numerical_grad
from refsim.train.hwa import AnalogLayer, HWAConfig, noise_scale_at
from refsim.train.net import TrainNet, col2im3, im2col3

STANDARD = presets.get("rasch2023_standard")
#: rasch2023_standard with every random effect off: deterministic, comparable with the crossbar.
QUIET = STANDARD.replace(**{"device.prog_model": "none", "device.drift_model": "none", "device.read_model": "none",
                            "device.out_noise_rel": 0.0, "device.pcm_read_noise_held": False,
                            "device.t_inference_s": 0.0})


def _layer(cfg, n_in=600, n_out=12, alpha=2.0, seed=0, dtype=np.float64, bias=False):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(n_out, n_in)) * 0.1
    layer = AnalogLayer(W, rng.normal(size=n_out) if bias else None, None if cfg is None else HWAConfig(cfg), "l",
                        dtype=dtype)
    layer.alpha = np.asarray(alpha)
    return W, layer


def _forward(layer, x, rng=None, w=None):
    xn, ic = layer.input_forward(x)
    w = layer.w if w is None else w
    z = layer.mvm_forward(xn, w, rng)
    return layer.output_forward(z), (xn, ic, z, w)


@pytest.mark.parametrize("changes", [{}, {"adc.bits": None}, {"adc.bits": None, "device.ir_drop_scale": 0.0},
                                     {"dac.bits": 6, "adc.bits": 6}])
def test_noise_free_forward_equals_the_inference_crossbar(changes):
    """N1, N2, N4-N6 without noise are the crossbar of the preset (two row tiles of 300, IR drop,
    DAC and ADC) to round-off: the same physics functions, no second copy."""
    alpha = 2.0
    cfg = QUIET.replace(**{"dac.x_max": alpha, **changes})
    W, layer = _layer(cfg, alpha=alpha)
    x = np.abs(np.random.default_rng(1).normal(size=(64, W.shape[1])))
    x[:, ::7] *= 3  # some inputs beyond alpha: clipped by both
    y, _ = _forward(layer, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y_ref = refsim.Crossbar(W.T, cfg).matvec(x)
    assert np.max(np.abs(y - y_ref)) <= 1e-12 * np.max(np.abs(y_ref))
    if changes.get("adc.bits", 8) is None and "device.ir_drop_scale" not in changes:
        # the IR drop is in there: without it the outputs differ by far more than round-off
        y_no_ir, _ = _forward(_layer(cfg.replace(**{"device.ir_drop_scale": 0.0}), alpha=alpha)[1], x)
        assert np.max(np.abs(y_no_ir - y_ref)) > 1e-4 * np.max(np.abs(y_ref))


def test_signed_inputs_take_the_two_product_ir_drop_path():
    alpha = 2.0
    cfg = QUIET.replace(**{"dac.x_max": alpha, "adc.bits": None})
    W, layer = _layer(cfg, alpha=alpha)
    x = np.random.default_rng(2).normal(size=(16, W.shape[1]))
    y, _ = _forward(layer, x)
    y_ref = refsim.Crossbar(W.T, cfg).matvec(x)
    assert np.max(np.abs(y - y_ref)) <= 1e-12 * np.max(np.abs(y_ref))


def test_ste_backward_is_the_gradient_of_the_surrogate():
    """N9: the backward equals the exact gradient (central differences) of the straight-through
    surrogate y = alpha s (clip(x / alpha) @ w~) + b (quantizers as identities, noise constant)."""
    W, layer = _layer(STANDARD, n_in=40, n_out=5, bias=True)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 40))
    x[0, :3] = [5.0, -5.0, 4.0]  # clipped inputs: no gradient to x there
    w_used = layer.noisy_weights(1.0, keyed_rng(0, ("w",)))
    y, (xn, ic, z, w) = _forward(layer, x, keyed_rng(0, ("y",)), w=w_used)
    R = rng.normal(size=y.shape)
    dcols, dw, ds, db = layer.mvm_backward(R, z, xn, w)
    dx, _ = layer.input_backward(dcols, ic)
    alpha = float(layer.alpha)
    arrays = {"x": x.copy(), "w": w_used.copy(), "s": layer.s.copy(), "b": layer.b.copy()}

    def surrogate():  # x enters through clip (its rounding passed straight through); w and b see x_n
        a = arrays
        xin = np.clip(a["x"] / alpha, -1, 1) + (xn - np.clip(x / alpha, -1, 1))
        return float(np.sum((alpha * a["s"] * (xin @ a["w"]) + a["b"]) * R))

    # ds of the STE is alpha sum dy Z with the quantized Z: compare it with Z itself
    assert grad_rel_error(ds, alpha * np.einsum("ij,ij->j", R, z)) == 0
    for name, got in (("x", dx), ("w", dw), ("b", db)):
        num = numerical_grad(surrogate, arrays[name])
        assert grad_rel_error(got, num) < RTOL_FINITE_DIFF, name
    assert np.all(dx[0, :3] == 0)
    planted = dw * (1 + 1e-4)
    assert grad_rel_error(planted, numerical_grad(surrogate, arrays["w"])) > RTOL_FINITE_DIFF


def test_alpha_gradient_is_the_input_range_rule():
    """N7 written element by element: clipped inputs whose gradient pushes outwards grow alpha
    (a negative gradient), and the decay shrinks it when fewer than 5 % of the inputs clip."""
    _, layer = _layer(STANDARD, n_in=8, n_out=3, alpha=1.0)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 8)) * 0.6
    dxn = rng.normal(size=x.shape)
    _, ic = layer.input_forward(x)
    _, g = layer.input_backward(dxn, ic)
    expect, n_in = 0.0, 0
    for xi, di in zip(x.ravel(), dxn.ravel()):
        if xi >= 1.0:
            expect += min(di, 0.0)
        elif xi <= -1.0:
            expect -= max(di, 0.0)
        n_in += abs(xi) < 1.0
    if n_in / x.size > 0.95:
        expect += 0.01 * 1.0
    assert g == pytest.approx(expect, rel=1e-12, abs=1e-15)
    # a clipped input whose gradient asks for a larger value: alpha must grow (g < 0)
    x1, d1 = np.array([[3.0, 0.1]]), np.array([[-2.0, 0.0]])
    _, ic = layer.input_forward(x1)
    assert layer.input_backward(d1, ic)[1] < 0
    # planted error: a sign flip of the rule is detected
    assert -g != pytest.approx(expect, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("relu", [False, True])
def test_input_gradient_is_the_clamp_written_out(relu, layout):
    """N9 element by element: dx = dx_n / alpha where |x| <= alpha (x = +-alpha exactly passes, as aihwkit's
    clamp), 0 beyond; signed inputs and ReLU outputs (no input <= -alpha: the lower side is skipped). A
    planted error (x = alpha blocked) is seen."""
    _, layer = _layer(STANDARD, n_in=8, n_out=3, alpha=1.0)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 8)) * 0.9
    x[0, :4] = [1.0, -1.0, 1.0 + 1e-12, -1.0 - 1e-12]  # on the edges and just beyond
    if relu:
        x = np.maximum(x, 0)
    dxn = np.asarray(rng.normal(size=x.shape), order=layout)  # F: the clamp once wrote into a copy (lost)
    _, ic = layer.input_forward(x)
    dx, g = layer.input_backward(dxn, ic)
    expect = np.array([[d / 1.0 if abs(v) <= 1.0 else 0.0 for v, d in zip(rx, rd)] for rx, rd in zip(x, dxn)])
    assert np.array_equal(dx, expect)
    expect_g = sum(min(d, 0.0) for v, d in zip(x.ravel(), dxn.ravel()) if v >= 1.0) \
        - sum(max(d, 0.0) for v, d in zip(x.ravel(), dxn.ravel()) if v <= -1.0)
    if np.mean(np.abs(x) < 1.0) > 0.95:
        expect_g += 0.01
    assert g == pytest.approx(expect_g, rel=1e-12, abs=1e-15)
    planted = np.where(np.abs(x) < 1.0, dxn, 0.0)
    assert not np.array_equal(dx, planted)


def test_alpha_initialised_from_data():
    _, layer = _layer(STANDARD, n_in=8, n_out=3)
    layer.alpha, layer.alpha_seen = np.asarray(0.0), 0
    xs = [np.random.default_rng(k).normal(size=(20, 8)) * (k + 1) for k in range(4)]
    for x in xs:
        layer.observe_alpha(x, 3)
    assert float(layer.alpha) == pytest.approx(np.mean([3 * np.std(x) for x in xs[:3]]), rel=1e-12)


def test_injected_noise_same_seed_same_bits_and_scales_with_eta():
    """N3: the weight noise is a function of the stream (same seed, same bits), it scales with eta,
    and its size is that of the PCM programming error (P1) plus the 20 s read noise."""
    _, layer = _layer(STANDARD, n_in=300, n_out=40)
    a = layer.noisy_weights(1.0, keyed_rng(7, ("layer", 0)))
    b = layer.noisy_weights(1.0, keyed_rng(7, ("layer", 0)))
    c = layer.noisy_weights(1.0, keyed_rng(8, ("layer", 0)))
    h = layer.noisy_weights(0.5, keyed_rng(7, ("layer", 0)))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.allclose(h - layer.w, 0.5 * (a - layer.w), rtol=0, atol=1e-15)
    assert np.array_equal(layer.noisy_weights(0.0, keyed_rng(7, ("layer", 0))), layer.w)
    # |w| = 1 cells: sigma_prog(g_max) = (0.26348 + 1.965 - 1.1731) / 25 = 0.0422 (P1), the 20 s 1/f
    # noise adds sqrt(0.0422^2 + (0.0088 * sqrt(ln(20 / 5e-7)))^2) = 0.0516; the G- device at 0 S
    # adds its clipped error (mean 0.0105 / sqrt(2 pi))
    big = np.abs(layer.w) > 0.999
    d = (a - layer.w)[big] * np.sign(layer.w[big])
    assert big.sum() >= 30 and 0.03 < np.std(d) < 0.08


def test_mvm_noise_same_seed_same_bits():
    W, layer = _layer(STANDARD, n_in=300, n_out=10, dtype=np.float32)
    x = np.abs(np.random.default_rng(5).normal(size=(32, 300))).astype(np.float32)
    y1, _ = _forward(layer, x, keyed_rng(3, ("m",)))
    y2, _ = _forward(layer, x, keyed_rng(3, ("m",)))
    y3, _ = _forward(layer, x, keyed_rng(4, ("m",)))
    assert y1.dtype == np.float32 and np.array_equal(y1, y2) and not np.array_equal(y1, y3)


def test_noise_ramp_clip_and_remap():
    h = HWAConfig(STANDARD, noise_scale=2.0, ramp_epochs=4)
    assert [noise_scale_at(h, e) for e in range(6)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert noise_scale_at(HWAConfig(STANDARD, ramp_epochs=0), 0) == 1.0
    _, layer = _layer(STANDARD, n_in=20, n_out=4)
    layer.w[0, 0], layer.w[1, 1] = 1.7, 0.2
    layer.clip_and_remap(False)
    assert np.max(np.abs(layer.w)) == 1.0
    layer.w *= 0.5
    before = layer.effective_weight()
    layer.clip_and_remap(True)
    assert np.allclose(layer.effective_weight(), before, rtol=1e-12, atol=0)
    assert np.allclose(np.max(np.abs(layer.w), axis=0), 1.0)


@pytest.mark.parametrize("bad", [dict(noise_scale=-1.0), dict(ramp_epochs=-1), dict(alpha_min_percentage=2.0),
                                 dict(clip_weights=0.0), dict(alpha_init_batches=0)])
def test_bad_options_name_the_option(bad):
    with pytest.raises((ValueError, TypeError), match=list(bad)[0]):
        HWAConfig(STANDARD, **bad)


def test_configs_the_hwa_forward_does_not_model_are_refused():
    with pytest.raises(ValueError, match="dac.range_mode"):
        HWAConfig(presets.get("aihwkit_noise_managed"))
    with pytest.raises(ValueError, match="weight bits"):
        HWAConfig(presets.get("int8"))


def test_im2col3_adjoint():
    rng = np.random.default_rng(6)
    for stride in (1, 2):
        x = rng.normal(size=(2, 6, 6, 3))
        cols, oh, ow = im2col3(x, stride)
        C = rng.normal(size=cols.shape)
        assert np.sum(cols * C) == pytest.approx(np.sum(x * col2im3(C, x.shape, stride)), rel=1e-12)


def test_fp_network_equals_the_float64_reference():
    """The NHWC training network (FP) against refsim.train.resnet_grad: loss, every weight gradient,
    BatchNorm running statistics (ResNet-8, float64)."""
    sd = random_params(cifar_resnet_param_shapes(8), np.random.default_rng(1))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 3, 32, 32)), np.array([1, 2, 3])
    loss, grads, rs = RG.cifar_resnet_loss_and_grads(sd, x, y)
    net = TrainNet(sd, None, dtype=np.float64)
    logits, cache = net.forward(x.transpose(0, 2, 3, 1))
    l2, cc = softmax_cross_entropy_forward(logits, y)
    g2 = net.backward(softmax_cross_entropy_backward(1.0, cc), cache)
    net.update_running_stats(cache)
    assert l2 == pytest.approx(loss, rel=1e-12)
    for name, layer in net.layers.items():
        ref = grads[f"{name}.weight"]
        assert grad_rel_error(g2[(name, "w")].T.reshape(ref.shape), ref) < 1e-12, name
    for k in ("bn1", "layer2.0.bn2"):
        assert grad_rel_error(g2[(k, "weight")], grads[f"{k}.weight"]) < 1e-12
        assert np.allclose(net.bn[k]["running_var"], rs[f"{k}.running_var"], rtol=1e-12)
    # planted: one conv gradient off by 1e-4 is seen
    ref = grads["layer1.0.conv1.weight"]
    assert grad_rel_error(g2[("layer1.0.conv1", "w")].T.reshape(ref.shape) * (1 + 1e-4), ref) > 1e-6


def test_inputs_in_another_order_than_the_rows():
    """A conv's channels-last im2col feeds the crossbar rows permuted (row_order3): same tiles, same IR
    drop positions, the same output and gradients as the crossbar's own order (to round-off)."""
    from refsim.train.net import row_order3
    cfg = STANDARD.replace(**{"dac.x_max": 2.0})
    W, ref = _layer(cfg, n_in=576, n_out=8)  # 64 channels x 3 x 3: two tiles of 288 rows
    _, per = _layer(cfg, n_in=576, n_out=8)
    ro = row_order3(64)
    per.set_row_order(ro)
    x = np.abs(np.random.default_rng(9).normal(size=(32, 576)))
    w_used = ref.noisy_weights(1.0, keyed_rng(1, ("w",)))
    y_ref, (xn, _, z, _) = _forward(ref, x, keyed_rng(2, ("y",)), w=w_used)
    y_per, (xp, _, zp, _) = _forward(per, x[:, ro], keyed_rng(2, ("y",)), w=w_used)
    assert np.max(np.abs(y_ref - y_per)) <= 1e-9 * np.max(np.abs(y_ref))
    R = np.random.default_rng(3).normal(size=y_ref.shape)
    dc_ref, dw_ref, _, _ = ref.mvm_backward(R, z, xn, w_used)
    dc_per, dw_per, _, _ = per.mvm_backward(R, zp, xp, w_used)
    assert np.allclose(dw_per, dw_ref, rtol=1e-12, atol=1e-12) and np.allclose(dc_per, dc_ref[:, ro], rtol=1e-12)
    with pytest.raises(ValueError, match="row_order"):
        per.set_row_order(ro[:-1])


def test_box_muller_draws_are_standard_normal_and_keyed():
    """The HWA forward's noise draws (Box-Muller): N(0, 1) by a Kolmogorov-Smirnov test against scipy's
    normal CDF, independent halves of each pair, the same bits from the same stream; a planted error
    (the sine half replaced by the cosine half: pairs fully correlated) is seen."""
    from scipy import stats

    from refsim.train.hwa import standard_normal
    xi = standard_normal(keyed_rng(0, ("bm",)), (40001,), np.float32)
    assert xi.dtype == np.float32 and xi.shape == (40001,)
    assert stats.kstest(xi.astype(np.float64), "norm").pvalue > 1e-3
    h = (xi.size + 1) // 2
    assert abs(np.corrcoef(xi[:h - 1], xi[h:])[0, 1]) < 0.03
    assert np.array_equal(xi, standard_normal(keyed_rng(0, ("bm",)), (40001,), np.float32))
    assert not np.array_equal(xi, standard_normal(keyed_rng(1, ("bm",)), (40001,), np.float32))
    planted = np.concatenate([xi[:h], xi[:h]])
    assert abs(np.corrcoef(planted[:h - 1], planted[h:2 * h - 1])[0, 1]) > 0.5
    x64 = standard_normal(keyed_rng(0, ("bm",)), (3, 5), np.float64)
    assert x64.dtype == np.float64 and x64.shape == (3, 5)


@pytest.mark.parametrize("hwa", [False, True])
def test_conv_blocks_do_not_change_the_result(hwa, monkeypatch):
    """The convs run block by block of images (refsim.train.net.BLOCK_BYTES): one image per block gives
    the loss and every gradient of one block for the whole batch, to round-off (FP, and HWA without its
    random effects, float64; ResNet-8)."""
    import refsim.train.net as trainnet
    sd = random_params(cifar_resnet_param_shapes(8), np.random.default_rng(2))
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 32, 32, 3)), np.array([0, 1, 2, 3, 4])

    def run(block_bytes):
        monkeypatch.setattr(trainnet, "BLOCK_BYTES", block_bytes)
        net = TrainNet(sd, HWAConfig(STANDARD).without_noise() if hwa else None, dtype=np.float64)
        logits, cache = net.forward(x, alpha_init=True)
        loss, c = softmax_cross_entropy_forward(logits, y)
        return loss, net.backward(softmax_cross_entropy_backward(1.0, c), cache)

    (l1, g1), (lb, gb) = run(1 << 40), run(1)
    assert lb == pytest.approx(l1, rel=1e-12)
    for k, g in g1.items():
        assert grad_rel_error(gb[k], g) < 1e-10, k
    assert trainnet.image_blocks(5, 1) == [slice(i, i + 1) for i in range(5)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("short_term", [True, False], ids=["short_term_and_output", "output_only"])
def test_mvm_noise_has_the_joint_sigma_of_r5_and_o1(dtype, short_term):
    """N4-N5 noise before the ADC: per output, std = sqrt(sum_i x_i^2 sigma_ij^2 + sigma_out^2) (R5 with
    R3's sigma of both devices, O1), one Gaussian draw (short-term noise on), or sigma_out alone (off).
    Oracle: 20,000 repeats of one input row, the noise-free forward subtracted, sigma written out from
    refsim.devices; dropping either term (a planted error) is off by far more than the tolerance."""
    import refsim.devices as dev

    cfg = STANDARD.replace(**{"adc.bits": None})
    rng = np.random.default_rng(0)
    W = rng.normal(size=(6, 300)) * 0.1
    h = HWAConfig(cfg, short_term_noise=short_term)
    layer = AnalogLayer(W, None, h, "l", dtype=dtype)
    layer.alpha = np.asarray(1.0)
    x = 0.35 * np.abs(rng.normal(size=(1, 300)))
    xn, _ = layer.input_forward(np.repeat(x, 20000, axis=0).astype(dtype))
    noise = (layer.mvm_forward(xn, layer.w, keyed_rng(1, ("n",))) - layer.mvm_forward(xn, layer.w, None))
    w, g = layer.w.astype(np.float64), h.g_max
    var = sum(dev.read_sigma_sqrt_state_S(np.maximum(s * w, 0) * g, sigma_rel=cfg.device.read_sigma_rel, g_max_S=g)
              ** 2 for s in (1, -1)) / g**2  # (R3) of G+ and G-, normalized by g_max
    v_short = (xn[0].astype(np.float64) ** 2) @ var  # (R5)
    emp = noise.astype(np.float64).std(axis=0)
    pred = np.sqrt((v_short if short_term else 0.0) + h.out_sigma**2)
    assert h.out_sigma > 0 and np.all(np.abs(emp / pred - 1) < 0.03), emp / pred
    assert np.all(np.abs(noise.mean(axis=0)) < 5 * pred / np.sqrt(len(noise)))
    if short_term:  # each term matters: a sigma without either one is refused by the same check
        assert np.all(np.abs(emp / np.sqrt(v_short) - 1) > 0.1) and np.all(np.abs(emp / h.out_sigma - 1) > 0.1)
