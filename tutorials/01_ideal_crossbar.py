"""Tutorial 01 — one analog matrix-vector multiply, stage by stage.

Goal
    Follow a 4 x 3 weight matrix and one input vector through every stage of an
    analog crossbar: weights -> normalized weights -> conductances G+ and G-
    (uS); inputs -> DAC codes -> row voltages (V); Ohm's law per cell and
    Kirchhoff's current law per column -> column currents (uA); the ADC; and the
    digital recombination back to ``y = x @ W``. Part 1 uses the ideal preset
    (every stage exact); part 2 turns on an 8-bit DAC and an 8-bit ADC and shows
    the integer codes and the error they cause.

Prerequisites
    Python, NumPy, ``pip install -e .``. Equations: docs/MODEL.md and the
    docstrings of refsim/weights.py, refsim/mapping.py, refsim/dac.py,
    refsim/adc.py and refsim/crossbar.py (X1-X3).

Run time
    Under 1 s. Writes no files.

The script ends by checking known results (the ideal crossbar equals ``x @ W``
to float64 round-off; the column currents equal a hand computation with loops;
the ADC codes equal ``round(I / I_lsb)``) and exits with an error if one fails.
"""

import numpy as np

import refsim

np.set_printoptions(precision=4, suppress=True, linewidth=110)
failures = []


def check(ok: bool, what: str) -> None:
    """Record a failed self-check (reported at the end)."""
    print(f"  check: {what}: {'ok' if ok else 'FAILED'}")
    if not ok:
        failures.append(what)


# The weight matrix W has shape (n_in, n_out) = (rows, columns) of the array: y = x @ W.
W = np.array([
    [0.50, -0.25, 1.00],
    [-1.00, 0.75, 0.00],
    [0.25, 0.50, -0.50],
    [0.00, -0.75, 0.25],
])
x = np.array([0.8, -0.4, 0.2, 1.0])
n_in, n_out = W.shape

# =============================================================================================
# Part 1: the ideal crossbar
# =============================================================================================
cfg = refsim.presets.get("ideal")
g_min, g_max = cfg.mapping.g_min_S, cfg.mapping.g_max_S
v_read = cfg.dac.v_read_V
print("Part 1: the ideal preset")
print(f"  mapping {cfg.mapping.scheme!r}, G_min = {g_min * 1e6:.2f} uS, G_max = {g_max * 1e6:.2f} uS, "
      f"full-scale read voltage v_read = {v_read} V\n")

xb = refsim.Crossbar(W, cfg)  # programming happens here
tr = xb.trace(x)  # one multiply, every intermediate recorded

# 1. weight range and normalization: w_norm = W / w_max, in [-1, 1]
w_max = tr.w_max[0]
print(f"1. weights W (n_in={n_in}, n_out={n_out}); w_max = max|W| = {w_max}")
print(W)
print("   normalized weights w_norm = W / w_max:")
print(tr.w_norm)

# 2. mapping (differential, one-sided): G+ = Gmin + dG max(w, 0), G- = Gmin + dG max(-w, 0)
g_pos = tr.conductances_S["t0.s0.pos"]
g_neg = tr.conductances_S["t0.s0.neg"]
print("\n2. conductances, uS: G+ (positive weights) and G- (negative weights)")
print(g_pos * 1e6)
print(g_neg * 1e6)

# 3. inputs: range per vector x_max = max|x|; ideal DAC "code" c = x / x_max; voltage V = c * v_read
tile = tr.tiles[0]
v_rows = tile.voltages_V["all"][0]
print(f"\n3. inputs x = {x}; x_max = {tile.x_max[0]}")
print(f"   DAC codes c = x / x_max = {tile.dac_codes[0]}")
print(f"   row voltages V = c * v_read, V: {v_rows}")

# 4. Ohm's law per cell, Kirchhoff's current law per column: I_j = sum_i V_i G_ij
print("\n4. Ohm's law, cell currents V_i * G+_ij and V_i * G-_ij, uA (rows = inputs, columns = outputs):")
print(v_rows[:, None] * g_pos * 1e6)
print(v_rows[:, None] * g_neg * 1e6)
i_hand = np.zeros(n_out)  # the same sums, written out as loops
for j in range(n_out):
    for i in range(n_in):
        i_hand[j] += v_rows[i] * g_pos[i, j] - v_rows[i] * g_neg[i, j]
read = tile.reads[0]  # in-array subtraction: one ADC input per column, the current of G+ minus G-
print(f"   column currents I+ - I- ({read.name!r} read), uA: {read.current_A[0] * 1e6}")
print(f"   the same by hand, uA:                    {i_hand * 1e6}")

# 5. ADC: ideal here (no quantization). Digital value in weight units:
#    p = I / (v_read * dG), then y = p * x_max * w_max
print("\n5. ADC: ideal (the current passes unchanged)")
p = tile.digital["s0"][0]
print(f"   p = I / (v_read (G_max - G_min)) = {p}")
print(f"6. recombined y = p * x_max * w_max = {tr.y}")
print(f"   exact x @ W                      = {x @ W}")

print("\nself-checks, part 1")
bound = 1e-12 * np.sum(np.abs(x)) * np.max(np.abs(W))  # round-off relative to the summed terms
check(np.all(np.abs(xb.matvec(x) - x @ W) <= bound), "ideal matvec == x @ W to 1e-12")
check(np.allclose(read.current_A[0], i_hand, rtol=1e-12, atol=0.0), "column currents == hand loops")
check(np.array_equal(tr.y, xb.matvec(x)), "trace(x).y == matvec(x) bit for bit")

# =============================================================================================
# Part 2: an 8-bit DAC and an 8-bit ADC
# =============================================================================================
cfg8 = cfg.replace(**{"dac.bits": 8, "adc.bits": 8, "name": "8-bit DAC and ADC"})
c_max = cfg8.dac.code_max  # 127: sign-magnitude codes -127..127
n_adc = cfg8.adc.n_levels  # 127
print("\n\nPart 2: 8-bit signed DAC and 8-bit signed ADC (analog weights)")
xb8 = refsim.Crossbar(W, cfg8)
tr8 = xb8.trace(x)
tile8 = tr8.tiles[0]
read8 = tile8.reads[0]
print(f"1. DAC codes c = round(x / x_max * {c_max}) = {tile8.dac_codes[0]}")
print(f"   row voltages V = c / {c_max} * v_read, V: {tile8.voltages_V['all'][0]}")
print(f"2. column currents, uA: {read8.current_A[0] * 1e6}")
# ADC range "max": the largest net current the array can produce, all rows at v_read on full-on cells
i_fs = n_in * v_read * (g_max - g_min)
i_lsb = i_fs / n_adc
print(f"3. ADC full scale I_fs = rows * v_read * (G_max - G_min) = {i_fs * 1e6:.3f} uA, "
      f"one LSB = I_fs / {n_adc} = {i_lsb * 1e9:.3f} nA")
print(f"   ADC codes k = round(I / I_lsb) = {read8.adc_codes[0]}")
print(f"   ADC output k * I_lsb, uA: {read8.adc_codes[0] * i_lsb * 1e6}")
y8 = tr8.y
print(f"4. recombined y = {y8}")
print(f"   exact x @ W  = {x @ W}")
print(f"   error        = {y8 - x @ W}  (DAC and ADC rounding)")

print("\nself-checks, part 2")
codes_hand = np.rint(read8.current_A[0] / i_lsb)
check(np.array_equal(read8.adc_codes[0], codes_hand), "ADC codes == round(I / I_lsb)")
y_hand = read8.adc_codes[0] * i_lsb / (v_read * (g_max - g_min)) * tile8.x_max[0] * w_max
check(np.allclose(y8, y_hand, rtol=1e-12, atol=0.0), "y == ADC codes recombined by hand")
# each output is off by at most half an ADC LSB plus half a DAC LSB per row, in weight units
err_bound = 0.5 * i_lsb / (v_read * (g_max - g_min)) * tile8.x_max[0] * w_max + \
    n_in * 0.5 / c_max * tile8.x_max[0] * w_max
check(np.all(np.abs(y8 - x @ W) <= err_bound), f"|error| <= {err_bound:.4f} (half an LSB of each converter)")

if failures:
    raise SystemExit("check failed: " + "; ".join(failures))
print("\nall checks passed")
