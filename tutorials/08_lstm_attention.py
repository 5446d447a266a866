"""Tutorial 08 — an LSTM and multi-head attention on crossbars.

Goal
    Run ``refsim.nn.LSTM`` (PyTorch ``nn.LSTM`` semantics; input and hidden
    weights on two crossbars per layer) and ``refsim.nn.MultiheadAttention``
    (PyTorch ``nn.MultiheadAttention``; the q, k, v and output projections on
    crossbars, ``QK^T`` and ``AV`` digital) with the ``ideal`` preset, where
    they equal the exact digital computation (and the naive loop oracles),
    and with two non-ideal presets: ``int8`` (deterministic quantization) and
    ``aihwkit_noise_managed`` (PCM noise, 8-bit converters), at programming time
    and one day later. We measure what error each causes: in the LSTM along
    the sequence (does the recurrence accumulate errors? here it does not:
    the forget gate and the saturating nonlinearities keep the error of h_t
    bounded), and in attention per projection, in the attention weights and
    in the output (four projections in series: the block's error is larger
    than any one projection's).

Prerequisites
    Tutorials 01, 04, 05, 07. Docs: docs/layers.md (LSTM, multi-head attention).

Run time
    About 4 s (about 3 s with REFSIM_TUTORIAL_SMALL=1). Figures:
    ``tutorials/out/08_lstm_error_vs_step.png``, ``tutorials/out/08_attention_errors.png``.
"""

import os
from pathlib import Path

import numpy as np

import refsim
from refsim.nn import LSTM, MultiheadAttention
from refsim.oracles.nn import attention_naive, lstm_naive
from refsim.plot.figures import bar_plot, line_plot

SMALL = os.environ.get("REFSIM_TUTORIAL_SMALL") == "1"
OUT = Path(__file__).resolve().parent / "out"
OUT.mkdir(exist_ok=True)


def rel_rms(y, y_ref, axis=None):
    """RMS error relative to the RMS of the reference (dimensionless)."""
    return np.sqrt(np.mean((y - y_ref) ** 2, axis=axis) / np.mean(y_ref**2, axis=axis))


rng = np.random.default_rng(8)
ideal = refsim.presets.get("ideal")
DAY = 86400.0
PRESETS = [
    ("int8", refsim.presets.get("int8")),
    ("aihwkit_noise_managed, t = 0", refsim.presets.get("aihwkit_noise_managed")),
    ("aihwkit_noise_managed, t = 1 day",
     refsim.presets.get("aihwkit_noise_managed").replace(**{"device.t_inference_s": DAY})),
]

# ---------------------------------------------------------------------------------------------
# 1. LSTM: 2 layers, PyTorch parameter names and initialization U(-1/sqrt(H), 1/sqrt(H))
# ---------------------------------------------------------------------------------------------
H_in, H, n_layers = (8, 16, 2) if SMALL else (16, 32, 2)
seq_len, batch = (12, 2) if SMALL else (30, 4)
k = 1 / np.sqrt(H)
params = {}
for layer in range(n_layers):
    n_in = H_in if layer == 0 else H
    params[f"weight_ih_l{layer}"] = rng.uniform(-k, k, size=(4 * H, n_in))  # (4H, in), gates i, f, g, o
    params[f"weight_hh_l{layer}"] = rng.uniform(-k, k, size=(4 * H, H))  # (4H, H)
    params[f"bias_ih_l{layer}"] = rng.uniform(-k, k, size=4 * H)
    params[f"bias_hh_l{layer}"] = rng.uniform(-k, k, size=4 * H)
x_seq = rng.normal(size=(seq_len, batch, H_in))  # (L, N, H_in), sequence first

lstm_ideal = LSTM(params, config=ideal)
out_ideal, (h_ideal, c_ideal) = lstm_ideal(x_seq)  # out (L, N, H)
out_digital, _ = lstm_ideal(x_seq, digital=True)  # exact float64 matmuls, same weights
x_short = x_seq[:4, :1]
out_naive, _, _ = lstm_naive(x_short, params, num_layers=n_layers, hidden_size=H)
lstm_ideal_err = float(np.abs(out_ideal - out_digital).max())
lstm_naive_err = float(np.abs(lstm_ideal(x_short)[0] - out_naive).max())
print(f"LSTM {H_in} -> {H} x {n_layers} layers, {lstm_ideal.n_arrays} arrays; sequence {seq_len}, batch {batch}")
print(f"  ideal preset vs digital: max |diff| = {lstm_ideal_err:.1e}; vs naive loops (4 steps): {lstm_naive_err:.1e}")

lstm_curves, lstm_err = [], {}
for label, cfg in PRESETS:
    lstm = LSTM(params, config=cfg, seed=1)
    out, _ = lstm(x_seq)
    per_step = rel_rms(out, out_digital, axis=(1, 2))  # (L,) relative RMS error of h_t
    lstm_err[label] = per_step
    lstm_curves.append((label, np.arange(1, seq_len + 1), per_step * 100))
    print(f"  {label:30s}: error of h_t at t = 1: {per_step[0] * 100:5.2f} %, at t = {seq_len}: "
          f"{per_step[-1] * 100:5.2f} %, mean {per_step.mean() * 100:5.2f} % of RMS(h)")
fig1 = line_plot(OUT / "08_lstm_error_vs_step.png", lstm_curves, ylog=True,
                 title=f"LSTM ({n_layers} layers, H = {H}): output error along the sequence",
                 xlabel="time step t", ylabel="RMS error of h_t, last layer (% of RMS(h_t))")
print("wrote", fig1.path)

# ---------------------------------------------------------------------------------------------
# 2. Multi-head attention
# ---------------------------------------------------------------------------------------------
E, n_heads = (16, 2) if SMALL else (32, 4)
L_q, n_b = (6, 2) if SMALL else (12, 2)
a = np.sqrt(6 / (E + E))  # xavier-uniform, as PyTorch initializes in_proj_weight
mha_params = {
    "in_proj_weight": rng.uniform(-a, a, size=(3 * E, E)),  # rows: q, k, v projections
    "in_proj_bias": 0.02 * rng.normal(size=3 * E),
    "out_proj.weight": rng.uniform(-1 / np.sqrt(E), 1 / np.sqrt(E), size=(E, E)),
    "out_proj.bias": 0.02 * rng.normal(size=E),
}
x_tok = rng.normal(size=(L_q, n_b, E))  # (L, N, E) self-attention input
mha_ideal = MultiheadAttention(mha_params, n_heads, config=ideal)
y_ideal, a_ideal = mha_ideal(x_tok, x_tok, x_tok)
y_dig, a_dig = mha_ideal(x_tok, x_tok, x_tok, digital=True)

# An independent reference: the projections by hand and the naive one-head attention loop per head.
w_in, b_in = mha_params["in_proj_weight"], mha_params["in_proj_bias"]
d = E // n_heads
y_naive = np.empty_like(x_tok)
for n in range(n_b):
    qkv = x_tok[:, n] @ w_in.T + b_in  # (L, 3E)
    heads = [attention_naive(qkv[:, h * d:(h + 1) * d], qkv[:, E + h * d:E + (h + 1) * d],
                             qkv[:, 2 * E + h * d:2 * E + (h + 1) * d])[0] for h in range(n_heads)]
    y_naive[:, n] = np.concatenate(heads, axis=1) @ mha_params["out_proj.weight"].T + mha_params["out_proj.bias"]
mha_ideal_err = float(np.abs(y_ideal - y_dig).max())
mha_naive_err = float(np.abs(y_ideal - y_naive).max())
print(f"\nMultiheadAttention E = {E}, {n_heads} heads, {mha_ideal.n_arrays} arrays; L = {L_q}, N = {n_b}")
print(f"  ideal preset vs digital: max |diff| = {mha_ideal_err:.1e}; vs naive loops: {mha_naive_err:.1e}")

# Errors per projection: each record holds a layer's actual (analog) input and output; the layer
# recomputed digitally on that same input isolates the error it adds itself.
proj_names = ["q_proj", "k_proj", "v_proj", "out_proj"]
bar_series, mha_err = [], {}
for label, cfg in PRESETS:
    mha = MultiheadAttention(mha_params, n_heads, config=cfg, seed=1)
    recs = {}
    y, attn = mha(x_tok, x_tok, x_tok, records=recs)
    layers = mha.layers()
    own = [rel_rms(recs[f"self_attn.{p}"].output, layers[f"self_attn.{p}"].forward(
        recs[f"self_attn.{p}"].input, digital=True)) for p in proj_names]
    err_attn = float(np.abs(attn - a_dig).max())
    mha_err[label] = rel_rms(y, y_dig)
    bar_series.append((label, np.array(own + [mha_err[label]]) * 100))
    print(f"  {label:30s}: own error of " + ", ".join(f"{p} {e * 100:.2f} %" for p, e in zip(proj_names, own))
          + f"; attention weights (probabilities) max |dA| {err_attn:.4f}; output {mha_err[label] * 100:.2f} % of RMS(y)")
# A linear axis from 0: bar lengths compare directly (the int8 bars are about half the PCM ones).
fig2 = bar_plot(OUT / "08_attention_errors.png", proj_names + ["MHA output"], bar_series, value_format="{:.1f}",
                title=f"Multi-head attention (E = {E}, {n_heads} heads): where the error comes from",
                xlabel="layer (error it adds on its own input) and the whole block",
                ylabel="RMS error (% of RMS of the exact output)")
print("wrote", fig2.path)

# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
if not (lstm_ideal_err < 1e-12 and lstm_naive_err < 1e-12):
    raise SystemExit(f"check failed: ideal LSTM differs from digital/naive ({lstm_ideal_err}, {lstm_naive_err})")
if not (mha_ideal_err < 1e-12 and mha_naive_err < 1e-12 and np.abs(a_ideal - a_dig).max() < 1e-12):
    raise SystemExit(f"check failed: ideal attention differs from digital/naive ({mha_ideal_err}, {mha_naive_err})")
e0, e1 = (lstm_err[PRESETS[i][0]].mean() for i in (1, 2))
if not (0 < lstm_err["int8"].mean() < e0 < e1 < 1):
    raise SystemExit(f"check failed: expected LSTM error int8 < PCM t=0 < PCM 1 day: "
                     f"{lstm_err['int8'].mean()}, {e0}, {e1}")
m = [mha_err[p[0]] for p in PRESETS]
if not (0 < m[0] < m[1] < m[2] < 1):
    raise SystemExit(f"check failed: expected attention error int8 < PCM t=0 < PCM 1 day: {m}")
print("\nall checks passed")
