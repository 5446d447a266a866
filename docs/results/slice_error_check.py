"""Claim (b) check: relative output error of one crossbar multiply vs the number of weight slices.

Same config as the (b) sweep (xiao_idealadc_indep.json, prog_sigma_rel 0.05); a 144 x 32
heavy-tailed random matrix, 256 non-negative input vectors, 4 programming seeds.
Run from the repository root: python docs/results/slice_error_check.py
"""
import numpy as np, refsim
from refsim.config import load_config
base = load_config("docs/results/configs/xiao_idealadc_indep.json").replace(**{"device.prog_sigma_rel": 0.05})
rng = np.random.default_rng(0)
W = rng.standard_t(4, size=(144, 32)) * 0.1
x = np.abs(rng.normal(size=(256, 144)))
ideal = refsim.Crossbar(W, base.replace(**{"device.prog_model": "none"})).matvec(x)
for n in (1, 2, 4, 7):
    errs = []
    for s in range(4):
        y = refsim.Crossbar(W, base.replace(**{"weight.n_slices": n}), rng=np.random.default_rng(s)).matvec(x)
        errs.append(np.std(y - ideal) / np.std(ideal))
    print(n, np.mean(errs))
