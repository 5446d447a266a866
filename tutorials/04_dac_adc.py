"""Tutorial 04 — DACs and ADCs: levels, ranges, clipping, and a simple ADC calibration.

Goal
    See how the DAC turns inputs into row voltages (signed and unsigned levels,
    a per-vector "abs_max" range or a fixed range that clips), how the ADC
    turns column currents into codes (the "max" range, the largest current the
    array can produce, versus a fixed range), how the error falls with the
    number of bits, and how a fixed ADC range chosen from a percentile of
    profiled currents (a calibration) recovers most of the resolution that the
    "max" range wastes.

Prerequisites
    Tutorials 01-02. Equations: docs/MODEL.md steps 7 and 11;
    refsim/dac.py (D1-D4), refsim/adc.py (A1).

Run time
    About 4 s (about 3 s with REFSIM_TUTORIAL_SMALL=1). Figures:
    ``tutorials/out/04_error_vs_bits.png``, ``tutorials/out/04_error_vs_percentile.png``.
"""

import os
from pathlib import Path

import numpy as np

import refsim
from refsim.plot.figures import line_plot

SMALL = os.environ.get("REFSIM_TUTORIAL_SMALL") == "1"
OUT = Path(__file__).resolve().parent / "out"
OUT.mkdir(exist_ok=True)
ideal = refsim.presets.get("ideal")


def rel_rms(y, y_ref):
    """RMS error relative to the RMS of the reference (dimensionless)."""
    return float(np.sqrt(np.mean((y - y_ref) ** 2) / np.mean(y_ref**2)))


# ---------------------------------------------------------------------------------------------
# 1. DAC levels and ranges
# ---------------------------------------------------------------------------------------------
# A signed b-bit DAC (sign-magnitude) has codes -(2^(b-1)-1)..2^(b-1)-1: 2^b - 1 levels, symmetric.
# An unsigned one has 0..2^b-1. Code c drives V = c / c_max * v_read (D3).
w1 = np.ones((5, 1))
xs = np.array([[-1.0, -0.3, 0.0, 0.45, 1.0]])
# (An unsigned DAC suits non-negative inputs, e.g. after a ReLU; here it clips the negative ones to 0.)
print("input x:                      ", xs[0])
for signed in (True, False):
    cfg = ideal.replace(**{"dac.bits": 4, "dac.signed": signed})
    t = refsim.Crossbar(w1, cfg).trace(xs).tiles[0]
    print(f"4-bit {'signed  ' if signed else 'unsigned'} DAC: c_max = {cfg.dac.code_max:2d}, codes "
          f"{t.dac_codes[0].astype(int)}, volts {np.round(t.voltages_V['all'][0], 4) + 0.0} V, "
          f"clipped {t.dac_clip_fraction:.0%}")
# "abs_max": x_max = max |x| per vector, nothing clips; "fixed": x_max given, larger inputs clip.
cfg_fixed = ideal.replace(**{"dac.bits": 4, "dac.range_mode": "fixed", "dac.x_max": 0.5})
t = refsim.Crossbar(w1, cfg_fixed).trace(xs).tiles[0]
print(f"4-bit signed DAC, fixed x_max = 0.5: codes {t.dac_codes[0].astype(int)}, "
      f"clipped {t.dac_clip_fraction:.0%} of the inputs")

# ---------------------------------------------------------------------------------------------
# 2. ADC levels and the "max" range
# ---------------------------------------------------------------------------------------------
rng = np.random.default_rng(4)
n_in, n_out = (64, 16) if SMALL else (128, 32)
n_cal, n_test = (64, 64) if SMALL else (256, 256)
W = rng.normal(size=(n_in, n_out))
x_cal = rng.normal(size=(n_cal, n_in))  # calibration set: used only to choose the ADC range
x_test = rng.normal(size=(n_test, n_in))  # test set: used only to measure the error
y_test = x_test @ W

m = ideal.mapping
i_max = n_in * ideal.dac.v_read_V * (m.g_max_S - m.g_min_S)
print(f"\narray {n_in} x {n_out}, differential one-sided, in-array subtraction")
print(f"'max' ADC range = rows * v_read * (G_max - G_min) = {n_in} * {ideal.dac.v_read_V} V * "
      f"{(m.g_max_S - m.g_min_S) * 1e6:.1f} uS = {i_max * 1e6:.1f} uA")
# Profile the currents at the ADC input on the calibration set (ideal DAC and ADC: the raw currents).
tr_cal = refsim.Crossbar(W, ideal).trace(x_cal)
currents = np.concatenate([r.current_A.ravel() for t in tr_cal.tiles for r in t.reads])
abs_i = np.abs(currents)
print(f"profiled |I| on {n_cal} vectors: median {np.median(abs_i) * 1e6:.2f} uA, "
      f"99.9th percentile {np.percentile(abs_i, 99.9) * 1e6:.2f} uA, max {abs_i.max() * 1e6:.2f} uA "
      f"({abs_i.max() / i_max:.1%} of the 'max' range)")
for bits in (4, 6, 8):
    n_levels = 2 ** (bits - 1) - 1
    print(f"  {bits}-bit signed ADC: codes -{n_levels}..{n_levels}, LSB with 'max' range "
          f"{i_max / n_levels * 1e6:.3f} uA = {i_max / n_levels / np.median(abs_i):.2f} x the median |I|")

# ---------------------------------------------------------------------------------------------
# 3. Error versus bits: DAC alone, ADC with the "max" range, ADC with a calibrated range
# ---------------------------------------------------------------------------------------------
PCT = 99.9
range_cal = float(np.percentile(abs_i, PCT))
bits_list = np.arange(3, 11) if SMALL else np.arange(3, 13)
curves = {"DAC only (ideal ADC)": [], "ADC, 'max' range (ideal DAC)": [],
          f"ADC, calibrated range ({PCT}th pct.)": []}
clip_cal = {}
for bits in bits_list:
    b = int(bits)
    runs = [ideal.replace(**{"dac.bits": b}),
            ideal.replace(**{"adc.bits": b}),
            ideal.replace(**{"adc.bits": b, "adc.range_mode": "fixed", "adc.range_A": range_cal})]
    for (label, errs), cfg in zip(curves.items(), runs):
        tr = refsim.Crossbar(W, cfg).trace(x_test)
        errs.append(rel_rms(tr.y, y_test))
        if cfg.adc.range_mode == "fixed":
            clip_cal[b] = tr.clip_fraction
print(f"\nRMS error (% of RMS(y)) on the test set, calibrated range = {range_cal * 1e6:.2f} uA "
      f"= {range_cal / i_max:.1%} of 'max'")
print("bits  " + "  ".join(f"{k:>36s}" for k in curves) + "  ADC clipped (cal.)")
for i, b in enumerate(bits_list):
    print(f"{b:4d}  " + "  ".join(f"{v[i] * 100:36.3f}" for v in curves.values()) + f"  {clip_cal[int(b)]:.3%}")
fig1 = line_plot(OUT / "04_error_vs_bits.png", [(k, bits_list, np.array(v) * 100) for k, v in curves.items()],
                 ylog=True, title=f"DAC and ADC error, {n_in} x {n_out} array, analog weights",
                 xlabel="converter bits", ylabel="RMS output error (% of RMS(y))")
print("wrote", fig1.path)

# ---------------------------------------------------------------------------------------------
# 4. Which percentile? Resolution versus clipping for a 6-bit ADC
# ---------------------------------------------------------------------------------------------
# A low percentile gives a fine LSB but clips the largest currents; a high one wastes levels.
# (The same trade-off explains the floor of the calibrated curve above: at 99.9 % about 0.1 % of the
# test currents clip, an error that more bits cannot remove; a good calibration picks the
# percentile per ADC resolution.)
pcts = np.array([90, 99, 99.9, 100]) if SMALL else np.array([80, 90, 95, 98, 99, 99.5, 99.9, 99.99, 100])
err_p, clip_p = [], []
ranges_p = np.array([np.percentile(abs_i, p) for p in pcts])
for p, range_A in zip(pcts, ranges_p):
    cfg = ideal.replace(**{"adc.bits": 6, "adc.range_mode": "fixed", "adc.range_A": float(range_A)})
    tr = refsim.Crossbar(W, cfg).trace(x_test)
    err_p.append(rel_rms(tr.y, y_test))
    clip_p.append(tr.clip_fraction)
    print(f"  6-bit ADC, range {range_A * 1e6:5.2f} uA (the {p:6.2f}th percentile): error {err_p[-1] * 100:6.3f} %, "
          f"clipped {clip_p[-1]:.3%} of the conversions")
err_max6 = curves["ADC, 'max' range (ideal DAC)"][list(bits_list).index(6)]
print(f"  6-bit ADC, 'max' range {i_max * 1e6:.1f} uA: error {err_max6 * 100:.3f} %")
fig2 = line_plot(OUT / "04_error_vs_percentile.png",
                 [(f"6-bit ADC, range = percentile of profiled |I| ({pcts[0]:g}th to {pcts[-1]:g}th)",
                   ranges_p * 1e6, np.array(err_p) * 100)],
                 ylog=True, title=f"6-bit ADC: clipping vs resolution ('max' range {i_max * 1e6:.0f} uA: "
                                  f"{err_max6 * 100:.0f} % error)",
                 xlabel="ADC full-scale range (uA)", ylabel="RMS output error (% of RMS(y))")
print("wrote", fig2.path)

# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
y_ideal = refsim.Crossbar(W, ideal).matvec(x_test)
if not rel_rms(y_ideal, y_test) < 1e-13:
    raise SystemExit("check failed: ideal DAC and ADC should give x @ W to round-off")
i6 = list(bits_list).index(6)
e_max, e_cal = curves["ADC, 'max' range (ideal DAC)"][i6], curves[f"ADC, calibrated range ({PCT}th pct.)"][i6]
print(f"\n6-bit ADC: 'max' range {e_max * 100:.2f} % -> calibrated {e_cal * 100:.2f} % "
      f"({e_max / e_cal:.1f}x smaller)")
if not e_cal < e_max / 3:
    raise SystemExit(f"check failed: calibration should cut the 6-bit ADC error by > 3x ({e_max} -> {e_cal})")
dac_err = curves["DAC only (ideal ADC)"]
if not all(b < a for a, b in zip(dac_err, dac_err[1:])):
    raise SystemExit("check failed: the DAC error should fall with every added bit")
if not (all(b <= a for a, b in zip(clip_p, clip_p[1:])) and clip_p[0] > 0.05):
    raise SystemExit(f"check failed: the clipped fraction should fall as the range grows, from > 5 %: {clip_p}")
print("all checks passed")
