"""Tutorial 10: the golden-reference workflow.

1. export every stage of one crossbar multiply (refsim.golden.export_crossbar);
2. write a small "fast simulator" of the same hardware, stage by stage, in the
   golden layout, and compare it with the reference (refsim.golden.compare_dirs):
   a correct one agrees; one that forgets to subtract the reference column fails,
   and the report names the first stage that departs;
3. export a noisy case and replay it bit for bit from its recorded draws.

Run: python tutorials/10_golden_workflow.py   (writes under tutorials/out/10_golden/)
REFSIM_TUTORIAL_SMALL=1 makes the matrices smaller.
"""

import os
import shutil
from pathlib import Path

import numpy as np

import refsim
from refsim.golden import compare_dirs, export_crossbar, load_golden, random_case, replay

SMALL = os.environ.get("REFSIM_TUTORIAL_SMALL") == "1"
N_IN, N_OUT, BATCH = (16, 6, 3) if SMALL else (64, 24, 8)
OUT = Path(__file__).resolve().parent / "out" / "10_golden"
shutil.rmtree(OUT, ignore_errors=True)
OUT.mkdir(parents=True)

# --- 1. the reference: offset mapping, a reference column subtracted in the array, 8-bit DAC ---------------
cfg = refsim.presets.get("ideal").replace(**{
    "mapping.scheme": "offset", "mapping.offset_removal": "reference_column", "dac.bits": 8, "name": "tutorial10"})
W, x = random_case(N_IN, N_OUT, BATCH, seed=0)
ref_dir = export_crossbar(OUT / "reference", W, x, cfg, seed=0)
gold = load_golden(ref_dir)
print(f"exported {len(gold.stages)} stages to {ref_dir}")
for e in gold.entries:
    print(f"  {e.name:<28} {str(e.shape):<10} {e.unit}")


# --- 2. a "fast simulator" of the same hardware, writing its stages in the golden layout ---------------------
def fast_simulator(out: Path, forget_reference: bool) -> Path:
    """x -> DAC -> I = V @ (G - G_ref) -> digital -> y, from the golden conductances (one tile, ideal ADC)."""
    out.mkdir()
    m, d = cfg.mapping, cfg.dac
    c_max = d.code_max  # 127
    x_max = np.max(np.abs(x), axis=1)  # (B,)  per-vector range (D1)
    codes = np.rint(x * (c_max / x_max)[:, None])  # (B, n_in)  DAC codes (D2)
    volts = codes * (d.v_read_V / c_max)  # (B, n_in)  V (D3)
    g = gold["t0.s0.single.G_eff"]  # (n_in, n_out)  S
    g_ref = gold["t0.s0.ref.G_eff"]  # (n_in, 1)  S, the mid-scale reference column
    g_read = g if forget_reference else g - g_ref  # the bug: no reference subtraction
    current = codes @ g_read * (d.v_read_V / c_max)  # (B, n_out)  A (X1)
    i_unit = d.v_read_V * (m.g_max_S - m.g_min_S)  # A per unit of analog level (L = 1)
    digital = current / i_unit  # (B, n_out)  net level (X2)
    partial = digital * x_max[:, None]  # (B, n_out) (X3)
    y = partial * gold["w_max"] / 0.5  # level scale of the analog offset scheme is 1/2
    for name, arr in {"t0.x_max": x_max, "t0.dac_codes": codes, "t0.all.voltages_V": volts,
                      "t0.s0.net.all.current_A": current, "t0.s0.digital": digital, "t0.partial": partial,
                      "y": y}.items():
        np.save(out / f"{name}.npy", arr)
    return out


good = fast_simulator(OUT / "fast_correct", forget_reference=False)
rep_good = compare_dirs(ref_dir, good, rtol=1e-12)  # round-off of a different summation order allowed
print("\ncorrect fast simulator vs reference:")
print(rep_good.format())

bad = fast_simulator(OUT / "fast_no_reference", forget_reference=True)
rep_bad = compare_dirs(ref_dir, bad, rtol=1e-12)
print("\nfast simulator that forgets the reference column:")
print(rep_bad.format())

# --- 3. a noisy case replays bit for bit --------------------------------------------------------------------
noisy = refsim.presets.get("aihwkit_noise_managed").replace(**{"device.t_inference_s": 3600.0})
noisy_dir = export_crossbar(OUT / "noisy", W, x, noisy, seed=1)
res = replay(noisy_dir)
n_draws = len(load_golden(noisy_dir).draws)
print(f"\nnoisy case: {n_draws} recorded draws; replay bit exact: {res.bit_exact}")

if not rep_good.ok:
    raise SystemExit("the correct fast simulator should agree with the reference")
if rep_bad.first_failure != "t0.s0.net.all.current_A":
    raise SystemExit(f"expected the first failing stage to be the column currents, got {rep_bad.first_failure}")
if not res.bit_exact:
    raise SystemExit("replay of the noisy case should be bit exact")
print("\nOK: the comparison found the missing reference column at the column currents; replay is bit exact")
