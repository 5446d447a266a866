"""Tutorial 11 — hardware-aware (HWA) training of a small network, in NumPy.

Goal
    Train a two-layer network in floating point, map it directly onto PCM crossbars (Rasch et
    al. 2023's standard model, evaluated 1 hour after programming) and watch it lose accuracy;
    then fine-tune it with the crossbar in the forward pass (the HWA recipe of Rasch et al.,
    Methods) and map it again. Every line of the training step is here to read.

Prerequisites
    Tutorials 01-05 (crossbar, DAC/ADC, PCM noise); docs/training.md and docs/MODEL.md
    section 11 (equations N1-N9). For a CIFAR ResNet the same recipe is ``refsim train``.

Data
    None: a synthetic 10-class problem drawn from a fixed seed.

Run time
    About 10-30 s (fewer programming repeats with REFSIM_TUTORIAL_SMALL=1).

Accuracies are fractions of the 1,000 test points; mean +- standard error over programming
repeats (each repeat programs the crossbars again with its own seed). On this small problem the
network loses little to the crossbar (about half a point at 1 h) and HWA wins back part of it;
on a CIFAR ResNet the loss is larger (docs/results/hwa/).
"""

import os

import numpy as np

import refsim
from refsim import presets
from refsim.streams import keyed_rng
from refsim.tools.calibrate import profile_input_range
from refsim.train.functional_grad import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from refsim.train.hwa import AnalogLayer, HWAConfig, noise_scale_at

SMALL = os.environ.get("REFSIM_TUTORIAL_SMALL") == "1"
REPEATS = 3 if SMALL else 8

# ---------------------------------------------------------------------------------------------
# 1. A synthetic problem: 10 Gaussian classes in 24 dimensions, overlapping enough that small
#    weight errors cost accuracy.
# ---------------------------------------------------------------------------------------------
gen = np.random.default_rng(0)
D, H, K = 24, 64, 10
means = gen.normal(size=(K, D))


def draw(n, g):
    y = g.integers(0, K, n)
    return (means[y] + 1.4 * g.normal(size=(n, D))).astype(np.float32), y


x_train, y_train = draw(20000, gen)
x_test, y_test = draw(1000, gen)
print(f"data: {len(x_train)} training and {len(x_test)} test points, {D} features, {K} classes")

# ---------------------------------------------------------------------------------------------
# 2. The network: y = W2 relu(W1 x + b1) + b2, both weight layers analog (AnalogLayer), the
#    ReLU and the biases digital. With cfg=None an AnalogLayer is a plain FP layer.
# ---------------------------------------------------------------------------------------------
STANDARD = presets.get("rasch2023_standard")  # 8-bit DAC/ADC, PCM noise, IR drop, evaluated at 1 h


def make_layers(W1, b1, W2, b2, cfg):
    return [AnalogLayer(W1, b1, cfg, "fc1"), AnalogLayer(W2, b2, cfg, "fc2")]


def forward(layers, x, eta=0.0, seed=None, alpha_init=False):
    """Forward through both layers, keeping what the backward needs (N1-N6). ``seed``: the HWA
    noise of this step (None: no noise)."""
    caches, a = [], x
    for i, layer in enumerate(layers):
        if alpha_init and layer.cfg is not None:
            layer.observe_alpha(a, layer.cfg.alpha_init_batches)         # N7: alpha from data
        xn, icache = layer.input_forward(a)                              # N2: clip to alpha, DAC
        r = None if seed is None else keyed_rng(seed, (layer.name,))
        w_used = layer.w if layer.cfg is None else layer.noisy_weights(eta, r)  # N3: injected noise
        z = layer.mvm_forward(xn, w_used, r)                             # N4, N5: the crossbar
        y = layer.output_forward(z)                                      # N6: alpha s Z + b
        a = np.maximum(y, 0) if i == 0 else y                            # digital ReLU
        caches.append((xn, icache, z, w_used, a))
    return a, caches


def train_step(layers, x, y, lr, state, eta=0.0, seed=None, alpha_init=False, momentum=0.9):
    """One SGD step with momentum: forward, loss, backward (N9, straight through), update, clip (N8)."""
    logits, caches = forward(layers, x, eta, seed, alpha_init)
    loss, ce = softmax_cross_entropy_forward(logits.astype(np.float64), y)
    d = softmax_cross_entropy_backward(1.0, ce).astype(np.float32)      # dL/dlogits
    for i in (1, 0):
        layer, (xn, icache, z, w_used, _) = layers[i], caches[i]
        dcols, dw, ds, db = layer.mvm_backward(d, z, xn, w_used)        # dZ = dy alpha s; dw = x_n^T dZ
        dx, dalpha = layer.input_backward(dcols, icache)                # dx = dx_n / alpha inside the range
        grads = {"w": dw, "b": db}
        if layer.cfg is not None and layer.cfg.learn_out_scales:
            grads["s"] = ds
        for name, g in grads.items():
            p = getattr(layer, name)
            v = state.setdefault((layer.name, name), np.zeros_like(p))
            v *= momentum
            v += g
            p -= np.float32(lr) * v
        if layer.cfg is not None and layer.cfg.learn_alpha:
            layer.alpha = np.asarray(max(float(layer.alpha) - lr * dalpha, 1e-6))
        layer.clip_and_remap(False)                                      # N8: |w| <= 1
        if i == 1:
            d = dx * (caches[0][4] > 0)                                  # back through the ReLU
    return loss


def fit(layers, epochs, lr, cfg=None, seed=0):
    state, step = {}, 0
    for epoch in range(epochs):
        eta = 0.0 if cfg is None else noise_scale_at(cfg, epoch)        # N3: the ramp
        order = keyed_rng(seed, ("order", epoch)).permutation(len(x_train))
        for b in range(0, len(order), 100):
            idx = order[b:b + 100]
            noise_seed = None if cfg is None else int(keyed_rng(seed, ("step", step)).integers(2**32))
            train_step(layers, x_train[idx], y_train[idx], lr, state, eta, noise_seed, alpha_init=step < 10)
            step += 1
    return layers



# ---------------------------------------------------------------------------------------------
# 3. Floating-point training.
# ---------------------------------------------------------------------------------------------
g = np.random.default_rng(1)
W1, W2 = g.normal(size=(H, D)) * np.sqrt(2 / D), g.normal(size=(K, H)) * np.sqrt(2 / H)
fp = fit(make_layers(W1, np.zeros(H), W2, np.zeros(K), None), epochs=5, lr=0.05)
acc_fp = float(np.mean(np.argmax(forward(fp, x_test)[0], 1) == y_test))
print(f"FP network: test accuracy {acc_fp:.3f}")

# ---------------------------------------------------------------------------------------------
# 4. Direct mapping (Rasch et al.'s Table 2 procedure): weights untouched, per-column scales from
#    the weights (the preset's column scaling), the input range alpha of each layer calibrated on
#    training data (percentile 99.9), evaluated with refsim.Crossbar at 1 h with drift
#    compensation: programming error, drift, 1/f and short-term read noise, IR drop, 8-bit DAC/ADC.
# ---------------------------------------------------------------------------------------------


def analog_accuracy(Ws, bs, alphas, seed):
    a = x_test.astype(np.float64)
    for i, (W, b, alpha) in enumerate(zip(Ws, bs, alphas)):
        cfg = STANDARD.replace(**{"dac.x_max": float(alpha)})
        xb = refsim.Crossbar(W.T, cfg, rng=np.random.default_rng([seed, i]))
        a = xb.matvec(a) + b
        a = np.maximum(a, 0) if i == 0 else a
    return float(np.mean(np.argmax(a, 1) == y_test))


def mean_sem(v):
    v = np.asarray(v)
    return v.mean(), v.std(ddof=1) / np.sqrt(len(v))


Ws = [L.effective_weight() for L in fp]
bs = [L.b.astype(np.float64) for L in fp]
h_train = np.maximum(x_train @ Ws[0].T + bs[0], 0)
alphas_cal = [profile_input_range([x_train.astype(np.float64)], 99.9), profile_input_range([h_train], 99.9)]
direct = [analog_accuracy(Ws, bs, alphas_cal, s) for s in range(REPEATS)]
m_d, e_d = mean_sem(direct)
print(f"direct mapping on {STANDARD.name} at 1 h: accuracy {m_d:.3f} +- {e_d:.3f} ({REPEATS} programmings)")

# ---------------------------------------------------------------------------------------------
# 5. HWA fine-tuning: the same FP weights mapped into AnalogLayers with the crossbar model in the
#    forward (N2-N5), injected programming + 20 s read noise ramped over 3 epochs (N3), alpha
#    learned from a data-initialised start (N7), output scales learned (N6), weights clipped (N8).
# ---------------------------------------------------------------------------------------------
hcfg = HWAConfig(STANDARD, noise_scale=1.0, ramp_epochs=2)
hwa = fit(make_layers(Ws[0], bs[0], Ws[1], bs[1], hcfg), epochs=4, lr=0.01, cfg=hcfg, seed=2)
alphas = [float(L.alpha) for L in hwa]
print("learned input ranges alpha: " + ", ".join(f"{a:.3f}" for a in alphas)
      + " (calibrated: " + ", ".join(f"{a:.3f}" for a in alphas_cal) + ")")
W_h = [L.effective_weight() for L in hwa]
b_h = [L.b.astype(np.float64) for L in hwa]
after = [analog_accuracy(W_h, b_h, alphas, s) for s in range(REPEATS)]
m_h, e_h = mean_sem(after)
print(f"HWA fine-tuned on {STANDARD.name} at 1 h: accuracy {m_h:.3f} +- {e_h:.3f}")

# ---------------------------------------------------------------------------------------------
# 6. Checks: the noise-free HWA forward is the inference crossbar (the same physics functions),
#    and fine-tuning with the crossbar in the loop recovered accuracy lost by direct mapping.
# ---------------------------------------------------------------------------------------------
quiet = STANDARD.replace(**{"device.prog_model": "none", "device.drift_model": "none", "device.read_model": "none",
                            "device.out_noise_rel": 0.0, "device.pcm_read_noise_held": False,
                            "device.t_inference_s": 0.0, "dac.x_max": alphas[0]})
probe = AnalogLayer(W_h[0], None, HWAConfig(quiet), "probe", dtype=np.float64)
probe.alpha = np.asarray(alphas[0])
xn, _ = probe.input_forward(x_test[:50].astype(np.float64))
y_train_fwd = probe.output_forward(probe.mvm_forward(xn, probe.w, None))
y_xbar = refsim.Crossbar(W_h[0].T, quiet).matvec(x_test[:50].astype(np.float64))
print(f"noise-free HWA forward vs refsim.Crossbar: max |difference| {np.max(np.abs(y_train_fwd - y_xbar)):.2e}")
assert np.max(np.abs(y_train_fwd - y_xbar)) <= 1e-9 * np.max(np.abs(y_xbar))

# HWA minimizes the loss under the crossbar's noise: on the test set, with the same draws of the
# training forward (eta = 1), the fine-tuned network's loss is lower than the FP network's
# (mapped with the calibrated alphas).


def noisy_loss(layers, seeds=range(5)):
    return float(np.mean([softmax_cross_entropy_forward(forward(layers, x_test, 1.0, s)[0].astype(np.float64),
                                                        y_test)[0] for s in seeds]))


fp_mapped = make_layers(Ws[0], bs[0], Ws[1], bs[1], hcfg)
for layer, a in zip(fp_mapped, alphas_cal):
    layer.alpha = np.asarray(a)
loss_fp, loss_hwa = noisy_loss(fp_mapped), noisy_loss(hwa)
print(f"test loss under the training forward's noise: FP weights {loss_fp:.4f}, HWA weights {loss_hwa:.4f}")
assert loss_hwa < loss_fp, (loss_hwa, loss_fp)
print(f"OK: HWA lowered the loss under crossbar noise; accuracy at 1 h {m_d:.3f} (direct) -> {m_h:.3f} (HWA), "
      f"FP {acc_fp:.3f}")
