"""Tutorial 06 — wire (parasitic) resistance: G versus G_eff, IR drop, and a SPICE check.

Goal
    Real crossbar wires have resistance. A row's drive voltage drops along the row
    wire before it reaches the far cells, and each column's current raises the
    column wire's voltage above the virtual ground of the sense amplifier, so the
    column currents are smaller than the ideal ``I = V @ G``. refsim solves the
    circuit of docs/MODEL.md section 4 exactly: with linear cells the currents are
    still linear in the inputs, ``I = V @ G_eff``, with one *effective
    conductance matrix* per physical array. This tutorial shows the circuit,
    compares G and G_eff on a small array, checks the 1 x 1 closed form,
    measures the error of a matrix-vector product against array size and wire
    resistance, turns wires on inside a ``Crossbar`` (int8 preset), and exports a
    netlist that ngspice (an independent circuit simulator) solves to the same
    currents.

Prerequisites
    Tutorials 01-02. Equations: docs/MODEL.md section 4 and docs/parasitics.md
    (the diagram and eq. 1-12); ngspice (``apt-get install ngspice``) for the
    last check (skipped with a message without it).

Run time
    About 7 s of CPU (20 s wall on a busy 2-core machine; about 3 s of CPU with
    REFSIM_TUTORIAL_SMALL=1). Figures:
    ``tutorials/out/06_g.png`` (G), ``06_g_eff.png`` (G - G_eff, nS), ``06_g_eff_change.png``,
    ``06_error_vs_rows.png``; netlist ``tutorials/out/06_crossbar.cir``.

The script ends by checking known results (zero wire resistance gives G_eff == G
exactly; the 1 x 1 closed form; currents fall monotonically with r for
non-negative inputs; ngspice agrees to 1e-8 when present) and exits with an
error if one fails.
"""

import os
import shutil
from pathlib import Path

import numpy as np

import refsim
from refsim.wires import parasitics
from refsim.wires import spice
from refsim.plot.figures import heatmap, line_plot

SMALL = os.environ.get("REFSIM_TUTORIAL_SMALL") == "1"
OUT = Path(__file__).resolve().parent / "out"
OUT.mkdir(exist_ok=True)
np.set_printoptions(precision=4, suppress=True, linewidth=110)
failures = []


def check(ok: bool, what: str) -> None:
    """Record a failed self-check (reported at the end)."""
    print(f"  check: {what}: {'ok' if ok else 'FAILED'}")
    if not ok:
        failures.append(what)


def rel_err(i_A: np.ndarray, i_ideal_A: np.ndarray) -> float:
    """Frobenius norm of the error relative to the norm of the ideal result (dimensionless)."""
    return float(np.linalg.norm(i_A - i_ideal_A) / np.linalg.norm(i_ideal_A))


# ---------------------------------------------------------------------------------------------
# 1. The circuit (docs/MODEL.md section 4; docs/parasitics.md section 1)
# ---------------------------------------------------------------------------------------------
CIRCUIT = r"""
  Two rows, two columns. V_i: ideal row sources; Rd: driver; Rr: one row wire segment;
  Rc: one column wire segment; Rs: sense terminal; gij: cell (i, j); * a node.

              u(0,0)             u(0,1)
   V_0 --Rd--Rr--*--------Rr--------*-------- (open far end)
                  \                  \
                  g00                g01
                    \                  \
       (open top)    * w(0,0)           * w(0,1)
                     |                  |
                     Rc                 Rc
              u(1,0) |           u(1,1) |
   V_1 --Rd--Rr--*---|----Rr--------*---|---- (open far end)
                  \  |               \  |
                  g10|               g11|
                    \|                 \|
                     * w(1,0)           * w(1,1)
                     |                  |
                     Rc                 Rc
                     Rs                 Rs
                     |                  |
                    0 V  -> I_0        0 V  -> I_1   (virtual ground of the sense amplifiers)

  Row i: V_i -Rd- Rr- u(i,0) -Rr- u(i,1) ... (open).  Column j: w(0,j) -Rc- w(1,j) ... -Rc- Rs- 0 V.
  The output I_j is the current into column j's sense node. Kirchhoff's current law at every
  node is linear, so I = V @ G_eff exactly, with G_eff[i, j] = dI_j / dV_i (S).
"""
print("1. The circuit of one physical array")
print(CIRCUIT)

# ---------------------------------------------------------------------------------------------
# 2. G versus G_eff on a small array
# ---------------------------------------------------------------------------------------------
# Cells far from the driver (large column index j) see a row voltage reduced by the row wire;
# cells far from the sense amplifier (small row index i) push their current through more
# column wire. So G_eff loses most towards the top right corner.
rng = np.random.default_rng(6)
rows, cols = 8, 8
G_S = rng.uniform(1e-6, 25e-6, (rows, cols))  # cell conductances, S (a typical RRAM/PCM range)
R_WIRE = 10.0  # ohm per segment, large so that the effect is visible at 8 x 8
G_eff_S = parasitics.effective_conductance(G_S, R_WIRE, R_WIRE)
change_pct = (G_eff_S - G_S) / G_S * 100
print(f"2. G versus G_eff, {rows} x {cols} cells of 1..25 uS, r_row = r_col = {R_WIRE:g} ohm per segment")
print(f"  G[0, 7] = {G_S[0, 7] * 1e6:.4f} uS -> G_eff[0, 7] = {G_eff_S[0, 7] * 1e6:.4f} uS (far from driver and sense)")
print(f"  G[7, 0] = {G_S[7, 0] * 1e6:.4f} uS -> G_eff[7, 0] = {G_eff_S[7, 0] * 1e6:.4f} uS (next to driver and sense)")
print(f"  (G_eff - G) / G: from {change_pct.min():.3f} % to {change_pct.max():.3f} %")
print("  (G_eff - G) / G in %, row 0 at the top:\n", change_pct, sep="")
# G_eff differs from G by about 1 %: on G's colour scale the two maps look the same. So the figures
# show G, then what the wires take away, G - G_eff, on its own scale (nS), then the relative change.
loss_nS = (G_S - G_eff_S) * 1e9
print(f"  G - G_eff: from {loss_nS.min():.2f} nS to {loss_nS.max():.2f} nS (G itself: 1..25 uS = 1000..25000 nS)")
fig = heatmap(OUT / "06_g.png", G_S * 1e6, title=f"G (uS): the programmed cells, {rows} x {cols}",
              xlabel="column j (output)", ylabel="row i (input)", colorbar_label="G (uS)")
print("  wrote", fig.path)
fig = heatmap(OUT / "06_g_eff.png", loss_nS, title=f"G - G_eff (nS), r_row = r_col = {R_WIRE:g} ohm: what the wires "
              "take away", xlabel="column j (output)", ylabel="row i (input)", colorbar_label="G - G_eff (nS)")
print("  wrote", fig.path)
fig = heatmap(OUT / "06_g_eff_change.png", change_pct, title="(G_eff - G) / G: the row drop grows to the right, "
              "the column drop upwards", xlabel="column j (output)", ylabel="row i (input)",
              colorbar_label="(G_eff - G) / G (%)")
print("  wrote", fig.path)

# Zero wire resistance: G_eff is G itself, bit for bit (no solve at all).
G_eff_zero_S = parasitics.effective_conductance(G_S, 0.0, 0.0)
check(np.array_equal(G_eff_zero_S, G_S), "zero wire resistance gives G_eff == G exactly")

# ---------------------------------------------------------------------------------------------
# 3. The 1 x 1 array: every resistance in series
# ---------------------------------------------------------------------------------------------
# One cell, one of each wire: V -Rd- Rr- (1/g) -Rc- Rs- 0 V, so
#     G_eff = 1 / (r_driver + r_row + 1/g + r_col + r_sense).
g1_S, r_row1, r_col1, r_drv1, r_sns1 = 10e-6, 2.0, 3.0, 50.0, 25.0
g_eff_1x1 = parasitics.effective_conductance(np.array([[g1_S]]), r_row1, r_col1, r_driver_ohm=r_drv1,
                                             r_sense_ohm=r_sns1)[0, 0]
closed_form = 1.0 / (r_drv1 + r_row1 + 1.0 / g1_S + r_col1 + r_sns1)
print(f"\n3. One cell of {g1_S * 1e6:g} uS (= {1 / g1_S / 1e3:g} kohm) with r_driver = {r_drv1:g}, r_row = {r_row1:g}, "
      f"r_col = {r_col1:g}, r_sense = {r_sns1:g} ohm")
print(f"  G_eff (refsim) = {g_eff_1x1 * 1e6:.15f} uS")
print(f"  closed form    = {closed_form * 1e6:.15f} uS   (1 / (sum of the series resistances))")
check(abs(g_eff_1x1 - closed_form) <= 4 * np.finfo(float).eps * closed_form, "1 x 1 closed form to 4 ulp")

# Currents fall monotonically as the wire resistance grows, for non-negative inputs: every
# resistance added in series or along a wire takes current away from every column.
v_pos_V = rng.uniform(0.0, 0.2, rows)  # non-negative row voltages, V
r_grid = [0.0, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
currents_A = np.array([v_pos_V @ parasitics.effective_conductance(G_S, r, r) for r in r_grid])  # (len(r), cols)
print(f"\n  column currents (uA) of the {rows} x {cols} array for v in [0, 0.2] V, r_row = r_col = r:")
for r, i_A in zip(r_grid, currents_A):
    print(f"  r = {r:7g} ohm: {np.array2string(i_A * 1e6, precision=4)}  total {i_A.sum() * 1e6:8.4f} uA")
slack = 1e-13 * currents_A[0]  # round-off only
check(bool(np.all(np.diff(currents_A, axis=0) <= slack)), "currents fall monotonically with r (non-negative inputs)")

# ---------------------------------------------------------------------------------------------
# 4. Error of a matrix-vector product versus array size and wire resistance
# ---------------------------------------------------------------------------------------------
# One array of `cols` columns and n rows (the first n rows of one large random array), cells
# uniform in 0.1..10 uS (the default mapping range), 16 random non-negative input vectors.
# For small r the error grows like r (linear: G_eff = G - r * (...) + O(r^2)) and roughly like
# n^2 (n cells' currents through n segments); it saturates as the wires take over.
n_cols = 16 if SMALL else 32
row_counts = [8, 16, 32, 64, 128] if SMALL else [8, 16, 32, 64, 128, 256, 512]
r_values = [0.01, 0.1, 1.0, 10.0]
G_big_S = rng.uniform(0.1e-6, 10e-6, (row_counts[-1], n_cols))
V_big_V = rng.uniform(0.0, 0.2, (16, row_counts[-1]))
errors = {r: [] for r in r_values}
for n in row_counts:
    g, v = G_big_S[:n], V_big_V[:, :n]
    for r in r_values:
        errors[r].append(rel_err(v @ parasitics.effective_conductance(g, r, r), v @ g))
print(f"\n4. Relative error ||V G_eff - V G|| / ||V G|| of {n_cols}-column arrays, r_row = r_col = r")
print("  rows   " + "".join(f"{f'r = {r:g} ohm':>14}" for r in r_values))
for a, n in enumerate(row_counts):
    print(f"  {n:5d}  " + "".join(f"{errors[r][a] * 100:12.4g} %" for r in r_values))
print(f"  10x r at {row_counts[2]} rows: error x {errors[0.1][2] / errors[0.01][2]:.2f} (linear in r when small)")
print(f"  2x rows at r = 0.01 ohm, {row_counts[-2]} -> {row_counts[-1]}: error x "
      f"{errors[0.01][-1] / errors[0.01][-2]:.2f} (about n^2)")
fig = line_plot(OUT / "06_error_vs_rows.png", [(f"r = {r:g} ohm", row_counts, np.array(errors[r]) * 100)
                                               for r in r_values],
                title=f"IR drop: error of V @ G, {n_cols} columns, cells 0.1..10 uS", xlabel="rows",
                ylabel="relative error of the currents (%)", xlog=True, ylog=True)
print("  wrote", fig.path)
check(all(errors[a][k] < errors[b][k] for a, b in zip(r_values, r_values[1:]) for k in range(len(row_counts))),
      "the error grows with r at every size")

# ---------------------------------------------------------------------------------------------
# 5. Inside a Crossbar: the int8 preset with wires
# ---------------------------------------------------------------------------------------------
# Every physical array (here G+ and G- of one weight slice) gets its own G_eff, computed once
# when the crossbar is programmed. The trace shows G and G_eff side by side
# (conductances_S["t0.s0.pos"] and ["t0.s0.pos.eff"]) and the currents the ADC converts.
n_in, n_out = (32, 8) if SMALL else (64, 16)
W = rng.normal(size=(n_in, n_out))
x = rng.normal(size=(4, n_in))
y_exact = x @ W
int8 = refsim.presets.get("int8")
ideal = refsim.presets.get("ideal")
print(f"\n5. Crossbars of {n_in} x {n_out} weights, G_min..G_max = {int8.mapping.g_min_S * 1e6:g}.."
      f"{int8.mapping.g_max_S * 1e6:g} uS, v_read = {int8.dac.v_read_V} V; relative error of y against x @ W")
print("  r_row = r_col    ideal preset (wires only)    int8 preset (8-bit DAC, ADC and weights)")
wire_errors = []
for r in [0.0, 1.0, 5.0, 20.0]:
    wires = {"wire.r_row_ohm": r, "wire.r_col_ohm": r}
    e_ideal = rel_err(refsim.Crossbar(W, ideal.replace(**wires)).matvec(x), y_exact)
    e_int8 = rel_err(refsim.Crossbar(W, int8.replace(**wires)).matvec(x), y_exact)
    wire_errors.append(e_ideal)
    print(f"  {r:8g} ohm      {e_ideal * 100:12.4f} %              {e_int8 * 100:12.4f} %")
print("  (the int8 ADC's 'max' range makes its step ~1 uA, so small IR drops hide under its rounding)")
il = {"wire.r_row_ohm": 20.0, "wire.r_col_ohm": 20.0, "wire.pair_layout": "interleaved"}
print(f"  20 ohm, G+ and G- interleaved in one array of {2 * n_out} columns (ideal preset): "
      f"{rel_err(refsim.Crossbar(W, ideal.replace(**il)).matvec(x), y_exact) * 100:.4f} %")
check(wire_errors[0] < 1e-12 and all(a < b for a, b in zip(wire_errors, wire_errors[1:])),
      "ideal preset: exact without wires, error grows with r")
cfg = int8.replace(**{"wire.r_row_ohm": 5.0, "wire.r_col_ohm": 5.0})
xb = refsim.Crossbar(W, cfg)
tr = xb.trace(x)
g_pos, g_pos_eff = tr.conductances_S["t0.s0.pos"], tr.conductances_S["t0.s0.pos.eff"]
print("  array t0.s0.pos, row 0, first 6 columns (uS):")
print(f"    G     {np.array2string(g_pos[0, :6] * 1e6, precision=4)}")
print(f"    G_eff {np.array2string(g_pos_eff[0, :6] * 1e6, precision=4)}")
v0_V = tr.tiles[0].voltages_V["all"][0]  # row voltages of the first input, V (signed 8-bit DAC)
net = tr.tiles[0].reads[0]  # in-array subtraction: one "net" read = I(G+) - I(G-)
g_net_S = tr.conductances_S["t0.s0.pos"] - tr.conductances_S["t0.s0.neg"]
print(f"  first input vector, read {net.name!r}: currents (uA) of the first 8 columns")
print(f"    ideal  V @ (G+ - G-)         {np.array2string(v0_V @ g_net_S[:, :8] * 1e6, precision=4)}")
print(f"    actual V @ (G+_eff - G-_eff) {np.array2string(net.current_A[0, :8] * 1e6, precision=4)}")

# ---------------------------------------------------------------------------------------------
# 6. Check it yourself: a SPICE netlist of one array, solved by ngspice
# ---------------------------------------------------------------------------------------------
# The netlist is the same circuit (section 1) written as resistors and sources, for one input
# vector: the DAC'd row voltages above on array t0.s0.pos. ngspice solves its nodal equations
# by sparse LU; nothing is shared with refsim's block elimination.
cir = OUT / "06_crossbar.cir"
w = cfg.wire
spice.write_netlist(cir, g_pos, w.r_row_ohm, w.r_col_ohm, v0_V, r_driver_ohm=w.r_driver_ohm,
                    r_sense_ohm=w.r_sense_ohm, title="tutorial 06: int8 crossbar, array t0.s0.pos")
refsim_A = v0_V @ g_pos_eff
print(f"\n6. Wrote {cir} ({g_pos.shape[0]} x {g_pos.shape[1]} cells). Solve it yourself with:")
print(f"    ngspice -b {cir}")
print("  or, for any preset and array:  refsim spice --preset int8 --shape 64 16 --r-row 5 --r-col 5 "
      "--array t0.s0.neg --out my.cir --run")
if shutil.which("ngspice") is None:
    print("  ngspice is not installed (apt-get install ngspice): skipping the ngspice comparison.")
else:
    ngspice_A = spice.run_ngspice(cir.read_text())
    diff = float(np.max(np.abs(ngspice_A - refsim_A)) / np.max(np.abs(refsim_A)))
    print(f"  refsim  V @ G_eff (uA): {np.array2string(refsim_A[:6] * 1e6, precision=6)} ...")
    print(f"  ngspice           (uA): {np.array2string(ngspice_A[:6] * 1e6, precision=6)} ...")
    print(f"  max |difference| / max |I| = {diff:.2e}")
    check(diff <= 1e-8, "ngspice agrees with V @ G_eff to 1e-8 (relative to the largest current)")

if failures:
    raise SystemExit("check failed: " + "; ".join(failures))
print("\nAll checks passed.")
