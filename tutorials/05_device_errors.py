"""Tutorial 05 — device errors: programming error, drift, read noise, and reproducible randomness.

Goal
    Put each device non-ideality of refsim on a crossbar one at a time and
    measure the output error it causes: programming error that is
    state-independent (sigma x G_max) or state-proportional (sigma x G);
    PCM conductance drift over time (the model of Rasch et al. 2023) with and
    without global drift compensation; read noise drawn fresh at every
    multiply, sampled per cell or output-referred (equal in distribution);
    then the whole ``aihwkit_noise_managed`` preset. Finally: every random
    number comes from the seed you pass, so the same seed gives the same bits,
    and a recorded multiply can be replayed exactly.

Prerequisites
    Tutorials 01-02. Equations: docs/devices.md (G1-G6, T1-T3, R1-R5, P1-P3).

Run time
    About 6 s (about 3 s with REFSIM_TUTORIAL_SMALL=1). Figures:
    ``tutorials/out/05_programming_error.png``, ``tutorials/out/05_drift.png``.
"""

import os
from pathlib import Path

import numpy as np

import refsim
from refsim.plot.figures import line_plot

SMALL = os.environ.get("REFSIM_TUTORIAL_SMALL") == "1"
OUT = Path(__file__).resolve().parent / "out"
OUT.mkdir(exist_ok=True)


def rel_rms(y, y_ref):
    """RMS error relative to the RMS of the reference (dimensionless)."""
    return float(np.sqrt(np.mean((y - y_ref) ** 2) / np.mean(y_ref**2)))


rng = np.random.default_rng(5)
n_in, n_out, batch = (64, 16, 32) if SMALL else (128, 32, 64)
W = rng.normal(size=(n_in, n_out))
x = rng.normal(size=(batch, n_in))
y_ref = x @ W
trials = 3 if SMALL else 8
G_MAX_S = 10e-6
base = refsim.presets.get("ideal").replace(**{"mapping.g_max_S": G_MAX_S, "mapping.g_min_S": G_MAX_S / 10})

# ---------------------------------------------------------------------------------------------
# 1. Programming error: state-independent vs state-proportional
# ---------------------------------------------------------------------------------------------
# (G1) sigma = s G_max on every device; (G2) sigma = s |G_target|. Gaussian weights are mostly
# small, so with the one-sided mapping most devices sit near G_min and a proportional error hurts
# them little; the two-sided mapping puts every device near mid-scale, G = G_min + dG (1 +/- w)/2.
sigmas = np.array([0.005, 0.03]) if SMALL else np.geomspace(0.003, 0.03, 5)
variants = [
    ("independent (s G_max), one-sided", {"device.prog_model": "independent"}),
    ("proportional (s G), one-sided", {"device.prog_model": "proportional"}),
    ("proportional (s G), two-sided", {"device.prog_model": "proportional",
                                       "mapping.scheme": "differential_two_sided"}),
]
prog_curves, prog_err = [], {}
for label, changes in variants:
    errs = []
    for s in sigmas:
        cfg = base.replace(**changes, **{"device.prog_sigma_rel": float(s)})
        errs.append(np.mean([rel_rms(refsim.Crossbar(W, cfg, rng=np.random.default_rng(t)).matvec(x), y_ref)
                             for t in range(trials)]))
    prog_err[label] = np.array(errs)
    prog_curves.append((label, sigmas * 100, np.array(errs) * 100))
    print(f"programming error, {label:34s}: s = {sigmas[-1]:.3f} -> {errs[-1] * 100:.2f} % of RMS(y)")
fig = line_plot(OUT / "05_programming_error.png", prog_curves, xlog=True, ylog=True,
                title="Programming error (on/off 10)", xlabel="programming sigma s (%)",
                ylabel="RMS output error (% of RMS(y))")
print("wrote", fig.path)

# ---------------------------------------------------------------------------------------------
# 2. PCM drift over time, with and without global drift compensation
# ---------------------------------------------------------------------------------------------
# (D1) G(t) = G_prog (t / t0)^(-nu), t = t_inference + t0, t0 = 20 s, nu drawn per device from its
# target (D2). All devices drift down by roughly the same factor, so one digital scale
# alpha = m0 / m(t) from a reference read (D3) removes most of the error; what remains is
# the spread of nu between devices.
pcm_drift_only = refsim.presets.get("ideal").replace(**{
    "mapping.g_min_S": 0.0, "mapping.g_max_S": 25e-6, "device.drift_model": "pcm_rasch2023"})
standard = refsim.presets.get("aihwkit_noise_managed")
DAY, YEAR = 86400.0, 365.25 * 86400.0
times = np.array([60.0, DAY, YEAR]) if SMALL else np.array([1.0, 60.0, 3600.0, DAY, 7 * DAY, 30 * DAY, YEAR])
drift_runs = [
    ("PCM drift only, uncompensated", pcm_drift_only, False),
    ("PCM drift only, compensated", pcm_drift_only, True),
    ("aihwkit_noise_managed, uncompensated", standard, False),
    ("aihwkit_noise_managed, compensated", standard, True),
]
drift_err, drift_alpha = {}, {}
for label, cfg0, comp in drift_runs:
    errs, alphas = [], []
    for t in times:
        cfg = cfg0.replace(**{"device.t_inference_s": float(t), "device.drift_compensation": comp})
        xb = refsim.Crossbar(W, cfg, rng=np.random.default_rng(11))  # same seed: same devices at every t
        tr = xb.trace(x)
        errs.append(rel_rms(tr.y, y_ref))
        alphas.append(tr.tiles[0].drift_scale)
    drift_err[label] = np.array(errs)
    drift_alpha[label] = np.array(alphas)


def time_label(t_s: float) -> str:
    """A time in the unit that reads best: s, min, h, day or year."""
    for unit, size in (("year", YEAR), ("day", DAY), ("h", 3600.0), ("min", 60.0)):
        if t_s >= size:
            n = t_s / size
            return f"{n:g} {unit}{'s' if unit in ('year', 'day') and n != 1 else ''} ({t_s:.3g} s)"
    return f"{t_s:g} s"


# One row per time since programming; the metric of every column is the relative RMS output
# error, ||y - x @ W||_rms / ||x @ W||_rms in %; alpha (dimensionless) is the compensation scale (D3).
print(f"\nPCM drift, {n_in} x {n_out} weights: RMS output error (% of RMS(x @ W)) against the time since programming")
head = f"{'uncomp. (%)':>11s}{'comp. (%)':>11s}{'comp. alpha':>12s}"
print(f"{'':22s}{'PCM drift only':^34s}  {'aihwkit_noise_managed':^34s}")
print(f"{'time since prog.':<22s}{head}  {head}")
for i, t in enumerate(times):
    cells = ""
    for unc_label, comp_label in ((drift_runs[0][0], drift_runs[1][0]), (drift_runs[2][0], drift_runs[3][0])):
        cells += (f"{drift_err[unc_label][i] * 100:11.1f}{drift_err[comp_label][i] * 100:11.1f}"
                  f"{drift_alpha[comp_label][i]:12.3f}  ")
    print(f"{time_label(t):<22s}{cells.rstrip()}")
fig = line_plot(OUT / "05_drift.png", [(k, times, v * 100) for k, v in drift_err.items()], xlog=True, ylog=True,
                title="PCM drift (Rasch et al. 2023 model)", xlabel="time since programming (s)",
                ylabel="RMS output error (% of RMS(y))")
print("wrote", fig.path)

# ---------------------------------------------------------------------------------------------
# 3. Read noise: fresh at every multiply; per-cell and output-referred sampling
# ---------------------------------------------------------------------------------------------
# (R1) sigma = s G_max per cell. Per cell (R4) draws (B, rows, cols) conductances; output referred
# (R5) draws one Gaussian per output with the variance sum_i v_i^2 sigma_ij^2: exact in distribution
# for unclipped Gaussian noise and ideal wires, and rows x cheaper.
s_read = 0.02
reps = 200 if SMALL else 1000
x_rep = np.repeat(x[:1], reps, axis=0)  # the same input vector, multiplied `reps` times
y_rep_ref = x[:1] @ W
# expected std of each output: sqrt(2) s G_max / dG * w_max * ||x|| (two devices per weight)
d_g = G_MAX_S - G_MAX_S / 10
std_theory = np.sqrt(2) * s_read * G_MAX_S / d_g * np.abs(W).max() * np.linalg.norm(x[0])
rms_y = float(np.sqrt(np.mean(y_rep_ref**2)))  # RMS of the exact outputs of this x (units of y = x @ W)
stds = {}
for sampling in ("per_cell", "output_referred"):
    cfg = base.replace(**{"device.read_model": "independent", "device.read_sigma_rel": s_read,
                          "device.read_sampling": sampling})
    xb = refsim.Crossbar(W, cfg, rng=np.random.default_rng(3))
    y1, y2 = xb.matvec(x[:1]), xb.matvec(x[:1])
    y = xb.matvec(x_rep)
    stds[sampling] = float(np.sqrt(np.mean((y - y_rep_ref) ** 2)))  # RMS over repeats and outputs
    print(f"read noise s = {s_read}, {sampling:15s}: two multiplies of the same x differ by max |y1 - y2| = "
          f"{np.abs(y1 - y2).max():.3f} ({np.abs(y1 - y2).max() / rms_y * 100:.1f} % of RMS(y)); "
          f"std of y over {reps} repeats {stds[sampling]:.4f} (theory {std_theory:.4f}; units of y = x @ W)")

# ---------------------------------------------------------------------------------------------
# 4. Reproducibility: seeds, batch independence, replay
# ---------------------------------------------------------------------------------------------
cfg = standard.replace(**{"device.t_inference_s": 3600.0})
xb_a = refsim.Crossbar(W, cfg, rng=np.random.default_rng(42))
xb_b = refsim.Crossbar(W, cfg, rng=np.random.default_rng(42))
xb_c = refsim.Crossbar(W, cfg, rng=np.random.default_rng(43))
y_a, y_b, y_c = xb_a.matvec(x), xb_b.matvec(x), xb_c.matvec(x)
same_seed = np.array_equal(y_a, y_b)  # programming, drift and read draws all from the seed
xb_d = refsim.Crossbar(W, cfg, rng=np.random.default_rng(42))
same_batch = np.array_equal(xb_d.matvec(x[:5]), y_a[:5])  # a smaller batch: the same first rows
tr = xb_a.trace(x)  # a new multiply: new read noise, recorded in tr.draws
replay = np.array_equal(xb_a.matvec(x, draws=tr.draws), tr.y)
fresh = not np.array_equal(xb_a.matvec(x), tr.y)
print(f"\naihwkit_noise_managed at 1 h: same seed -> identical bits: {same_seed}; other seed differs by "
      f"{rel_rms(y_c, y_a) * 100:.1f} % (RMS difference, % of RMS(y)); batch of 5 = first 5 of 64: {same_batch}")
print(f"replay with draws=tr.draws: identical: {replay}; a fresh multiply differs: {fresh}; "
      f"recorded draws: {len(tr.draws)} arrays, e.g. {sorted(tr.draws)[:3]}")

# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
ind, prop1, prop2 = (prog_err[v[0]] for v in variants)
if not (np.all(prop1 < ind) and np.all(prop1 < prop2)):
    raise SystemExit("check failed: proportional error on one-sided mapping should be the smallest")
slope = np.polyfit(np.log(sigmas), np.log(ind), 1)[0]
if not abs(slope - 1) < 0.1:
    raise SystemExit(f"check failed: programming error should grow linearly with sigma (slope {slope:.2f})")
unc, comp = drift_err[drift_runs[0][0]], drift_err[drift_runs[1][0]]
if not (np.all(np.diff(unc) > 0) and comp[-1] < unc[-1] / 3):
    raise SystemExit(f"check failed: drift error should grow with time and compensation cut it > 3x: {unc}, {comp}")
if not all(abs(v / std_theory - 1) < 0.1 for v in stds.values()):
    raise SystemExit(f"check failed: read-noise std {stds} vs theory {std_theory:.4f}")
if not (same_seed and same_batch and replay and fresh and not np.array_equal(y_a, y_c)):
    raise SystemExit("check failed: reproducibility (same seed, batch independence, replay)")
print("\nall checks passed")
