"""Tutorial 02 — mapping signed weights to conductances.

Goal
    See how a signed weight matrix becomes non-negative conductances with the
    three mapping schemes of refsim (differential one-sided, differential
    two-sided, offset with digital removal or a reference column), that they
    all compute exactly ``x @ W`` when the devices are ideal whatever the
    on/off ratio, and how they differ once every device carries a
    state-independent programming error (sigma x G_max).

Prerequisites
    Tutorial 01 (a Crossbar, ``matvec`` and ``trace``). Equations: docs/MODEL.md
    step 3; refsim/mapping.py (M1).

Run time
    About 4 s (about 3 s with REFSIM_TUTORIAL_SMALL=1). Figures are written to
    ``tutorials/out/02_*.png``.

What to expect (derived below, checked at the end): with a programming error
of standard deviation ``sigma * G_max`` on every device, the weight that one
column reads back is off by

* differential (one- or two-sided), ``w = (G+ - G-) / dG``: ``sqrt(2) sigma G_max / dG``;
* offset with digital removal, ``w = 2 (G - G_min) / dG - 1``: ``2 sigma G_max / dG``;
* offset with a reference column, ``w = 2 (G - G_ref) / dG``: ``2 sqrt(2) sigma G_max / dG``
  (the reference cells are as noisy as the weight cells),

in units of ``w_max``, with ``dG = G_max - G_min``. A finite on/off ratio
``r = G_max / G_min`` costs a factor ``G_max / dG = r / (r - 1)``.
"""

import os
from pathlib import Path

import numpy as np

import refsim
from refsim.plot.figures import line_plot

SMALL = os.environ.get("REFSIM_TUTORIAL_SMALL") == "1"
OUT = Path(__file__).resolve().parent / "out"
OUT.mkdir(exist_ok=True)
np.set_printoptions(precision=3, suppress=True, linewidth=110)

# The four ways of storing a signed weight: (label, dotted config changes).
SCHEMES = [
    ("differential one-sided", {"mapping.scheme": "differential_one_sided"}),
    ("differential two-sided", {"mapping.scheme": "differential_two_sided"}),
    ("offset, digital removal", {"mapping.scheme": "offset", "mapping.offset_removal": "digital"}),
    ("offset, reference column", {"mapping.scheme": "offset", "mapping.offset_removal": "reference_column"}),
]
# Predicted error of one weight, in units of sigma * G_max / dG * w_max (see the docstring).
PREDICTED_FACTOR = [np.sqrt(2), np.sqrt(2), 2.0, 2.0 * np.sqrt(2)]

G_MAX_S = 10e-6  # 10 uS
ON_OFF = 10.0  # G_max / G_min
base = refsim.presets.get("ideal").replace(**{"mapping.g_max_S": G_MAX_S, "mapping.g_min_S": G_MAX_S / ON_OFF})

# ---------------------------------------------------------------------------------------------
# 1. Conductances of a tiny matrix under each scheme
# ---------------------------------------------------------------------------------------------
W_small = np.array([[1.0, -0.5, 0.0],
                    [-1.0, 0.25, 0.75]])  # (n_in=2, n_out=3), w_max = 1
print(f"G_min = {G_MAX_S / ON_OFF * 1e6:.2f} uS, G_max = {G_MAX_S * 1e6:.2f} uS (on/off ratio {ON_OFF:g})")
print("weights W (n_in x n_out):\n", W_small)
for label, changes in SCHEMES:
    tr = refsim.Crossbar(W_small, base.replace(**changes)).trace(np.ones(2))
    print(f"\n{label}: conductances in uS")
    for key, g in tr.conductances_S.items():
        if key.count(".") == 2:  # "t0.s0.pos", the conductance as read (no ".target"/".eff")
            print(f"  {key.split('.')[-1]:>6}:", np.array2string(g * 1e6, prefix="          "))

# One-sided: G+ = Gmin + dG max(w, 0), G- = Gmin + dG max(-w, 0); check the first against the formula.
g_pos = refsim.Crossbar(W_small, base).trace(np.ones(2)).conductances_S["t0.s0.pos"]
d_g = G_MAX_S - G_MAX_S / ON_OFF
g_pos_formula = G_MAX_S / ON_OFF + d_g * np.maximum(W_small, 0)
print(f"\none-sided G+ vs formula: max |diff| = {np.abs(g_pos - g_pos_formula).max():.2e} S")

# ---------------------------------------------------------------------------------------------
# 2. Ideal devices: every scheme, either subtraction, any on/off ratio computes x @ W
# ---------------------------------------------------------------------------------------------
rng = np.random.default_rng(2)
n_in, n_out, batch = (32, 16, 8) if SMALL else (64, 32, 16)
W = rng.normal(size=(n_in, n_out))
x = rng.normal(size=(batch, n_in))
y_ref = x @ W
worst_ideal = 0.0
print("\nideal devices: max |y - x @ W| / max |x @ W|")
for label, changes in SCHEMES:
    for sub in ("in_array", "digital"):
        for on_off in (np.inf, 100.0, 2.0):
            cfg = base.replace(**changes, **{"mapping.subtraction": sub,
                                             "mapping.g_min_S": 0.0 if np.isinf(on_off) else G_MAX_S / on_off})
            err = np.abs(refsim.Crossbar(W, cfg).matvec(x) - y_ref).max() / np.abs(y_ref).max()
            worst_ideal = max(worst_ideal, err)
            print(f"  {label:26s} subtraction={sub:8s} on/off={on_off:>5g}: {err:.1e}")

# ---------------------------------------------------------------------------------------------
# 3. State-independent programming error: error versus sigma
# ---------------------------------------------------------------------------------------------
# relative RMS output error; with y_j = sum_i x_i w_ij and an error e_ij of std s on every weight,
# RMS(y error) = s * RMS_b ||x_b||: we divide by that to read off s in units of sigma G_max/dG w_max.
sigmas = np.array([0.002, 0.005, 0.01, 0.02]) if SMALL else np.geomspace(0.001, 0.02, 6)
trials = 6 if SMALL else 20
x_norm = np.sqrt(np.mean(np.sum(x**2, axis=1)))
w_max = np.abs(W).max()
curves, measured_factor, rel_by_scheme = [], [], {}
for (label, changes), factor in zip(SCHEMES, PREDICTED_FACTOR):
    rel = []
    for sigma in sigmas:
        cfg = base.replace(**changes, **{"device.prog_model": "independent", "device.prog_sigma_rel": sigma})
        se = [np.mean((refsim.Crossbar(W, cfg, rng=np.random.default_rng(100 + t)).matvec(x) - y_ref) ** 2)
              for t in range(trials)]
        rel.append(np.sqrt(np.mean(se)) / np.sqrt(np.mean(y_ref**2)))
        if sigma == sigmas[-1]:
            # per-weight error in units of sigma * G_max / dG * w_max
            measured_factor.append(np.sqrt(np.mean(se)) / x_norm / (sigma * G_MAX_S / d_g * w_max))
    curves.append((label, sigmas * 100, np.array(rel) * 100))
    rel_by_scheme[label] = np.array(rel)
    print(f"{label:26s} RMS error at sigma = {sigmas[-1]:.3f}: {rel[-1] * 100:.2f} % of RMS(y); "
          f"per-weight factor measured {measured_factor[-1]:.3f}, predicted {factor:.3f}")
# One- and two-sided give the same numbers: the same seed gives the same draws xi, and a
# state-independent error sigma * G_max * xi does not depend on where the device sits.
# (State-proportional errors, tutorial 05, favour the one-sided mapping: zero weights sit at G_min.)
one_vs_two = np.abs(rel_by_scheme[SCHEMES[0][0]] - rel_by_scheme[SCHEMES[1][0]]).max()
print(f"one-sided vs two-sided: max difference of the relative errors {one_vs_two:.1e}")
curves = [("differential, one- or two-sided (identical)",) + curves[0][1:]] + curves[2:]
fig1 = line_plot(OUT / "02_error_vs_sigma.png", curves, xlog=True, ylog=True,
                 title=f"Programming error sigma x G_max, on/off = {ON_OFF:g}",
                 xlabel="programming sigma (% of G_max)", ylabel="RMS output error (% of RMS(y))")
print("wrote", fig1.path)

# ---------------------------------------------------------------------------------------------
# 4. In-array vs digital subtraction and the on/off ratio, at a fixed sigma
# ---------------------------------------------------------------------------------------------
# Same seed -> the same programming draws: with an ideal ADC the two subtractions agree to
# round-off (subtraction is linear); they differ only once an ADC quantizes each read.
sigma = 0.01
cfg = base.replace(**{"device.prog_model": "independent", "device.prog_sigma_rel": sigma})
y_in = refsim.Crossbar(W, cfg, rng=np.random.default_rng(7)).matvec(x)
y_dig = refsim.Crossbar(W, cfg.replace(**{"mapping.subtraction": "digital"}), rng=np.random.default_rng(7)).matvec(x)
sub_diff = np.abs(y_in - y_dig).max() / np.abs(y_ref).max()
print(f"\nsigma = {sigma}: in-array vs digital subtraction, same seed, ideal ADC: max diff {sub_diff:.1e} (rel.)")
# The ADC's "max" range is the largest current a read can carry: rows * v_read * dG for a net
# (in-array) read, rows * v_read * G_max for each side of a digital subtraction, which also
# carries the common G_min current. Typical currents are far smaller (tutorial 04 calibrates).
for bits in (6, 8):
    for sub in ("in_array", "digital"):
        c = cfg.replace(**{"mapping.subtraction": sub, "adc.bits": bits})
        tr = refsim.Crossbar(W, c, rng=np.random.default_rng(7)).trace(x)
        e = np.sqrt(np.mean((tr.y - y_ref) ** 2) / np.mean(y_ref**2))
        print(f"  {bits}-bit ADC ('max' range), subtraction={sub:8s}: RMS error {e * 100:6.2f} % of RMS(y) "
              f"({len(tr.tiles[0].reads)} ADC read(s) per column)")

# A finite on/off ratio shrinks dG = G_max - G_min, so the same sigma * G_max is a larger weight error.
ratios = np.array([2, 5, 100]) if SMALL else np.array([1.5, 2, 3, 5, 10, 30, 100])
sigma = 0.002  # small enough that devices at G_min are not clipped at 0 S
rel_r = []
for r in ratios:
    c = base.replace(**{"mapping.g_min_S": G_MAX_S / r, "device.prog_model": "independent",
                        "device.prog_sigma_rel": sigma})
    se = [np.mean((refsim.Crossbar(W, c, rng=np.random.default_rng(200 + t)).matvec(x) - y_ref) ** 2)
          for t in range(trials)]
    rel_r.append(np.sqrt(np.mean(se)) / np.sqrt(np.mean(y_ref**2)))
rel_r = np.array(rel_r)
# prediction: the error scales as G_max / dG = r / (r - 1), anchored at the largest ratio. With the
# same seeds the draws are the same for every r, so here it holds draw by draw, not only on average.
def predicted(r):
    return rel_r[-1] * (r / (r - 1)) / (ratios[-1] / (ratios[-1] - 1))


pred_r = predicted(ratios)
r_dense = np.geomspace(ratios[0], ratios[-1], 100)
fig2 = line_plot(OUT / "02_error_vs_on_off.png",
                 [("measured (one-sided)", ratios, rel_r * 100),
                  ("prediction ~ r / (r - 1)", r_dense, predicted(r_dense) * 100)],
                 xlog=True, title=f"One-sided mapping, sigma = {sigma * 100:g} % of G_max",
                 xlabel="on/off ratio r = G_max / G_min", ylabel="RMS output error (% of RMS(y))")
for r, e in zip(ratios, rel_r):
    print(f"  on/off {r:>5g}: RMS error {e * 100:.3f} % of RMS(y)")
print("wrote", fig2.path)

# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
if not worst_ideal < 1e-12:
    raise SystemExit(f"check failed: ideal schemes differ from x @ W by {worst_ideal:.2e} (rel.)")
if not one_vs_two < 1e-12:
    raise SystemExit(f"check failed: one- and two-sided mappings differ by {one_vs_two:.2e} under the same draws")
if not sub_diff < 1e-12:
    raise SystemExit(f"check failed: in-array and digital subtraction differ by {sub_diff:.2e} with an ideal ADC")
tol = 0.25 if SMALL else 0.12  # statistical: trials x n_in x n_out draws
for (label, _), m, p in zip(SCHEMES, measured_factor, PREDICTED_FACTOR):
    if not abs(m / p - 1) < tol:
        raise SystemExit(f"check failed: {label}: per-weight error factor {m:.3f}, predicted {p:.3f}")
if not np.all(np.abs(rel_r / pred_r - 1) < tol):
    raise SystemExit(f"check failed: on/off dependence {rel_r} does not follow r/(r-1): {pred_r}")
print("\nall checks passed")
