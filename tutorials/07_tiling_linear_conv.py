"""Tutorial 07 — tiling, and Linear and Conv2d layers on crossbars.

Goal
    A real array has at most ``rows_max x cols_max`` cells, so a large weight
    matrix is split into tiles, each with its own DACs and ADCs, whose partial
    sums are added digitally. We look at the two split policies ("even" as in
    aihwkit, "fill" as in CrossSim), count tiles, check that tiling leaves an
    ideal result unchanged, and then run ``refsim.nn.Linear`` and
    ``refsim.nn.Conv2d`` (im2col: every weight multiply on crossbars) against
    the naive loop oracles of ``refsim.oracles.nn``. Last, the error of a
    convolution under the ``int8`` preset, and how it depends on the tile size.

Prerequisites
    Tutorials 01, 04. Docs: docs/layers.md (Linear, Conv2d, im2col);
    docs/MODEL.md step 13.

Run time
    About 4 s (about 3 s with REFSIM_TUTORIAL_SMALL=1). Figures:
    ``tutorials/out/07_conv_error_vs_tile_rows.png``, ``tutorials/out/07_conv_error_map.png``.
"""

import os
from pathlib import Path

import numpy as np

import refsim
from refsim.nn import Conv2d, Linear
from refsim.oracles.nn import conv2d_naive, linear_naive
from refsim.plot.figures import heatmap_panels, line_plot

SMALL = os.environ.get("REFSIM_TUTORIAL_SMALL") == "1"
OUT = Path(__file__).resolve().parent / "out"
OUT.mkdir(exist_ok=True)
ideal, int8 = refsim.presets.get("ideal"), refsim.presets.get("int8")


def rel_rms(y, y_ref):
    """RMS error relative to the RMS of the reference (dimensionless)."""
    return float(np.sqrt(np.mean((y - y_ref) ** 2) / np.mean(y_ref**2)))


rng = np.random.default_rng(7)

# ---------------------------------------------------------------------------------------------
# 1. Tiles: a 300 x 100 matrix on arrays of at most 128 x 64
# ---------------------------------------------------------------------------------------------
W = rng.normal(size=(300, 100))  # (n_in, n_out)
x = rng.normal(size=(16, 300))
y_ref = x @ W
tiled_ideal_err = {}
for split in ("even", "fill"):
    cfg = ideal.replace(**{"array.rows_max": 128, "array.cols_max": 64, "array.split": split})
    xb = refsim.Crossbar(W, cfg)
    rows = sorted({(t.r0, t.r1) for t in xb.tiles})
    cols = sorted({(t.c0, t.c1) for t in xb.tiles})
    print(f"split={split!r}: {len(xb.tiles)} tiles = {len(rows)} row blocks {[r1 - r0 for r0, r1 in rows]} "
          f"x {len(cols)} column blocks {[c1 - c0 for c0, c1 in cols]}; {xb.n_arrays} physical arrays "
          f"(G+ and G- each)")
    tiled_ideal_err[split] = np.abs(xb.matvec(x) - y_ref).max() / np.abs(y_ref).max()
    print(f"  ideal: max |y - x @ W| / max |x @ W| = {tiled_ideal_err[split]:.1e}")
# With int8 every tile has its own DAC range (max |x| over its rows) and ADC ("max" range of its
# rows), so tiling changes the quantized result; the tile partial sums are added after the ADC.
for rows_max in (None, 128, 64):
    cfg = int8.replace(**{"array.rows_max": rows_max, "array.cols_max": 64})
    xb = refsim.Crossbar(W, cfg)
    err = rel_rms(xb.matvec(x), y_ref)
    print(f"int8, rows_max={str(rows_max):4s}: {len(xb.tiles)} tiles, RMS error {err * 100:.2f} % of RMS(y)")

# ---------------------------------------------------------------------------------------------
# 2. Linear: PyTorch layout weight (out, in); the crossbar holds W = weight.T, bias is digital
# ---------------------------------------------------------------------------------------------
w_lin = rng.normal(size=(10, 40))  # (out_features, in_features)
b_lin = rng.normal(size=10)
x_lin = rng.normal(size=(4, 40))
lin = Linear(w_lin, b_lin, name="fc", config=ideal.replace(**{"array.rows_max": 16}), seed=0)
y_lin_naive = linear_naive(x_lin, w_lin, b_lin)
lin_err = np.abs(lin(x_lin) - y_lin_naive).max()
print(f"\nLinear(10 <- 40) on {lin.n_arrays} arrays (rows_max=16), ideal: max |y - naive loop| = {lin_err:.1e}")

# ---------------------------------------------------------------------------------------------
# 3. Conv2d by im2col, ideal == naive loop convolution
# ---------------------------------------------------------------------------------------------
c_in, c_out, hw = (4, 6, 8) if SMALL else (8, 16, 12)
w_conv = rng.normal(size=(c_out, c_in, 3, 3)) / np.sqrt(c_in * 9)  # (C_out, C_in, kh, kw)
b_conv = 0.1 * rng.normal(size=c_out)
x_img = rng.normal(size=(2, c_in, hw, hw))  # (N, C, H, W)
y_conv_naive = conv2d_naive(x_img, w_conv, b_conv, stride=(1, 1), padding=(1, 1))
conv_ideal = Conv2d(w_conv, b_conv, padding=1, name="conv", config=ideal)
conv_err = np.abs(conv_ideal(x_img) - y_conv_naive).max() / np.abs(y_conv_naive).max()
print(f"Conv2d {c_in}->{c_out}, 3x3, padding 1, input {x_img.shape}: the crossbar holds "
      f"({c_in * 9}, {c_out}) = (C_in kh kw, C_out); {x_img.shape[0] * hw * hw} patches per forward")
print(f"  ideal vs naive loop convolution: max rel. difference {conv_err:.1e}")
# groups: each group on its own crossbar
conv_g = Conv2d(w_conv[:, : c_in // 2], None, padding=1, groups=2, name="conv_g", config=ideal)
y_g_naive = conv2d_naive(x_img, w_conv[:, : c_in // 2], None, padding=(1, 1), groups=2)
group_err = np.abs(conv_g(x_img) - y_g_naive).max() / np.abs(y_g_naive).max()
print(f"  groups=2 ({conv_g.n_arrays} arrays): max rel. difference {group_err:.1e}")

# ---------------------------------------------------------------------------------------------
# 4. Conv2d under int8, and the tile size
# ---------------------------------------------------------------------------------------------
# With the "max" ADC range a tile of R rows has full scale R v_read dG: fewer rows per tile give a
# finer ADC step for the typical current, at the cost of more tiles (more ADC reads, more DACs).
# (rows_max = 36 and 48 give the same result: the even split turns 72 rows into 2 tiles of 36.)
y_digital = conv_ideal(x_img, digital=True)  # exact float64 with the same weights
k_rows = c_in * 9
tile_rows = [r for r in (8, 16, 24, 36, 48, 72, 144) if r <= k_rows] + ([k_rows] if k_rows not in (72, 144) else [])
tile_rows = sorted(set(tile_rows))
errs, n_tiles = [], []
for r in tile_rows:
    conv_q = Conv2d(w_conv, b_conv, padding=1, name="conv", seed=0, config=int8.replace(**{"array.rows_max": r}))
    rec = {}
    y_q = conv_q(x_img, records=rec)
    errs.append(rel_rms(y_q, y_digital))
    n_tiles.append(-(-k_rows // r))
    print(f"  int8 conv, rows_max={r:3d}: {n_tiles[-1]} row tiles, RMS error {errs[-1] * 100:.2f} % of RMS(y), "
          f"ADC clipped {rec['conv'].clip_fraction:.2%}")
fig1 = line_plot(OUT / "07_conv_error_vs_tile_rows.png",
                 [("int8 preset, 'max' ADC range", tile_rows, np.array(errs) * 100)],
                 title=f"Conv2d {c_in}->{c_out} 3x3 under int8 (im2col K = {k_rows} rows)",
                 xlabel="rows per array (rows_max)", ylabel="RMS output error (% of RMS(y))")
# The error maps of output channel 0 (image 0) for the largest and the smallest tile, beside the exact
# output, on ONE colour scale: how large the error is next to the signal, and how tiling shrinks it.
maps = [("exact output y (float64)", y_digital[0, 0])]
for r in (tile_rows[-1], tile_rows[0]):
    conv_q = Conv2d(w_conv, b_conv, padding=1, name="conv", seed=0, config=int8.replace(**{"array.rows_max": r}))
    e = (conv_q(x_img) - y_digital)[0, 0]  # (OH, OW)
    n_t = -(-k_rows // r)
    maps.append((f"error, {r} rows per array ({n_t} tile{'s' if n_t > 1 else ''})", e))
    print(f"  error map, rows_max={r}: RMS {np.sqrt(np.mean(e**2)):.4f}, max |error| {np.abs(e).max():.4f} "
          f"(output units, as y; RMS of y in this channel: {np.sqrt(np.mean(y_digital[0, 0]**2)):.4f})")
fig2 = heatmap_panels(OUT / "07_conv_error_map.png", maps, symmetric=True,
                      title=f"int8 Conv2d {c_in}->{c_out} 3x3, image 0, output channel 0: output and error, one scale",
                      xlabel="output column q", ylabel="output row p", colorbar_label="y, y_int8 - y (output units)")[0]
print("wrote", fig1.path, fig2.path)

# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
if not max(tiled_ideal_err.values()) < 1e-12:
    raise SystemExit(f"check failed: tiling changed an ideal result: {tiled_ideal_err}")
if not (lin_err < 1e-12 and conv_err < 1e-12 and group_err < 1e-12):
    raise SystemExit(f"check failed: ideal layers differ from the naive loops ({lin_err}, {conv_err}, {group_err})")
if not (0.001 < errs[-1] < 0.2 and errs[0] < errs[-1]):
    raise SystemExit(f"check failed: int8 conv error {errs} should be a few % and smaller with smaller tiles")
print("\nall checks passed")
