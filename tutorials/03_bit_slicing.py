"""Tutorial 03 — weight bit slicing, bit-serial inputs and digital shift-and-add.

Goal
    Follow one multiply through a bit-sliced crossbar: 8-bit weights split into
    2-bit slices (each slice its own array and ADC), 5-bit inputs applied one
    bit per read (bit-serial), the column current and ADC code of every
    (weight slice, input bit) pair, and the digital shift-and-add that puts
    them back together. With an ADC whose step is exactly one unit current the
    result is an integer computation: we check it bit for bit against
    ``refsim.oracles.crossbar.integer_oracle`` and against ``sum_i c_i q_ij`` done by
    hand. Then we shrink the ADC and see which organisation needs how many bits.

Prerequisites
    Tutorials 01-02. Equations: docs/MODEL.md steps 2, 8 and 12;
    refsim/crossbar.py (X1-X3).

Run time
    About 3 s (the same with REFSIM_TUTORIAL_SMALL=1). Figure:
    ``tutorials/out/03_error_vs_adc_bits.png``.
"""

import os
from pathlib import Path

import numpy as np

import refsim
from refsim.oracles.crossbar import integer_oracle
from refsim.plot.figures import line_plot

SMALL = os.environ.get("REFSIM_TUTORIAL_SMALL") == "1"
OUT = Path(__file__).resolve().parent / "out"
OUT.mkdir(exist_ok=True)

# ---------------------------------------------------------------------------------------------
# 1. The configuration: 8-bit weights in 4 slices of 2 bits, 5-bit inputs one bit at a time
# ---------------------------------------------------------------------------------------------
# Differential one-sided mapping: |q| <= 127 has 7 magnitude bits, sliced 2 + 2 + 2 + 1 (LSB first);
# slice k holds bits 2k, 2k+1 of |q| on the G+ (q > 0) or G- (q < 0) device, levels 0..L_k.
# Signed 5-bit DAC: codes c in -15..15, 4 magnitude bits, driven as +/- v_read per bit (bipolar).
cfg = refsim.presets.get("ideal").replace(**{
    "weight.bits": 8, "weight.n_slices": 4, "weight.bits_per_slice": 2,
    "dac.bits": 5, "dac.slice_bits": 1,
})
v_read = cfg.dac.v_read_V
d_g = cfg.mapping.g_max_S - cfg.mapping.g_min_S
L = (3, 3, 3, 1)  # largest level of each weight slice: 2, 2, 2 and 1 bits
# One "unit current": one input bit (v_read) on one level step (dG / L_k) of slice k.
i_unit = tuple(v_read * d_g / lk for lk in L)
# A 5-bit signed ADC has codes -15..15. A fixed range of 15 unit currents per slice makes its
# step exactly one unit current; 4 rows x 3 levels x 1 bit <= 12 < 15 never clips: lossless.
cfg = cfg.replace(**{"adc.bits": 5, "adc.range_mode": "fixed", "adc.range_A": tuple(15 * i for i in i_unit)})

rng = np.random.default_rng(3)
W = rng.normal(size=(4, 3))  # (n_in, n_out)
x = rng.normal(size=(2, 4))  # (B, n_in)
tr = refsim.Crossbar(W, cfg).trace(x)
tile = tr.tiles[0]

# ---------------------------------------------------------------------------------------------
# 2. Weight slices
# ---------------------------------------------------------------------------------------------
q = tr.weight_levels.astype(np.int64)  # signed integer levels, q = round(W / w_max * 127)
print("integer weight levels q = round(W / w_max * 127):\n", q)
i0, j0 = 3, 0
print(f"\nweight q[{i0},{j0}] = {q[i0, j0]}: |q| = {abs(q[i0, j0]):07b} in binary, on the "
      f"{'G+' if q[i0, j0] > 0 else 'G-'} device")
dev = "pos" if q[i0, j0] > 0 else "neg"
parts = [int(tr.device_levels[dev][k][i0, j0]) for k in range(4)]
print(f"  slice levels (LSB first): {parts} -> {' + '.join(f'{p}*{4**k}' for k, p in enumerate(parts))}"
      f" = {sum(p * 4**k for k, p in enumerate(parts))}")
g_key = f"t0.s3.{dev}"
print(f"  conductance of slice 3 (1 bit): {tr.conductances_S[g_key][i0, j0] * 1e6:.3f} uS "
      f"(G_min = {cfg.mapping.g_min_S * 1e6:.1f} uS, G_max = {cfg.mapping.g_max_S * 1e6:.1f} uS)")

# ---------------------------------------------------------------------------------------------
# 3. Input bits, per-read currents and ADC codes
# ---------------------------------------------------------------------------------------------
c = tile.dac_codes.astype(np.int64)  # (B, n_in) signed DAC codes, c = round(x / x_max * 15)
print("\nDAC codes c (vector 0):", c[0], f"  x_max = {tile.x_max[0]:.4f}")
for p_label, volts in tile.voltages_V.items():
    print(f"  pass {p_label}: row voltages {np.round(volts[0], 3) + 0.0} V")
b0 = 0
print(f"\nvector {b0}, column {j0}: current and ADC code of every (weight slice k, input bit p)")
codes = tr.adc_codes()  # "t0.s{k}.net.slice{p}" -> (B, cols)
for r in tile.reads:
    print(f"  k={r.k} p={r.label[-1]}: I = {r.current_A[b0, j0] * 1e6:+8.4f} uA = "
          f"{r.current_A[b0, j0] / i_unit[r.k]:+6.2f} unit currents -> code {int(r.adc_codes[b0, j0]):+3d}")

# Digital shift-and-add: slice k has weight 4^k, input bit p has weight 2^p.
y_int = np.zeros(tr.y.shape, dtype=np.int64)
for k in range(4):
    for p in range(4):
        y_int += 4**k * 2**p * codes[f"t0.s{k}.net.slice{p}"].astype(np.int64)
y_int_direct = c @ q  # the same integer computed directly
print("\nshift-and-add sum_k sum_p 4^k 2^p code[k, p]:\n", y_int)
print("direct integer product c @ q:\n", y_int_direct)
# back to weight units: y = y_int * (x_max / 15) * (w_max / 127)
y_hand = y_int * (tile.x_max[:, None] / 15) * (tr.w_max / 127)
oracle = integer_oracle(W, x, cfg)
same_codes = all(np.array_equal(oracle["adc_codes"][key], v) for key, v in codes.items())
print(f"\ncrossbar y:\n{tr.y}\nby hand:\n{y_hand}\nexact float x @ W:\n{x @ W}")
print(f"ADC codes equal to integer_oracle's: {same_codes} ({len(codes)} reads)")
print(f"max |y - oracle y| = {np.abs(tr.y - oracle['y']).max():.1e}, "
      f"quantization error vs x @ W: {np.abs(tr.y - x @ W).max():.3f}")

# ---------------------------------------------------------------------------------------------
# 4. How many ADC bits does each organisation need?
# ---------------------------------------------------------------------------------------------
# Compare, at the same 8-bit weights and 8-bit inputs, the error added by an ADC with the "max"
# range (largest possible current of the read) relative to an ideal ADC:
#   A: one weight slice, all input bits at once: a read spans rows * 127 * 127 unit currents;
#   B: four 2-bit weight slices, all input bits at once: rows * 3 * 127;
#   C: four 2-bit weight slices, bit-serial inputs: rows * 3 * 1.
#   D: as C, but with the ADC step fixed at one unit current (range_A = n_levels * i_unit_k), as in
#      part 3: it clips while n_levels is below the largest column sum of the inputs and is exact
#      from there on; rows * 3 bounds that sum for any input (exact for every input).
n_in, n_out, batch = (32, 8, 8) if SMALL else (64, 16, 32)
W = rng.normal(size=(n_in, n_out))
x = rng.normal(size=(batch, n_in))
base = refsim.presets.get("ideal").replace(**{"weight.bits": 8, "dac.bits": 8})
organisations = [
    ("A: 1 weight slice, parallel inputs", {}),
    ("B: 4 weight slices, parallel inputs", {"weight.n_slices": 4, "weight.bits_per_slice": 2}),
    ("C: 4 weight slices, bit-serial inputs", {"weight.n_slices": 4, "weight.bits_per_slice": 2,
                                               "dac.slice_bits": 1}),
]
organisations.append(("D: as C, ADC step = 1 unit current", dict(organisations[2][1], unit_step=True)))
lossless_bits = 1 + int(np.ceil(np.log2(n_in * 3 + 1)))  # signed: 2^(b-1) - 1 >= rows * L
adc_bits = np.arange(4, 15, 2) if SMALL else np.arange(3, 17)
curves, err_at = [], {}
for label, changes in organisations:
    changes = dict(changes)
    unit_step = changes.pop("unit_step", False)
    cfg_o = base.replace(**changes)
    y_ideal_adc = refsim.Crossbar(W, cfg_o).matvec(x)  # quantized weights and inputs, ideal ADC
    errs = []
    for bits in adc_bits:
        adc = {"adc.bits": int(bits)}
        if unit_step:
            n_levels = 2 ** (int(bits) - 1) - 1
            adc.update({"adc.range_mode": "fixed", "adc.range_A": tuple(n_levels * i for i in i_unit)})
        y = refsim.Crossbar(W, cfg_o.replace(**adc)).matvec(x)
        errs.append(np.sqrt(np.mean((y - y_ideal_adc) ** 2) / np.mean(y_ideal_adc**2)))
    # float64 round-off (< 1e-12 relative) is an exact result: the ADC codes equal the ideal ADC's
    errs = np.where(np.array(errs) < 1e-12, 0.0, np.array(errs))
    err_at[label] = dict(zip(adc_bits.tolist(), errs))
    curves.append((label, adc_bits, errs * 100))
    print(f"{label:40s} ADC error at {adc_bits[0]} / 8 / {adc_bits[-1]} bits: "
          f"{errs[0] * 100:.2e} / {err_at[label].get(8, np.nan) * 100:.2e} / {errs[-1] * 100:.2e} % of RMS(y)")
d_label = organisations[3][0]
exact_bits = [b for b in adc_bits if all(err_at[d_label][c] == 0 for c in adc_bits if c >= b)]
exact_from = int(exact_bits[0]) if exact_bits else None
fig = line_plot(OUT / "03_error_vs_adc_bits.png", curves, ylog=True, exact_zeros=True,
                xlim=(int(adc_bits[0]) - 1, int(adc_bits[-1]) + 1),
                title=f"ADC error ('max' range), {n_in} x {n_out} array, 8-bit weights and inputs"
                      + (f"; D exact from {exact_from} bits" if exact_from else ""),
                xlabel="ADC bits", ylabel="RMS error from the ADC (% of RMS(y))")
# D's ADC step is one unit current, so it is exact once its largest code, 2^(b-1) - 1, covers the
# largest column sum of these inputs; any input (rows x 3 levels) needs `lossless_bits`.
print(f"D is exact (error 0, hollow markers) from {exact_from} bits on these inputs, and for any input "
      f"from {lossless_bits} bits: 2^{lossless_bits - 1} - 1 >= {n_in} rows x 3 levels")
print("wrote", fig.path)

# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
if not (np.array_equal(y_int, y_int_direct) and same_codes):
    raise SystemExit("check failed: shift-and-add of the ADC codes is not the integer product c @ q")
if not np.allclose(tr.y, oracle["y"], rtol=1e-14, atol=1e-14) or not np.allclose(tr.y, y_hand, rtol=1e-14):
    raise SystemExit("check failed: crossbar output differs from the integer oracle")
a, c_ = organisations[0][0], organisations[2][0]
if not err_at[c_][8] < err_at[a][8]:
    raise SystemExit("check failed: bit-serial slicing should need fewer ADC bits than one parallel read")
if exact_from is None or exact_from > lossless_bits:
    raise SystemExit(f"check failed: D should be exact from at most {lossless_bits} bits (is from {exact_from})")
if not all(e == 0 for b, e in err_at[d_label].items() if b >= lossless_bits):
    raise SystemExit(f"check failed: a unit-step ADC of >= {lossless_bits} bits should be lossless")
print("\nall checks passed")
